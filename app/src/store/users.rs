use chrono::{DateTime, Utc};

use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::{Store, StoreError, on_pool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, hashed_password, is_active, created_at";

impl Store {
    pub async fn insert_user(
        &self,
        email: &str,
        hashed_password: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<UserRow, StoreError> {
        let sql = format!(
            "INSERT INTO users (email, hashed_password, is_active, created_at) \
             VALUES ($1, $2, TRUE, $3) RETURNING {COLUMNS}"
        );
        in_transaction!(self, conn => {
            let row: UserRow = sqlx::query_as(&sql)
                .bind(email)
                .bind(hashed_password)
                .bind(event.at)
                .fetch_one(&mut *conn)
                .await?;
            append_event!(&mut *conn, event, row.id, None::<i64>)?;
            row
        })
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await)?)
    }

    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Marks the account with this email inactive and records it, together; `None` if no
    /// account has the email.
    pub async fn deactivate_user(
        &self,
        email: &str,
        event: &NewAuditEvent<'_>,
    ) -> Result<Option<UserRow>, StoreError> {
        let sql =
            format!("UPDATE users SET is_active = FALSE WHERE email = $1 RETURNING {COLUMNS}");
        in_transaction!(self, conn => {
            let row: Option<UserRow> = sqlx::query_as(&sql)
                .bind(email)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = &row {
                append_event!(&mut *conn, event, row.id, None::<i64>)?;
            }
            row
        })
    }
}
