//! The order journal: every order event of the process, committed in the order they came, many
//! to a transaction, and with them the bot tokens' uses (a token's last use and address).
//!
//! An order's attempt must be committed before the order leaves (`append`: the caller waits
//! for it, and for the count of its bot's recent attempts, taken in the same transaction). Its
//! outcome, and a refusal, need not hold the bot up (`append_behind`: queued, committed with
//! the next batch); Binance already holds the order, and the attempt names its client order
//! id. Both kinds share one queue, so the trail keeps the order in which things happened, and
//! many orders share one flush. A token's use is written behind too: awaited, its write held
//! the bot's first request of the minute for a commit of its own, and many bots starting at
//! once queued their commits one by one. `settled` waits for what was queued before it.
//!
//! On a SQLite file, whose commit waits for the disk (`synchronous = FULL`), each batch is
//! written through a rusqlite connection of the journal's own (no trip through sqlx's worker
//! per statement), by an attempt's own request or the journal's thread (see `FileQueue`);
//! elsewhere a task writes it through sqlx: on PostgreSQL in one statement (one round trip per
//! batch, not two per event) on a connection of the journal's own, on an in-memory SQLite one
//! event at a time. A failed batch fails the attempts in it at once (their orders are refused
//! before they leave), and is tried twice more for the rest, which are then logged and counted
//! lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use super::audit::{
    FIRST_ATTEMPT_AFTER, INSERT_ORDER_EVENT, NUMBER_ATTEMPT, OrderEvent, attempts_in_window,
    bind_event, in_transaction,
};
use super::direct::time_param;
use super::{Store, StoreError};

/// The most events one transaction takes.
const MOST_PER_COMMIT: usize = 256;

/// How long to wait before each retry of a failed batch's events written behind.
const RETRY_AFTER: [Duration; 2] = [Duration::from_millis(100), Duration::from_secs(1)];

/// An entry waiting for its commit, and who waits for it (no one, written behind).
pub(super) struct Pending {
    entry: Entry,
    waiting: Option<Waiting>,
}

impl Pending {
    fn event(&self) -> Option<&OrderEvent> {
        match &self.entry {
            Entry::Event(event) => Some(event),
            Entry::TokenUse(_) => None,
        }
    }

    fn token_use(&self) -> Option<&TokenUse> {
        match &self.entry {
            Entry::TokenUse(used) => Some(used),
            Entry::Event(_) => None,
        }
    }
}

/// What the journal writes.
pub(super) enum Entry {
    Event(OrderEvent),
    TokenUse(TokenUse),
}

/// A bot token's use: when, and from where.
pub(super) struct TokenUse {
    pub token_id: i64,
    pub at: DateTime<Utc>,
    pub ip: Option<String>,
}

/// Notes a token's use at `$1` from `$2` (the token `$3`). SQLite numbers `$N` parameters in
/// the order they appear, so they appear in order.
const NOTE_TOKEN_USE: &str = "UPDATE bot_tokens SET last_used_at = $1, last_ip = $2 WHERE id = $3";

/// What a batch's commit tells each of its entries: the count an attempt's caller asked for.
type Counts = Vec<Option<i64>>;

/// An attempt's caller, waiting for its commit and, given `counted_since`, for the count of
/// its bot's attempts since then (the attempt is then numbered among its bot's).
struct Waiting {
    counted_since: Option<DateTime<Utc>>,
    answer: oneshot::Sender<Reply>,
}

/// What an attempt's caller is told.
enum Reply {
    /// Its batch was committed (with its count), or failed.
    Written(Result<Option<i64>, StoreError>),
    /// The batch before its attempt's is written and nobody writes the next: the caller does,
    /// then reads its own answer from `reply` (see `FileQueue`).
    Lead {
        baton: Baton,
        reply: oneshot::Receiver<Reply>,
    },
}

#[derive(Debug)]
pub(super) struct OrderJournal {
    queue: Queue,
    /// Entries queued so far.
    queued: AtomicU64,
    /// Entries done so far (committed, failed or given up on), in queue order.
    done: watch::Receiver<u64>,
    tally: Arc<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    events: AtomicU64,
    commits: AtomicU64,
    lost: AtomicU64,
}

/// Where entries wait for their batch.
#[derive(Debug)]
enum Queue {
    /// For a task that writes through sqlx.
    Channel(mpsc::UnboundedSender<Pending>),
    /// For a SQLite file, written by whoever finds no batch being written.
    File(Arc<FileQueue>),
}

/// Where the journal's batches go.
pub(super) enum Destination {
    /// A SQLite file, through a connection of the journal's own, taking the process's SQLite
    /// writer turn for each commit.
    SqliteFile {
        path: PathBuf,
        writer: Arc<Mutex<()>>,
    },
    /// PostgreSQL, through a connection of the journal's own (see `SqlxWriter`), opened within
    /// `connect_timeout` (the pool's acquire timeout).
    Postgres {
        options: Arc<PgConnectOptions>,
        connect_timeout: Duration,
    },
    /// A store without a journal of its own (an in-memory SQLite), so the task ends once every
    /// store that queues to it is dropped.
    Store(Store),
}

