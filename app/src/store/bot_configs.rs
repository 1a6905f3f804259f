use chrono::{DateTime, Utc};

use super::alerts::{NewAlert, raise_alert};
use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::rows::{Columns, FromColumns, from_columns_for_sqlx};
use super::{Store, StoreError, on_pool};
use crate::model::OrderType;

#[derive(Clone, Debug)]
pub struct BotConfigRow {
    pub id: i64,
    pub api_key_id: i64,
    pub name: String,
    pub symbol: String,
    pub created_at: DateTime<Utc>,
    pub policy: BotPolicy,
    /// When the account's bots were paused, if they are.
    pub bots_paused_at: Option<DateTime<Utc>>,
    /// Why Keywarden paused them (`key_moves_funds`); `None` when the user did.
    pub bots_paused_reason: Option<String>,
}

/// An order event `e` that records a refusal by the bot's policy: Binance's own rejections and
/// its absence are not refusals.
macro_rules! policy_refusal {
    () => {
        "e.action IN ('order.place', 'order.cancel') AND e.outcome = 'failure' \
         AND e.error_code NOT IN ('binance_rejected', 'exchange_unavailable', 'internal_error')"
    };
}

/// Whether the account's bots are paused, since when and why.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BotsPause {
    pub paused_at: Option<DateTime<Utc>>,
    /// Why Keywarden paused them (`key_moves_funds`); `None` when the user did.
    pub reason: Option<String>,
}

/// Pauses (`$2` a time, `$3` Keywarden's reason or NULL) or resumes (`$2` NULL) the bots of
/// user `$1`; a pause in force keeps its time.
pub(super) const PAUSE: &str = "UPDATE users SET \
    bots_paused_at = CASE WHEN $2 IS NULL THEN NULL ELSE COALESCE(bots_paused_at, $2) END, \
    bots_paused_reason = CASE WHEN $2 IS NULL THEN NULL ELSE $3 END \
    WHERE id = $1 RETURNING bots_paused_at AS paused_at, bots_paused_reason AS reason";

/// What a bot did lately: its tokens' last use, and its orders and refusals since a time.
#[derive(Clone, Debug, Default)]
pub struct BotUsage {
    pub bot_config_id: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub orders: i64,
    pub refusals: i64,
}

impl FromColumns for BotUsage {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(BotUsage {
            bot_config_id: row.int("bot_config_id")?,
            last_used_at: row.optional_time("last_used_at")?,
            orders: row.int("orders")?,
            refusals: row.int("refusals")?,
        })
    }
}
from_columns_for_sqlx!(BotUsage);

/// What a bot may do through the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotPolicy {
    pub enabled: bool,
    /// A decimal string in the quote asset; `None`: no limit.
    pub max_order_notional: Option<String>,
    pub order_types: Vec<OrderType>,
    pub orders_per_minute: i64,
}

impl FromColumns for BotConfigRow {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(BotConfigRow {
            id: row.int("id")?,
            api_key_id: row.int("api_key_id")?,
            name: row.text("name")?,
            symbol: row.text("symbol")?,
            created_at: row.time("created_at")?,
            policy: policy_from_columns(row)?,
            bots_paused_at: row.optional_time("bots_paused_at")?,
            bots_paused_reason: row.optional_text("bots_paused_reason")?,
        })
    }
}
from_columns_for_sqlx!(BotConfigRow);

/// A bot's policy columns, as every query that reads them names them.
pub(super) fn policy_from_columns<C: Columns>(row: &mut C) -> Result<BotPolicy, C::Error> {
    let order_types = row.text("order_types")?;
    Ok(BotPolicy {
        enabled: row.flag("enabled")?,
        max_order_notional: row.optional_text("max_order_notional")?,
        order_types: order_types
            .split(',')
            .map(|name| {
                OrderType::parse(name).ok_or_else(|| {
                    C::invalid("order_types", format!("unexpected value {order_types:?}"))
                })
            })
            .collect::<Result<_, _>>()?,
        orders_per_minute: row.int("orders_per_minute")?,
    })
}

fn order_types_text(order_types: &[OrderType]) -> String {
    let names: Vec<&str> = order_types.iter().map(|t| t.as_str()).collect();
    names.join(",")
}

