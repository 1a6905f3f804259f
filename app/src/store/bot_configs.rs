use chrono::{DateTime, Utc};

use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::{Store, StoreError, on_pool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BotConfigRow {
    pub id: i64,
    pub api_key_id: i64,
    pub name: String,
    pub symbol: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, api_key_id, name, symbol, created_at";

impl Store {
    /// Attaches a config to the user's key in one statement, so a key deleted at the same
    /// moment can never leave an orphan. `None` when the user has no key.
    pub async fn insert_bot_config(
        &self,
        user_id: i64,
        name: &str,
        symbol: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<BotConfigRow>, StoreError> {
        let sql = format!(
            "INSERT INTO bot_configs (api_key_id, name, symbol, created_at) \
             SELECT id, $2, $3, $4 FROM api_keys WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        in_transaction!(self, conn => {
            let row: Option<BotConfigRow> = sqlx::query_as(&sql)
                .bind(user_id)
                .bind(name)
                .bind(symbol)
                .bind(event.at)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = &row {
                append_event!(&mut *conn, event, user_id, row.api_key_id)?;
            }
            row
        })
    }

    pub async fn list_bot_configs_of_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<BotConfigRow>, StoreError> {
        let sql = "SELECT b.id, b.api_key_id, b.name, b.symbol, b.created_at \
                   FROM bot_configs b JOIN api_keys k ON k.id = b.api_key_id \
                   WHERE k.user_id = $1 ORDER BY b.id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await)?)
    }

    /// Deletes one of the user's configs; `false` when it does not exist or is someone else's.
    pub async fn delete_bot_config_of_user(
        &self,
        user_id: i64,
        id: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM bot_configs WHERE id = $1 \
                   AND api_key_id IN (SELECT id FROM api_keys WHERE user_id = $2) \
                   RETURNING api_key_id";
        in_transaction!(self, conn => {
            let key_id: Option<i64> = sqlx::query_scalar(sql)
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(key_id) = key_id {
                append_event!(&mut *conn, event, user_id, key_id)?;
            }
            key_id.is_some()
        })
    }
}