impl OrderJournal {
    pub(super) fn start(destination: Destination) -> std::io::Result<OrderJournal> {
        let (done_sender, done) = watch::channel(0);
        let tally: Arc<Tally> = Arc::default();
        let batches = Batches {
            tally: Arc::clone(&tally),
            done: done_sender,
        };
        let through_sqlx = |writer, batches| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(write_through_sqlx(writer, waiting, batches));
            Queue::Channel(queue)
        };
        let queue = match destination {
            Destination::SqliteFile { path, writer } => {
                let file = Arc::new(FileQueue {
                    state: std::sync::Mutex::default(),
                    wake: Condvar::new(),
                    path,
                    writer,
                    batches,
                });
                let thread_file = Arc::clone(&file);
                std::thread::Builder::new()
                    .name("order-journal".into())
                    .spawn(move || thread_file.write_behind())?;
                Queue::File(file)
            }
            Destination::Postgres {
                options,
                connect_timeout,
            } => through_sqlx(SqlxWriter::postgres(&options, connect_timeout), batches),
            Destination::Store(store) => through_sqlx(SqlxWriter::Store(store), batches),
        };
        Ok(OrderJournal {
            queue,
            queued: AtomicU64::new(0),
            done,
            tally,
        })
    }

    /// Events committed so far, and in how many transactions.
    pub(super) fn written(&self) -> (u64, u64) {
        let tally = &self.tally;
        (
            tally.events.load(Ordering::Relaxed),
            tally.commits.load(Ordering::Relaxed),
        )
    }

    /// Events written behind that could not be written.
    pub(super) fn lost(&self) -> u64 {
        self.tally.lost.load(Ordering::Relaxed)
    }

    /// Appends an attempt and returns, once it is committed, how many attempts of its bot and
    /// action there are since `counted_since` (if given) up to it, itself included.
    pub(super) async fn append(
        &self,
        event: OrderEvent,
        counted_since: Option<DateTime<Utc>>,
    ) -> Result<Option<i64>, StoreError> {
        let (answer, mut reply) = oneshot::channel();
        let turn = self.queue(Pending {
            entry: Entry::Event(event),
            waiting: Some(Waiting {
                counted_since,
                answer,
            }),
        })?;
        if let Some(baton) = turn {
            baton.write().await;
        }
        loop {
            match reply.await.map_err(|_| stopped())? {
                Reply::Written(answer) => return answer,
                Reply::Lead { baton, reply: own } => {
                    baton.write().await;
                    reply = own;
                }
            }
        }
    }

    /// Queues the entry to be committed with the next batch.
    pub(super) fn append_behind(&self, entry: Entry) {
        if self
            .queue(Pending {
                entry,
                waiting: None,
            })
            .is_err()
        {
            self.tally.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "an order event or token use was dropped: the order journal has stopped"
            );
        }
    }

    /// Queues the entry; returns the turn to write the next batch when its caller has it.
    fn queue(&self, pending: Pending) -> Result<Option<Baton>, StoreError> {
        let turn = match &self.queue {
            Queue::Channel(queue) => {
                queue.send(pending).map_err(|_| stopped())?;
                None
            }
            Queue::File(file) => file.push(pending),
        };
        // Counted before the caller goes on, so a `settled` that starts after waits for it.
        self.queued.fetch_add(1, Ordering::SeqCst);
        Ok(turn)
    }

    /// Returns once every event queued before this call is done.
    pub(super) async fn settled(&self) {
        let target = self.queued.load(Ordering::SeqCst);
        let mut done = self.done.clone();
        let _ = done.wait_for(|done| *done >= target).await;
    }
}

