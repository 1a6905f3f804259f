//! Sending an alert by email, through the operator's SMTP server (`KEYWARDEN_SMTP_URL`).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why the SMTP settings cannot be used; never holds the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum EmailSettingsError {
    #[error(
        "KEYWARDEN_SMTP_URL must be smtp://host[:port] (add ?tls=required for STARTTLS) or \
         smtps://host[:port], with user:password@ if the server asks"
    )]
    Url,
    #[error("KEYWARDEN_SMTP_FROM must be an address such as Keywarden <alerts@example.com>")]
    From,
}

impl EmailSender {
    pub fn new(url: &str, from: &str) -> Result<Self, EmailSettingsError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| EmailSettingsError::Url)?
            .timeout(Some(TIMEOUT))
            .build();
        let from = from.parse().map_err(|_| EmailSettingsError::From)?;
        Ok(EmailSender { transport, from })
    }

    /// Sends a plain-text message; the error says why in words (never the server's URL).
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| "the account's email address cannot be written to".to_owned())?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|err| format!("the message cannot be built: {err}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| match err.status() {
                Some(code) => format!("the SMTP server refused the message ({code})"),
                None if err.is_timeout() => "the SMTP server did not answer in time".to_owned(),
                None => "the SMTP server could not be reached".to_owned(),
            })
    }
}
