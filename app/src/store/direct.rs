//! Point reads on SQLite, run on the calling thread.
//!
//! sqlx gives each SQLite connection a worker thread and carries every statement there and
//! back over channels. For a lookup SQLite answers from its page cache in microseconds, those
//! thread switches were most of an authenticated request's CPU time (perf, GET
//! /api/v1/api-keys/me: ~40 % in futex wake-ups and context switches). The reads every request
//! makes (its session, the caller's key) therefore run here, on read-only connections of
//! their own; every write, and every other read, goes through sqlx.
//!
//! A read here blocks its async worker for as long as SQLite takes; in WAL mode readers never
//! wait for writers, so that is the time to walk a few cached pages.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row};

use super::StoreError;
use super::rows::{Columns, FromColumns};

/// Connections kept open between reads; one per thread that reads at once is enough.
const KEEP_IDLE: usize = 8;

#[derive(Debug)]
pub struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    pub fn new(path: &Path) -> DirectReads {
        DirectReads {
            path: path.to_owned(),
            idle: Mutex::default(),
        }
    }

    /// The row `sql` finds, or `None`.
    pub fn query_row<T: FromColumns>(
        &self,
        sql: &str,
        params: impl Params,
    ) -> Result<Option<T>, StoreError> {
        let connection = self.take()?;
        let found = connection.prepare_cached(sql).and_then(|mut statement| {
            statement
                .query_row(params, |row| {
                    T::from_columns(&mut DirectRow { row, next: 0 })
                })
                .optional()
        });
        self.give_back(connection);
        Ok(found?)
    }

    fn take(&self) -> Result<Connection, rusqlite::Error> {
        if let Some(connection) = self.lock().pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(Duration::from_secs(1))?;
        connection.pragma_update(None, "cache_size", super::SQLITE_CACHE_SIZE)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.lock();
        if idle.len() < KEEP_IDLE {
            idle.push(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A time as a parameter of a direct read: the text sqlx writes for it, since SQLite compares
/// stored times as text (rusqlite's own encoding puts a space where sqlx puts the `T`).
pub fn time_param(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A row's columns, read by name. Reading them in the order of the SELECT costs one name
/// comparison each; rusqlite's own lookup by name compares every column's name, which was a
/// tenth of an authenticated request's instructions (callgrind).
pub struct DirectRow<'r, 's> {
    row: &'r Row<'s>,
    next: usize,
}

impl Columns for DirectRow<'_, '_> {
    type Error = rusqlite::Error;

    fn int(&mut self, name: &str) -> rusqlite::Result<i64> {
        self.get(name)
    }

    fn optional_int(&mut self, name: &str) -> rusqlite::Result<Option<i64>> {
        self.get(name)
    }

    fn flag(&mut self, name: &str) -> rusqlite::Result<bool> {
        self.get(name)
    }

    fn text(&mut self, name: &str) -> rusqlite::Result<String> {
        self.get(name)
    }

    fn optional_text(&mut self, name: &str) -> rusqlite::Result<Option<String>> {
        self.get(name)
    }

    /// A timestamp as sqlx writes it (RFC 3339), parsed by chrono's RFC 3339 parser rather
    /// than the format-string parser rusqlite uses, which took another tenth of the
    /// instructions. Anything else (a NULL, another format) goes through rusqlite.
    fn time(&mut self, name: &str) -> rusqlite::Result<DateTime<Utc>> {
        let index = self.index(name)?;
        match self.rfc3339(index) {
            Some(time) => Ok(time),
            None => self.row.get(index),
        }
    }

    fn optional_time(&mut self, name: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let index = self.index(name)?;
        match self.rfc3339(index) {
            Some(time) => Ok(Some(time)),
            None => self.row.get(index),
        }
    }

    fn invalid(name: &str, problem: String) -> rusqlite::Error {
        rusqlite::Error::InvalidColumnName(format!("{name}: {problem}"))
    }
}

impl DirectRow<'_, '_> {
    fn get<T: FromSql>(&mut self, name: &str) -> rusqlite::Result<T> {
        let index = self.index(name)?;
        self.row.get(index)
    }

    fn rfc3339(&self, index: usize) -> Option<DateTime<Utc>> {
        let text = self.row.get_ref(index).ok()?.as_str().ok()?;
        let time = DateTime::parse_from_rfc3339(text).ok()?;
        Some(time.with_timezone(&Utc))
    }

    fn index(&mut self, name: &str) -> rusqlite::Result<usize> {
        let statement = self.row.as_ref();
        let index = match statement.column_name(self.next) {
            Ok(found) if found == name => self.next,
            _ => statement.column_index(name)?,
        };
        self.next = index + 1;
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(sql: &str, map: impl FnOnce(&mut DirectRow<'_, '_>) -> rusqlite::Result<T>) -> T {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .query_row(sql, [], |row| map(&mut DirectRow { row, next: 0 }))
            .unwrap()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let sql = "SELECT 1 AS a, 'two' AS b, 3 AS c";
        let in_order: (i64, String, i64) =
            read(sql, |row| Ok((row.get("a")?, row.get("b")?, row.get("c")?)));
        assert_eq!(in_order, (1, "two".into(), 3));
        let shuffled: (i64, i64, String) =
            read(sql, |row| Ok((row.get("c")?, row.get("a")?, row.get("b")?)));
        assert_eq!(shuffled, (3, 1, "two".into()));
        let connection = Connection::open_in_memory().unwrap();
        let missing =
            connection.query_row(sql, [], |row| DirectRow { row, next: 0 }.get::<i64>("nope"));
        assert!(matches!(
            missing,
            Err(rusqlite::Error::InvalidColumnName(_))
        ));
    }

    #[test]
    fn times_in_rfc3339_and_other_formats_read_alike() {
        let sql = "SELECT '2026-12-01T15:20:47.123456789+00:00' AS sqlx, \
                   '2026-12-01T17:20:47.123456789+02:00' AS offset, \
                   '2026-12-01 15:20:47.123456789' AS plain, NULL AS never";
        let (sqlx, offset, plain, never) = read(sql, |row| {
            Ok((
                row.time("sqlx")?,
                row.time("offset")?,
                row.time("plain")?,
                row.optional_time("never")?,
            ))
        });
        let expected = DateTime::parse_from_rfc3339("2026-12-01T15:20:47.123456789Z").unwrap();
        assert_eq!(sqlx, expected);
        assert_eq!(offset, expected);
        assert_eq!(plain, expected);
        assert_eq!(never, None);
        let connection = Connection::open_in_memory().unwrap();
        let null = connection.query_row("SELECT NULL AS t", [], |row| {
            DirectRow { row, next: 0 }.time("t")
        });
        assert!(null.is_err(), "a NULL is not a time");
    }

    #[tokio::test]
    async fn a_time_parameter_is_the_text_sqlx_stores() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        for time in [
            "2026-12-03T07:31:37Z",
            "2026-12-03T07:31:37.120Z",
            "2026-12-03T07:31:37.123456789Z",
        ] {
            let time = DateTime::parse_from_rfc3339(time)
                .unwrap()
                .with_timezone(&Utc);
            let stored: String = sqlx::query_scalar("SELECT $1")
                .bind(time)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(time_param(time), stored);
        }
    }
}
