use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::api_keys::{ApiKeyRow, JOINED_COLUMNS};
use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::rows::{Columns, FromColumns, Prefixed, from_columns_for_sqlx, parsed};
use super::{Store, StoreError, on_pool, on_writer};
use crate::model::SessionKind;

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub kind: SessionKind,
    /// SHA-256 (hex) of a browser session cookie's secret.
    pub secret_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the session last proved a second-factor code.
    pub stepped_up_at: Option<DateTime<Utc>>,
}

impl FromColumns for SessionRow {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        Ok(SessionRow {
            id: row.text("id")?,
            user_id: row.int("user_id")?,
            kind: parsed(row, "kind", SessionKind::parse)?,
            secret_hash: row.optional_text("secret_hash")?,
            created_at: row.time("created_at")?,
            last_seen_at: row.time("last_seen_at")?,
            expires_at: row.time("expires_at")?,
            revoked_at: row.optional_time("revoked_at")?,
            ip: row.optional_text("ip")?,
            user_agent: row.optional_text("user_agent")?,
            stepped_up_at: row.optional_time("stepped_up_at")?,
        })
    }
}
from_columns_for_sqlx!(SessionRow);

/// A session with the state of its user and the user's key, as each authenticated request
/// needs them: read in one statement.
#[derive(Clone, Debug)]
pub struct SessionOfUser {
    pub session: SessionRow,
    pub user_is_active: bool,
    /// The user's second factor is on.
    pub two_factor_on: bool,
    pub key: Option<ApiKeyRow>,
}

impl FromColumns for SessionOfUser {
    fn from_columns<C: Columns>(row: &mut C) -> Result<Self, C::Error> {
        let session = SessionRow::from_columns(row)?;
        let user_is_active = row.flag("user_is_active")?;
        let two_factor_on = row.flag("two_factor_on")?;
        let key = match row.optional_int("key_id")? {
            Some(_) => Some(ApiKeyRow::from_columns(&mut Prefixed::new(row, "key_"))?),
            None => None,
        };
        Ok(SessionOfUser {
            session,
            user_is_active,
            two_factor_on,
            key,
        })
    }
}
from_columns_for_sqlx!(SessionOfUser);

/// A session about to be opened.
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub kind: SessionKind,
    pub secret_hash: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    /// The first refresh token's hash, for an API session.
    pub refresh_token_hash: Option<&'a str>,
    /// Set when the sign-in proved a second-factor code.
    pub stepped_up_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Unused until now: it is used up, and the new token stored, for this session.
    Rotated {
        session_id: String,
    },
    /// Used before: someone replays it. Nothing was rotated.
    Reused {
        session_id: String,
    },
    Unknown,
}

const COLUMNS: &str = "s.id, s.user_id, s.kind, s.secret_hash, s.created_at, s.last_seen_at, \
                       s.expires_at, s.revoked_at, s.ip, s.user_agent, s.stepped_up_at";

/// `SessionOfUser`'s statement, without its WHERE clause.
pub(super) fn session_of_user_select() -> String {
    format!(
        "SELECT {COLUMNS}, u.is_active AS user_is_active, \
         (t.enabled_at IS NOT NULL) AS two_factor_on, {JOINED_COLUMNS} FROM sessions s \
         JOIN users u ON u.id = s.user_id LEFT JOIN api_keys k ON k.user_id = s.user_id \
         LEFT JOIN two_factor t ON t.user_id = s.user_id"
    )
}

