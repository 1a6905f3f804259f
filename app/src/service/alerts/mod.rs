//! Alerts: what a user hears about without asking (a key that stopped working, trading about
//! to lapse, every bot paused, a sign-in from a new address), and the webhooks that carry them.
//! Raising one queues a delivery per listening webhook in the database; `delivery` sends them.

mod delivery;
mod email;

pub use delivery::AlertSettings;

use serde_json::{Value, json};

use super::audit::Action;
use super::sessions::random_token;
use super::{Caller, Keywarden, ServiceError};
use crate::model::{
    ALERT_TYPES, EmailAlerts, EmailAlertsChange, NewWebhook, WebhookCreated, WebhookDeliveryView,
    WebhookView,
};
use crate::store::{self, NewAlert, WebhookRow};
use crate::vault::{Field, Owner};
use crate::webhook_sender::SendError;

const MAX_WEBHOOKS: i64 = 5;
const DELIVERY_LOG: i64 = 100;
const SECRET_PREFIX: &str = "whsec_";

/// What an alert is about; `as_str` is its `type` on the wire (`model::ALERT_TYPES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    KeyInvalid,
    KeyTradingExpiring,
    KeyFundsPermission,
    BotRefusals,
    BotsPaused,
    LoginNewAddress,
    /// An address the account never signed in from was stopped after failed sign-ins.
    LoginBlocked,
    PasswordChanged,
    WebhookTest,
    /// A webhook's delivery was given up; by email only.
    WebhookFailing,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::KeyInvalid => "key.invalid",
            AlertKind::KeyTradingExpiring => "key.trading_expiring",
            AlertKind::KeyFundsPermission => "key.funds_permission",
            AlertKind::BotRefusals => "bot.refusals",
            AlertKind::BotsPaused => "bots.paused",
            AlertKind::LoginNewAddress => "login.new_address",
            AlertKind::LoginBlocked => "login.blocked",
            AlertKind::PasswordChanged => "password.changed",
            AlertKind::WebhookTest => "webhook.test",
            AlertKind::WebhookFailing => "webhook.failing",
        }
    }
}

fn webhook_secret_owner(user_id: i64) -> Owner {
    Owner::unversioned(user_id, Field::WebhookSecret)
}

fn webhook_view(row: WebhookRow) -> WebhookView {
    WebhookView {
        id: row.id,
        url: row.url,
        events: row.events.split(',').map(str::to_owned).collect(),
        created_at: row.created_at,
    }
}

/// The event types a webhook listens for, checked and without repeats; every type if none
/// are named.
fn listened_events(events: Option<Vec<String>>) -> Result<Vec<String>, ServiceError> {
    let Some(events) = events else {
        return Ok(ALERT_TYPES.iter().map(|t| (*t).to_owned()).collect());
    };
    if events.is_empty() {
        return Err(ServiceError::Invalid(
            "events: name at least one event type, or leave it out for every type".into(),
        ));
    }
    let mut listened: Vec<String> = Vec::new();
    for event in events {
        if !ALERT_TYPES.contains(&event.as_str()) {
            return Err(ServiceError::Invalid(format!(
                "events: unknown type {event:?}; the types are {}",
                ALERT_TYPES.join(", ")
            )));
        }
        if !listened.contains(&event) {
            listened.push(event);
        }
    }
    Ok(listened)
}

impl From<SendError> for ServiceError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::InvalidUrl(problem) => ServiceError::Invalid(problem.into()),
            other => ServiceError::WebhookUrlRefused(format!("url: {other}")),
        }
    }
}

impl Keywarden {
    /// An alert of `kind` about `data`, now. Its `once_key`, if set, makes raising it again a
    /// no-op.
    pub(super) fn new_alert(&self, kind: AlertKind, data: Value) -> NewAlert {
        NewAlert {
            public_id: format!("evt_{}", random_token(18)),
            kind: kind.as_str(),
            data: data.to_string(),
            at: self.now(),
            once_key: None,
            only_webhook: None,
            webhooks: kind != AlertKind::WebhookFailing,
            email: self.inner.alerts.email.is_some() && kind != AlertKind::WebhookTest,
        }
    }

    /// Raises an alert that goes with no change of its own (a sign-in from a new address).
    /// A failure is logged: what caused it already happened.
    pub(super) async fn raise_alert(&self, user_id: i64, alert: NewAlert) {
        match self.inner.store.raise_alert(user_id, &alert).await {
            Ok(Some(_)) => self.alerts_raised(),
            Ok(None) => {}
            Err(err) => tracing::error!(kind = alert.kind, "cannot raise an alert: {err}"),
        }
    }

    /// Wakes this instance's deliveries: something was queued.
    pub(super) fn alerts_raised(&self) {
        self.inner.alerts.wake.notify_one();
    }

