//! An SMTP server on loopback that accepts every message and keeps it, for the tests to read
//! what Keywarden sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message as it arrived.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-stuffing undone.
    pub data: String,
}

impl Mail {
    /// The text after the headers, quoted-printable decoded if it was sent so.
    pub fn body(&self) -> String {
        let (headers, body) = self.data.split_once("\n\n").unwrap_or(("", &self.data));
        if !headers.contains("Content-Transfer-Encoding: quoted-printable") {
            return body.to_owned();
        }
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = joined
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(byte)) => {
                    decoded.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    decoded.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&decoded).into_owned()
    }

    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|line| line.strip_prefix("Subject: "))
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct SmtpServer {
    /// `smtp://127.0.0.1:<port>`, as `KEYWARDEN_SMTP_URL` takes it.
    pub url: String,
    inbox: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let inbox: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = Arc::clone(&inbox);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let _ = converse(stream, kept).await;
                });
            }
        });
        SmtpServer { url, inbox }
    }

    pub fn received(&self) -> Vec<Mail> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits until `count` messages arrived (fails after 15 s), then a moment more for any
    /// that should not come.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.received().len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} emails, got {:?}",
                self.received()
                    .iter()
                    .map(Mail::subject)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received()
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    inbox: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-test\r\n250 8BITMIME\r\n"
        } else if let Some(address) = line.get(10..).filter(|_| command.starts_with("MAIL FROM:")) {
            from = address.trim().to_owned();
            b"250 OK\r\n"
        } else if let Some(address) = line.get(8..).filter(|_| command.starts_with("RCPT TO:")) {
            to.push(address.trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            inbox.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            b"250 queued\r\n"
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if command == "RSET" || command == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