impl Store {
    /// Opens a session (with its first refresh token) and records the sign-in, together.
    pub async fn insert_session(
        &self,
        session: &NewSession<'_>,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_transaction!(self, conn => {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kind, secret_hash, created_at, last_seen_at, \
                 expires_at, ip, user_agent, stepped_up_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
            )
            .bind(session.id)
            .bind(session.user_id)
            .bind(session.kind.as_str())
            .bind(session.secret_hash)
            .bind(event.at)
            .bind(session.expires_at)
            .bind(event.ip)
            .bind(event.user_agent)
            .bind(session.stepped_up_at)
            .execute(&mut *conn)
            .await?;
            if let Some(hash) = session.refresh_token_hash {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(hash)
                .bind(session.id)
                .bind(event.at)
                .execute(&mut *conn)
                .await?;
            }
            append_event!(&mut *conn, event, session.user_id, None::<i64>)?;
        })
    }

    pub async fn find_session_of_user(
        &self,
        session_id: &str,
    ) -> Result<Option<SessionOfUser>, StoreError> {
        if let Some(shared) = &self.shared_session_reads {
            return shared.find(session_id).await;
        }
        static ONE_SESSION: LazyLock<String> =
            LazyLock::new(|| format!("{} WHERE s.id = $1", session_of_user_select()));
        let sql = ONE_SESSION.as_str();
        if let Some(direct) = self.sqlite_direct() {
            return direct.query_row(sql, [session_id]);
        }
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(session_id).fetch_optional(pool).await)?)
    }

    pub async fn touch_session(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1";
        Ok(on_writer!(self, pool => sqlx::query(sql)
            .bind(session_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?)
    }

    /// The user's sessions that are neither revoked nor past `expires_at`, newest first.
    pub async fn live_sessions_of_user(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL \
             AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes the user's sessions: the one named, or all but `except` when `session_id` is
    /// `None`. Records `event` when any was revoked. Returns how many.
    pub async fn revoke_sessions(
        &self,
        user_id: i64,
        session_id: Option<&str>,
        except: Option<&str>,
        event: &NewAuditEvent<'_>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 \
                   AND revoked_at IS NULL AND ($3 IS NULL OR id = $3) AND ($4 IS NULL OR id <> $4)";
        in_transaction!(self, conn => {
            let revoked = sqlx::query(sql)
                .bind(user_id)
                .bind(event.at)
                .bind(session_id)
                .bind(except)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if revoked > 0 {
                append_event!(&mut *conn, event, user_id, None::<i64>)?;
            }
            revoked
        })
    }

    /// Uses up a refresh token and stores its successor, or reports a replay. Of two requests
    /// racing with one token, one rotates and the other sees a reuse.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        in_transaction!(self, conn => {
            let session_id: Option<String> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                 RETURNING session_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            match session_id {
                Some(session_id) => {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(next_hash)
                    .bind(&session_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    RefreshOutcome::Rotated { session_id }
                }
                None => {
                    let used: Option<String> = sqlx::query_scalar(
                        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(&mut *conn)
                    .await?;
                    match used {
                        Some(session_id) => RefreshOutcome::Reused { session_id },
                        None => RefreshOutcome::Unknown,
                    }
                }
            }
        })
    }

    /// Sets a new password hash and revokes every other session, recording the change.
    pub async fn change_password(
        &self,
        user_id: i64,
        hashed_password: &str,
        keep_session: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<(), StoreError> {
        in_transaction!(self, conn => {
            sqlx::query("UPDATE users SET hashed_password = $2 WHERE id = $1")
                .bind(user_id)
                .bind(hashed_password)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND id <> $3 \
                 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(event.at)
            .bind(keep_session)
            .execute(&mut *conn)
            .await?;
            append_event!(&mut *conn, event, user_id, None::<i64>)?;
        })
    }

    /// Deletes what can no longer be used: sessions past their end or revoked (with their
    /// refresh tokens), expired sign-in challenges, and limit counters whose window closed
    /// before `counters_before`. Returns how many rows went.
    pub async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        counters_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let statements = [
            (
                "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions \
              WHERE expires_at <= $1 OR revoked_at IS NOT NULL)",
                now,
            ),
            (
                "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL",
                now,
            ),
            ("DELETE FROM sign_in_challenges WHERE expires_at <= $1", now),
            (
                "DELETE FROM attempt_counters WHERE window_start < $1",
                counters_before,
            ),
        ];
        let mut purged = 0;
        for (sql, at) in statements {
            purged += on_writer!(self, pool => sqlx::query(sql)
                .bind(at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
        }
        Ok(purged)
    }
}
