use chrono::{DateTime, Utc};

use super::alerts::{NewAlert, raise_alert};
use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::rows::{Columns, FromColumns, from_columns_for_sqlx, parsed};
use super::{Store, StoreError, on_pool, on_writer};
use crate::model::{Environment, KeyType, Permissions};

#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    /// The Fernet key both ciphertexts were made with; `None` for the seed's bare tokens.
    pub encryption_key_id: Option<String>,
    /// Drawn afresh at every write of the pair and sealed into both halves; 0 before versions.
    pub version: i64,
    pub api_key_masked: String,
    pub label: Option<String>,
    pub is_valid: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_validated_at: Option<DateTime<Utc>>,
    pub key_type: KeyType,
    pub environment: Environment,
    pub permissions: Permissions,
    pub trading_expires_at: Option<DateTime<Utc>>,
    /// How many bot configs use the key.
    pub bot_config_count: i64,
}

impl ApiKeyRow {
    pub fn ciphertexts(&self) -> StoredCiphertexts {
        StoredCiphertexts {
            id: self.id,
            user_id: self.user_id,
            encrypted_api_key: self.encrypted_api_key.clone(),
            encrypted_secret_key: self.encrypted_secret_key.clone(),
            encryption_key_id: self.encryption_key_id.clone(),
            version: self.version,
        }
    }
}

impl FromColumns for ApiKeyRow {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(ApiKeyRow {
            id: row.int("id")?,
            user_id: row.int("user_id")?,
            encrypted_api_key: row.text("encrypted_api_key")?,
            encrypted_secret_key: row.text("encrypted_secret_key")?,
            encryption_key_id: row.optional_text("encryption_key_id")?,
            version: row.int("version")?,
            api_key_masked: row.text("api_key_masked")?,
            label: row.optional_text("label")?,
            is_valid: row.flag("is_valid")?,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
            last_validated_at: row.optional_time("last_validated_at")?,
            key_type: parsed(row, "key_type", KeyType::parse)?,
            environment: parsed(row, "environment", Environment::parse)?,
            permissions: parsed(row, "permissions", |json| serde_json::from_str(json).ok())?,
            trading_expires_at: row.optional_time("trading_expires_at")?,
            bot_config_count: row.int("bot_config_count")?,
        })
    }
}
from_columns_for_sqlx!(ApiKeyRow);

fn permissions_json(permissions: &Permissions) -> String {
    serde_json::to_string(permissions).expect("permissions serialize")
}

/// A key pair Binance accepted, encrypted and ready to be written.
pub struct SealedKey {
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub encryption_key_id: String,
    /// The row version both halves were sealed for.
    pub version: i64,
    pub api_key_masked: String,
    pub key_type: KeyType,
    pub environment: Environment,
    pub validation: Validation,
}

/// A row's ciphertexts as stored: what a Binance call decrypts, and what rotation re-encrypts.
#[derive(Clone, Debug)]
pub struct StoredCiphertexts {
    pub id: i64,
    pub user_id: i64,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub encryption_key_id: Option<String>,
    pub version: i64,
}

impl FromColumns for StoredCiphertexts {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(StoredCiphertexts {
            id: row.int("id")?,
            user_id: row.int("user_id")?,
            encrypted_api_key: row.text("encrypted_api_key")?,
            encrypted_secret_key: row.text("encrypted_secret_key")?,
            encryption_key_id: row.optional_text("encryption_key_id")?,
            version: row.int("version")?,
        })
    }
}
from_columns_for_sqlx!(StoredCiphertexts);

/// A row's ciphertexts re-made under another key, for a new row version.
pub struct Reencrypted {
    pub before: StoredCiphertexts,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub encryption_key_id: String,
    pub version: i64,
}

/// What the last check with Binance found.
pub struct Validation {
    pub is_valid: bool,
    pub permissions: Permissions,
    pub trading_expires_at: Option<DateTime<Utc>>,
}

/// What a check's result sets off: alerts to raise and, if the key became dangerous, a pause
/// of every bot (with Keywarden's reason).
#[derive(Debug, Default)]
pub struct KeyConsequences {
    pub alerts: Vec<NewAlert>,
    pub pause_bots: Option<&'static str>,
}

/// When a key is due for a check with Binance.
pub struct DueForValidation {
    pub checked_before: DateTime<Utc>,
    pub expiring_before: DateTime<Utc>,
    pub expiry_checked_before: DateTime<Utc>,
}

/// A key not under the Fernet key `$1`, or written before row versions.
const NOT_UNDER: &str = "encryption_key_id IS NULL OR encryption_key_id <> $1 OR version = 0";

const DUE: &str = "(last_validated_at IS NULL OR last_validated_at < $1 \
                   OR (trading_expires_at < $2 AND last_validated_at < $3))";

