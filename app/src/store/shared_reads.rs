//! The read every authenticated request makes on PostgreSQL (its session, with its user and
//! key), many requests to a statement.
//!
//! PostgreSQL spends about 75 µs of CPU on each such statement however few rows it finds, and
//! on one machine it shares the cores with Keywarden: that fixed cost, not the rows, bounded
//! GET /me at a third of SQLite's rate. So while `RUNNING_AT_ONCE` reads are running, a read
//! that arrives waits, and the next statement to finish hands every waiting key to one
//! `= ANY($1)` statement. A read that finds a statement free goes at once: no timer, nothing
//! added when the load is light. Each read is still made after its request arrived, so a
//! revocation or a deactivation is seen by the next request on every instance: nothing is
//! cached.
//!
//! The gateway's token reads stay one statement each: requests answered together also go on
//! together, and a bot's order behind 30 others' signing and forwarding waited longer than the
//! statement it saved (paced gateway reads: +0.5 to +1 ms at the median).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::postgres::PgRow;
use tokio::sync::oneshot;

use super::StoreError;
use super::kept_connections::KeptConnections;

/// Statements running at once. A second one serves the requests that arrive during the first;
/// more split the waiting into smaller batches (GET /me, 64 connections, two cores: 2 at once
/// 12,800-16,400/s, 4 at once 11,700-14,300/s, 8 at once 8,100-10,000/s, a statement for each
/// 5,900-7,100/s).
const RUNNING_AT_ONCE: usize = 2;

/// The column every batched statement adds: the key its row answers.
const KEY_COLUMN: &str = "shared_read_key";

type Reply<T> = oneshot::Sender<Result<Option<T>, StoreError>>;

/// One kind of point read by a text key, built from a statement without its WHERE clause
/// (`select`) and the expression the key is compared with (`key`).
pub(super) struct SharedReads<T> {
    connections: Arc<KeptConnections>,
    sql: String,
    state: Mutex<State<T>>,
    #[cfg(test)]
    statements: std::sync::atomic::AtomicUsize,
}

impl<T> std::fmt::Debug for SharedReads<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReads")
            .field("sql", &self.sql)
            .finish()
    }
}

struct State<T> {
    running: usize,
    waiting: Vec<(String, Reply<T>)>,
}

