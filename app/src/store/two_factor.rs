use chrono::{DateTime, Utc};

use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::{Store, StoreError, on_pool, on_writer};

/// An account's TOTP secret, set up and perhaps confirmed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TwoFactorRow {
    pub user_id: i64,
    pub encrypted_secret: String,
    pub encryption_key_id: String,
    pub created_at: DateTime<Utc>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
}

impl TwoFactorRow {
    /// Whether a first code confirmed it, so it is in force.
    pub fn is_on(&self) -> bool {
        self.enabled_at.is_some()
    }
}

/// A sign-in awaiting its second factor.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChallengeRow {
    pub user_id: i64,
    pub session_kind: String,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "user_id, encrypted_secret, encryption_key_id, created_at, enabled_at, last_used_step";

impl Store {
    pub async fn two_factor_of(&self, user_id: i64) -> Result<Option<TwoFactorRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM two_factor WHERE user_id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(user_id).fetch_optional(pool).await)?)
    }

    /// Stores a new, unconfirmed secret for the account, replacing an earlier unconfirmed one.
    /// `false` if the account's second factor is already on.
    pub async fn set_up_two_factor(
        &self,
        user_id: i64,
        encrypted_secret: &str,
        encryption_key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO two_factor (user_id, encrypted_secret, encryption_key_id, \
                   created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
                   encrypted_secret = excluded.encrypted_secret, \
                   encryption_key_id = excluded.encryption_key_id, \
                   created_at = excluded.created_at, last_used_step = NULL \
                   WHERE two_factor.enabled_at IS NULL";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .bind(encrypted_secret)
            .bind(encryption_key_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    /// Turns the factor on with the step of its first code and the recovery codes' hashes, and
    /// records it, together. `false` if it was not waiting to be confirmed.
    pub async fn enable_two_factor(
        &self,
        user_id: i64,
        step: i64,
        recovery_code_hashes: &[String],
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, conn => {
            let enabled = sqlx::query(
                "UPDATE two_factor SET enabled_at = $2, last_used_step = $3 \
                 WHERE user_id = $1 AND enabled_at IS NULL",
            )
            .bind(user_id)
            .bind(event.at)
            .bind(step)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if enabled {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                for hash in recovery_code_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(user_id)
                        .bind(hash)
                        .execute(&mut *conn)
                        .await?;
                }
                append_event!(&mut *conn, event, user_id, None::<i64>)?;
            }
            enabled
        })
    }

    /// Removes the factor and its recovery codes, and records it; `false` if there was none.
    pub async fn disable_two_factor(
        &self,
        user_id: i64,
        event: &NewAuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, conn => {
            let removed = sqlx::query(
                "DELETE FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if removed {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                append_event!(&mut *conn, event, user_id, None::<i64>)?;
            }
            removed
        })
    }

    /// Accepts a code of `step` if no code of this or a later step was accepted before: one
    /// statement, so the same code sent twice at once is accepted once.
    pub async fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE two_factor SET last_used_step = $2 WHERE user_id = $1 \
                   AND enabled_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    /// Uses up a recovery code; `false` if it is unknown or used.
    pub async fn use_recovery_code(
        &self,
        user_id: i64,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE recovery_codes SET used_at = $3 \
                   WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .bind(code_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await)?)
    }

    pub async fn insert_sign_in_challenge(
        &self,
        challenge_hash: &str,
        challenge: &ChallengeRow,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO sign_in_challenges (challenge_hash, user_id, session_kind, \
                   expires_at) VALUES ($1, $2, $3, $4)";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(challenge_hash)
            .bind(challenge.user_id)
            .bind(&challenge.session_kind)
            .bind(challenge.expires_at)
            .execute(pool)
            .await
            .map(|_| ()))?)
    }

    /// The challenge, while it has not expired.
    pub async fn sign_in_challenge(
        &self,
        challenge_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = "SELECT user_id, session_kind, expires_at FROM sign_in_challenges \
                   WHERE challenge_hash = $1 AND expires_at > $2";
        Ok(on_pool!(self, pool => sqlx::query_as(sql)
            .bind(challenge_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?)
    }

    /// Ends a live challenge; `false` if it was already gone or expired, so two answers to
    /// one challenge open one session.
    pub async fn end_sign_in_challenge(
        &self,
        challenge_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM sign_in_challenges WHERE challenge_hash = $1 AND expires_at > $2";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(challenge_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))?)
    }

    /// Records that the session proved a second-factor code at `at`.
    pub async fn mark_stepped_up(
        &self,
        session_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET stepped_up_at = $2 WHERE id = $1";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(session_id)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ()))?)
    }
}
