//! PostgreSQL connections kept out of sqlx's pool between the point reads every request makes
//! (a bot token's grant, a session, a key).
//!
//! sqlx's pool checks each connection handed back with a round trip of its own (a `Sync`, in a
//! task spawned for it), so a request of one statement had the database answer twice. A
//! connection kept here after a read that completed is known to be ready, and goes to the next
//! read as it is. Flat-out gateway reads on PostgreSQL: +20 % in five alternated pairs of one
//! build with and without the check (sqlx patched for the measurement), +4 % in four pairs of
//! the release builds before and after this module (the bench history, session 24).
//!
//! A read that fails, or whose request is dropped mid-statement, drops its connection, which
//! then goes back through the pool's check. At most half the pool is kept here, so writes and
//! other reads still find connections; a connection kept idle for `PING_IF_IDLE_FOR` goes
//! back to the pool, which checks it before handing it out again.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, Postgres};

use super::{PING_IF_IDLE_FOR, StoreError};

#[derive(Debug)]
pub(super) struct KeptConnections {
    pool: PgPool,
    most: usize,
    /// How long a connection is kept idle before it goes back to the pool.
    idle_limit: Duration,
    /// Newest last, each with when it was kept.
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl KeptConnections {
    pub(super) fn new(pool: PgPool) -> KeptConnections {
        let most = pool.options().get_max_connections() as usize / 2;
        KeptConnections {
            pool,
            most,
            idle_limit: PING_IF_IDLE_FOR,
            idle: Mutex::default(),
        }
    }

    /// The row `query` finds, or `None`.
    pub(super) async fn fetch_optional<'q, T>(
        &self,
        query: QueryAs<'q, Postgres, T, PgArguments>,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut connection = self.take().await?;
        let row = query.fetch_optional(&mut *connection).await?;
        self.keep(connection);
        Ok(row)
    }

    /// Every row `query` finds.
    pub(super) async fn fetch_all<'q, T>(
        &self,
        query: QueryAs<'q, Postgres, T, PgArguments>,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut connection = self.take().await?;
        let rows = query.fetch_all(&mut *connection).await?;
        self.keep(connection);
        Ok(rows)
    }

    /// Connections kept idle now.
    pub(super) fn idle(&self) -> usize {
        self.lock().len()
    }

    /// Hands every kept connection back to the pool (before it closes, which waits for them).
    pub(super) fn release_all(&self) {
        self.lock().clear();
    }

    async fn take(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let newest = {
            let mut idle = self.lock();
            // Dropped, they go back through the pool's check.
            idle.retain(|(_, since)| since.elapsed() < self.idle_limit);
            idle.pop()
        };
        match newest {
            Some((connection, _)) => Ok(connection),
            None => self.pool.acquire().await,
        }
    }

    fn keep(&self, connection: PoolConnection<Postgres>) {
        let mut idle = self.lock();
        if idle.len() < self.most {
            idle.push((connection, Instant::now()));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for KeptConnections {
    fn drop(&mut self) {
        // The pool takes a connection back in a task; with no runtime left to run it (the
        // process is ending), a kept connection is closed where it is instead.
        if tokio::runtime::Handle::try_current().is_err() {
            for (connection, _) in self.lock().drain(..) {
                drop(connection.detach());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::KeptConnections;
    use crate::store::{Pool, PoolSettings, drop_test_database, test_database_on_postgres};

    const SETTINGS: PoolSettings = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
    };

    fn backend_pid()
    -> sqlx::query::QueryAs<'static, sqlx::Postgres, (i32,), sqlx::postgres::PgArguments> {
        sqlx::query_as("SELECT pg_backend_pid()")
    }

    #[tokio::test]
    async fn a_connection_kept_after_a_read_serves_the_next_one() {
        let store = test_database_on_postgres("kept_next", SETTINGS).await;
        let kept = store.kept_connections.as_ref().unwrap();
        let first = kept.fetch_optional(backend_pid()).await.unwrap();
        assert_eq!(kept.idle(), 1);
        let second = kept.fetch_optional(backend_pid()).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(kept.idle(), 1);
        drop_test_database(store).await;
    }

    #[tokio::test]
    async fn a_failed_read_or_one_dropped_midway_keeps_no_connection() {
        let store = test_database_on_postgres("kept_failed", SETTINGS).await;
        let kept = store.kept_connections.as_ref().unwrap();
        let failed = kept
            .fetch_optional::<(i32,)>(sqlx::query_as("SELECT no_such_column FROM users"))
            .await;
        assert!(failed.is_err());
        assert_eq!(kept.idle(), 0);

        let slow = kept.fetch_all::<(String,)>(sqlx::query_as("SELECT pg_sleep(5)::text"));
        let cut_short = tokio::time::timeout(Duration::from_millis(100), slow).await;
        assert!(cut_short.is_err());
        assert_eq!(kept.idle(), 0);
        // The pool still serves reads, and what it hands out answers.
        assert!(kept.fetch_optional(backend_pid()).await.unwrap().is_some());
        drop_test_database(store).await;
    }

    #[test]
    fn kept_connections_outlive_their_runtime_without_a_panic() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = runtime.block_on(async {
            let store = test_database_on_postgres("kept_outlive", SETTINGS).await;
            let kept = store.kept_connections.as_ref().unwrap();
            kept.fetch_optional(backend_pid()).await.unwrap();
            assert_eq!(kept.idle(), 1);
            store
        });
        let name = match store.pool() {
            Pool::Postgres(pool) => pool.connect_options().get_database().unwrap().to_owned(),
            Pool::Sqlite(_) => unreachable!(),
        };
        drop(runtime);
        drop(store);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(crate::store::drop_test_database_named(&name));
    }

    #[tokio::test]
    async fn a_connection_kept_idle_too_long_goes_back_to_the_pool() {
        let store = test_database_on_postgres("kept_idle", SETTINGS).await;
        let Pool::Postgres(pool) = store.pool() else {
            unreachable!()
        };
        // A pool of its own, which opens connections only for these reads.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with((*pool.connect_options()).clone());
        let mut kept = KeptConnections::new(pool.clone());
        kept.idle_limit = Duration::from_millis(50);
        kept.fetch_optional(backend_pid()).await.unwrap();
        assert_eq!((pool.size(), pool.num_idle(), kept.idle()), (1, 0, 1));
        tokio::time::sleep(Duration::from_millis(100)).await;
        kept.fetch_optional(backend_pid()).await.unwrap();
        assert_eq!(kept.idle(), 1);
        // The one kept too long is back in the pool once the pool has checked it.
        let back = async {
            while pool.num_idle() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), back)
            .await
            .expect("the connection kept too long went back to the pool");
        kept.release_all();
        pool.close().await;
        drop_test_database(store).await;
    }

    #[tokio::test]
    async fn at_most_half_the_pool_is_kept_and_the_rest_stays_free() {
        let store = test_database_on_postgres("kept_half", SETTINGS).await;
        let kept = store.kept_connections.as_ref().unwrap();
        let read = || kept.fetch_all::<(String,)>(sqlx::query_as("SELECT pg_sleep(0.2)::text"));
        let (a, b, c, d) = tokio::join!(read(), read(), read(), read());
        for rows in [a, b, c, d] {
            rows.unwrap();
        }
        assert_eq!(kept.idle(), 2);
        let Pool::Postgres(pool) = store.pool() else {
            unreachable!()
        };
        let (one, two) = tokio::join!(pool.acquire(), pool.acquire());
        assert!(one.is_ok() && two.is_ok());
        drop((one, two));
        drop_test_database(store).await;
    }
}