impl<T> SharedReads<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Clone + Send + Unpin + 'static,
{
    pub(super) fn new(
        connections: Arc<KeptConnections>,
        select: &str,
        key: &str,
    ) -> Arc<SharedReads<T>> {
        let (columns, from) = select
            .split_once(" FROM ")
            .expect("a SELECT has a FROM clause");
        let sql = format!("{columns}, {key} AS {KEY_COLUMN} FROM {from} WHERE {key} = ANY($1)");
        Arc::new(SharedReads {
            connections,
            sql,
            state: Mutex::new(State {
                running: 0,
                waiting: Vec::new(),
            }),
            #[cfg(test)]
            statements: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The row for `key`, read after this call began.
    pub(super) async fn find(self: &Arc<Self>, key: &str) -> Result<Option<T>, StoreError> {
        let waiting = {
            let mut state = self.lock();
            if state.running < RUNNING_AT_ONCE {
                state.running += 1;
                None
            } else {
                let (reply, answer) = oneshot::channel();
                state.waiting.push((key.to_owned(), reply));
                Some(answer)
            }
        };
        match waiting {
            None => {
                let _turn = Turn(Arc::clone(self));
                let mut rows = self.fetch(vec![key.to_owned()]).await?;
                Ok(rows.remove(key))
            }
            Some(answer) => answer.await.unwrap_or_else(|_| {
                Err(StoreError::Other(
                    "the statement reading this request's row was dropped".into(),
                ))
            }),
        }
    }

    async fn fetch(&self, keys: Vec<String>) -> Result<HashMap<String, T>, StoreError> {
        #[cfg(test)]
        self.statements
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows: Vec<Keyed<T>> = self
            .connections
            .fetch_all(sqlx::query_as(&self.sql).bind(keys))
            .await?;
        Ok(rows.into_iter().map(|row| (row.key, row.row)).collect())
    }

    /// Reads the keys that waited, in one statement, and answers each.
    async fn answer(self: Arc<Self>, waiting: Vec<(String, Reply<T>)>) {
        let _turn = Turn(Arc::clone(&self));
        let mut keys: Vec<String> = waiting.iter().map(|(key, _)| key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        match self.fetch(keys).await {
            Ok(rows) => {
                for (key, reply) in waiting {
                    let _ = reply.send(Ok(rows.get(&key).cloned()));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for (_, reply) in waiting {
                    let _ = reply.send(Err(StoreError::Other(message.clone().into())));
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running statement's place. When it ends (also when the request that ran it is dropped
/// mid-read) the reads that waited meanwhile take it over, or it is given up.
struct Turn<T>(Arc<SharedReads<T>>)
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Clone + Send + Unpin + 'static;

impl<T> Drop for Turn<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Clone + Send + Unpin + 'static,
{
    fn drop(&mut self) {
        let reads = &self.0;
        let mut state = reads.lock();
        if state.waiting.is_empty() {
            state.running -= 1;
            return;
        }
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        // Outside a runtime (it is shutting down) the waiting reads' senders are dropped, and
        // each of them answers with an error.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(reads).answer(waiting));
        } else {
            reads.lock().running -= 1;
        }
    }
}

/// A row of a batched statement, with the key it answers.
struct Keyed<T> {
    key: String,
    row: T,
}

impl<'r, T: sqlx::FromRow<'r, PgRow>> sqlx::FromRow<'r, PgRow> for Keyed<T> {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Keyed {
            key: sqlx::Row::try_get(row, KEY_COLUMN)?,
            row: T::from_row(row)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use sqlx::postgres::PgPool;

    use crate::store::{Pool, PoolSettings, Store, drop_test_database, test_database_on_postgres};

    const SETTINGS: PoolSettings = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
    };

    /// Users 1..=USERS, each with the session `s<id>`; user 7 is inactive, even users have a
    /// key. `s0` and the numbers after USERS name no session.
    const USERS: i64 = 40;

    async fn seed(pool: &PgPool) {
        let now = Utc::now();
        for user in 1..=USERS {
            sqlx::query(
                "INSERT INTO users (id, email, hashed_password, created_at, is_active) \
                 VALUES ($1, $2, 'x', $3, $4)",
            )
            .bind(user)
            .bind(format!("user{user}@example.com"))
            .bind(now)
            .bind(user != 7)
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, 'api', $3, $3, $4)",
            )
            .bind(format!("s{user}"))
            .bind(user)
            .bind(now)
            .bind(now + chrono::Duration::hours(1))
            .execute(pool)
            .await
            .unwrap();
            if user % 2 == 0 {
                sqlx::query(
                    "INSERT INTO api_keys (user_id, encrypted_api_key, encrypted_secret_key, \
                     api_key_masked, created_at, updated_at) VALUES ($1, 'x', 'x', 'x', $2, $2)",
                )
                .bind(user)
                .bind(now)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }

    /// Reads `s<number>` and checks the row is that session's own.
    async fn read_and_check(store: Store, number: i64) {
        let found = store
            .find_session_of_user(&format!("s{number}"))
            .await
            .unwrap();
        if !(1..=USERS).contains(&number) {
            assert!(found.is_none(), "s{number} names no session");
            return;
        }
        let found = found.unwrap_or_else(|| panic!("s{number} is found"));
        assert_eq!(found.session.id, format!("s{number}"));
        assert_eq!(found.session.user_id, number);
        assert_eq!(found.user_is_active, number != 7, "s{number}");
        assert_eq!(
            found.key.map(|key| key.user_id),
            (number % 2 == 0).then_some(number),
            "s{number}'s key"
        );
    }

    fn pool(store: &Store) -> PgPool {
        match store.pool() {
            Pool::Postgres(pool) => pool.clone(),
            Pool::Sqlite(_) => unreachable!("a PostgreSQL store"),
        }
    }

    fn idle(store: &Store) -> bool {
        let reads = store.shared_session_reads.as_ref().unwrap();
        let state = reads.lock();
        state.running == 0 && state.waiting.is_empty()
    }

    #[tokio::test]
    async fn reads_at_once_share_statements_and_each_gets_its_own_row() {
        let store = test_database_on_postgres("shared_reads", SETTINGS).await;
        seed(&pool(&store)).await;
        let reads = store.shared_session_reads.as_ref().unwrap();

        let tasks: Vec<_> = (0..300)
            .map(|i| tokio::spawn(read_and_check(store.clone(), i % (USERS + 5))))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let statements = reads.statements.load(std::sync::atomic::Ordering::Relaxed);
        assert!(statements < 30, "300 reads took {statements} statements");
        assert!(idle(&store));

        // Each read is made after it was asked for: a revocation and a deactivation show at once.
        let pool = pool(&store);
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = 's3'")
            .bind(Utc::now())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE users SET is_active = FALSE WHERE id = 4")
            .execute(&pool)
            .await
            .unwrap();
        let revoked = store.find_session_of_user("s3").await.unwrap().unwrap();
        assert!(revoked.session.revoked_at.is_some());
        let deactivated = store.find_session_of_user("s4").await.unwrap().unwrap();
        assert!(!deactivated.user_is_active);
        drop_test_database(store).await;
    }

    /// Requests dropped while their read runs or waits (a client went away) leave no read
    /// unanswered and no statement's place taken.
    #[tokio::test]
    async fn reads_dropped_midway_leave_the_others_answered() {
        let store = test_database_on_postgres("shared_reads_dropped", SETTINGS).await;
        seed(&pool(&store)).await;
        for _ in 0..5 {
            let tasks: Vec<_> = (0..100)
                .map(|i| tokio::spawn(read_and_check(store.clone(), i % (USERS + 5))))
                .collect();
            tokio::task::yield_now().await;
            let mut kept = Vec::new();
            for (i, task) in tasks.into_iter().enumerate() {
                if i % 3 == 0 {
                    task.abort();
                } else {
                    kept.push(task);
                }
            }
            for task in kept {
                task.await.unwrap();
            }
        }
        // The aborted tasks' turns are handed on when they are dropped.
        for _ in 0..100 {
            if idle(&store) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(idle(&store));
        read_and_check(store.clone(), 5).await;
        drop_test_database(store).await;
    }
}
