//! Order events written behind the answer.
//!
//! An order's attempt is committed before the order leaves; its outcome need not hold the bot
//! up, since Binance already holds the order and the attempt names its client order id. So
//! outcomes (and refusals) queue here and a task commits each batch of them together, one
//! flush instead of one per order on the hot path. A crash loses at most the outcomes still
//! queued, never an attempt. A failed batch is tried again before it is given up on, logged and
//! counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::Store;
use super::audit::OrderEvent;

/// The most events one batch takes.
const MOST_PER_BATCH: usize = 256;

/// How long to wait before each retry of a batch that failed.
const RETRY_AFTER: [Duration; 2] = [Duration::from_millis(100), Duration::from_secs(1)];

#[derive(Debug)]
pub(super) struct WriteBehind {
    queue: mpsc::UnboundedSender<OrderEvent>,
    /// Events queued so far.
    queued: AtomicU64,
    /// Events done so far (written or given up on), in queue order.
    done: watch::Receiver<u64>,
    /// Events given up on.
    lost: Arc<AtomicU64>,
}

impl WriteBehind {
    /// Starts the task that writes through `store` (a store without a `WriteBehind` of its
    /// own, so the task ends once every store that queues to it is dropped).
    pub(super) fn start(store: Store) -> WriteBehind {
        let (queue, waiting) = mpsc::unbounded_channel();
        let (done_sender, done) = watch::channel(0);
        let lost = Arc::<AtomicU64>::default();
        tokio::spawn(write_as_they_come(
            store,
            waiting,
            done_sender,
            Arc::clone(&lost),
        ));
        WriteBehind {
            queue,
            queued: AtomicU64::new(0),
            done,
            lost,
        }
    }

    pub(super) fn push(&self, event: OrderEvent) {
        // Counted before this returns, so a `settled` that starts after it waits for it.
        if self.queue.send(event).is_ok() {
            self.queued.fetch_add(1, Ordering::SeqCst);
        } else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!("an order event was dropped: its writer has stopped");
        }
    }

    /// Returns once every event queued before this call is done.
    pub(super) async fn settled(&self) {
        let target = self.queued.load(Ordering::SeqCst);
        let mut done = self.done.clone();
        let _ = done.wait_for(|done| *done >= target).await;
    }

    pub(super) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

async fn write_as_they_come(
    store: Store,
    mut waiting: mpsc::UnboundedReceiver<OrderEvent>,
    done: watch::Sender<u64>,
    lost: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MOST_PER_BATCH);
    while waiting.recv_many(&mut batch, MOST_PER_BATCH).await > 0 {
        let mut outcome = store.append_order_events(&batch).await;
        for wait in RETRY_AFTER {
            if outcome.is_ok() {
                break;
            }
            tokio::time::sleep(wait).await;
            outcome = store.append_order_events(&batch).await;
        }
        if let Err(err) = outcome {
            lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::error!(
                events = batch.len(),
                "order events could not be written: {err}"
            );
        }
        done.send_modify(|done| *done += batch.len() as u64);
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use crate::store::{NewAuditEvent, Pool, PoolSettings, Store};

    const SETTINGS: PoolSettings = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    };

    fn outcome(detail: &str) -> NewAuditEvent<'_> {
        NewAuditEvent {
            action: "order.place",
            outcome: "success",
            error_code: None,
            ip: None,
            user_agent: None,
            at: Utc::now(),
            bot_config_id: Some(1),
            detail: Some(detail),
        }
    }

    async fn stored_outcomes(store: &Store) -> i64 {
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE outcome = 'success'")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn events_queued_behind_are_read_once_settled_and_written_before_close() {
        let path = std::env::temp_dir().join(format!(
            "keywarden-write-behind-{}-{}.db",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, SETTINGS).await.unwrap();
        store.migrate().await.unwrap();
        for n in 0..100 {
            store.append_order_event_behind(1, 1, &outcome(&format!("{{\"n\":{n}}}")));
        }
        store.order_events_settled().await;
        assert_eq!(stored_outcomes(&store).await, 100);
        for n in 100..150 {
            store.append_order_event_behind(1, 1, &outcome(&format!("{{\"n\":{n}}}")));
        }
        store.close().await;
        let reopened = Store::connect(&url, SETTINGS).await.unwrap();
        assert_eq!(stored_outcomes(&reopened).await, 150);
        assert_eq!(store.order_events_lost(), 0);
        reopened.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn an_event_that_cannot_be_written_is_tried_again_then_counted_lost() {
        let store = Store::connect("sqlite::memory:", SETTINGS).await.unwrap();
        store.migrate().await.unwrap();
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        pool.close().await;
        let started = std::time::Instant::now();
        store.append_order_event_behind(1, 1, &outcome("{}"));
        store.order_events_settled().await;
        assert_eq!(store.order_events_lost(), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(1_100),
            "given up after {:?}, before both retries",
            started.elapsed()
        );
    }
}
