//! Alerts, the user's webhooks, and the queue of deliveries between them.
//!
//! An alert is written in the transaction of the change it reports where there is one, with a
//! delivery row for each webhook that listens for its type and one for the user's email: a
//! delivery is never lost between a change and its queueing, and survives a restart. Instances
//! share the queue by claiming a delivery (a lease) before sending it; each destination's
//! deliveries go out in order, the next only once the one before it is delivered or given up.

use chrono::{DateTime, Utc};

use super::audit::in_transaction;
use super::{Store, StoreError, on_pool, on_writer};

/// An alert about to be raised for a user.
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// The id receivers see (`evt_...`).
    pub public_id: String,
    pub kind: &'static str,
    /// The payload's `data`, as JSON.
    pub data: String,
    pub at: DateTime<Utc>,
    /// Raise it only if no alert with this key was raised before.
    pub once_key: Option<String>,
    /// Deliver it to this webhook alone, whatever its events (a test); otherwise to each of
    /// the user's webhooks that listens for `kind`, if `webhooks`.
    pub only_webhook: Option<i64>,
    pub webhooks: bool,
    /// Also by email, if the user has email alerts on.
    pub email: bool,
}

/// Raises `$alert` for `$user_id` on `$conn` (a transaction) and queues its deliveries.
/// Evaluates to the alert's id, or `None` when its `once_key` was raised before.
macro_rules! raise_alert {
    ($conn:expr, $alert:expr, $user_id:expr) => {{
        let alert: &$crate::store::NewAlert = $alert;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alerts (public_id, user_id, type, data, created_at, once_key) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&alert.public_id)
        .bind($user_id)
        .bind(alert.kind)
        .bind(&alert.data)
        .bind(alert.at)
        .bind(alert.once_key.as_deref())
        .fetch_optional(&mut *$conn)
        .await?;
        if let Some(id) = id
            && (alert.webhooks || alert.only_webhook.is_some())
        {
            sqlx::query(
                "INSERT INTO alert_deliveries (alert_id, webhook_id, queue, created_at, \
                 next_attempt_at) SELECT $1, id, 'webhook:' || id, $2, $2 FROM webhooks \
                 WHERE user_id = $3 AND (id = $4 OR ($4 IS NULL \
                 AND (',' || events || ',') LIKE ('%,' || $5 || ',%'))) ORDER BY id",
            )
            .bind(id)
            .bind(alert.at)
            .bind($user_id)
            .bind(alert.only_webhook)
            .bind(alert.kind)
            .execute(&mut *$conn)
            .await?;
        }
        if let Some(id) = id
            && alert.email
        {
            sqlx::query(
                "INSERT INTO alert_deliveries (alert_id, webhook_id, queue, created_at, \
                 next_attempt_at) SELECT $1, NULL, 'email:' || id, $2, $2 FROM users \
                 WHERE id = $3 AND email_alerts",
            )
            .bind(id)
            .bind(alert.at)
            .bind($user_id)
            .execute(&mut *$conn)
            .await?;
        }
        id
    }};
}
pub(super) use raise_alert;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    /// Comma-separated event types.
    pub events: String,
    pub encrypted_secret: String,
    pub encryption_key_id: String,
    pub created_at: DateTime<Utc>,
}

/// A webhook about to be stored.
pub struct NewWebhook<'a> {
    pub url: &'a str,
    pub events: &'a str,
    pub encrypted_secret: &'a str,
    pub encryption_key_id: &'a str,
    pub at: DateTime<Utc>,
}

/// A delivery an instance has claimed: everything it needs to send it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub user_id: i64,
    pub user_email: String,
    /// `None`: the delivery is an email.
    pub webhook_id: Option<i64>,
    pub url: Option<String>,
    pub encrypted_secret: Option<String>,
    pub encryption_key_id: Option<String>,
    pub public_id: String,
    pub kind: String,
    pub data: String,
    pub alert_created_at: DateTime<Utc>,
}

/// How one try of a delivery went.
pub struct DeliveryAttempt<'a> {
    pub at: DateTime<Utc>,
    pub response_code: Option<u16>,
    pub error: Option<&'a str>,
    /// `None`: delivered. Otherwise when to try again, or `None` inside to give up.
    pub retry_at: Option<Option<DateTime<Utc>>>,
}

/// One try of a delivery, as the delivery log shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryAttemptRow {
    pub public_id: String,
    pub kind: String,
    pub status: String,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

const WEBHOOK_COLUMNS: &str =
    "id, user_id, url, events, encrypted_secret, encryption_key_id, created_at";

impl Store {
    /// Raises an alert in a transaction of its own (see `raise_alert!`).
    pub async fn raise_alert(
        &self,
        user_id: i64,
        alert: &NewAlert,
    ) -> Result<Option<i64>, StoreError> {
        in_transaction!(self, conn => raise_alert!(conn, alert, user_id))
    }

