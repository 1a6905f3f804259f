//! Bot configs: a bot's identity (a name, the one symbol it trades) and its policy (enabled,
//! the largest order, the order types, the order rate), and the account's emergency stop.

use serde_json::json;

use super::alerts::AlertKind;
use super::audit::Action;
use super::{Caller, Keywarden, ServiceError};
use crate::model::{
    BotConfigChange, BotConfigView, BotsPauseView, NewBotConfig, OrderType, Warning,
};
use crate::store::{BotConfigRow, BotPolicy, BotUsage, BotsPause, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_SYMBOL_CHARS: usize = 20;
const DEFAULT_ORDERS_PER_MINUTE: i64 = 60;
/// Binance lets an account place 100 orders per 10 seconds.
const MAX_ORDERS_PER_MINUTE: i64 = 600;
/// Binance's amounts have at most 8 decimals; 18 whole digits are more than any market needs.
const MAX_WHOLE_DIGITS: usize = 18;
const MAX_DECIMALS: usize = 8;

/// The config as users see it, with what the bot did lately (nothing, for a new one).
fn bot_config_view(row: BotConfigRow, usage: BotUsage) -> BotConfigView {
    let mut warnings = Vec::new();
    if row.policy.max_order_notional.is_none() {
        warnings.push(Warning {
            code: "no_notional_limit".into(),
            detail: "This bot's orders have no size limit: set a maximum order notional so a \
                     runaway bot cannot spend the whole account."
                .into(),
        });
    }
    BotConfigView {
        id: row.id,
        api_key_id: row.api_key_id,
        name: row.name,
        symbol: row.symbol,
        created_at: row.created_at,
        enabled: row.policy.enabled,
        max_order_notional: row.policy.max_order_notional,
        order_types: row.policy.order_types,
        orders_per_minute: row.policy.orders_per_minute,
        paused: row.bots_paused_at.is_some(),
        paused_reason: row.bots_paused_reason,
        warnings,
        last_used_at: usage.last_used_at,
        orders_today: usage.orders,
        refusals_today: usage.refusals,
    }
}

fn pause_view(pause: BotsPause) -> BotsPauseView {
    BotsPauseView {
        paused: pause.paused_at.is_some(),
        paused_at: pause.paused_at,
        reason: pause.reason,
    }
}

/// A name of 1-100 printable characters, trimmed.
fn name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::Invalid(format!(
            "name: must be 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

/// A symbol such as `BTCUSDT`, uppercased.
fn symbol(symbol: &str) -> Result<String, ServiceError> {
    let symbol = symbol.trim().to_uppercase();
    if symbol.is_empty()
        || symbol.len() > MAX_SYMBOL_CHARS
        || !symbol.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ServiceError::Invalid(format!(
            "symbol: must be 1 to {MAX_SYMBOL_CHARS} letters and digits, like BTCUSDT"
        )));
    }
    Ok(symbol)
}

/// A positive decimal such as `250` or `0.5`, at most 8 decimals, as written.
fn notional(text: &str) -> Result<String, ServiceError> {
    let text = text.trim();
    let invalid = || {
        ServiceError::Invalid(format!(
            "max_order_notional: must be a positive decimal such as 250.00, with at most \
             {MAX_DECIMALS} decimals"
        ))
    };
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > MAX_WHOLE_DIGITS
        || decimals.len() > MAX_DECIMALS
        || (text.contains('.') && decimals.is_empty())
        || !digits(whole)
        || !digits(decimals)
        || text.chars().all(|c| c == '0' || c == '.')
    {
        return Err(invalid());
    }
    Ok(text.to_owned())
}

fn order_types(mut types: Vec<OrderType>) -> Result<Vec<OrderType>, ServiceError> {
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(ServiceError::Invalid(
            "order_types: must name at least one order type".into(),
        ));
    }
    Ok(types)
}

fn orders_per_minute(rate: i64) -> Result<i64, ServiceError> {
    if !(1..=MAX_ORDERS_PER_MINUTE).contains(&rate) {
        return Err(ServiceError::Invalid(format!(
            "orders_per_minute: must be 1 to {MAX_ORDERS_PER_MINUTE}"
        )));
    }
    Ok(rate)
}

