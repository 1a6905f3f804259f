//! Group commit of order events on SQLite.
//!
//! An order's attempt must be on disk before the order leaves, and SQLite's commit waits for
//! the disk (`synchronous = FULL`). Committed one by one, concurrent orders would queue behind
//! each other's flushes. Here one thread writes every event waiting at that moment in one
//! transaction, so many orders share one flush, and each caller learns its event's id once
//! that transaction is committed. The thread has a connection of its own, so a batch costs no
//! trip through sqlx's worker per statement. PostgreSQL groups concurrent commits' flushes
//! itself.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::StoreError;
use super::audit::{INSERT_EVENT_RETURNING_ID, OrderEvent};
use super::direct::time_param;

/// The most events one transaction takes.
const MOST_PER_COMMIT: usize = 256;

/// An event waiting for its commit, and who waits for its id.
struct Pending {
    event: OrderEvent,
    written: oneshot::Sender<Result<i64, StoreError>>,
}

/// The queue of events waiting for the writer thread; the thread ends when the store is
/// dropped.
#[derive(Debug)]
pub(super) struct OrderJournal {
    queue: mpsc::UnboundedSender<Pending>,
    /// Events and the transactions they took, so far.
    written: Arc<Written>,
}

#[derive(Debug, Default)]
struct Written {
    events: AtomicU64,
    commits: AtomicU64,
}

impl OrderJournal {
    /// Starts the writer thread on the SQLite file at `path`; it takes the process's SQLite
    /// writer turn for each commit.
    pub(super) fn start(path: &Path, writer: Arc<Mutex<()>>) -> std::io::Result<OrderJournal> {
        let (queue, waiting) = mpsc::unbounded_channel();
        let written: Arc<Written> = Arc::default();
        let path = path.to_owned();
        let counts = Arc::clone(&written);
        std::thread::Builder::new()
            .name("order-journal".into())
            .spawn(move || write_as_they_come(&path, &writer, waiting, &counts))?;
        Ok(OrderJournal { queue, written })
    }

    /// How many events were committed so far, and in how many transactions.
    pub(super) fn written(&self) -> (u64, u64) {
        let written = &self.written;
        (
            written.events.load(Ordering::Relaxed),
            written.commits.load(Ordering::Relaxed),
        )
    }

    /// Appends the event and returns its id once it is committed.
    pub(super) async fn append(&self, event: OrderEvent) -> Result<i64, StoreError> {
        self.queue_one(event)?.await.map_err(|_| stopped())?
    }

    /// Appends the events, queued together so that they share a commit, and returns once
    /// every one is committed.
    pub(super) async fn append_all(&self, events: &[OrderEvent]) -> Result<(), StoreError> {
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            ids.push(self.queue_one(event.clone())?);
        }
        for id in ids {
            id.await.map_err(|_| stopped())??;
        }
        Ok(())
    }

    fn queue_one(
        &self,
        event: OrderEvent,
    ) -> Result<oneshot::Receiver<Result<i64, StoreError>>, StoreError> {
        let (written, id) = oneshot::channel();
        self.queue
            .send(Pending { event, written })
            .map_err(|_| stopped())?;
        Ok(id)
    }
}

fn stopped() -> StoreError {
    StoreError::Other("the order journal has stopped".into())
}

fn write_as_they_come(
    path: &Path,
    writer: &Mutex<()>,
    mut waiting: mpsc::UnboundedReceiver<Pending>,
    written: &Written,
) {
    let mut connection = None;
    let mut batch = Vec::with_capacity(MOST_PER_COMMIT);
    while waiting.blocking_recv_many(&mut batch, MOST_PER_COMMIT) > 0 {
        let turn = writer.blocking_lock();
        let outcome = write_together(&mut connection, path, &batch);
        drop(turn);
        match outcome {
            Ok(ids) => {
                written.commits.fetch_add(1, Ordering::Relaxed);
                (written.events).fetch_add(ids.len() as u64, Ordering::Relaxed);
                for (pending, id) in batch.drain(..).zip(ids) {
                    let _ = pending.written.send(Ok(id));
                }
            }
            // Nothing of the batch is written (a disk fault, not an event's): each of its
            // orders is refused before it leaves, and the next batch opens the file afresh.
            Err(err) => {
                connection = None;
                let failed = err.to_string();
                for pending in batch.drain(..) {
                    let _ = pending
                        .written
                        .send(Err(StoreError::Other(failed.clone().into())));
                }
            }
        }
    }
}

fn write_together(
    connection: &mut Option<Connection>,
    path: &Path,
    batch: &[Pending],
) -> rusqlite::Result<Vec<i64>> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(open(path)?),
    };
    let transaction = connection.transaction()?;
    let mut ids = Vec::with_capacity(batch.len());
    {
        let mut insert = transaction.prepare_cached(INSERT_EVENT_RETURNING_ID)?;
        for Pending { event: p, .. } in batch {
            let row = rusqlite::params![
                p.user_id,
                p.action,
                p.api_key_id,
                p.outcome,
                p.error_code,
                p.ip,
                p.user_agent,
                time_param(p.at),
                p.bot_config_id,
                p.detail,
            ];
            ids.push(insert.query_row(row, |row| row.get(0))?);
        }
    }
    transaction.commit()?;
    Ok(ids)
}

/// A connection as sqlx's are: WAL, full sync, the same busy wait.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    connection.pragma_update(None, "synchronous", "full")?;
    connection.pragma_update(None, "cache_size", super::SQLITE_CACHE_SIZE)?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use crate::store::{NewAuditEvent, PoolSettings, Store};

    #[tokio::test]
    async fn concurrent_events_share_commits_and_each_learns_its_own_id() {
        let path = std::env::temp_dir().join(format!(
            "keywarden-group-commit-{}-{}.db",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let settings = PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        };
        let store = Store::connect(&format!("sqlite://{}", path.display()), settings)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut appends = tokio::task::JoinSet::new();
        for n in 0..64 {
            let store = store.clone();
            appends.spawn(async move {
                let detail = format!("{{\"n\":{n}}}");
                let event = NewAuditEvent {
                    action: "order.place",
                    outcome: "attempt",
                    error_code: None,
                    ip: Some("203.0.113.7"),
                    user_agent: None,
                    at: Utc::now(),
                    bot_config_id: Some(1),
                    detail: Some(&detail),
                };
                (detail.clone(), store.append_order_event(1, 1, &event).await)
            });
        }
        let written = appends.join_all().await;
        let mut ids: Vec<i64> = Vec::new();
        for (detail, id) in written {
            let id = id.unwrap();
            let (stored,): (String,) =
                sqlx::query_as("SELECT detail FROM audit_events WHERE id = $1")
                    .bind(id)
                    .fetch_one(match store.pool() {
                        crate::store::Pool::Sqlite(pool) => pool,
                        crate::store::Pool::Postgres(_) => unreachable!(),
                    })
                    .await
                    .unwrap();
            assert_eq!(stored, detail, "event {id} holds another event's record");
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 64);
        let (events, commits) = store.order_events_written().unwrap();
        assert_eq!(events, 64);
        assert!(commits < 16, "64 concurrent events took {commits} commits");
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