impl Drop for OrderJournal {
    fn drop(&mut self) {
        if let Queue::File(file) = &self.queue {
            file.close();
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Other("the order journal has stopped".into())
}

/// What the writer does with each batch's outcome, wherever it writes.
struct Batches {
    tally: Arc<Tally>,
    done: watch::Sender<u64>,
}

impl Batches {
    /// Hands a committed batch's counts to those waiting, or fails the attempts of a batch
    /// that was not committed. Returns how long to wait before trying the rest again, if at all.
    fn after(
        &self,
        batch: &mut Vec<Pending>,
        outcome: Result<Counts, String>,
        tries: usize,
    ) -> Option<Duration> {
        match outcome {
            Ok(counts) => {
                let events = batch.iter().filter_map(Pending::event);
                self.tally.commits.fetch_add(1, Ordering::Relaxed);
                (self.tally.events).fetch_add(events.count() as u64, Ordering::Relaxed);
                for (pending, count) in batch.drain(..).zip(counts) {
                    if let Some(waiting) = pending.waiting {
                        let _ = waiting.answer.send(Reply::Written(Ok(count)));
                    }
                }
                None
            }
            // Nothing of the batch is written (a fault of the database, not of an event).
            Err(err) => {
                batch.retain_mut(|pending| match pending.waiting.take() {
                    Some(waiting) => {
                        let failed = Err(StoreError::Other(err.clone().into()));
                        let _ = waiting.answer.send(Reply::Written(failed));
                        false
                    }
                    None => true,
                });
                if batch.is_empty() {
                    return None;
                }
                if let Some(wait) = RETRY_AFTER.get(tries) {
                    return Some(*wait);
                }
                let events = batch.iter().filter_map(Pending::event).count();
                self.tally.lost.fetch_add(events as u64, Ordering::Relaxed);
                tracing::error!(
                    events,
                    token_uses = batch.len() - events,
                    "order events could not be written: {err}"
                );
                batch.clear();
                None
            }
        }
    }

    fn finished(&self, events: usize) {
        self.done.send_modify(|done| *done += events as u64);
    }
}

/// A SQLite file's queue. Whoever queues an entry and finds no batch being written writes the
/// next one: an attempt's own request, on its async worker (whose other tasks `block_in_place`
/// hands to another thread meanwhile), or the journal's thread for entries written behind.
/// A request that finishes its batch hands the turn to the first attempt still queued, whose
/// caller is woken for its answer anyway; with none queued, to the thread. So an attempt
/// waits for no thread but its own, where the thread's round trip was two wake-ups on the
/// way of every order (on two busy cores, up to a millisecond each at p99). Retries, which
/// wait, are the thread's.
struct FileQueue {
    state: std::sync::Mutex<FileState>,
    /// Wakes the thread when the turn is handed to it, or when the journal closes.
    wake: Condvar,
    path: PathBuf,
    /// The process's SQLite writer turn, taken for each commit.
    writer: Arc<Mutex<()>>,
    batches: Batches,
}

#[derive(Default)]
struct FileState {
    queue: Vec<Pending>,
    /// Someone has the turn: what is queued meanwhile waits for it. False only with the queue
    /// empty.
    writing: bool,
    /// The turn is the thread's.
    thread_turn: bool,
    /// A failed batch whose entries written behind the thread tries again before the queue.
    retry: Option<Retry>,
    /// Kept between batches; a failed batch's next try opens the file afresh.
    connection: Option<Connection>,
    closed: bool,
}

struct Retry {
    batch: Vec<Pending>,
    /// The entries the batch had, for `Batches::finished`.
    entries: usize,
    tries: usize,
    wait: Duration,
}

impl std::fmt::Debug for FileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileQueue")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The turn to write the next batch of a `FileQueue`. Dropped unused (its caller gone, or on a
/// runtime that cannot block in place), it hands the turn to the journal's thread.
struct Baton {
    file: Arc<FileQueue>,
    used: bool,
}

impl Baton {
    /// Writes the next batch (which holds its caller's attempt) on this thread, and passes
    /// the turn on.
    async fn write(mut self) {
        let can_block_in_place = tokio::runtime::Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
        if !can_block_in_place {
            return;
        }
        let turn = self.file.writer.lock().await;
        self.used = true;
        let file = Arc::clone(&self.file);
        tokio::task::block_in_place(move || file.write_next_batch(turn));
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        if !self.used {
            self.file.hand_to_thread();
        }
    }
}

impl FileQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, FileState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues the entry; returns the turn if nobody had it and the entry's caller waits.
    fn push(self: &Arc<Self>, pending: Pending) -> Option<Baton> {
        let waits = pending.waiting.is_some();
        let mut state = self.lock();
        state.queue.push(pending);
        if state.writing {
            return None;
        }
        state.writing = true;
        if waits {
            return Some(Baton {
                file: Arc::clone(self),
                used: false,
            });
        }
        state.thread_turn = true;
        drop(state);
        self.wake.notify_one();
        None
    }

    /// Writes the next batch in the writer turn given, and passes the turn on; a batch that
    /// failed goes to the thread with what of it is to be tried again.
    fn write_next_batch(self: &Arc<Self>, turn: tokio::sync::MutexGuard<'_, ()>) {
        let mut batch: Vec<Pending> = {
            let mut state = self.lock();
            let entries = state.queue.len().min(MOST_PER_COMMIT);
            state.queue.drain(..entries).collect()
        };
        let entries = batch.len();
        match self.try_batch(&mut batch, 0, turn) {
            None => {
                self.batches.finished(entries);
                self.pass_turn();
            }
            Some(wait) => {
                let retry = Retry {
                    batch,
                    entries,
                    tries: 1,
                    wait,
                };
                self.lock().retry = Some(retry);
                self.hand_to_thread();
            }
        }
    }

    /// Writes the batch once, in the writer turn given, and answers those waiting; returns how
    /// long to wait before trying the rest again, if at all.
    fn try_batch(
        &self,
        batch: &mut Vec<Pending>,
        tries: usize,
        turn: tokio::sync::MutexGuard<'_, ()>,
    ) -> Option<Duration> {
        let mut connection = self.lock().connection.take();
        let outcome = write_together_on_file(&mut connection, &self.path, batch);
        drop(turn);
        if outcome.is_ok() {
            self.lock().connection = connection;
        }
        self.batches
            .after(batch, outcome.map_err(|e| e.to_string()), tries)
    }

    /// After a batch: the turn goes to the first attempt queued, to the thread if only entries
    /// written behind are, and to nobody if nothing is.
    fn pass_turn(self: &Arc<Self>) {
        let mut state = self.lock();
        if state.queue.is_empty() {
            state.writing = false;
            return;
        }
        let Some(waiting) = state.queue.iter_mut().find_map(|p| p.waiting.as_mut()) else {
            state.thread_turn = true;
            drop(state);
            self.wake.notify_one();
            return;
        };
        let (answer, reply) = oneshot::channel();
        let caller = std::mem::replace(&mut waiting.answer, answer);
        drop(state);
        let baton = Baton {
            file: Arc::clone(self),
            used: false,
        };
        // A caller that has gone drops the baton with the message.
        let _ = caller.send(Reply::Lead { baton, reply });
    }

    fn hand_to_thread(&self) {
        self.lock().thread_turn = true;
        self.wake.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// The journal's thread: writes when it has the turn, until the journal closes with
    /// nothing left to write.
    fn write_behind(self: Arc<Self>) {
        loop {
            let state = self.lock();
            let waits =
                |state: &mut FileState| !state.thread_turn && (state.writing || !state.closed);
            let mut state = (self.wake.wait_while(state, waits))
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !state.thread_turn {
                return;
            }
            state.thread_turn = false;
            let retry = state.retry.take();
            drop(state);
            let Some(mut retry) = retry else {
                self.write_next_batch(self.writer.blocking_lock());
                continue;
            };
            loop {
                std::thread::sleep(retry.wait);
                let turn = self.writer.blocking_lock();
                match self.try_batch(&mut retry.batch, retry.tries, turn) {
                    Some(wait) => {
                        retry.wait = wait;
                        retry.tries += 1;
                    }
                    None => break,
                }
            }
            self.batches.finished(retry.entries);
            self.pass_turn();
        }
    }
}

/// Where a task (not a thread) writes the journal's batches, through sqlx.
enum SqlxWriter {
    /// The journal's PostgreSQL connection, opened on first use and again after a failed
    /// batch. Its own, so that it always uses the batch statement's generic plan: planned
    /// afresh for each batch's arrays (as the pool's connections let PostgreSQL choose), the
    /// statement spent as long being planned as being run.
    Postgres {
        options: Box<PgConnectOptions>,
        connect_timeout: Duration,
        connection: Option<PgConnection>,
    },
    Store(Store),
}

impl SqlxWriter {
    fn postgres(options: &PgConnectOptions, connect_timeout: Duration) -> SqlxWriter {
        let options = options.clone();
        SqlxWriter::Postgres {
            options: Box::new(options.options([("plan_cache_mode", "force_generic_plan")])),
            connect_timeout,
            connection: None,
        }
    }

    async fn write(&mut self, batch: &[Pending]) -> Result<Counts, StoreError> {
        match self {
            SqlxWriter::Postgres {
                options,
                connect_timeout,
                connection,
            } => {
                let conn = match connection {
                    Some(conn) => conn,
                    None => {
                        let connecting = PgConnection::connect_with(options);
                        let opened = tokio::time::timeout(*connect_timeout, connecting)
                            .await
                            .map_err(|_| {
                                StoreError::Other("no PostgreSQL connection in time".into())
                            })??;
                        connection.insert(opened)
                    }
                };
                let outcome = insert_order_events_at_once(conn, batch).await;
                if outcome.is_err() {
                    *connection = None;
                }
                outcome
            }
            SqlxWriter::Store(store) => store.insert_order_events(batch).await,
        }
    }
}

async fn write_through_sqlx(
    mut writer: SqlxWriter,
    mut waiting: mpsc::UnboundedReceiver<Pending>,
    batches: Batches,
) {
    let mut batch = Vec::with_capacity(MOST_PER_COMMIT);
    while waiting.recv_many(&mut batch, MOST_PER_COMMIT).await > 0 {
        let events = batch.len();
        for tries in 0.. {
            let outcome = writer.write(&batch).await;
            match batches.after(&mut batch, outcome.map_err(|e| e.to_string()), tries) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break,
            }
        }
        batches.finished(events);
    }
}

impl Store {
    /// The entries in one transaction on an in-memory SQLite (tests), an event in two
    /// statements.
    async fn insert_order_events(&self, batch: &[Pending]) -> Result<Counts, StoreError> {
        in_transaction!(self, conn => {
            let mut counts = Vec::with_capacity(batch.len());
            for Pending { entry, waiting } in batch {
                let event = match entry {
                    Entry::Event(event) => event,
                    Entry::TokenUse(used) => {
                        sqlx::query(NOTE_TOKEN_USE)
                            .bind(used.at)
                            .bind(used.ip.as_deref())
                            .bind(used.token_id)
                            .execute(&mut *conn)
                            .await?;
                        counts.push(None);
                        continue;
                    }
                };
                let counted_since = waiting.as_ref().and_then(|w| w.counted_since);
                let number: Option<i64> = match counted_since {
                    Some(_) => {
                        sqlx::query_scalar(NUMBER_ATTEMPT)
                            .bind(event.bot_config_id)
                            .fetch_optional(&mut *conn)
                            .await?
                    }
                    None => None,
                };
                let row = event.borrowed();
                bind_event!(
                    sqlx::query(INSERT_ORDER_EVENT),
                    row,
                    event.user_id,
                    event.api_key_id
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                let count = match counted_since {
                    Some(since) => {
                        let first: Option<i64> = sqlx::query_scalar(FIRST_ATTEMPT_AFTER)
                            .bind(event.bot_config_id)
                            .bind(event.action)
                            .bind(since)
                            .fetch_optional(&mut *conn)
                            .await?;
                        Some(attempts_in_window(number, first))
                    }
                    None => None,
                };
                counts.push(count);
            }
            counts
        })
    }
}

/// A batch written, numbered and counted by one PostgreSQL statement: one round trip however
/// many events it holds (a statement is its own transaction). The events go in as arrays, in
/// queue order (`n`). Each bot's counter is raised once by its attempts in the batch, which
/// take the numbers below it in order. An attempt's count runs from the first attempt of its
/// window: one committed before (the statement's reads do not see its own rows), or else the
/// first of the batch's own.
const INSERT_BATCH_AND_COUNT: &str = "WITH batch AS (\
    SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], \
    $6::TEXT[], $7::TEXT[], $8::TIMESTAMPTZ[], $9::BIGINT[], $10::TEXT[], $11::TIMESTAMPTZ[]) \
    WITH ORDINALITY AS b(user_id, action, api_key_id, outcome, error_code, ip, user_agent, \
    created_at, bot_config_id, detail, counted_since, n)), \
    bots AS (UPDATE bot_configs c SET orders_attempted = c.orders_attempted + k.attempts \
    FROM (SELECT bot_config_id, COUNT(*) AS attempts FROM batch \
    WHERE counted_since IS NOT NULL GROUP BY bot_config_id) k WHERE c.id = k.bot_config_id \
    RETURNING c.id, c.orders_attempted - k.attempts AS numbered_before), \
    numbered AS (SELECT batch.*, bots.numbered_before + ROW_NUMBER() OVER (\
    PARTITION BY batch.bot_config_id, batch.counted_since IS NULL ORDER BY batch.n) \
    AS attempt_number FROM batch \
    LEFT JOIN bots ON bots.id = batch.bot_config_id AND batch.counted_since IS NOT NULL), \
    written AS (INSERT INTO audit_events (user_id, action, api_key_id, outcome, error_code, \
    ip, user_agent, created_at, bot_config_id, detail, attempt_number) \
    SELECT user_id, action, api_key_id, outcome, error_code, ip, user_agent, created_at, \
    bot_config_id, detail, attempt_number FROM numbered ORDER BY n) \
    SELECT CASE WHEN w.counted_since IS NULL THEN NULL \
    ELSE COALESCE(w.attempt_number + 1 - COALESCE(\
    (SELECT e.attempt_number FROM audit_events e WHERE e.bot_config_id = w.bot_config_id \
    AND e.action = w.action AND e.outcome = 'attempt' AND e.created_at > w.counted_since \
    AND e.attempt_number IS NOT NULL ORDER BY e.created_at LIMIT 1), \
    (SELECT MIN(o.attempt_number) FROM numbered o WHERE o.bot_config_id = w.bot_config_id \
    AND o.counted_since IS NOT NULL AND o.created_at > w.counted_since)), 1) END \
    FROM numbered w ORDER BY w.n";

async fn insert_order_events_at_once(
    conn: &mut PgConnection,
    batch: &[Pending],
) -> Result<Counts, StoreError> {
    let uses = || batch.iter().filter_map(Pending::token_use);
    // Written again if the events fail and the batch is tried again, to the same effect.
    if uses().next().is_some() {
        sqlx::query(NOTE_TOKEN_USES)
            .bind(uses().map(|u| u.token_id).collect::<Vec<_>>())
            .bind(uses().map(|u| u.at).collect::<Vec<_>>())
            .bind(uses().map(|u| u.ip.as_deref()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    let events = || batch.iter().filter_map(Pending::event);
    if events().next().is_none() {
        return Ok(vec![None; batch.len()]);
    }
    let counted_since: Vec<Option<DateTime<Utc>>> = batch
        .iter()
        .filter(|pending| pending.event().is_some())
        .map(|pending| pending.waiting.as_ref().and_then(|w| w.counted_since))
        .collect();
    let counts: Counts = sqlx::query_scalar(INSERT_BATCH_AND_COUNT)
        .bind(events().map(|e| e.user_id).collect::<Vec<_>>())
        .bind(events().map(|e| e.action).collect::<Vec<_>>())
        .bind(events().map(|e| e.api_key_id).collect::<Vec<_>>())
        .bind(events().map(|e| e.outcome).collect::<Vec<_>>())
        .bind(events().map(|e| e.error_code).collect::<Vec<_>>())
        .bind(events().map(|e| e.ip.as_deref()).collect::<Vec<_>>())
        .bind(
            events()
                .map(|e| e.user_agent.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(events().map(|e| e.at).collect::<Vec<_>>())
        .bind(events().map(|e| e.bot_config_id).collect::<Vec<_>>())
        .bind(events().map(|e| e.detail.as_deref()).collect::<Vec<_>>())
        .bind(counted_since)
        .fetch_all(conn)
        .await?;
    // Each event's count, in its place among the entries.
    let mut counts = counts.into_iter();
    Ok(batch
        .iter()
        .map(|pending| pending.event().and_then(|_| counts.next().flatten()))
        .collect())
}

/// Notes a batch's token uses in one statement (a token used twice keeps its later use).
const NOTE_TOKEN_USES: &str = "UPDATE bot_tokens t SET last_used_at = u.at, last_ip = u.ip \
    FROM (SELECT DISTINCT ON (id) id, at, ip FROM UNNEST($1::BIGINT[], $2::TIMESTAMPTZ[], \
    $3::TEXT[]) WITH ORDINALITY AS u(id, at, ip, n) ORDER BY id, n DESC) u WHERE t.id = u.id";

fn write_together_on_file(
    connection: &mut Option<Connection>,
    path: &Path,
    batch: &[Pending],
) -> rusqlite::Result<Counts> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(open(path)?),
    };
    let transaction = connection.transaction()?;
    let mut counts = Vec::with_capacity(batch.len());
    {
        let mut number = transaction.prepare_cached(NUMBER_ATTEMPT)?;
        let mut insert = transaction.prepare_cached(INSERT_ORDER_EVENT)?;
        let mut first = transaction.prepare_cached(FIRST_ATTEMPT_AFTER)?;
        for Pending { entry, waiting } in batch {
            let p = match entry {
                Entry::Event(event) => event,
                Entry::TokenUse(used) => {
                    let mut note = transaction.prepare_cached(NOTE_TOKEN_USE)?;
                    note.execute(rusqlite::params![
                        time_param(used.at),
                        used.ip,
                        used.token_id
                    ])?;
                    counts.push(None);
                    continue;
                }
            };
            let counted_since = waiting.as_ref().and_then(|w| w.counted_since);
            let attempt_number: Option<i64> = match counted_since {
                Some(_) => number
                    .query_row([p.bot_config_id], |row| row.get(0))
                    .optional()?,
                None => None,
            };
            insert.execute(rusqlite::params![
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
                attempt_number,
            ])?;
            counts.push(match counted_since {
                Some(since) => {
                    let after = rusqlite::params![p.bot_config_id, p.action, time_param(since)];
                    let first_in_window = first.query_row(after, |row| row.get(0)).optional()?;
                    Some(attempts_in_window(attempt_number, first_in_window))
                }
                None => None,
            });
        }
    }
    transaction.commit()?;
    Ok(counts)
}

/// A connection as sqlx's are: WAL, full sync, the same busy wait, no checkpoints of its own.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    connection.pragma_update(None, "synchronous", "full")?;
    connection.pragma_update(None, "cache_size", super::SQLITE_CACHE_SIZE)?;
    let (name, value) = super::checkpointer::NO_AUTOMATIC_CHECKPOINTS;
    connection.pragma_update(None, name, value)?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use crate::store::{
        NewAuditEvent, Pool, PoolSettings, Store, on_pool, remove_test_sqlite_file,
        test_sqlite_path,
    };

    /// On a SQLite file, attempts' requests write the batches (an async worker blocking in
    /// place).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_attempts_share_commits_and_each_counts_those_before_it() {
        let (store, path) = on_sqlite_file("group-commit").await;
        attempts_share_commits_and_count_those_before_them(store).await;
        remove_test_sqlite_file(&path);
    }

    /// On a runtime of one thread, which cannot block in place, the journal's thread writes.
    #[tokio::test]
    async fn concurrent_attempts_share_commits_on_a_runtime_of_one_thread() {
        let (store, path) = on_sqlite_file("group-commit-one-thread").await;
        attempts_share_commits_and_count_those_before_them(store).await;
        remove_test_sqlite_file(&path);
    }

    /// A caller that goes away before its turn to write comes leaves the turn to the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_gone_before_its_turn_to_write_leaves_it_to_the_next() {
        let (store, path) = on_sqlite_file("caller-gone").await;
        store.migrate().await.unwrap();
        // Another connection holds the file's write lock, so the first batch waits to commit.
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let first = spawn_attempt(&store, "first");
        pause().await;
        // Queued behind the first batch, the turn after it is this caller's: it goes.
        let gone = spawn_attempt(&store, "gone");
        pause().await;
        gone.abort();
        let last = spawn_attempt(&store, "last");
        pause().await;
        holder.execute_batch("COMMIT").unwrap();
        for append in [first, last] {
            let answered = tokio::time::timeout(Duration::from_secs(10), append).await;
            let answer = answered.expect("an attempt was never answered").unwrap();
            assert_eq!(answer.unwrap(), None);
        }
        store.close().await;
        remove_test_sqlite_file(&path);
    }

    /// A batch the file refuses answers its attempts at once; what waits behind them is tried
    /// again, and written once the file takes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_batch_fails_its_attempts_and_writes_the_rest_on_a_later_try() {
        let (store, path, control) = on_file_that_may_refuse("refused-batch").await;
        // The first batch waits for the file's write lock, so an outcome and an attempt queue
        // behind it and are written together; the file refuses both batches.
        control
            .execute_batch("BEGIN IMMEDIATE; UPDATE refusals SET refusing = 1;")
            .unwrap();
        let first = spawn_attempt(&store, "first");
        pause().await;
        store.append_order_event_behind(1, 1, &outcome("{}"));
        let second = spawn_attempt(&store, "second");
        pause().await;
        control.execute_batch("COMMIT").unwrap();
        for append in [first, second] {
            let answered = tokio::time::timeout(Duration::from_secs(10), append).await;
            let answer = answered.expect("an attempt was never answered").unwrap();
            assert!(answer.is_err(), "a refused attempt was answered {answer:?}");
        }
        // The outcome is tried again 100 ms after its batch failed (and a second after that).
        control
            .execute_batch("UPDATE refusals SET refusing = 0")
            .unwrap();
        store.writes_behind_settled().await;
        assert_eq!(stored_outcomes(&store).await, 1);
        assert_eq!(store.order_events_lost(), 0);
        store.close().await;
        remove_test_sqlite_file(&path);
    }

