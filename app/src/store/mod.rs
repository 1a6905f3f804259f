//! Storage: the queries, one file per table group, each written once for both backends.
//! SQLite and PostgreSQL both accept `$n` placeholders and `RETURNING`, so one SQL text serves
//! both; `on_pool!` runs it on whichever pool is configured.

mod api_keys;
mod audit;
mod bot_configs;
mod sessions;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use api_keys::{
    ApiKeyRow, DueForValidation, Reencrypted, SealedKey, StoredCiphertexts, Validation,
};
pub use audit::{AuditEventRow, NewAuditEvent};
pub use bot_configs::BotConfigRow;
pub use sessions::{NewSession, RecentEvents, RefreshOutcome, SessionOfUser, SessionRow};
pub use users::UserRow;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the configured backend's pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
use on_pool;

#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Connects to `sqlite:<path>` (the file is created if missing) or `postgres://...`.
    pub async fn connect(url: &str, pool: PoolSettings) -> Result<Store, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pg = PgPoolOptions::new()
                .max_connections(pool.max_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect(url)
                .await?;
            return Ok(Store::Postgres(pg));
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let sqlite = SqlitePoolOptions::new()
                .max_connections(pool.max_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await?;
            return Ok(Store::Sqlite(sqlite));
        }
        Err(sqlx::Error::Configuration(
            "DATABASE_URL must start with sqlite: or postgres://".into(),
        ))
    }

    /// Applies the backend's migrations (migrations/sqlite or migrations/postgres).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Store::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await,
            Store::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await,
        }
    }

    /// Whether the database answers and has every migration this build knows, applied.
    pub async fn is_ready(&self) -> Result<bool, sqlx::Error> {
        let known = match self {
            Store::Sqlite(_) => sqlx::migrate!("../migrations/sqlite").iter().count(),
            Store::Postgres(_) => sqlx::migrate!("../migrations/postgres").iter().count(),
        };
        let query = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_pool!(self, pool => sqlx::query_scalar(query).fetch_one(pool).await)?;
        Ok(applied as usize >= known)
    }

    /// Connections open and idle in the pool, and its maximum.
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        on_pool!(self, pool => (pool.size(), pool.num_idle(), pool.options().get_max_connections()))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// A row named by a foreign key was deleted by a concurrent transaction.
pub fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation())
}
