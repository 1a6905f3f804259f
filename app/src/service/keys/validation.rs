//! Checking a stored key with Binance again: on request, and in the background for every key
//! whose last check is old (or whose trading permission is about to lapse).

use std::sync::Arc;

use chrono::{Duration, SecondsFormat};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::view::validation;
use crate::model::ApiKeyView;
use crate::service::alerts::AlertKind;
use crate::service::audit::{Action, ClientInfo};
use crate::service::{Caller, Keywarden, ServiceError};
use crate::store::{ApiKeyRow, DueForValidation, KeyConsequences, Validation};

/// Why every bot is paused when a key gained a permission that moves funds.
pub const PAUSED_FOR_FUNDS: &str = "key_moves_funds";

impl Keywarden {
    /// Asks Binance about the stored key now and records the answer: a key Binance refuses is
    /// marked invalid, not deleted. Faults (unreachable, rate limits, timeouts) change nothing.
    pub async fn validate_api_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        Self::stored_key(caller)?;
        self.within_binance_quota(caller.user_id)?;
        self.check_stored_key(caller).await
    }

    /// `validate_api_key` without the account's quota: Keywarden's own background checks.
    async fn check_stored_key(&self, caller: &Caller) -> Result<ApiKeyView, ServiceError> {
        let row = Self::stored_key(caller)?;
        let result = self.try_validate_api_key(caller, row).await;
        if let Err(err) = &result {
            self.record(
                &caller.client,
                Some(caller.user_id),
                Some(row.id),
                Action::KeyValidate,
                Err(err),
            )
            .await;
        }
        result
    }

    async fn try_validate_api_key(
        &self,
        caller: &Caller,
        row: &ApiKeyRow,
    ) -> Result<ApiKeyView, ServiceError> {
        let outcome = self
            .with_stored_pair(&row.ciphertexts(), async |pair| {
                self.inner
                    .exchange
                    .check_key(row.environment, &pair, self.now())
                    .await
            })
            .await?;
        let mut event = self.event(&caller.client, Action::KeyValidate);
        let validation = match outcome {
            Ok(check) => validation(&check),
            Err(err) if err.refuses_key() => {
                event.outcome = "failure";
                event.error_code = Some(ServiceError::from(err).code());
                Validation {
                    is_valid: false,
                    permissions: row.permissions,
                    trading_expires_at: row.trading_expires_at,
                }
            }
            Err(other) => return Err(other.into()),
        };
        tracing::info!(
            user_id = caller.user_id,
            is_valid = validation.is_valid,
            "api key revalidated"
        );
        let refused_with = event.error_code;
        let checked = self
            .inner
            .store
            .record_validation(caller.user_id, &validation, &event, |before, after| {
                self.consequences(before, after, refused_with)
            })
            .await?;
        self.alerts_raised();
        checked
            .map(|row| self.key_view(row))
            .ok_or(ServiceError::ApiKeyNotFound)
    }

    /// What the owner must hear of a check that turned `before` into `after`, and whether the
    /// key's bots must stop: a key that gained a permission to move funds (and is not allowed
    /// one) pauses every bot of the account at once.
    fn consequences(
        &self,
        before: &ApiKeyRow,
        after: &ApiKeyRow,
        refused_with: Option<&'static str>,
    ) -> KeyConsequences {
        let mut follow = KeyConsequences::default();
        if before.is_valid && !after.is_valid {
            follow.alerts.push(self.new_alert(
                AlertKind::KeyInvalid,
                json!({
                    "api_key_masked": after.api_key_masked,
                    "environment": after.environment.as_str(),
                    "error_code": refused_with,
                }),
            ));
        }
        let moving_funds = after.permissions.moving_funds();
        if before.permissions.moving_funds().is_empty() && !moving_funds.is_empty() {
            let pause = !self.inner.allow_withdrawal_keys;
            if pause {
                follow.pause_bots = Some(PAUSED_FOR_FUNDS);
            }
            follow.alerts.push(self.new_alert(
                AlertKind::KeyFundsPermission,
                json!({
                    "api_key_masked": after.api_key_masked,
                    "permissions": moving_funds,
                    "bots_paused": pause,
                }),
            ));
        }
        if let Some(lapses) = after.trading_expires_at
            && after.is_valid
        {
            let left = lapses - self.now();
            let within = [1, 7]
                .into_iter()
                .find(|days| left <= Duration::days(*days));
            if let Some(days) = within.filter(|_| left > Duration::zero()) {
                let mut alert = self.new_alert(
                    AlertKind::KeyTradingExpiring,
                    json!({
                        "api_key_masked": after.api_key_masked,
                        "trading_expires_at": lapses.to_rfc3339_opts(SecondsFormat::Secs, true),
                        "within_days": days,
                    }),
                );
                alert.once_key = Some(format!(
                    "key.trading_expiring:{}:{}:{days}d",
                    after.id,
                    lapses.timestamp()
                ));
                follow.alerts.push(alert);
            }
        }
        follow
    }

    /// Re-checks, `concurrency` at a time, up to `batch` keys last checked more than `every`
    /// ago (and keys about to lose trading, hourly). Safe with several instances: each key is
    /// claimed by one. Returns how many were checked.
    pub async fn revalidate_due_keys(
        &self,
        every: Duration,
        batch: i64,
        concurrency: usize,
    ) -> Result<usize, ServiceError> {
        let now = self.now();
        let due = DueForValidation {
            checked_before: now - every,
            expiring_before: now + Duration::days(1),
            expiry_checked_before: now - Duration::hours(1),
        };
        let store = &self.inner.store;
        let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut checks = JoinSet::new();
        for user_id in store.keys_due_for_validation(&due, batch).await? {
            if !store.claim_validation(user_id, &due, now).await? {
                continue;
            }
            let permit = semaphore.clone().acquire_owned().await;
            let keywarden = self.clone();
            checks.spawn(async move {
                let _permit = permit;
                let checked = async {
                    let caller = Caller {
                        user_id,
                        session_id: String::new(),
                        client: ClientInfo::keywarden("scheduled check"),
                        key: keywarden.inner.store.find_api_key_of_user(user_id).await?,
                        two_factor_on: false,
                        stepped_up_at: None,
                    };
                    keywarden.check_stored_key(&caller).await
                };
                if let Err(err) = checked.await {
                    tracing::warn!(user_id, "background key check failed: {err}");
                }
            });
        }
        let mut checked = 0;
        while checks.join_next().await.is_some() {
            checked += 1;
        }
        Ok(checked)
    }
}
