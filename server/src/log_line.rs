//! How a line of the text log reads when it goes to a file or a pipe: tracing-subscriber's
//! default layout, uncoloured:
//!
//! `2026-12-01T21:45:55.123456Z  INFO request{id=9f92173500000dda}: server::ops: request method=GET ...`
//!
//! The default formatter runs every part of the line (timestamp, level, span names, target)
//! through the terminal-colour painter even when colours are off, which made up a third of
//! the request line's 13k instructions (callgrind). This one writes the same text directly;
//! the fields are still written by tracing-subscriber's own field formatter.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let stamp = timestamp(Utc::now());
        writer.write_str(std::str::from_utf8(&stamp).map_err(|_| fmt::Error)?)?;
        writer.write_char(' ')?;
        let metadata = event.metadata();
        writer.write_str(level(metadata.level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut any = false;
            for span in scope.from_root() {
                any = true;
                writer.write_str(span.metadata().name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if any {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(metadata.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// Padded to five characters, as the default formatter pads them.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// RFC 3339 in UTC to the microsecond.
fn timestamp(now: DateTime<Utc>) -> [u8; 27] {
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    put(&mut out[0..4], now.year().clamp(0, 9999) as u32);
    put(&mut out[5..7], now.month());
    put(&mut out[8..10], now.day());
    put(&mut out[11..13], now.hour());
    put(&mut out[14..16], now.minute());
    put(&mut out[17..19], now.second());
    // A leap second's nanoseconds run past 1e9: it is written as the second before it.
    put(&mut out[20..26], now.nanosecond() / 1000 % 1_000_000);
    out
}

/// `n` in decimal, zero-padded to fill `digits`.
fn put(digits: &mut [u8], mut n: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_some_lines() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        tracing::warn!("no span, no fields");
        let request = tracing::info_span!("request", id = %"0123abcd");
        request.in_scope(|| {
            let path = "/api/v1/api-keys/me";
            tracing::info!(method = %"GET", path = %path, status = 200u16, ms = 1.042, "request");
            let inner = tracing::error_span!("inner", user_id = 7, quoted = "a \"b\"");
            inner.in_scope(|| {
                let err = Outer(std::io::Error::other("inner cause"));
                tracing::error!(
                    error = &err as &dyn std::error::Error,
                    flag = true,
                    "failed"
                );
            });
            tracing::info_span!("empty").in_scope(|| tracing::info!(n = -3i64));
        });
    }

    fn lines(text: &[u8]) -> Vec<String> {
        String::from_utf8(text.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lines_read_as_the_default_formatter_writes_them() {
        let ours = Captured::default();
        let writer = ours.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .event_format(TextLine)
            .finish();
        tracing::subscriber::with_default(subscriber, log_some_lines);
        let default = Captured::default();
        let writer = default.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, log_some_lines);

        let ours = lines(&ours.0.lock().unwrap());
        let default = lines(&default.0.lock().unwrap());
        assert_eq!(ours.len(), 4, "{ours:#?}");
        assert_eq!(ours.len(), default.len());
        for (ours, default) in ours.iter().zip(&default) {
            // Only the time differs.
            assert_eq!(ours[27..], default[27..]);
            let time = DateTime::parse_from_rfc3339(&ours[..27]).unwrap();
            assert!((Utc::now() - time.with_timezone(&Utc)).num_seconds().abs() < 60);
        }
        assert!(
            ours[1].ends_with(
                " INFO request{id=0123abcd}: server::log_line::tests: request method=GET \
                 path=/api/v1/api-keys/me status=200 ms=1.042"
            ),
            "{}",
            ours[1]
        );
    }

    #[test]
    fn timestamps_are_rfc3339_to_the_microsecond() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let stamp = |t| String::from_utf8(timestamp(t).to_vec()).unwrap();
        assert_eq!(
            stamp(at("2026-12-01T09:05:03.123456789Z")),
            "2026-12-01T09:05:03.123456Z"
        );
        assert_eq!(
            stamp(at("0999-01-31T23:59:59.000001Z")),
            "0999-01-31T23:59:59.000001Z"
        );
        assert_eq!(
            stamp(at("2026-06-30T23:59:60.5Z")),
            "2026-06-30T23:59:59.500000Z"
        );
    }
}
