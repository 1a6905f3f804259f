use chrono::{DateTime, Utc};

use super::order_journal::Entry;
use super::{Store, StoreError, on_pool, on_writer};

/// An event about to be appended. The user and key ids are bound where the event is written,
/// since a change may create them.
pub struct NewAuditEvent<'a> {
    pub action: &'static str,
    /// `success` or `failure`.
    pub outcome: &'static str,
    pub error_code: Option<&'static str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// The bot the event concerns, if any.
    pub bot_config_id: Option<i64>,
    /// What an order event was about, as JSON.
    pub detail: Option<&'a str>,
}

/// An order event owned, with its user and key: what waits in a queue to be written.
#[derive(Clone, Debug)]
pub(super) struct OrderEvent {
    pub user_id: i64,
    pub api_key_id: i64,
    pub action: &'static str,
    pub outcome: &'static str,
    pub error_code: Option<&'static str>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
    pub bot_config_id: Option<i64>,
    pub detail: Option<String>,
}

impl OrderEvent {
    pub(super) fn new(user_id: i64, api_key_id: i64, event: &NewAuditEvent<'_>) -> OrderEvent {
        OrderEvent {
            user_id,
            api_key_id,
            action: event.action,
            outcome: event.outcome,
            error_code: event.error_code,
            ip: event.ip.map(str::to_owned),
            user_agent: event.user_agent.map(str::to_owned),
            at: event.at,
            bot_config_id: event.bot_config_id,
            detail: event.detail.map(str::to_owned),
        }
    }

    pub(super) fn borrowed(&self) -> NewAuditEvent<'_> {
        NewAuditEvent {
            action: self.action,
            outcome: self.outcome,
            error_code: self.error_code,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            at: self.at,
            bot_config_id: self.bot_config_id,
            detail: self.detail.as_deref(),
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditEventRow {
    pub id: i64,
    pub action: String,
    pub api_key_id: Option<i64>,
    pub bot_config_id: Option<i64>,
    pub outcome: String,
    pub detail: Option<String>,
    pub error_code: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which audit events to count: a user's failures of one action with one code, since a time.
pub struct RecentEvents<'a> {
    pub user_id: i64,
    pub action: &'a str,
    pub error_code: &'a str,
    pub since: DateTime<Utc>,
}

/// The insert of an event's `$1`..`$10`, and of one more column if named.
macro_rules! insert_event_sql {
    ($($column:literal, $value:literal)?) => {
        concat!(
            "INSERT INTO audit_events (user_id, action, api_key_id, outcome, error_code, ip, \
             user_agent, created_at, bot_config_id, detail", $(", ", $column,)? ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10", $(", ", $value,)? ")"
        )
    };
}

pub(super) const INSERT_EVENT: &str = insert_event_sql!();

/// `INSERT_EVENT` with an order attempt's number among its bot's (`$11`).
pub(super) const INSERT_ORDER_EVENT: &str = insert_event_sql!("attempt_number", "$11");

/// Numbers the next order attempt of the bot `$1`; no row if the bot is gone.
pub(super) const NUMBER_ATTEMPT: &str = "UPDATE bot_configs \
    SET orders_attempted = orders_attempted + 1 WHERE id = $1 RETURNING orders_attempted";

/// The number of the bot `$1`'s first attempt of the action `$2` after `$3`.
pub(super) const FIRST_ATTEMPT_AFTER: &str = "SELECT attempt_number FROM audit_events \
    WHERE bot_config_id = $1 AND action = $2 AND outcome = 'attempt' AND created_at > $3 \
    AND attempt_number IS NOT NULL ORDER BY created_at LIMIT 1";

/// How many attempts there are from the first of the window to the one numbered `number`,
/// both included. An attempt without a number (its bot was deleted meanwhile) counts alone.
pub(super) fn attempts_in_window(number: Option<i64>, first_in_window: Option<i64>) -> i64 {
    match number {
        Some(number) => number - first_in_window.unwrap_or(number) + 1,
        None => 1,
    }
}

/// Binds an event's `$1`..`$10` as `INSERT_EVENT` numbers them.
macro_rules! bind_event {
    ($query:expr, $event:expr, $user_id:expr, $api_key_id:expr) => {
        $query
            .bind($user_id)
            .bind($event.action)
            .bind($api_key_id)
            .bind($event.outcome)
            .bind($event.error_code)
            .bind($event.ip)
            .bind($event.user_agent)
            .bind($event.at)
            .bind($event.bot_config_id)
            .bind($event.detail)
    };
}
pub(super) use bind_event;

/// Appends `$event` for the user and key given, on `$conn` (a transaction, so the event lands
/// with the change it records or not at all).
macro_rules! append_event {
    ($conn:expr, $event:expr, $user_id:expr, $api_key_id:expr) => {
        $crate::store::audit::bind_event!(
            sqlx::query($crate::store::audit::INSERT_EVENT),
            $event,
            $user_id,
            $api_key_id
        )
        .execute($conn)
        .await
    };
}
pub(super) use append_event;

/// Runs `$body` with `$conn` bound to a fresh transaction, committed when `$body` succeeds
/// (an early `?` return rolls it back).
macro_rules! in_transaction {
    ($store:expr, $conn:ident => $body:expr) => {{
        let _turn = $store.writer_turn().await;
        $crate::store::on_pool!($store, pool => {
            let mut tx = pool.begin().await?;
            let $conn = &mut *tx;
            let value = $body;
            tx.commit().await?;
            Ok(value)
        })
    }};
}
pub(super) use in_transaction;

impl Store {
    /// Appends an event that records no change of its own (a failed login, a balance read).
    pub async fn append_audit_event(
        &self,
        user_id: Option<i64>,
        api_key_id: Option<i64>,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        Ok(on_writer!(self, pool => append_event!(pool, event, user_id, api_key_id).map(|_| ()))?)
    }