    #[tokio::test]
    async fn events_the_file_keeps_refusing_are_tried_twice_more_then_counted_lost() {
        let (store, path, control) = on_file_that_may_refuse("refused-for-good").await;
        control
            .execute_batch("UPDATE refusals SET refusing = 1")
            .unwrap();
        an_event_is_counted_lost_after_both_retries(&store).await;
        control
            .execute_batch("UPDATE refusals SET refusing = 0")
            .unwrap();
        assert_eq!(stored_outcomes(&store).await, 0);
        store.close().await;
        remove_test_sqlite_file(&path);
    }

    /// A migrated store on a file that refuses every new event while the `refusals` table
    /// says so, and the test's own connection to that file.
    async fn on_file_that_may_refuse(name: &str) -> (Store, String, rusqlite::Connection) {
        let (store, path) = on_sqlite_file(name).await;
        store.migrate().await.unwrap();
        let control = rusqlite::Connection::open(&path).unwrap();
        control.busy_timeout(Duration::from_secs(5)).unwrap();
        control
            .execute_batch(
                "CREATE TABLE refusals (refusing INTEGER NOT NULL); \
                 INSERT INTO refusals VALUES (0); \
                 CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events \
                 WHEN (SELECT refusing FROM refusals) = 1 \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        (store, path, control)
    }

    /// An attempt appended on a task of its own.
    fn spawn_attempt(
        store: &Store,
        detail: &'static str,
    ) -> tokio::task::JoinHandle<Result<Option<i64>, super::StoreError>> {
        let store = store.clone();
        tokio::spawn(
            async move { (store.append_order_attempt(1, 1, &attempt(detail), None)).await },
        )
    }

    /// Long enough for an attempt just spawned to be queued.
    async fn pause() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn on_sqlite_file(name: &str) -> (Store, String) {
        let path = test_sqlite_path(name).display().to_string();
        let store = Store::connect(&format!("sqlite://{path}"), SETTINGS)
            .await
            .unwrap();
        (store, path)
    }

    /// The same through sqlx, on an in-memory SQLite (one event at a time).
    #[tokio::test]
    async fn concurrent_attempts_each_count_those_before_them_in_memory() {
        let store = Store::connect("sqlite::memory:", SETTINGS).await.unwrap();
        attempts_share_commits_and_count_those_before_them(store).await;
    }

    /// The same on PostgreSQL (`TEST_POSTGRES_URL`, as `make test` sets it), in a database of
    /// its own: there a batch is one statement.
    #[tokio::test]
    async fn concurrent_attempts_share_commits_and_each_counts_those_before_it_on_postgres() {
        let store = crate::store::test_database_on_postgres("journal", SETTINGS).await;
        attempts_share_commits_and_count_those_before_them(store.clone()).await;
        crate::store::drop_test_database(store).await;
    }

    async fn attempts_share_commits_and_count_those_before_them(store: Store) {
        store.migrate().await.unwrap();
        // A user with a key and the bots 1 and 2, whose attempts are numbered.
        let now = Utc::now();
        for sql in [
            "INSERT INTO users (id, email, hashed_password, created_at) \
             VALUES (1, 'journal@example.com', 'x', $1)",
            "INSERT INTO api_keys (id, user_id, encrypted_api_key, encrypted_secret_key, \
             api_key_masked, created_at, updated_at) VALUES (1, 1, 'x', 'x', 'x', $1, $1)",
            "INSERT INTO bot_configs (id, api_key_id, name, symbol, created_at) \
             VALUES (1, 1, 'one', 'BTCUSDT', $1)",
            "INSERT INTO bot_configs (id, api_key_id, name, symbol, created_at) \
             VALUES (2, 1, 'two', 'BTCUSDT', $1)",
            "INSERT INTO bot_tokens (id, bot_config_id, prefix, token_hash, environment, \
             created_at) VALUES (1, 1, 'kwb_', 'hash', 'mainnet', $1)",
        ] {
            on_pool!(store, pool => sqlx::query(sql).bind(now).execute(pool).await.map(|_| ()))
                .unwrap();
        }
        let since = Utc::now() - chrono::Duration::minutes(1);
        // An attempt of another bot, one of this bot before the window and one of this bot's
        // cancels (not counted): none counts.
        for (bot, at, counted) in [
            (2, Utc::now(), Some(since)),
            (1, since - chrono::Duration::seconds(1), Some(since)),
            (1, Utc::now(), None),
        ] {
            let event = NewAuditEvent {
                at,
                bot_config_id: Some(bot),
                ..attempt("{}")
            };
            let count = store.append_order_attempt(1, 1, &event, counted).await;
            assert_eq!(count.unwrap(), counted.map(|_| 1));
        }
        // The first that counts, committed before the rest are written.
        let first = store
            .append_order_attempt(1, 1, &attempt("{}"), Some(since))
            .await;
        assert_eq!(first.unwrap(), Some(1));
        let (_, commits_before) = store.order_events_written();
        let mut appends = tokio::task::JoinSet::new();
        for n in 0..64 {
            let store = store.clone();
            appends.spawn(async move {
                let detail = format!("{{\"n\":{n}}}");
                // Outcomes and token uses written behind, in between, are counted by nobody.
                store.append_order_event_behind(1, 1, &outcome(&detail));
                store.note_bot_token_use(1, Utc::now(), Some(&format!("10.0.0.{n}")));
                let count = store
                    .append_order_attempt(1, 1, &attempt(&detail), Some(since))
                    .await;
                (detail, count)
            });
        }
        let mut counts = Vec::new();
        for (detail, count) in appends.join_all().await {
            let count = count.unwrap().unwrap();
            let query = "SELECT COUNT(*) FROM audit_events WHERE detail = $1 AND outcome = $2";
            let stored: i64 = on_pool!(store, pool => sqlx::query_scalar(query)
                .bind(&detail)
                .bind("attempt")
                .fetch_one(pool)
                .await
                .unwrap());
            assert_eq!(stored, 1, "the attempt {detail} is not stored once");
            counts.push(count);
        }
        counts.sort_unstable();
        assert_eq!(counts, (2..=65).collect::<Vec<i64>>());
        // Of two uses queued one after the other, the later stays, in a batch or apart.
        let (earlier, later) = (Utc::now(), Utc::now() - chrono::Duration::hours(1));
        store.note_bot_token_use(1, earlier, Some("192.0.2.1"));
        store.note_bot_token_use(1, later, Some("192.0.2.2"));
        store.writes_behind_settled().await;
        let tokens = store.live_bot_tokens(1).await.unwrap();
        assert_eq!(tokens[0].last_ip.as_deref(), Some("192.0.2.2"));
        let noted = tokens[0].last_used_at.unwrap();
        assert!(
            (noted - later).num_milliseconds().abs() < 1,
            "{noted} is not {later}"
        );
        let (events, commits) = store.order_events_written();
        assert_eq!(events, 4 + 64 * 2);
        assert!(
            commits - commits_before < 16,
            "64 concurrent attempts took {} commits",
            commits - commits_before
        );
        store.close().await;
    }

    /// An event of bot 1's order, now.
    fn order_event<'a>(outcome: &'static str, detail: &'a str) -> NewAuditEvent<'a> {
        NewAuditEvent {
            action: "order.place",
            outcome,
            error_code: None,
            ip: None,
            user_agent: None,
            at: Utc::now(),
            bot_config_id: Some(1),
            detail: Some(detail),
        }
    }

    fn attempt(detail: &str) -> NewAuditEvent<'_> {
        order_event("attempt", detail)
    }