    pub async fn create_webhook(
        &self,
        caller: &Caller,
        input: NewWebhook,
    ) -> Result<WebhookCreated, ServiceError> {
        self.require_step_up(caller)?;
        let events = listened_events(input.events)?;
        let url = self.inner.alerts.sender.check_url(&input.url).await?;
        let secret = format!("{SECRET_PREFIX}{}", random_token(32));
        let sealed = self
            .inner
            .vault
            .seal(webhook_secret_owner(caller.user_id), &secret);
        let row = self
            .inner
            .store
            .insert_webhook(
                caller.user_id,
                &store::NewWebhook {
                    url: &url,
                    events: &events.join(","),
                    encrypted_secret: &sealed.token,
                    encryption_key_id: &sealed.key_id,
                    at: self.now(),
                },
                MAX_WEBHOOKS,
            )
            .await?
            .ok_or(ServiceError::WebhookLimit {
                max: MAX_WEBHOOKS as u32,
            })?;
        self.record(
            &caller.client,
            Some(caller.user_id),
            None,
            Action::WebhookCreate,
            Ok(()),
        )
        .await;
        let view = webhook_view(row);
        Ok(WebhookCreated {
            id: view.id,
            url: view.url,
            events: view.events,
            secret,
            created_at: view.created_at,
        })
    }

    pub async fn webhooks(&self, caller: &Caller) -> Result<Vec<WebhookView>, ServiceError> {
        let rows = self.inner.store.webhooks_of_user(caller.user_id).await?;
        Ok(rows.into_iter().map(webhook_view).collect())
    }

    pub async fn delete_webhook(&self, caller: &Caller, id: i64) -> Result<(), ServiceError> {
        self.require_step_up(caller)?;
        if !self.inner.store.delete_webhook(caller.user_id, id).await? {
            return Err(ServiceError::WebhookNotFound);
        }
        self.record(
            &caller.client,
            Some(caller.user_id),
            None,
            Action::WebhookDelete,
            Ok(()),
        )
        .await;
        Ok(())
    }

    /// Queues a `webhook.test` alert for this webhook alone; answers its event id.
    pub async fn test_webhook(&self, caller: &Caller, id: i64) -> Result<String, ServiceError> {
        let webhook = self.own_webhook(caller, id).await?;
        let mut alert = self.new_alert(
            AlertKind::WebhookTest,
            json!({ "webhook_id": webhook.id, "url": webhook.url }),
        );
        alert.only_webhook = Some(webhook.id);
        self.inner.store.raise_alert(caller.user_id, &alert).await?;
        self.alerts_raised();
        Ok(alert.public_id)
    }

    /// The webhook's delivery tries, newest first.
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Vec<WebhookDeliveryView>, ServiceError> {
        let webhook = self.own_webhook(caller, id).await?;
        let rows = self
            .inner
            .store
            .webhook_attempts(webhook.id, DELIVERY_LOG)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| WebhookDeliveryView {
                event_id: row.public_id,
                kind: row.kind,
                status: row.status,
                response_code: row.response_code.and_then(|c| u16::try_from(c).ok()),
                error: row.error,
                attempted_at: row.attempted_at,
            })
            .collect())
    }

    /// Whether the caller's alerts also go by email; `change` sets it first.
    pub async fn email_alerts(
        &self,
        caller: &Caller,
        change: Option<EmailAlertsChange>,
    ) -> Result<EmailAlerts, ServiceError> {
        if change.is_some() {
            self.require_step_up(caller)?;
        }
        let (address, enabled) = self
            .inner
            .store
            .email_alerts(caller.user_id, change.map(|c| c.enabled))
            .await?
            .ok_or(ServiceError::NotAuthenticated(
                "the account no longer exists",
            ))?;
        Ok(EmailAlerts {
            available: self.inner.alerts.email.is_some(),
            enabled,
            address,
        })
    }

    async fn own_webhook(&self, caller: &Caller, id: i64) -> Result<WebhookRow, ServiceError> {
        self.inner
            .store
            .webhook_of_user(caller.user_id, id)
            .await?
            .ok_or(ServiceError::WebhookNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_a_webhook_can_listen_for_is_a_listed_type() {
        let kinds = [
            AlertKind::KeyInvalid,
            AlertKind::KeyTradingExpiring,
            AlertKind::KeyFundsPermission,
            AlertKind::BotRefusals,
            AlertKind::BotsPaused,
            AlertKind::LoginNewAddress,
            AlertKind::LoginBlocked,
            AlertKind::PasswordChanged,
            AlertKind::WebhookTest,
        ];
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ALERT_TYPES);
    }

    #[test]
    fn events_are_checked_and_default_to_all() {
        assert_eq!(listened_events(None).unwrap().len(), ALERT_TYPES.len());
        let twice = vec!["bots.paused".to_owned(), "bots.paused".to_owned()];
        assert_eq!(listened_events(Some(twice)).unwrap(), ["bots.paused"]);
        assert!(listened_events(Some(vec![])).is_err());
        let unknown = listened_events(Some(vec!["key.stolen".into()])).unwrap_err();
        assert!(unknown.to_string().contains("key.stolen"), "{unknown}");
    }
}
