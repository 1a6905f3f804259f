use chrono::{DateTime, Utc};

use super::{Store, on_pool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub api_key_masked: String,
    pub label: Option<String>,
    pub is_valid: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_validated_at: Option<DateTime<Utc>>,
    pub key_type: String,
    pub environment: String,
    /// `Permissions` as JSON.
    pub permissions: String,
    pub trading_expires_at: Option<DateTime<Utc>>,
    /// How many bot configs use the key.
    pub bot_config_count: i64,
}

/// A key pair Binance accepted, encrypted and ready to be written.
pub struct SealedKey {
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub api_key_masked: String,
    pub key_type: &'static str,
    pub environment: &'static str,
    pub validation: Validation,
}

/// What the last check with Binance found.
pub struct Validation {
    pub is_valid: bool,
    /// `Permissions` as JSON.
    pub permissions: String,
    pub trading_expires_at: Option<DateTime<Utc>>,
}

/// When a key is due for a check with Binance.
pub struct DueForValidation {
    pub checked_before: DateTime<Utc>,
    pub expiring_before: DateTime<Utc>,
    pub expiry_checked_before: DateTime<Utc>,
}

const DUE: &str = "(last_validated_at IS NULL OR last_validated_at < $1 \
                   OR (trading_expires_at < $2 AND last_validated_at < $3))";

/// Binds `$1`..`$11` as the insert and the replace both number them.
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
            .bind($key.key_type)
            .bind($key.environment)
            .bind(&$key.validation.permissions)
            .bind($key.validation.trading_expires_at)
    };
}

const COLUMNS: &str = "id, user_id, encrypted_api_key, encrypted_secret_key, api_key_masked, \
                       label, is_valid, created_at, updated_at, last_validated_at, key_type, \
                       environment, permissions, trading_expires_at, \
                       (SELECT COUNT(*) FROM bot_configs b WHERE b.api_key_id = api_keys.id) \
                       AS bot_config_count";

impl Store {
    /// Fails with a unique violation when the user already has a key.
    pub async fn insert_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        key: &SealedKey,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRow, sqlx::Error> {
        let sql = format!(
            "INSERT INTO api_keys (user_id, encrypted_api_key, encrypted_secret_key, \
             api_key_masked, label, is_valid, created_at, updated_at, last_validated_at, \
             key_type, environment, permissions, trading_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
        );
        on_pool!(self, pool => bind_sealed_key!(sqlx::query_as(&sql), user_id, label, key, now)
            .fetch_one(pool)
            .await)
    }

    /// Swaps the user's pair for another in one statement: same row id, so every bot config
    /// stays attached. A `None` label keeps the current one. `None` if the user has no key.
    pub async fn replace_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        key: &SealedKey,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        let sql = format!(
            "UPDATE api_keys SET encrypted_api_key = $2, encrypted_secret_key = $3, \
             api_key_masked = $4, label = COALESCE($5, label), is_valid = $6, updated_at = $7, \
             last_validated_at = $7, key_type = $8, environment = $9, permissions = $10, \
             trading_expires_at = $11 WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        on_pool!(self, pool => bind_sealed_key!(sqlx::query_as(&sql), user_id, label, key, now)
            .fetch_optional(pool)
            .await)
    }

    /// `None` if the user has no key.
    pub async fn rename_api_key(
        &self,
        user_id: i64,
        label: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        let sql = format!(
            "UPDATE api_keys SET label = $2, updated_at = $3 WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(user_id)
            .bind(label)
            .bind(now)
            .fetch_optional(pool)
            .await)
    }

    pub async fn find_api_key_of_user(
        &self,
        user_id: i64,
    ) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_optional(pool).await)
    }

    /// Records what Binance said of the key just now; `None` if the key is gone.
    pub async fn record_validation(
        &self,
        user_id: i64,
        validation: &Validation,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        let sql = format!(
            "UPDATE api_keys SET is_valid = $2, permissions = $3, trading_expires_at = $4, \
             last_validated_at = $5 WHERE user_id = $1 RETURNING {COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(user_id)
            .bind(validation.is_valid)
            .bind(&validation.permissions)
            .bind(validation.trading_expires_at)
            .bind(now)
            .fetch_optional(pool)
            .await)
    }

    /// The users whose key is due for a check: last checked before `checked_before`, or
    /// losing trading before `expiring_before` and not checked since `expiry_checked_before`.
    pub async fn keys_due_for_validation(
        &self,
        due: &DueForValidation,
        limit: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let sql =
            format!("SELECT user_id FROM api_keys WHERE {DUE} ORDER BY last_validated_at LIMIT $4");
        on_pool!(self, pool => sqlx::query_scalar(&sql)
            .bind(due.checked_before)
            .bind(due.expiring_before)
            .bind(due.expiry_checked_before)
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// Takes the next check of one user's key: of several instances racing for it, exactly one
    /// gets `true`, because the update leaves the key no longer due.
    pub async fn claim_validation(
        &self,
        user_id: i64,
        due: &DueForValidation,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let sql =
            format!("UPDATE api_keys SET last_validated_at = $5 WHERE user_id = $4 AND {DUE}");
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(due.checked_before)
            .bind(due.expiring_before)
            .bind(due.expiry_checked_before)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))
    }

    /// Deletes the user's key; its bot configs go with it (ON DELETE CASCADE).
    pub async fn delete_api_key_of_user(&self, user_id: i64) -> Result<bool, sqlx::Error> {
        let sql = "DELETE FROM api_keys WHERE user_id = $1";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
    }
}
