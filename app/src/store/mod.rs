//! Storage: the queries, one file per table group, each written once for both backends.
//! SQLite and PostgreSQL both accept `$n` placeholders and `RETURNING`, so one SQL text serves
//! both; `on_pool!` runs it on whichever pool is configured, `on_writer!` and
//! `in_transaction!` do so for writes.

mod alerts;
mod api_keys;
mod audit;
mod bot_configs;
mod bot_tokens;
mod checkpointer;
mod direct;
mod error;
mod kept_connections;
mod order_journal;
mod rows;
mod sealed;
mod sessions;
mod shared_reads;
mod two_factor;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

pub use alerts::{
    ClaimedDelivery, DeliveryAttempt, DeliveryAttemptRow, NewAlert, NewWebhook, WebhookRow,
};
pub use api_keys::{
    ApiKeyRow, DueForValidation, KeyConsequences, Reencrypted, SealedKey, StoredCiphertexts,
    Validation,
};
pub use audit::{AuditEventRow, NewAuditEvent, RecentEvents};
pub use bot_configs::{BotConfigRow, BotPolicy, BotUsage, BotsPause};
pub use bot_tokens::{BotTokenGrant, BotTokenRow, NewBotToken};
pub use error::StoreError;
pub use sealed::{SealedSecretRow, SealedSecrets};
pub use sessions::{NewSession, RefreshOutcome, SessionOfUser, SessionRow};
pub use two_factor::{ChallengeRow, TwoFactorRow};
pub use users::UserRow;

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// SQLite admits one writer at a time. Writers of this process wait their turn here, in
    /// order; without it they would sleep in SQLite's busy handler, whose back-off grows to
    /// 100 ms per try, and a burst of writes would see p99 latencies of hundreds of ms.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// The hot reads of a SQLite file, without sqlx's thread hop (see `direct`).
    sqlite_direct: Option<Arc<direct::DirectReads>>,
    /// On PostgreSQL, the connections the hot reads use, kept out of the pool between them
    /// (see `kept_connections`).
    kept_connections: Option<Arc<kept_connections::KeptConnections>>,
    /// On PostgreSQL, the session reads of requests at once, many to a statement (see
    /// `shared_reads`).
    shared_session_reads: Option<Arc<shared_reads::SharedReads<SessionOfUser>>>,
    /// Order events and bot tokens' uses, committed in order, many to a transaction (see
    /// `order_journal`). Only the store the journal's own task writes through has none.
    order_journal: Option<Arc<order_journal::OrderJournal>>,
}

#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the configured backend's pool.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
use on_pool;

/// `on_pool!` for a statement that writes: it waits for the writer's turn first.
macro_rules! on_writer {
    ($store:expr, $pool:ident => $body:expr) => {{
        let _turn = $store.writer_turn().await;
        $crate::store::on_pool!($store, $pool => $body)
    }};
}
use on_writer;

/// Each SQLite connection's page cache, in KiB when negative: 512 KiB rather than SQLite's
/// 2 MiB. The hot rows fit many times over; the file's pages stay in the OS's page cache; and
/// a dozen connections with full caches would otherwise add 20 MiB to the server's RSS.
pub(crate) const SQLITE_CACHE_SIZE: &str = "-512";

/// A pooled connection idle this long is pinged before it is handed out; one in use is not.
/// sqlx pings on every acquire by default, which on PostgreSQL was a second round trip for
/// every query; the connections that break (the server restarted, a firewall dropped them)
/// are the ones that sat idle.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

