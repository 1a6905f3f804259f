use super::audit::Action;
use super::{Caller, Keywarden, ServiceError};
use crate::model::{BotConfigView, NewBotConfig};
use crate::store::{BotConfigRow, StoreError};

const MAX_NAME_CHARS: usize = 100;
const MAX_SYMBOL_CHARS: usize = 20;

fn bot_config_view(row: BotConfigRow) -> BotConfigView {
    BotConfigView {
        id: row.id,
        api_key_id: row.api_key_id,
        name: row.name,
        symbol: row.symbol,
        created_at: row.created_at,
    }
}

/// A name of 1-100 printable characters and a symbol such as `BTCUSDT`; returns them trimmed,
/// the symbol uppercased.
fn validate(input: &NewBotConfig) -> Result<(String, String), ServiceError> {
    let name = input.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::Invalid(format!(
            "name: must be 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    let symbol = input.symbol.trim().to_uppercase();
    if symbol.is_empty()
        || symbol.len() > MAX_SYMBOL_CHARS
        || !symbol.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ServiceError::Invalid(format!(
            "symbol: must be 1 to {MAX_SYMBOL_CHARS} letters and digits, like BTCUSDT"
        )));
    }
    Ok((name.to_owned(), symbol))
}

impl Keywarden {
    pub async fn create_bot_config(
        &self,
        caller: &Caller,
        input: NewBotConfig,
    ) -> Result<BotConfigView, ServiceError> {
        let (name, symbol) = validate(&input)?;
        let event = self.event(&caller.client, Action::BotConfigCreate);
        match self
            .inner
            .store
            .insert_bot_config(caller.user_id, &name, &symbol, &event)
            .await
        {
            Ok(Some(row)) => Ok(bot_config_view(row)),
            Ok(None) => Err(ServiceError::NoApiKey),
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
        Ok(rows.into_iter().map(bot_config_view).collect())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_normalised_and_checked() {
        let ok = NewBotConfig {
            name: " grid ".into(),
            symbol: "btcusdt".into(),
        };
        assert_eq!(validate(&ok).unwrap(), ("grid".into(), "BTCUSDT".into()));
        let bad = NewBotConfig {
            name: "x".into(),
            symbol: "BTC/USDT".into(),
        };
        assert!(validate(&bad).is_err());
    }
}