/// Binds `$1`..`$13` as the insert and the replace both number them.
macro_rules! bind_sealed_key {
    ($query:expr, $user_id:expr, $label:expr, $key:expr, $now:expr) => {
        $query
            .bind($user_id)
            .bind(&$key.encrypted_api_key)
            .bind(&$key.encrypted_secret_key)
            .bind(&$key.api_key_masked)
            .bind($label)
            .bind($key.validation.is_valid)
            .bind($now)
            .bind($key.key_type.as_str())
            .bind($key.environment.as_str())
            .bind(permissions_json(&$key.validation.permissions))
            .bind($key.validation.trading_expires_at)
            .bind(&$key.encryption_key_id)
            .bind($key.version)
    };
}

/// Runs `$query` (an UPDATE of the user's key RETURNING its row; written out here so each
/// backend builds its own) and, if it found the key, records `$event` for it, in one
/// transaction.
macro_rules! update_key_recorded {
    ($store:expr, $query:expr, $user_id:expr, $event:expr) => {
        in_transaction!($store, conn => {
            let row: Option<ApiKeyRow> = $query.fetch_optional(&mut *conn).await?;
            if let Some(row) = &row {
                append_event!(&mut *conn, $event, $user_id, row.id)?;
            }
            row
        })
    };
}

/// A key row's columns, and the same of a key `k` joined to another table's row, each named
/// `key_<column>` (read back with `Prefixed`).
macro_rules! key_columns {
    ($($column:literal),*) => {
        const COLUMNS: &str = concat!($($column, ", ",)* "bot_config_count");
        pub(super) const JOINED_COLUMNS: &str = concat!($("k.", $column, " AS key_", $column, ", ",)*
            "k.bot_config_count AS key_bot_config_count");
    };
}
key_columns!(
    "id",
    "user_id",
    "encrypted_api_key",
    "encrypted_secret_key",
    "encryption_key_id",
    "version",
    "api_key_masked",
    "label",
    "is_valid",
    "created_at",
    "updated_at",
    "last_validated_at",
    "key_type",
    "environment",
    "permissions",
    "trading_expires_at"
);