    const SETTINGS: PoolSettings = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    };

    fn outcome(detail: &str) -> NewAuditEvent<'_> {
        order_event("success", detail)
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
        let (store, path) = on_sqlite_file("write-behind").await;
        store.migrate().await.unwrap();
        for n in 0..100 {
            store.append_order_event_behind(1, 1, &outcome(&format!("{{\"n\":{n}}}")));
        }
        store.writes_behind_settled().await;
        assert_eq!(stored_outcomes(&store).await, 100);
        for n in 100..150 {
            store.append_order_event_behind(1, 1, &outcome(&format!("{{\"n\":{n}}}")));
        }
        store.close().await;
        let reopened = Store::connect(&format!("sqlite://{path}"), SETTINGS)
            .await
            .unwrap();
        assert_eq!(stored_outcomes(&reopened).await, 150);
        assert_eq!(store.order_events_lost(), 0);
        reopened.close().await;
        remove_test_sqlite_file(&path);
    }

    #[tokio::test]
    async fn an_event_that_cannot_be_written_is_tried_again_then_counted_lost() {
        let store = Store::connect("sqlite::memory:", SETTINGS).await.unwrap();
        store.migrate().await.unwrap();
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        pool.close().await;
        an_event_is_counted_lost_after_both_retries(&store).await;
    }

    /// Queues an event behind on a store that cannot write it: it is given up, and only after
    /// both retries (100 ms, then a second).
    async fn an_event_is_counted_lost_after_both_retries(store: &Store) {
        let started = std::time::Instant::now();
        store.append_order_event_behind(1, 1, &outcome("{}"));
        store.writes_behind_settled().await;
        assert_eq!(store.order_events_lost(), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(1_100),
            "given up after {:?}, before both retries",
            started.elapsed()
        );
    }

    /// A database that takes the connection and never answers: each batch fails within the
    /// connect timeout and is tried again, and the journal gives the event up rather than
    /// holding every order behind it.
    #[tokio::test]
    async fn a_database_that_never_answers_fails_the_batch_within_the_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                connections.push(connection);
            }
        });
        let options = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("postgres");
        let journal = super::OrderJournal::start(super::Destination::Postgres {
            options: std::sync::Arc::new(options),
            connect_timeout: Duration::from_millis(200),
        })
        .unwrap();
        journal.append_behind(super::Entry::Event(super::OrderEvent::new(
            1,
            1,
            &outcome("{}"),
        )));
        tokio::time::timeout(Duration::from_secs(10), journal.settled())
            .await
            .expect("the journal gives up on a database that never answers");
        assert_eq!(journal.lost(), 1);
        held.abort();
    }
}
