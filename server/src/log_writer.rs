//! Where the server's log lines go: a buffer that a thread of its own writes out.
//!
//! A `write` per line on the request's thread cost a fifth of GET /api/v1/api-keys/me's CPU
//! time (perf). A queue with a thread that waits on it (tracing-appender) spun and woke its
//! thread per line instead (strace, per 10,945 requests: 1,790 `sched_yield`, 1,514 writes). Here
//! a line is appended to a buffer under a lock, and the writing thread comes by on its own: every
//! `GATHER` while lines keep coming, every `IDLE` once a round found none. No line wakes it: at
//! a few requests a second, the first line into an empty buffer did, so each request paid a
//! wake-up before its answer was written, and the woken thread took the core the client was
//! about to be woken on (`perf sched`: the client then waited ~50 µs for the other, idle core).
//!
//! Nothing is dropped: a buffer that reaches `LIMIT` is written out by the thread that filled
//! it. What is still buffered is written when the `Flush` guard is dropped, at exit.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writing thread lets lines gather while they keep coming.
const GATHER: Duration = Duration::from_millis(10);
/// How long it waits after a round that found no line: the most a line waits when idle.
const IDLE: Duration = Duration::from_millis(100);
/// A buffer this full is written at once, by the thread that filled it.
const LIMIT: usize = 256 * 1024;
/// Room a new buffer starts with: a few hundred lines.
const START: usize = 16 * 1024;

struct Lines {
    buffer: Vec<u8>,
    stopping: bool,
}

struct Shared<W> {
    lines: Mutex<Lines>,
    /// Signalled by the guard at exit.
    stop_requested: Condvar,
    /// Taken before `lines` is let go, so batches are written in the order they were taken,
    /// while new lines gather in the next one.
    out: Mutex<W>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<W: Write> Shared<W> {
    fn write_out(&self, mut lines: MutexGuard<'_, Lines>) {
        let batch = std::mem::replace(&mut lines.buffer, Vec::with_capacity(START));
        let mut out = lock(&self.out);
        drop(lines);
        // A log sink that fails (a closed stdout) cannot be told about it; the lines go.
        let _ = out.write_all(&batch);
        let _ = out.flush();
    }
}

/// The writer `tracing_subscriber` makes per line; cheap to clone.
pub struct LogWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        LogWriter {
            shared: self.shared.clone(),
        }
    }
}

/// Writes out what is buffered and stops the writing thread when dropped.
pub struct Flush<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

/// A writer of log lines into `out`, and the guard that flushes it at exit.
pub fn log_writer<W: Write + Send + 'static>(out: W) -> (LogWriter<W>, Flush<W>) {
    let shared = Arc::new(Shared {
        lines: Mutex::new(Lines {
            buffer: Vec::with_capacity(START),
            stopping: false,
        }),
        stop_requested: Condvar::new(),
        out: Mutex::new(out),
    });
    let thread = std::thread::Builder::new()
        .name("keywarden-log".into())
        .spawn({
            let shared = shared.clone();
            move || write_lines(&shared)
        })
        .expect("the log thread starts");
    (
        LogWriter {
            shared: shared.clone(),
        },
        Flush {
            shared,
            thread: Some(thread),
        },
    )
}

fn write_lines<W: Write>(shared: &Shared<W>) {
    let mut wait = IDLE;
    loop {
        let lines = lock(&shared.lines);
        // Woken early only by the guard, at exit.
        let (lines, _) = shared
            .stop_requested
            .wait_timeout_while(lines, wait, |lines| !lines.stopping)
            .unwrap_or_else(|e| e.into_inner());
        if lines.stopping {
            shared.write_out(lines);
            return;
        }
        if lines.buffer.is_empty() {
            wait = IDLE;
        } else {
            wait = GATHER;
            shared.write_out(lines);
        }
    }
}

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = lock(&self.shared.lines);
        lines.buffer.extend_from_slice(line);
        if lines.buffer.len() >= LIMIT {
            self.shared.write_out(lines);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter<W> {
    type Writer = LogWriter<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl<W: Write> Drop for Flush<W> {
    fn drop(&mut self) {
        lock(&self.shared.lines).stopping = true;
        self.shared.stop_requested.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read while the writer owns it; counts the writes it gets.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().unwrap();
            sink.0.extend_from_slice(bytes);
            sink.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes() {
        let sink = Sink::default();
        let (writer, flush) = log_writer(sink.clone());
        for i in 0..1000 {
            writer
                .clone()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.text().lines().count() < 1000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            sink.text(),
            expected,
            "written by the thread, without the guard"
        );
        assert!(
            sink.writes() < 100,
            "{} writes for 1000 lines",
            sink.writes()
        );
        drop(flush);
    }

    #[test]
    fn the_guard_writes_what_is_left_and_a_full_buffer_is_written_at_once() {
        let sink = Sink::default();
        let (mut writer, flush) = log_writer(sink.clone());
        let big = vec![b'x'; LIMIT];
        writer.write_all(&big).unwrap();
        assert_eq!(
            sink.text().len(),
            LIMIT,
            "a full buffer does not wait for the thread"
        );
        writer.write_all(b"last line\n").unwrap();
        drop(flush);
        assert!(sink.text().ends_with("last line\n"));
    }

    #[test]
    fn lines_from_many_threads_stay_whole() {
        let sink = Sink::default();
        let (writer, flush) = log_writer(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        writer
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let text = sink.text();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let own: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(
                own,
                (0..500).collect::<Vec<_>>(),
                "thread {t}'s lines in order"
            );
        }
    }
}