/// Binds a policy's four columns, numbered after the ones each write binds first.
macro_rules! bind_policy {
    ($query:expr, $policy:expr) => {
        $query
            .bind($policy.enabled)
            .bind(&$policy.max_order_notional)
            .bind(order_types_text(&$policy.order_types))
            .bind($policy.orders_per_minute)
    };
}

/// Runs `$query` (a write RETURNING the config, if it found one; written out at the call so each
/// backend builds its own) and records `$event` for that config, in one transaction.
macro_rules! recorded {
    // `$lock` (a statement taking the user id) runs first in the same transaction.
    ($store:expr, lock: [$($lock:expr)?], $query:expr, $user_id:expr, $event:expr) => {
        in_transaction!($store, conn => {
            $(sqlx::query($lock).bind($user_id).execute(&mut *conn).await?;)?
            let row: Option<BotConfigRow> = $query.fetch_optional(&mut *conn).await?;
            if let Some(row) = &row {
                let event = NewAuditEvent { bot_config_id: Some(row.id), ..*$event };
                append_event!(&mut *conn, event, $user_id, row.api_key_id)?;
            }
            row
        })
    };
    ($store:expr, $query:expr, $user_id:expr, $event:expr) => {
        recorded!($store, lock: [], $query, $user_id, $event)
    };
}

/// A bot config's columns, named through `bot` (an alias, or the table itself in RETURNING),
/// with its account's pause.
fn columns(bot: &str) -> String {
    format!(
        "{bot}.id, {bot}.api_key_id, {bot}.name, {bot}.symbol, {bot}.created_at, {bot}.enabled, \
         {bot}.max_order_notional, {bot}.order_types, {bot}.orders_per_minute, \
         (SELECT u.bots_paused_at FROM users u JOIN api_keys k ON k.user_id = u.id \
          WHERE k.id = {bot}.api_key_id) AS bots_paused_at, \
         (SELECT u.bots_paused_reason FROM users u JOIN api_keys k ON k.user_id = u.id \
          WHERE k.id = {bot}.api_key_id) AS bots_paused_reason"
    )
}