fn pool_options<DB: sqlx::Database>(settings: PoolSettings) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection: &mut DB::Connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Store {
    fn new(pool: Pool, sqlite_file: Option<&std::path::Path>) -> std::io::Result<Store> {
        let kept_connections = match &pool {
            Pool::Postgres(pool) => Some(Arc::new(kept_connections::KeptConnections::new(
                pool.clone(),
            ))),
            Pool::Sqlite(_) => None,
        };
        let shared_session_reads = kept_connections.as_ref().map(|kept| {
            shared_reads::SharedReads::new(
                Arc::clone(kept),
                &sessions::session_of_user_select(),
                "s.id",
            )
        });
        let store = Store {
            pool,
            sqlite_writer: Arc::default(),
            sqlite_direct: sqlite_file.map(|path| Arc::new(direct::DirectReads::new(path))),
            kept_connections,
            shared_session_reads,
            order_journal: None,
        };
        let destination = match (sqlite_file, &store.pool) {
            (Some(path), _) => order_journal::Destination::SqliteFile {
                path: path.to_owned(),
                writer: Arc::clone(&store.sqlite_writer),
            },
            (None, Pool::Postgres(pool)) => order_journal::Destination::Postgres {
                options: pool.connect_options(),
                connect_timeout: pool.options().get_acquire_timeout(),
            },
            (None, Pool::Sqlite(_)) => order_journal::Destination::Store(store.clone()),
        };
        if let Some(path) = sqlite_file {
            checkpointer::start(path, &store.sqlite_writer)?;
        }
        let journal = order_journal::OrderJournal::start(destination)?;
        Ok(Store {
            order_journal: Some(Arc::new(journal)),
            ..store
        })
    }

    pub(crate) fn sqlite_direct(&self) -> Option<&direct::DirectReads> {
        self.sqlite_direct.as_deref()
    }

    fn kept_connections(&self) -> Option<&kept_connections::KeptConnections> {
        self.kept_connections.as_deref()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Held while writing: on SQLite, the one write of this process in progress.
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.pool {
            Pool::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            Pool::Postgres(_) => None,
        }
    }

    /// Connects to `sqlite:<path>` (the file is created if missing) or `postgres://...`.
    pub async fn connect(url: &str, pool: PoolSettings) -> Result<Store, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pg = pool_options::<sqlx::Postgres>(pool).connect(url).await?;
            return Ok(Store::new(Pool::Postgres(pg), None)?);
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .pragma("cache_size", SQLITE_CACHE_SIZE)
                .pragma(
                    checkpointer::NO_AUTOMATIC_CHECKPOINTS.0,
                    checkpointer::NO_AUTOMATIC_CHECKPOINTS.1,
                );
            let file = options.get_filename().to_owned();
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let sqlite = pool_options::<sqlx::Sqlite>(pool)
                .connect_with(options)
                .await?;
            let file = (!in_memory).then_some(file.as_path());
            return Ok(Store::new(Pool::Sqlite(sqlite), file)?);
        }
        Err(sqlx::Error::Configuration(
            "DATABASE_URL must start with sqlite: or postgres://".into(),
        ))
    }

    /// Applies the backend's migrations (migrations/sqlite or migrations/postgres).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await,
        }
    }

    /// Whether the database answers and has every migration this build knows, applied.
    pub async fn is_ready(&self) -> Result<bool, sqlx::Error> {
        let known = match self.pool {
            Pool::Sqlite(_) => sqlx::migrate!("../migrations/sqlite").iter().count(),
            Pool::Postgres(_) => sqlx::migrate!("../migrations/postgres").iter().count(),
        };
        let query = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_pool!(self, pool => sqlx::query_scalar(query).fetch_one(pool).await)?;
        Ok(applied as usize >= known)
    }

    /// Connections open and idle (in the pool, or kept for the hot reads), and the pool's
    /// maximum.
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        let kept = self.kept_connections().map_or(0, |kept| kept.idle());
        on_pool!(self, pool => (pool.size(), pool.num_idle() + kept, pool.options().get_max_connections()))
    }

    /// The order events committed so far and the transactions they took (many events per
    /// transaction under load).
    pub fn order_events_written(&self) -> (u64, u64) {
        self.order_journal
            .as_ref()
            .map_or((0, 0), |journal| journal.written())
    }

    /// Order events written behind their answers that could not be written (each logged).
    pub fn order_events_lost(&self) -> u64 {
        self.order_journal
            .as_ref()
            .map_or(0, |journal| journal.lost())
    }

    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Writes what is queued, then closes the pool.
    pub async fn close(&self) {
        self.writes_behind_settled().await;
        if let Some(kept) = self.kept_connections() {
            kept.release_all();
        }
        on_pool!(self, pool => pool.close().await)
    }
}

/// A migrated store on a PostgreSQL database of its own (`TEST_POSTGRES_URL`'s server, as
/// `make test` sets it), dropped by `drop_test_database`.
#[cfg(test)]
pub(crate) async fn test_database_on_postgres(purpose: &str, settings: PoolSettings) -> Store {
    let name = format!(
        "keywarden_{purpose}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&test_postgres_admin().await)
        .await
        .unwrap();
    let admin_url = test_postgres_url();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let store = Store::connect(&format!("{base}/{name}"), settings)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

#[cfg(test)]
pub(crate) async fn drop_test_database(store: Store) {
    let Pool::Postgres(pool) = store.pool() else {
        panic!("not a PostgreSQL store");
    };
    let name = pool.connect_options().get_database().unwrap().to_owned();
    store.close().await;
    drop_test_database_named(&name).await;
}

#[cfg(test)]
pub(crate) async fn drop_test_database_named(name: &str) {
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&test_postgres_admin().await)
        .await
        .unwrap();
}

/// A path of its own for a SQLite test file, in the temporary directory; `remove_test_sqlite_file`
/// removes it.
#[cfg(test)]
pub(crate) fn test_sqlite_path(purpose: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "keywarden-{purpose}-{}-{}.db",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ))
}

/// Removes a SQLite test file with its log and shared memory.
#[cfg(test)]
pub(crate) fn remove_test_sqlite_file(path: impl AsRef<std::path::Path>) {
    let path = path.as_ref().display();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

#[cfg(test)]
fn test_postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[cfg(test)]
async fn test_postgres_admin() -> PgPool {
    PgPool::connect(&test_postgres_url()).await.unwrap()
}
