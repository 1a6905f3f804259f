use chrono::{DateTime, Utc};

use super::api_keys::StoredCiphertexts;
use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::bot_configs::{BotPolicy, policy_from_columns};
use super::order_journal::{Entry, TokenUse};
use super::rows::{Columns, FromColumns, from_columns_for_sqlx, parsed};
use super::{Store, StoreError, on_pool};
use crate::model::Environment;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BotTokenRow {
    pub id: i64,
    pub bot_config_id: i64,
    pub name: Option<String>,
    pub prefix: String,
    /// Comma-separated addresses and networks; `None`: any.
    pub allowed_ips: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_ip: Option<String>,
}

/// A token about to be stored: only the hash of its secret.
pub struct NewBotToken<'a> {
    pub name: Option<&'a str>,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub allowed_ips: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Everything a gateway request needs to know about the token it carries, read in one
/// statement: the token, its bot, the bot's key and the key's user.
#[derive(Clone, Debug)]
pub struct BotTokenGrant {
    pub token_id: i64,
    /// The key's environment when the token was issued.
    pub token_environment: Environment,
    pub allowed_ips: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub bot_config_id: i64,
    pub bot_name: String,
    pub symbol: String,
    pub policy: BotPolicy,
    pub key_environment: Environment,
    pub key_is_valid: bool,
    pub key: StoredCiphertexts,
    pub user_is_active: bool,
    pub bots_paused_at: Option<DateTime<Utc>>,
    /// Why Keywarden paused them (`key_moves_funds`); `None` when the user did.
    pub bots_paused_reason: Option<String>,
}

impl FromColumns for BotTokenGrant {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(BotTokenGrant {
            token_id: row.int("token_id")?,
            token_environment: parsed(row, "token_environment", Environment::parse)?,
            allowed_ips: row.optional_text("allowed_ips")?,
            expires_at: row.optional_time("expires_at")?,
            revoked_at: row.optional_time("revoked_at")?,
            last_used_at: row.optional_time("last_used_at")?,
            bot_config_id: row.int("bot_config_id")?,
            bot_name: row.text("bot_name")?,
            symbol: row.text("symbol")?,
            policy: policy_from_columns(row)?,
            key_environment: parsed(row, "key_environment", Environment::parse)?,
            key_is_valid: row.flag("key_is_valid")?,
            key: StoredCiphertexts::from_columns(row)?,
            user_is_active: row.flag("user_is_active")?,
            bots_paused_at: row.optional_time("bots_paused_at")?,
            bots_paused_reason: row.optional_text("bots_paused_reason")?,
        })
    }
}
from_columns_for_sqlx!(BotTokenGrant);

const GRANT: &str = "SELECT t.id AS token_id, t.environment AS token_environment, t.allowed_ips, \
    t.expires_at, t.revoked_at, t.last_used_at, b.id AS bot_config_id, b.name AS bot_name, \
    b.symbol, b.enabled, b.max_order_notional, b.order_types, b.orders_per_minute, \
    k.environment AS key_environment, k.is_valid AS key_is_valid, k.id, k.user_id, \
    k.encrypted_api_key, k.encrypted_secret_key, k.encryption_key_id, k.version, \
    u.is_active AS user_is_active, u.bots_paused_at, u.bots_paused_reason \
    FROM bot_tokens t JOIN bot_configs b ON b.id = t.bot_config_id \
    JOIN api_keys k ON k.id = b.api_key_id JOIN users u ON u.id = k.user_id \
    WHERE t.token_hash = $1";

const COLUMNS: &str = "id, bot_config_id, name, prefix, allowed_ips, created_at, expires_at, \
                       last_used_at, last_ip";

impl Store {
    /// Stores a token for one of the user's bots, bound to its key's environment, and records
    /// it; `None` when the bot does not exist or is someone else's.
    pub async fn insert_bot_token(
        &self,
        user_id: i64,
        bot_config_id: i64,
        token: &NewBotToken<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<BotTokenRow>, StoreError> {
        let sql = format!(
            "INSERT INTO bot_tokens (bot_config_id, name, prefix, token_hash, environment, \
             allowed_ips, created_at, expires_at) \
             SELECT b.id, $3, $4, $5, k.environment, $6, $7, $8 \
             FROM bot_configs b JOIN api_keys k ON k.id = b.api_key_id \
             WHERE b.id = $1 AND k.user_id = $2 RETURNING {COLUMNS}"
        );
        in_transaction!(self, conn => {
            let row: Option<BotTokenRow> = sqlx::query_as(&sql)
                .bind(bot_config_id)
                .bind(user_id)
                .bind(token.name)
                .bind(token.prefix)
                .bind(token.token_hash)
                .bind(token.allowed_ips)
                .bind(event.at)
                .bind(token.expires_at)
                .fetch_optional(&mut *conn)
                .await?;
            if row.is_some() {
                append_event!(&mut *conn, event, user_id, None::<i64>)?;
            }
            row
        })
    }

    /// What the token with this hash grants; `None` for a token never issued (or whose bot or
    /// key is gone with it).
    pub async fn find_bot_token_grant(
        &self,
        token_hash: &str,
    ) -> Result<Option<BotTokenGrant>, StoreError> {
        if let Some(direct) = self.sqlite_direct() {
            return direct.query_row(GRANT, [token_hash]);
        }
        if let Some(kept) = self.kept_connections() {
            return kept
                .fetch_optional(sqlx::query_as(GRANT).bind(token_hash))
                .await;
        }
        Ok(on_pool!(self, pool => sqlx::query_as(GRANT)
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// Notes when and from where a token was last used, written behind (with the next batch
    /// of the order journal); `writes_behind_settled` waits for it.
    pub fn note_bot_token_use(&self, token_id: i64, at: DateTime<Utc>, ip: Option<&str>) {
        if let Some(journal) = &self.order_journal {
            journal.append_behind(Entry::TokenUse(TokenUse {
                token_id,
                at,
                ip: ip.map(str::to_owned),
            }));
        }
    }

    /// The bot's tokens that are not revoked, oldest first.
    pub async fn live_bot_tokens(
        &self,
        bot_config_id: i64,
    ) -> Result<Vec<BotTokenRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM bot_tokens WHERE bot_config_id = $1 AND revoked_at IS NULL \
             ORDER BY id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(bot_config_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes one token of one of the user's bots and records it; `false` when there is no
    /// such live token.
    pub async fn revoke_bot_token(
        &self,
        user_id: i64,
        bot_config_id: i64,
        token_id: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE bot_tokens SET revoked_at = $4 WHERE id = $1 AND bot_config_id = $2 \
                   AND revoked_at IS NULL AND bot_config_id IN (SELECT b.id FROM bot_configs b \
                   JOIN api_keys k ON k.id = b.api_key_id WHERE k.user_id = $3)";
        in_transaction!(self, conn => {
            let revoked = sqlx::query(sql)
                .bind(token_id)
                .bind(bot_config_id)
                .bind(user_id)
                .bind(event.at)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                == 1;
            if revoked {
                append_event!(&mut *conn, event, user_id, None::<i64>)?;
            }
            revoked
        })
    }
}