impl Store {
    /// Adds a bot config to the user's key, unless the key has `max_per_user` already; `None`
    /// when there is no key or no room. The key's row is locked first, so creates racing for
    /// the last places each count the others (PostgreSQL's READ COMMITTED would otherwise let
    /// them all count the same rows), and a key deleted at the same moment leaves no orphan.
    pub async fn insert_bot_config(
        &self,
        user_id: i64,
        name: &str,
        symbol: &str,
        policy: &BotPolicy,
        max_per_user: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<BotConfigRow>, StoreError> {
        let lock = "UPDATE api_keys SET is_valid = is_valid WHERE user_id = $1";
        let sql = format!(
            "INSERT INTO bot_configs (api_key_id, name, symbol, created_at, enabled, \
             max_order_notional, order_types, orders_per_minute) \
             SELECT id, $2, $3, $4, $5, $6, $7, $8 FROM api_keys WHERE user_id = $1 \
             AND bot_config_count < $9 \
             RETURNING {}",
            columns("bot_configs")
        );
        recorded!(
            self,
            lock: [lock],
            bind_policy!(
                sqlx::query_as(&sql)
                    .bind(user_id)
                    .bind(name)
                    .bind(symbol)
                    .bind(event.at),
                policy
            )
            .bind(max_per_user),
            user_id,
            event
        )
    }

    pub async fn list_bot_configs_of_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<BotConfigRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM bot_configs b JOIN api_keys k ON k.id = b.api_key_id \
             WHERE k.user_id = $1 ORDER BY b.id",
            columns("b")
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// For each of the user's bots: its tokens' last use, the orders it sent to Binance since
    /// `since` (attempts) and its orders and cancels Keywarden refused (failures other than
    /// Binance's own rejections or its absence). Both counts read the (bot, action, outcome, time) index.
    pub async fn bot_usage_of_user(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<BotUsage>, StoreError> {
        let sql = concat!(
            "SELECT b.id AS bot_config_id, \
             (SELECT MAX(t.last_used_at) FROM bot_tokens t WHERE t.bot_config_id = b.id) \
               AS last_used_at, \
             (SELECT COUNT(*) FROM audit_events e WHERE e.bot_config_id = b.id \
               AND e.action = 'order.place' AND e.outcome = 'attempt' AND e.created_at >= $2) \
               AS orders, \
             (SELECT COUNT(*) FROM audit_events e WHERE e.bot_config_id = b.id \
               AND e.created_at >= $2 AND ",
            policy_refusal!(),
            ") AS refusals \
             FROM bot_configs b JOIN api_keys k ON k.id = b.api_key_id WHERE k.user_id = $1"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(since)
            .fetch_all(pool)
            .await)?)
    }

    /// How many of the bot's requests the policy refused since `since`.
    pub async fn count_bot_refusals(
        &self,
        bot_config_id: i64,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let sql = concat!(
            "SELECT COUNT(*) FROM audit_events e WHERE e.bot_config_id = $1 \
             AND e.created_at >= $2 AND ",
            policy_refusal!()
        );
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(bot_config_id)
            .bind(since)
            .fetch_one(pool)
            .await)?)
    }

    /// One of the user's configs; `None` when it does not exist or is someone else's.
    pub async fn find_bot_config_of_user(
        &self,
        user_id: i64,
        id: i64,
    ) -> Result<Option<BotConfigRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM bot_configs b JOIN api_keys k ON k.id = b.api_key_id \
             WHERE b.id = $1 AND k.user_id = $2",
            columns("b")
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Writes a config's name and policy and records the change; `None` when it does not exist
    /// or is someone else's.
    pub async fn update_bot_config(
        &self,
        user_id: i64,
        id: i64,
        name: &str,
        policy: &BotPolicy,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<BotConfigRow>, StoreError> {
        let sql = format!(
            "UPDATE bot_configs SET name = $3, enabled = $4, max_order_notional = $5, \
             order_types = $6, orders_per_minute = $7 WHERE id = $1 \
             AND api_key_id IN (SELECT id FROM api_keys WHERE user_id = $2) RETURNING {}",
            columns("bot_configs")
        );
        recorded!(
            self,
            bind_policy!(
                sqlx::query_as(&sql).bind(id).bind(user_id).bind(name),
                policy
            ),
            user_id,
            event
        )
    }

    /// Deletes one of the user's configs; `false` when it does not exist or is someone else's.
    pub async fn delete_bot_config_of_user(
        &self,
        user_id: i64,
        id: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM bot_configs WHERE id = $1 \
                   AND api_key_id IN (SELECT id FROM api_keys WHERE user_id = $2) \
                   RETURNING api_key_id";
        in_transaction!(self, conn => {
            let key_id: Option<i64> = sqlx::query_scalar(sql)
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(key_id) = key_id {
                let event = NewAuditEvent { bot_config_id: Some(id), ..*event };
                append_event!(&mut *conn, event, user_id, key_id)?;
            }
            key_id.is_some()
        })
    }

    /// Pauses (`Some(now)`) or resumes (`None`) every bot of the user, recording it; a pause
    /// already in force keeps its time. Raises `alert` if this call paused them. Returns the
    /// pause now in force.
    pub async fn set_bots_paused(
        &self,
        user_id: i64,
        paused_at: Option<DateTime<Utc>>,
        event: &NewAuditEvent<'_>,
        alert: Option<&NewAlert>,
    ) -> Result<BotsPause, StoreError> {
        // A write that changes nothing: it takes the row's lock and answers the pause before.
        let lock = "UPDATE users SET bots_paused_at = bots_paused_at WHERE id = $1 \
                    RETURNING bots_paused_at";
        in_transaction!(self, conn => {
            let before: Option<DateTime<Utc>> = sqlx::query_scalar(lock)
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await?;
            let pause: BotsPause = sqlx::query_as(PAUSE)
                .bind(user_id)
                .bind(paused_at)
                .bind(None::<&str>)
                .fetch_one(&mut *conn)
                .await?;
            append_event!(&mut *conn, event, user_id, None::<i64>)?;
            if let Some(alert) = alert
                && before.is_none()
                && pause.paused_at.is_some()
            {
                raise_alert!(conn, alert, user_id);
            }
            pause
        })
    }
}
