//! Rows decoded once, from either road a read takes: sqlx's SQLite and PostgreSQL rows, or a
//! direct SQLite read (`direct`). A row type says how its columns become domain values in
//! `FromColumns`; `from_columns_for_sqlx!` lets `sqlx::query_as` use the same code.

use chrono::{DateTime, Utc};

/// A row's columns, read by name.
pub trait Columns {
    type Error;
    fn int(&mut self, name: &str) -> Result<i64, Self::Error>;
    fn optional_int(&mut self, name: &str) -> Result<Option<i64>, Self::Error>;
    fn flag(&mut self, name: &str) -> Result<bool, Self::Error>;
    fn text(&mut self, name: &str) -> Result<String, Self::Error>;
    fn optional_text(&mut self, name: &str) -> Result<Option<String>, Self::Error>;
    fn time(&mut self, name: &str) -> Result<DateTime<Utc>, Self::Error>;
    fn optional_time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, Self::Error>;
    /// A column whose stored value is not one the domain type allows.
    fn invalid(name: &str, problem: String) -> Self::Error;
}

/// A row type built from its columns.
pub trait FromColumns: Sized {
    fn from_columns<C: Columns>(columns: &mut C) -> Result<Self, C::Error>;
}

/// A text column that must hold a value `parse` accepts.
pub(super) fn parsed<C: Columns, T>(
    row: &mut C,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, C::Error> {
    let text = row.text(name)?;
    parse(&text).ok_or_else(|| C::invalid(name, format!("unexpected value {text:?}")))
}

/// Another row type's columns under a prefix (`key_id` for `id`): how one statement reads two
/// row types whose column names would collide.
pub(super) struct Prefixed<'c, C> {
    columns: &'c mut C,
    prefix: &'static str,
    name: String,
}

impl<'c, C: Columns> Prefixed<'c, C> {
    pub(super) fn new(columns: &'c mut C, prefix: &'static str) -> Self {
        Prefixed {
            columns,
            prefix,
            name: String::with_capacity(32),
        }
    }

    fn read<T>(&mut self, name: &str, get: impl FnOnce(&mut C, &str) -> T) -> T {
        self.name.clear();
        self.name.push_str(self.prefix);
        self.name.push_str(name);
        get(self.columns, &self.name)
    }
}

impl<C: Columns> Columns for Prefixed<'_, C> {
    type Error = C::Error;

    fn int(&mut self, name: &str) -> Result<i64, C::Error> {
        self.read(name, C::int)
    }

    fn optional_int(&mut self, name: &str) -> Result<Option<i64>, C::Error> {
        self.read(name, C::optional_int)
    }

    fn flag(&mut self, name: &str) -> Result<bool, C::Error> {
        self.read(name, C::flag)
    }

    fn text(&mut self, name: &str) -> Result<String, C::Error> {
        self.read(name, C::text)
    }

    fn optional_text(&mut self, name: &str) -> Result<Option<String>, C::Error> {
        self.read(name, C::optional_text)
    }

    fn time(&mut self, name: &str) -> Result<DateTime<Utc>, C::Error> {
        self.read(name, C::time)
    }

    fn optional_time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, C::Error> {
        self.read(name, C::optional_time)
    }

    fn invalid(name: &str, problem: String) -> C::Error {
        C::invalid(name, problem)
    }
}

macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for &$row {
            type Error = sqlx::Error;

            fn int(&mut self, name: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn optional_int(&mut self, name: &str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn flag(&mut self, name: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn text(&mut self, name: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn optional_text(&mut self, name: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn time(&mut self, name: &str) -> Result<DateTime<Utc>, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn optional_time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                sqlx::Row::try_get(*self, name)
            }

            fn invalid(name: &str, problem: String) -> sqlx::Error {
                sqlx::Error::ColumnDecode {
                    index: name.to_owned(),
                    source: problem.into(),
                }
            }
        }
    };
}
sqlx_columns!(sqlx::sqlite::SqliteRow);
sqlx_columns!(sqlx::postgres::PgRow);

/// `sqlx::FromRow` for both backends' rows, through the type's `FromColumns`.
macro_rules! from_columns_for_sqlx {
    ($type:ty) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $type {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                <$type as $crate::store::rows::FromColumns>::from_columns(&mut { row })
            }
        }

        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $type {
            fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                <$type as $crate::store::rows::FromColumns>::from_columns(&mut { row })
            }
        }
    };
}
pub(super) use from_columns_for_sqlx;
