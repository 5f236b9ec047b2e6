//! One way from a store operation to SQL, for both backends.
//!
//! An operation builds a [`Statement`] (SQL text with `$n` parameters, and the typed [`Value`]
//! of each) and hands it to an [`Executor`]: PostgreSQL's through sqlx, SQLite's through its
//! direct rusqlite connection. Rows come back through one [`FromRow`] decoder per model, by
//! column position. Where the two dialects differ, the operation picks the text for
//! [`Executor::dialect`] from a [`PerDialect`] constant, side by side with its twin.

mod executor;
mod postgres;
mod row;
mod sqlite;
mod statement;

pub use executor::Executor;
pub use row::{Column, Columns, FromRow, Lenient, Row};
pub use statement::{Statement, Value};

/// The SQL a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One piece of SQL written for each dialect, where they differ.
#[derive(Debug, Clone, Copy)]
pub struct PerDialect {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl PerDialect {
    pub const fn of(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// `column = ANY(list)` for a list bound as one [`Value::Ints`] or [`Value::Texts`] parameter:
/// an array on PostgreSQL, JSON text read by `json_each` on SQLite. One prepared statement
/// serves any number of values.
pub fn in_list(dialect: Dialect, column: &str, parameter: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("{column} IN (SELECT value FROM json_each({parameter}))"),
        Dialect::Postgres => format!("{column} = ANY({parameter})"),
    }
}
