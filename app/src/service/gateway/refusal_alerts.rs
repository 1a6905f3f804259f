//! `bot.refusals`: a bot whose orders the policy keeps refusing is misconfigured or misbehaving,
//! and its owner hears of it once an hour at most.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::Duration;
use serde_json::json;

use crate::service::Keywarden;
use crate::service::alerts::AlertKind;
use crate::store::BotTokenGrant;

/// Policy refusals of one bot within the last hour that raise the alert.
pub const REFUSALS_PER_HOUR: i64 = 10;

/// The bots (and hours) this instance has raised the alert for, so a storm of refusals does
/// not count again after it.
#[derive(Default)]
pub(super) struct RefusalAlerts {
    raised: Mutex<HashSet<(i64, i64)>>,
}

impl Keywarden {
    /// Counts the bot's refusals once the one just made is written, behind the answer.
    pub(super) fn watch_refusals(&self, grant: &BotTokenGrant) {
        let hour = self.now().timestamp() / 3600;
        let key = (grant.bot_config_id, hour);
        let raised = &self.inner.gateway.refusal_alerts.raised;
        if raised
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return;
        }
        let keywarden = self.clone();
        let user_id = grant.key.user_id;
        let bot = json!({
            "bot_config_id": grant.bot_config_id,
            "bot_name": grant.bot_name,
            "symbol": grant.symbol,
        });
        tokio::spawn(async move {
            keywarden.alert_on_refusals(user_id, key, bot).await;
        });
    }

    async fn alert_on_refusals(
        &self,
        user_id: i64,
        (bot_id, hour): (i64, i64),
        bot: serde_json::Value,
    ) {
        let store = &self.inner.store;
        store.writes_behind_settled().await;
        let since = self.now() - Duration::hours(1);
        let refusals = match store.count_bot_refusals(bot_id, since).await {
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(bot_id, "cannot count a bot's refusals: {err}");
                return;
            }
        };
        if refusals < REFUSALS_PER_HOUR {
            return;
        }
        {
            let mut raised = self.inner.gateway.refusal_alerts.raised.lock();
            let raised = raised.as_mut().unwrap_or_else(|e| e.get_mut());
            raised.retain(|(_, h)| *h >= hour);
            if !raised.insert((bot_id, hour)) {
                return;
            }
        }
        let mut data = bot;
        data["refusals"] = refusals.into();
        data["within_minutes"] = 60.into();
        let mut alert = self.new_alert(AlertKind::BotRefusals, data);
        alert.once_key = Some(format!("bot.refusals:{bot_id}:{hour}"));
        self.raise_alert(user_id, alert).await;
    }
}
