//! The store's own error: what a caller may act on (a constraint refused the write), and
//! everything else, which it can only log.

/// How a query failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (e.g. a second key for one user).
    #[error("a unique constraint refused the write")]
    Unique,
    /// A row named by a foreign key is gone (deleted by a concurrent transaction).
    #[error("a foreign key refused the write")]
    ForeignKey,
    #[error("database: {0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err.as_database_error() {
            Some(e) if e.is_unique_violation() => StoreError::Unique,
            Some(e) if e.is_foreign_key_violation() => StoreError::ForeignKey,
            _ => StoreError::Other(Box::new(err)),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Other(Box::new(err))
    }
}
