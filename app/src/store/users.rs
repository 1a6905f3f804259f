use chrono::{DateTime, Utc};

use super::audit::{NewAuditEvent, append_event, in_transaction};
use super::{Store, on_pool, on_writer};

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
    ) -> Result<UserRow, sqlx::Error> {
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

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await)
    }

    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)
    }

    pub async fn set_user_active(&self, email: &str, active: bool) -> Result<bool, sqlx::Error> {
        let sql = "UPDATE users SET is_active = $1 WHERE email = $2";
        on_writer!(self, pool => sqlx::query(sql)
            .bind(active)
            .bind(email)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))
    }
}
