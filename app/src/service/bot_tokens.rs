//! Gateway tokens: the narrow credential a bot holds instead of the key. A token is 256 random
//! bits behind a recognisable prefix; only its SHA-256 is stored, and it is shown once.

use chrono::Duration;

use super::audit::Action;
use super::sessions::{random_token, token_hash};
use super::{Caller, Keywarden, ServiceError};
use crate::model::{BotTokenCreated, BotTokenView, NewBotToken};
use crate::network::IpNetwork;
use crate::store::{self, BotTokenRow};

/// What every bot token starts with, so one found in a log or a repository is recognised.
pub const BOT_TOKEN_PREFIX: &str = "kwb_";
/// The prefix and this many characters of the secret identify a token to its owner.
const SHOWN_CHARS: usize = 8;
const MAX_NAME_CHARS: usize = 100;
const MAX_EXPIRY_DAYS: i64 = 3650;
const MAX_ALLOWED_IPS: usize = 32;

fn token_name(name: Option<&str>) -> Result<Option<String>, ServiceError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if let Some(n) = name
        && (n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
    {
        return Err(ServiceError::Invalid(format!(
            "name: must be at most {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.map(str::to_owned))
}

fn allowed_ips(list: Option<&[String]>) -> Result<Option<String>, ServiceError> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if list.len() > MAX_ALLOWED_IPS {
        return Err(ServiceError::Invalid(format!(
            "allowed_ips: at most {MAX_ALLOWED_IPS} addresses or networks"
        )));
    }
    let parsed: Option<Vec<String>> = list
        .iter()
        .map(|t| t.parse::<IpNetwork>().ok().map(|n| n.to_string()))
        .collect();
    let parsed = parsed.ok_or_else(|| {
        ServiceError::Invalid(
            "allowed_ips: each must be an IP address or a network such as 203.0.113.0/24".into(),
        )
    })?;
    Ok(Some(parsed.join(",")))
}

fn bot_token_view(row: BotTokenRow) -> BotTokenView {
    BotTokenView {
        id: row.id,
        prefix: row.prefix,
        name: row.name,
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        last_ip: row.last_ip,
        allowed_ips: row
            .allowed_ips
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

impl Keywarden {
    /// Issues a gateway token for one of the caller's bots.
    pub async fn create_bot_token(
        &self,
        caller: &Caller,
        bot_config_id: i64,
        input: NewBotToken,
    ) -> Result<BotTokenCreated, ServiceError> {
        self.require_step_up(caller)?;
        let name = token_name(input.name.as_deref())?;
        let allowed_ips = allowed_ips(input.allowed_ips.as_deref())?;
        let lifetime = match input.expires_in_days {
            None => None,
            Some(days @ 1..=MAX_EXPIRY_DAYS) => Some(Duration::days(days)),
            Some(_) => {
                return Err(ServiceError::Invalid(format!(
                    "expires_in_days: must be 1 to {MAX_EXPIRY_DAYS}, or left out for a token \
                     that does not expire"
                )));
            }
        };
        let token = format!("{BOT_TOKEN_PREFIX}{}", random_token(32));
        let prefix = &token[..BOT_TOKEN_PREFIX.len() + SHOWN_CHARS];
        let mut event = self.event(&caller.client, Action::BotTokenCreate);
        event.bot_config_id = Some(bot_config_id);
        let stored = store::NewBotToken {
            name: name.as_deref(),
            prefix,
            token_hash: &token_hash(&token),
            allowed_ips: allowed_ips.as_deref(),
            expires_at: lifetime.map(|lifetime| event.at + lifetime),
        };
        let row = self
            .inner
            .store
            .insert_bot_token(caller.user_id, bot_config_id, &stored, &event)
            .await?
            .ok_or(ServiceError::BotConfigNotFound)?;
        tracing::info!(
            user_id = caller.user_id,
            bot_config_id,
            token_id = row.id,
            "bot token issued"
        );
        Ok(BotTokenCreated {
            id: row.id,
            prefix: row.prefix,
            name: row.name,
            created_at: row.created_at,
            expires_at: row.expires_at,
            token,
        })
    }

    /// The bot's live tokens, without their secrets.
    pub async fn list_bot_tokens(
        &self,
        caller: &Caller,
        bot_config_id: i64,
    ) -> Result<Vec<BotTokenView>, ServiceError> {
        self.bot_config_of(caller, bot_config_id).await?;
        // A token's use is written behind its request: whoever saw the answer sees it here.
        self.inner.store.writes_behind_settled().await;
        let rows = self.inner.store.live_bot_tokens(bot_config_id).await?;
        Ok(rows.into_iter().map(bot_token_view).collect())
    }

    /// Revokes a token: its next request is refused.
    pub async fn revoke_bot_token(
        &self,
        caller: &Caller,
        bot_config_id: i64,
        token_id: i64,
    ) -> Result<(), ServiceError> {
        let mut event = self.event(&caller.client, Action::BotTokenRevoke);
        event.bot_config_id = Some(bot_config_id);
        if !self
            .inner
            .store
            .revoke_bot_token(caller.user_id, bot_config_id, token_id, &event)
            .await?
        {
            return Err(ServiceError::BotTokenNotFound);
        }
        tracing::info!(
            user_id = caller.user_id,
            bot_config_id,
            token_id,
            "bot token revoked"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_addresses_are_checked_and_written_canonically() {
        assert!(allowed_ips(Some(&["10.0.0.0/33".to_owned()])).is_err());
        assert_eq!(allowed_ips(Some(&[])).unwrap(), None);
        let list = ["1.2.3.4".to_owned(), "10.0.0.0/8".to_owned()];
        assert_eq!(
            allowed_ips(Some(&list)).unwrap().unwrap(),
            "1.2.3.4,10.0.0.0/8"
        );
    }

    #[test]
    fn token_names_are_optional_and_printable() {
        assert_eq!(token_name(Some("  ")).unwrap(), None);
        assert_eq!(token_name(Some(" ci ")).unwrap().unwrap(), "ci");
        assert!(token_name(Some("a\u{7}b")).is_err());
    }
}
