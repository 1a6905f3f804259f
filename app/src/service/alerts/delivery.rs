//! Sending queued deliveries: claim, sign, POST, record the try. A failed delivery is tried
//! again with a growing pause until `retry_for` after it was queued, then given up; the
//! webhook's next delivery waits for it either way, so a receiver sees its alerts in order.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{AlertKind, webhook_secret_owner};
use crate::email_sender::EmailSender;
use crate::service::{Keywarden, ServiceError};
use crate::store::{ClaimedDelivery, DeliveryAttempt};
use crate::webhook_sender::WebhookSender;

/// Deliveries claimed per pass.
const BATCH: i64 = 50;
/// How long an instance holds a delivery it is sending: far beyond a send's timeout, so only
/// an instance that died mid-send lets another take it over.
const LEASE: Duration = Duration::seconds(60);

pub struct AlertSettings {
    pub sender: WebhookSender,
    /// Alerts by email, when the operator configured SMTP.
    pub email: Option<EmailSender>,
    /// How long a failing delivery is retried (`KEYWARDEN_WEBHOOK_RETRY_FOR`).
    pub retry_for: Duration,
    pub(in crate::service) wake: Notify,
}

impl AlertSettings {
    pub fn new(sender: WebhookSender, email: Option<EmailSender>, retry_for: Duration) -> Self {
        AlertSettings {
            sender,
            email,
            retry_for,
            wake: Notify::new(),
        }
    }

    /// The pause after the first failed try: 10 s when retrying for a day. Each later pause
    /// doubles, up to an hour a day.
    pub fn first_retry(&self) -> Duration {
        self.retry_for / 8640
    }

    fn retry_after(&self, tries: i64) -> Duration {
        let doublings = u32::try_from(tries.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        let longest = self.retry_for / 24;
        (self.first_retry() * 2i32.pow(doublings)).min(longest)
    }
}

/// A delivery's body: the alert as the receiver reads it.
fn payload(delivery: &ClaimedDelivery) -> String {
    let data: serde_json::Value = serde_json::from_str(&delivery.data).unwrap_or(json!({}));
    json!({
        "id": delivery.public_id,
        "type": delivery.kind,
        "created_at": delivery.alert_created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "data": data,
    })
    .to_string()
}

impl Keywarden {
    /// Sends every delivery due now (each webhook's oldest pending one), concurrently across
    /// webhooks. Safe with several instances: each delivery is claimed by one. Returns how
    /// many were tried.
    pub async fn send_due_alerts(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let store = &self.inner.store;
        let mut sends = JoinSet::new();
        for id in store.deliveries_due(now, BATCH).await? {
            let Some(delivery) = store.claim_delivery(id, now, now + LEASE).await? else {
                continue;
            };
            let keywarden = self.clone();
            sends.spawn(async move { keywarden.send_delivery(delivery).await });
        }
        let mut tried = 0;
        while let Some(sent) = sends.join_next().await {
            if let Ok(Err(err)) = sent {
                tracing::error!("cannot record a webhook delivery: {err}");
            }
            tried += 1;
        }
        Ok(tried)
    }

    async fn send_delivery(&self, delivery: ClaimedDelivery) -> Result<(), ServiceError> {
        let sent = match delivery.webhook_id {
            Some(_) => self.post_to_webhook(&delivery).await,
            None => self.email(&delivery).await,
        };
        let at = self.now();
        let (response_code, error) = match sent {
            Ok(code) if (200..300).contains(&code) => (Some(code), None),
            Ok(code) => (Some(code), Some(format!("the receiver answered {code}"))),
            Err(why) => (None, Some(why)),
        };
        let retry_at = error.as_ref().map(|_| self.next_try(&delivery, at));
        if let Some(None) = retry_at {
            tracing::warn!(
                webhook_id = delivery.webhook_id,
                event = delivery.public_id,
                "alert delivery given up after {} tries",
                delivery.attempts + 1
            );
            self.webhook_failing(&delivery).await;
        }
        let attempt = DeliveryAttempt {
            at,
            response_code,
            error: error.as_deref(),
            retry_at,
        };
        self.inner
            .store
            .finish_delivery(delivery.id, &attempt)
            .await?;
        if error.is_none() {
            // The webhook's next delivery, if any, is due now.
            self.alerts_raised();
        }
        Ok(())
    }

