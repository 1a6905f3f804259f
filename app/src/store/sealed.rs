//! The secrets sealed beside the API keys, one per row of their table: re-encrypted under the
//! primary Fernet key by `keywarden rotate-keys` alike.

use super::{Store, StoreError, on_pool, on_writer};
use crate::vault::Field;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedSecrets {
    /// Webhooks' signing secrets.
    Webhook,
    /// Accounts' TOTP secrets.
    Totp,
}

impl SealedSecrets {
    /// The table, and its column that names a row.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            SealedSecrets::Webhook => ("webhooks", "id"),
            SealedSecrets::Totp => ("two_factor", "user_id"),
        }
    }

    pub fn field(self) -> Field {
        match self {
            SealedSecrets::Webhook => Field::WebhookSecret,
            SealedSecrets::Totp => Field::TotpSecret,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SealedSecrets::Webhook => "webhook secrets",
            SealedSecrets::Totp => "second-factor secrets",
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SealedSecretRow {
    pub id: i64,
    pub user_id: i64,
    pub encrypted_secret: String,
    pub encryption_key_id: String,
}

impl Store {
    /// Up to `limit` secrets of `kind` not under `key_id`, by row, after `after_id`.
    pub async fn sealed_not_under(
        &self,
        kind: SealedSecrets,
        key_id: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SealedSecretRow>, StoreError> {
        let (table, id) = kind.table();
        let sql = format!(
            "SELECT {id} AS id, user_id, encrypted_secret, encryption_key_id FROM {table} \
             WHERE encryption_key_id <> $1 AND {id} > $2 ORDER BY {id} LIMIT $3"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(key_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Replaces a secret's ciphertext if it is still `before`.
    pub async fn reseal(
        &self,
        kind: SealedSecrets,
        id: i64,
        before: &str,
        encrypted_secret: &str,
        encryption_key_id: &str,
    ) -> Result<bool, StoreError> {
        let (table, id_column) = kind.table();
        let sql = format!(
            "UPDATE {table} SET encrypted_secret = $3, encryption_key_id = $4 \
             WHERE {id_column} = $1 AND encrypted_secret = $2"
        );
        Ok(on_writer!(self, pool => sqlx::query(&sql)
            .bind(id)
            .bind(before)
            .bind(encrypted_secret)
            .bind(encryption_key_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }
}