impl Store {
    /// Stores the user's key and the event that records it. Fails with a unique violation
    /// when the user already has a key.
    pub async fn insert_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        key: &SealedKey,
        event: &NewAuditEvent<'_>,
    ) -> Result<ApiKeyRow, StoreError> {
        let sql = format!(
            "INSERT INTO api_keys (user_id, encrypted_api_key, encrypted_secret_key, \
             api_key_masked, label, is_valid, created_at, updated_at, last_validated_at, \
             key_type, environment, permissions, trading_expires_at, encryption_key_id, \
             version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING {COLUMNS}"
        );
        in_transaction!(self, conn => {
            let row: ApiKeyRow =
                bind_sealed_key!(sqlx::query_as(&sql), user_id, label, key, event.at)
                    .fetch_one(&mut *conn)
                    .await?;
            append_event!(&mut *conn, event, user_id, row.id)?;
            row
        })
    }

    /// Swaps the user's pair for another in one statement: same row id, so every bot config
    /// stays attached. A `None` label keeps the current one. `None` if the user has no key.
    pub async fn replace_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        key: &SealedKey,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!(
            "UPDATE api_keys SET encrypted_api_key = $2, encrypted_secret_key = $3, \
             api_key_masked = $4, label = COALESCE($5, label), is_valid = $6, updated_at = $7, \
             last_validated_at = $7, key_type = $8, environment = $9, permissions = $10, \
             trading_expires_at = $11, encryption_key_id = $12, version = $13 \
             WHERE user_id = $1 \
             RETURNING {COLUMNS}"
        );
        update_key_recorded!(
            self,
            bind_sealed_key!(sqlx::query_as(&sql), user_id, label, key, event.at),
            user_id,
            event
        )
    }

    /// `None` if the user has no key.
    pub async fn rename_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!(
            "UPDATE api_keys SET label = $2, updated_at = $3 WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        update_key_recorded!(
            self,
            sqlx::query_as(&sql)
                .bind(user_id)
                .bind(label)
                .bind(event.at),
            user_id,
            event
        )
    }

    pub async fn find_api_key_of_user(
        &self,
        user_id: i64,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1");
        if let Some(direct) = self.sqlite_direct() {
            return direct.query_row(&sql, [user_id]);
        }
        if let Some(kept) = self.kept_connections() {
            return kept
                .fetch_optional(sqlx::query_as(&sql).bind(user_id))
                .await;
        }
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_optional(pool).await)?)
    }

    /// Records what Binance said of the key just now; `None` if the key is gone.
    ///
    /// `consequences` sees the key before and after, in the same transaction (the row is
    /// locked, so two checks at once see each other's result): the alerts it raises and the
    /// pause it asks for land with the check or not at all.
    pub async fn record_validation(
        &self,
        user_id: i64,
        validation: &Validation,
        event: &NewAuditEvent<'_>,
        consequences: impl FnOnce(&ApiKeyRow, &ApiKeyRow) -> KeyConsequences,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        // A write that changes nothing: it takes the row's lock and answers the row as it was.
        let lock = format!(
            "UPDATE api_keys SET is_valid = is_valid WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        let update = format!(
            "UPDATE api_keys SET is_valid = $2, permissions = $3, trading_expires_at = $4, \
             last_validated_at = $5 WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        in_transaction!(self, conn => {
            let before: Option<ApiKeyRow> = sqlx::query_as(&lock)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            match before {
                None => None,
                Some(before) => {
                    let after: ApiKeyRow = sqlx::query_as(&update)
                        .bind(user_id)
                        .bind(validation.is_valid)
                        .bind(permissions_json(&validation.permissions))
                        .bind(validation.trading_expires_at)
                        .bind(event.at)
                        .fetch_one(&mut *conn)
                        .await?;
                    append_event!(&mut *conn, event, user_id, after.id)?;
                    let follow = consequences(&before, &after);
                    if let Some(reason) = follow.pause_bots {
                        sqlx::query(super::bot_configs::PAUSE)
                            .bind(user_id)
                            .bind(event.at)
                            .bind(reason)
                            .execute(&mut *conn)
                            .await?;
                    }
                    for alert in &follow.alerts {
                        raise_alert!(conn, alert, user_id);
                    }
                    Some(after)
                }
            }
        })
    }

    /// The users whose key is due for a check: last checked before `checked_before`, or
    /// losing trading before `expiring_before` and not checked since `expiry_checked_before`.
    pub async fn keys_due_for_validation(
        &self,
        due: &DueForValidation,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        // An inactive account's key is not checked: it cannot be used, and its checks would
        // spend Binance's budget and raise alerts nobody reads.
        let sql = format!(
            "SELECT user_id FROM api_keys WHERE {DUE} \
             AND user_id IN (SELECT id FROM users WHERE is_active) \
             ORDER BY last_validated_at LIMIT $4"
        );
        Ok(on_pool!(self, pool => sqlx::query_scalar(&sql)
            .bind(due.checked_before)
            .bind(due.expiring_before)
            .bind(due.expiry_checked_before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Takes the next check of one user's key: of several instances racing for it, exactly one
    /// gets `true`, because the update leaves the key no longer due.
    pub async fn claim_validation(
        &self,
        user_id: i64,
        due: &DueForValidation,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql =
            format!("UPDATE api_keys SET last_validated_at = $5 WHERE user_id = $4 AND {DUE}");
        Ok(on_writer!(self, pool => sqlx::query(&sql)
            .bind(due.checked_before)
            .bind(due.expiring_before)
            .bind(due.expiry_checked_before)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    /// Deletes the user's key; its bot configs go with it (ON DELETE CASCADE). `false` if the
    /// user had no key.
    pub async fn delete_api_key_of_user(
        &self,
        user_id: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM api_keys WHERE user_id = $1 RETURNING id";
        in_transaction!(self, conn => {
            let deleted: Option<i64> = sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(id) = deleted {
                append_event!(&mut *conn, event, user_id, id)?;
            }
            deleted.is_some()
        })
    }

    /// How many keys are not yet encrypted with `key_id`, or have no row version (the seed's
    /// bare tokens among them).
    pub async fn count_keys_not_under(&self, key_id: &str) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM api_keys WHERE {NOT_UNDER}");
        Ok(on_pool!(self, pool => sqlx::query_scalar(&sql).bind(key_id).fetch_one(pool).await)?)
    }

    /// The next `limit` keys, by id after `after_id`, not encrypted with `key_id` or without a
    /// row version.
    pub async fn keys_not_under(
        &self,
        key_id: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredCiphertexts>, StoreError> {
        let sql = format!(
            "SELECT id, user_id, encrypted_api_key, encrypted_secret_key, encryption_key_id, \
             version FROM api_keys WHERE id > $2 AND ({NOT_UNDER}) ORDER BY id LIMIT $3"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(key_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Writes a batch of re-encrypted rows and one event per row in one transaction. A row
    /// whose ciphertexts changed since they were read (replaced or deleted meanwhile) is left
    /// as the newer write made it. Returns how many rows were rewritten.
    pub async fn write_reencrypted(
        &self,
        batch: &[Reencrypted],
        event: &NewAuditEvent<'_>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE api_keys SET encrypted_api_key = $1, encrypted_secret_key = $2, \
                   encryption_key_id = $3, version = $7 WHERE id = $4 \
                   AND encrypted_api_key = $5 AND encrypted_secret_key = $6";
        in_transaction!(self, conn => {
            let mut written = 0;
            for row in batch {
                let done = sqlx::query(sql)
                    .bind(&row.encrypted_api_key)
                    .bind(&row.encrypted_secret_key)
                    .bind(&row.encryption_key_id)
                    .bind(row.before.id)
                    .bind(&row.before.encrypted_api_key)
                    .bind(&row.before.encrypted_secret_key)
                    .bind(row.version)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 1 {
                    append_event!(&mut *conn, event, row.before.user_id, row.before.id)?;
                    written += 1;
                }
            }
            written
        })
    }
}
