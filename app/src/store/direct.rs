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

use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row};

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

    /// The row `sql` finds, mapped by `map`, or `None`.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, sqlx::Error> {
        let connection = self.take()?;
        let found = connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, map).optional());
        self.give_back(connection);
        found.map_err(driver_error)
    }

    fn take(&self) -> Result<Connection, sqlx::Error> {
        if let Some(connection) = self.lock().pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(driver_error)?;
        connection
            .busy_timeout(Duration::from_secs(1))
            .map_err(driver_error)?;
        connection
            .pragma_update(None, "cache_size", super::SQLITE_CACHE_SIZE)
            .map_err(driver_error)?;
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

fn driver_error(err: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(err))
}