    /// Appends an order's attempt, committed before this returns (an order's attempt is on
    /// disk before the order leaves). Given `counted_since`, the attempt is numbered among its
    /// bot's, and this returns how many of them there are since then, this one and none after
    /// it included: counted in the transaction that writes it. Attempts of concurrent orders
    /// share one commit (`order_journal`).
    pub async fn append_order_attempt(
        &self,
        user_id: i64,
        api_key_id: i64,
        attempt: &NewAuditEvent<'_>,
        counted_since: Option<DateTime<Utc>>,
    ) -> Result<Option<i64>, StoreError> {
        let event = OrderEvent::new(user_id, api_key_id, attempt);
        match &self.order_journal {
            Some(journal) => journal.append(event, counted_since).await,
            None => Err(StoreError::Other("this store has no order journal".into())),
        }
    }

    /// Queues an order event to be committed after this returns, in order with every other
    /// (an order's outcome, once the bot has its answer); `writes_behind_settled` waits for it.
    pub fn append_order_event_behind(
        &self,
        user_id: i64,
        api_key_id: i64,
        event: &NewAuditEvent<'_>,
    ) {
        if let Some(journal) = &self.order_journal {
            journal.append_behind(Entry::Event(OrderEvent::new(user_id, api_key_id, event)));
        }
    }

    /// Waits until every order event and token use queued before this call is committed (or
    /// given up on), so a read that follows sees them.
    pub async fn writes_behind_settled(&self) {
        if let Some(journal) = &self.order_journal {
            journal.settled().await;
        }
    }

    /// The user's events newest first, those with an id below `before` if given.
    pub async fn audit_events_of_user(
        &self,
        user_id: i64,
        before: Option<i64>,
        bot_config_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEventRow>, StoreError> {
        let sql = "SELECT id, action, api_key_id, bot_config_id, outcome, error_code, ip, \
                   user_agent, created_at, detail \
                   FROM audit_events WHERE user_id = $1 AND ($2 IS NULL OR id < $2) \
                   AND ($4 IS NULL OR bot_config_id = $4) \
                   ORDER BY id DESC LIMIT $3";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .bind(bot_config_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Takes one of `scope`'s places in its window (`window` long, started by its first attempt;
    /// one that ended starts afresh). Answers the places now taken and when the window started;
    /// more than the limit means this attempt must not go on. One statement, so attempts
    /// arriving at once each see the others.
    pub async fn reserve_attempt(
        &self,
        scope: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<(i64, DateTime<Utc>), StoreError> {
        let sql = "INSERT INTO attempt_counters (scope, window_start, used) VALUES ($1, $2, 1) \
                   ON CONFLICT (scope) DO UPDATE SET \
                   used = CASE WHEN attempt_counters.window_start <= $3 THEN 1 \
                          ELSE attempt_counters.used + 1 END, \
                   window_start = CASE WHEN attempt_counters.window_start <= $3 THEN $2 \
                          ELSE attempt_counters.window_start END \
                   RETURNING used, window_start";
        Ok(on_writer!(self, pool => sqlx::query_as(sql)
            .bind(scope)
            .bind(now)
            .bind(now - window)
            .fetch_one(pool)
            .await)?)
    }

    /// Gives back a place `reserve_attempt` took (an attempt that succeeded or never ran).
    pub async fn release_attempt(&self, scope: &str) -> Result<(), StoreError> {
        let sql = "UPDATE attempt_counters SET used = used - 1 WHERE scope = $1 AND used > 0";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(scope)
            .execute(pool)
            .await
            .map(|_| ()))?)
    }

    /// Whether the user has signed in before, and whether from (or registered at) `ip`.
    pub async fn sign_ins_from(&self, user_id: i64, ip: &str) -> Result<(bool, bool), StoreError> {
        let sql = "SELECT \
            EXISTS (SELECT 1 FROM audit_events WHERE user_id = $1 AND action = 'user.login' \
                    AND outcome = 'success' AND bot_config_id IS NULL), \
            EXISTS (SELECT 1 FROM audit_events WHERE user_id = $1 \
                    AND action IN ('user.login', 'user.register') AND outcome = 'success' \
                    AND ip = $2 AND bot_config_id IS NULL)";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(ip)
            .fetch_one(pool)
            .await)?)
    }

    /// How many events match `recent` and when the oldest of them happened.
    pub async fn count_recent_events(
        &self,
        recent: &RecentEvents<'_>,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        // `bot_config_id IS NULL` lets both databases use the partial index on
        // (user_id, action, created_at), which holds no bot's events.
        let sql = "SELECT COUNT(*), MIN(created_at) FROM audit_events WHERE user_id = $1 \
                   AND action = $2 AND created_at > $3 AND error_code = $4 \
                   AND bot_config_id IS NULL";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(recent.user_id)
            .bind(recent.action)
            .bind(recent.since)
            .bind(recent.error_code)
            .fetch_one(pool)
            .await)?)
    }

    /// Deletes the audit events older than `before` (the database itself refuses any younger
    /// than 90 days); returns how many.
    pub async fn prune_audit_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM audit_events WHERE created_at < $1";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?)
    }
}