    /// POSTs the alert to its webhook, signed; answers the receiver's status.
    async fn post_to_webhook(&self, delivery: &ClaimedDelivery) -> Result<u16, String> {
        let (Some(url), Some(sealed), Some(key_id)) = (
            &delivery.url,
            &delivery.encrypted_secret,
            &delivery.encryption_key_id,
        ) else {
            return Err("the webhook is gone".to_owned());
        };
        let owner = webhook_secret_owner(delivery.user_id);
        let secret = self
            .inner
            .vault
            .open(owner, sealed, Some(key_id))
            .map_err(|err| {
                tracing::error!(webhook_id = delivery.webhook_id, "webhook secret: {err}");
                "the webhook's secret cannot be read by this server".to_owned()
            })?;
        let timestamp = self.now().timestamp();
        self.inner
            .alerts
            .sender
            .send(url, secret.expose(), timestamp, payload(delivery))
            .await
            .map_err(|err| err.to_string())
    }

    /// Emails the alert to the account's address; a delivered email counts as a 250.
    async fn email(&self, delivery: &ClaimedDelivery) -> Result<u16, String> {
        let Some(sender) = &self.inner.alerts.email else {
            return Err("email alerts are not configured on this server".to_owned());
        };
        let (subject, body) = super::email::message(delivery, &self.inner.public_url);
        sender
            .send(&delivery.user_email, &subject, body)
            .await
            .map(|()| 250)
    }

    /// A webhook that failed for the whole retry period: its owner hears of it by email, once a
    /// day at most per webhook.
    async fn webhook_failing(&self, delivery: &ClaimedDelivery) {
        let (Some(webhook_id), Some(url)) = (delivery.webhook_id, &delivery.url) else {
            return;
        };
        let retry_for = self.inner.alerts.retry_for;
        let mut alert = self.new_alert(
            AlertKind::WebhookFailing,
            json!({
                "webhook_id": webhook_id,
                "url": url,
                "event_id": delivery.public_id,
                "retried_for": format!("{} minutes", retry_for.num_minutes()),
            }),
        );
        let day = self.now().timestamp() / 86_400;
        alert.once_key = Some(format!("webhook.failing:{webhook_id}:{day}"));
        self.raise_alert(delivery.user_id, alert).await;
    }

    /// When to try a failed delivery again, or `None` once it has been failing for too long.
    fn next_try(&self, delivery: &ClaimedDelivery, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let settings = &self.inner.alerts;
        let next = now + settings.retry_after(delivery.attempts + 1);
        (next <= delivery.created_at + settings.retry_for).then_some(next)
    }

    /// Waits until an alert is raised on this instance or `at_most` passes.
    pub async fn alerts_or_timeout(&self, at_most: std::time::Duration) {
        let _ = tokio::time::timeout(at_most, self.inner.alerts.wake.notified()).await;
    }

    /// How often deliveries should be looked for without a wake-up: often enough for the
    /// first retry, at most once a second.
    pub fn alert_poll(&self) -> std::time::Duration {
        self.inner
            .alerts
            .first_retry()
            .to_std()
            .unwrap_or_default()
            .clamp(
                std::time::Duration::from_millis(50),
                std::time::Duration::from_secs(1),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook_sender::PrivateAddresses;

    #[test]
    fn retries_back_off_from_ten_seconds_to_an_hour_over_a_day() {
        let sender = WebhookSender::new(PrivateAddresses::Refused).unwrap();
        let settings = AlertSettings::new(sender, None, Duration::days(1));
        let pauses: Vec<i64> = (1..=12)
            .map(|tries| settings.retry_after(tries).num_seconds())
            .collect();
        assert_eq!(
            pauses,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
        );
    }
}
