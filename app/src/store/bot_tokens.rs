use chrono::{DateTime, Utc};

use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::{Store, StoreError, on_pool};

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