impl BotPolicy {
    /// `change` applied to this policy, each changed field checked.
    fn changed(&self, change: &BotConfigChange) -> Result<BotPolicy, ServiceError> {
        Ok(BotPolicy {
            enabled: change.enabled.unwrap_or(self.enabled),
            max_order_notional: match &change.max_order_notional {
                None => self.max_order_notional.clone(),
                Some(None) => None,
                Some(Some(text)) => Some(notional(text)?),
            },
            order_types: match &change.order_types {
                None => self.order_types.clone(),
                Some(types) => order_types(types.clone())?,
            },
            orders_per_minute: match change.orders_per_minute {
                None => self.orders_per_minute,
                Some(rate) => orders_per_minute(rate)?,
            },
        })
    }
}

/// An account's bot configs are bounded, as everything a user can make is.
const MAX_BOT_CONFIGS_PER_USER: i64 = 100;

impl Keywarden {
    pub async fn create_bot_config(
        &self,
        caller: &Caller,
        input: NewBotConfig,
    ) -> Result<BotConfigView, ServiceError> {
        let name = name(&input.name)?;
        let symbol = symbol(&input.symbol)?;
        let policy = BotPolicy {
            enabled: true,
            max_order_notional: None,
            order_types: OrderType::DEFAULT.to_vec(),
            orders_per_minute: DEFAULT_ORDERS_PER_MINUTE,
        }
        .changed(&BotConfigChange {
            name: None,
            enabled: input.enabled,
            max_order_notional: input.max_order_notional.map(Some),
            order_types: input.order_types,
            orders_per_minute: input.orders_per_minute,
        })?;
        let event = self.event(&caller.client, Action::BotConfigCreate);
        match self
            .inner
            .store
            .insert_bot_config(
                caller.user_id,
                &name,
                &symbol,
                &policy,
                MAX_BOT_CONFIGS_PER_USER,
                &event,
            )
            .await
        {
            Ok(Some(row)) => Ok(bot_config_view(row, BotUsage::default())),
            // No key (perhaps deleted a moment ago), or no room left under it.
            Ok(None) => match self
                .inner
                .store
                .find_api_key_of_user(caller.user_id)
                .await?
            {
                Some(_) => Err(ServiceError::BotConfigLimit {
                    max: MAX_BOT_CONFIGS_PER_USER,
                }),
                None => Err(ServiceError::NoApiKey),
            },
            // The key was deleted between the statement's read and its foreign key check.
            Err(StoreError::ForeignKey) => Err(ServiceError::NoApiKey),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_bot_configs(
        &self,
        caller: &Caller,
    ) -> Result<Vec<BotConfigView>, ServiceError> {
        let rows = self
            .inner
            .store
            .list_bot_configs_of_user(caller.user_id)
            .await?;
        self.with_usage(caller, rows).await
    }

    /// The configs' views, with what each bot did since midnight UTC.
    async fn with_usage(
        &self,
        caller: &Caller,
        rows: Vec<BotConfigRow>,
    ) -> Result<Vec<BotConfigView>, ServiceError> {
        let midnight = self
            .now()
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        // Orders' outcomes and tokens' uses are written behind their answers.
        self.inner.store.writes_behind_settled().await;
        let mut usage = self
            .inner
            .store
            .bot_usage_of_user(caller.user_id, midnight)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let found = usage.iter().position(|u| u.bot_config_id == row.id);
                let of_bot = found.map(|at| usage.swap_remove(at)).unwrap_or_default();
                bot_config_view(row, of_bot)
            })
            .collect())
    }

    pub(super) async fn bot_config_of(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<BotConfigRow, ServiceError> {
        self.inner
            .store
            .find_bot_config_of_user(caller.user_id, id)
            .await?
            .ok_or(ServiceError::BotConfigNotFound)
    }

    /// Changes a bot's name or policy; each change is an audit event.
    pub async fn update_bot_config(
        &self,
        caller: &Caller,
        id: i64,
        change: BotConfigChange,
    ) -> Result<BotConfigView, ServiceError> {
        let current = self.bot_config_of(caller, id).await?;
        let name = match &change.name {
            Some(text) => name(text)?,
            None => current.name.clone(),
        };
        let policy = current.policy.changed(&change)?;
        let event = self.event(&caller.client, Action::BotConfigUpdate);
        let row = self
            .inner
            .store
            .update_bot_config(caller.user_id, id, &name, &policy, &event)
            .await?
            .ok_or(ServiceError::BotConfigNotFound)?;
        let mut views = self.with_usage(caller, vec![row]).await?;
        views.pop().ok_or(ServiceError::BotConfigNotFound)
    }

    pub async fn delete_bot_config(&self, caller: &Caller, id: i64) -> Result<(), ServiceError> {
        let event = self.event(&caller.client, Action::BotConfigDelete);
        if self
            .inner
            .store
            .delete_bot_config_of_user(caller.user_id, id, &event)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::BotConfigNotFound)
        }
    }

    /// The emergency stop: every bot of the account stops at its next request, until
    /// `resume_all_bots`.
    pub async fn pause_all_bots(&self, caller: &Caller) -> Result<BotsPauseView, ServiceError> {
        let event = self.event(&caller.client, Action::BotsPause);
        let alert = self.new_alert(
            AlertKind::BotsPaused,
            json!({ "ip": caller.client.ip, "client": caller.client.in_words() }),
        );
        let pause = self
            .inner
            .store
            .set_bots_paused(caller.user_id, Some(event.at), &event, Some(&alert))
            .await?;
        self.alerts_raised();
        tracing::info!(user_id = caller.user_id, "every bot paused");
        Ok(pause_view(pause))
    }

    /// Ends the emergency stop; refused while the account's key can move funds (which paused
    /// the bots) and the operator does not allow such keys.
    pub async fn resume_all_bots(&self, caller: &Caller) -> Result<BotsPauseView, ServiceError> {
        if let Some(key) = &caller.key {
            self.refuse_moving_funds(&key.permissions)?;
        }
        let event = self.event(&caller.client, Action::BotsResume);
        let pause = self
            .inner
            .store
            .set_bots_paused(caller.user_id, None, &event, None)
            .await?;
        tracing::info!(user_id = caller.user_id, "bots resumed");
        Ok(pause_view(pause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_symbols_are_normalised_and_checked() {
        assert_eq!(name(" grid ").unwrap(), "grid");
        assert!(name("").is_err());
        assert_eq!(symbol("btcusdt").unwrap(), "BTCUSDT");
        assert!(symbol("BTC/USDT").is_err());
    }

    #[test]
    fn notionals_are_positive_decimals_with_at_most_8_places() {
        for good in ["250", "250.00", "0.5", " 12.12345678 "] {
            assert!(notional(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "0",
            "0.00",
            "-1",
            "1e3",
            "1.",
            ".5",
            "1.123456789",
            "12,5",
            "NaN",
            "1234567890123456789",
        ] {
            assert!(notional(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let policy = BotPolicy {
            enabled: true,
            max_order_notional: Some("100".into()),
            order_types: OrderType::DEFAULT.to_vec(),
            orders_per_minute: 60,
        };
        assert_eq!(policy.changed(&BotConfigChange::default()).unwrap(), policy);
        let lifted = BotConfigChange {
            max_order_notional: Some(None),
            order_types: Some(vec![OrderType::Market, OrderType::Limit, OrderType::Market]),
            ..BotConfigChange::default()
        };
        let changed = policy.changed(&lifted).unwrap();
        assert_eq!(changed.max_order_notional, None);
        assert_eq!(changed.order_types, [OrderType::Limit, OrderType::Market]);
        let none = BotConfigChange {
            order_types: Some(vec![]),
            ..BotConfigChange::default()
        };
        assert!(policy.changed(&none).is_err());
        let too_fast = BotConfigChange {
            orders_per_minute: Some(601),
            ..BotConfigChange::default()
        };
        assert!(policy.changed(&too_fast).is_err());
    }
}