    /// Stores a webhook unless the user already has `max` of them (`None` then).
    pub async fn insert_webhook(
        &self,
        user_id: i64,
        webhook: &NewWebhook<'_>,
        max: i64,
    ) -> Result<Option<WebhookRow>, StoreError> {
        let sql = format!(
            "INSERT INTO webhooks (user_id, url, events, encrypted_secret, encryption_key_id, \
             created_at) SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COUNT(*) FROM webhooks WHERE user_id = $1) < $7 \
             RETURNING {WEBHOOK_COLUMNS}"
        );
        Ok(on_writer!(self, pool => sqlx::query_as(&sql)
            .bind(user_id)
            .bind(webhook.url)
            .bind(webhook.events)
            .bind(webhook.encrypted_secret)
            .bind(webhook.encryption_key_id)
            .bind(webhook.at)
            .bind(max)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn webhooks_of_user(&self, user_id: i64) -> Result<Vec<WebhookRow>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE user_id = $1 ORDER BY id");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await)?)
    }

    pub async fn webhook_of_user(
        &self,
        user_id: i64,
        id: i64,
    ) -> Result<Option<WebhookRow>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND user_id = $2");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Deletes the user's webhook and its queue; `false` if the user has no such webhook.
    pub async fn delete_webhook(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        Ok(on_writer!(self, pool => sqlx::query(
            "DELETE FROM webhooks WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    /// The deliveries that may go out now: each webhook's oldest pending one, if it is due and
    /// nobody holds it.
    pub async fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT d.id FROM alert_deliveries d WHERE d.state = 'pending' \
                   AND d.next_attempt_at <= $1 \
                   AND (d.claimed_until IS NULL OR d.claimed_until < $1) \
                   AND NOT EXISTS (SELECT 1 FROM alert_deliveries e \
                       WHERE e.state = 'pending' AND e.queue = d.queue AND e.id < d.id) \
                   ORDER BY d.id LIMIT $2";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Takes a due delivery until `until`: of several instances racing for it, one gets it.
    pub async fn claim_delivery(
        &self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let claim = "UPDATE alert_deliveries SET claimed_until = $3 WHERE id = $1 \
                     AND state = 'pending' AND next_attempt_at <= $2 \
                     AND (claimed_until IS NULL OR claimed_until < $2)";
        let read = "SELECT d.id, d.attempts, d.created_at, a.user_id, u.email AS user_email, \
                    d.webhook_id, w.url, w.encrypted_secret, w.encryption_key_id, a.public_id, \
                    a.type AS kind, a.data, a.created_at AS alert_created_at \
                    FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
                    JOIN users u ON u.id = a.user_id \
                    LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1";
        in_transaction!(self, conn => {
            let claimed = sqlx::query(claim)
                .bind(id)
                .bind(now)
                .bind(until)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if claimed == 1 {
                sqlx::query_as(read).bind(id).fetch_optional(&mut *conn).await?
            } else {
                None
            }
        })
    }

    /// Records a try of a claimed delivery and releases it: delivered, due again later, or
    /// given up.
    pub async fn finish_delivery(
        &self,
        id: i64,
        attempt: &DeliveryAttempt<'_>,
    ) -> Result<(), StoreError> {
        let (state, status, next) = match attempt.retry_at {
            None => ("delivered", "delivered", None),
            Some(Some(at)) => ("pending", "retrying", Some(at)),
            Some(None) => ("failed", "failed", None),
        };
        in_transaction!(self, conn => {
            sqlx::query(
                "UPDATE alert_deliveries SET state = $2, attempts = attempts + 1, \
                 claimed_until = NULL, next_attempt_at = COALESCE($3, next_attempt_at) \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(state)
            .bind(next)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, attempted_at, response_code, status, \
                 error) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(attempt.at)
            .bind(attempt.response_code.map(i64::from))
            .bind(status)
            .bind(attempt.error)
            .execute(&mut *conn)
            .await?;
        })
    }

    /// The webhook's tries, newest first.
    pub async fn webhook_attempts(
        &self,
        webhook_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryAttemptRow>, StoreError> {
        let sql = "SELECT a.public_id, a.type AS kind, t.status, t.response_code, t.error, \
                   t.attempted_at FROM delivery_attempts t \
                   JOIN alert_deliveries d ON d.id = t.delivery_id \
                   JOIN alerts a ON a.id = d.alert_id \
                   WHERE d.webhook_id = $1 ORDER BY t.id DESC LIMIT $2";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(webhook_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// The user's email and whether alerts go there (when the operator configured email),
    /// after setting it to `enabled` if given; `None` when the user is gone.
    pub async fn email_alerts(
        &self,
        user_id: i64,
        enabled: Option<bool>,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let Some(enabled) = enabled else {
            let sql = "SELECT email, email_alerts FROM users WHERE id = $1";
            return Ok(on_pool!(self, pool => sqlx::query_as(sql)
                .bind(user_id)
                .fetch_optional(pool)
                .await)?);
        };
        let sql = "UPDATE users SET email_alerts = $2 WHERE id = $1 RETURNING email, email_alerts";
        Ok(on_writer!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(enabled)
            .fetch_optional(pool)
            .await)?)
    }
}
