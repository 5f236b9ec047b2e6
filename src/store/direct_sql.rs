//! The part of sqlx's query API that `insight_tx` and `digest` use, over rusqlite: their SQL
//! stays written once for both backends, while SQLite's statements step on the calling thread.
//!
//! sqlx hands every SQLite statement to the connection's own thread and its result back, two
//! wake-ups per statement; in a capture batch of a few hundred short statements those hops were
//! most of the time (docs/BENCHMARKS.md). The futures returned here are ready when made: the
//! statement has already run.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use rusqlite::types::{FromSql, ToSqlOutput, Value};
use rusqlite::{Connection, Row, Statement, ToSql};

use super::StoreResult;
use super::digest::Prompt;
use crate::ids::{ChannelId, TeamId, UserId};

/// A statement with its bound values, like `sqlx::query`.
pub(super) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Args::default(),
    }
}

/// A statement whose rows decode into `T`, like `sqlx::query_as`.
pub(super) fn query_as<T: FromDirectRow>(sql: &str) -> QueryAs<'_, T> {
    QueryAs {
        query: query(sql),
        row: PhantomData,
    }
}

/// Bound values, converted to owned SQLite values as they are bound; a value that cannot be
/// converted fails the statement when it runs.
#[derive(Default)]
struct Args {
    values: Vec<Value>,
    error: Option<rusqlite::Error>,
}

// Ids bind as their text, as sqlx binds them (`#[sqlx(transparent)]`).
impl ToSql for TeamId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

impl ToSql for ChannelId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

impl ToSql for UserId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

impl Args {
    fn push<V: ToSql>(&mut self, value: V) {
        match value.to_sql() {
            Ok(ToSqlOutput::Borrowed(borrowed)) => self.values.push(borrowed.into()),
            Ok(ToSqlOutput::Owned(owned)) => self.values.push(owned),
            Ok(_) => {
                self.error.get_or_insert(rusqlite::Error::ToSqlConversionFailure(
                    "unsupported bound value".into(),
                ));
            }
            Err(err) => {
                self.error.get_or_insert(err);
            }
        }
    }
}

pub(super) struct Query<'q> {
    sql: &'q str,
    args: Args,
}

impl Query<'_> {
    pub(super) fn bind<V: ToSql>(mut self, value: V) -> Self {
        self.args.push(value);
        self
    }

    pub(super) fn execute(self, connection: &Connection) -> Ready<StoreResult<Done>> {
        ready(self.run(connection))
    }

    fn run(self, connection: &Connection) -> StoreResult<Done> {
        let mut statement = self.prepare(connection)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
        Ok(Done(connection.changes()))
    }

    fn prepare(self, connection: &Connection) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        if let Some(err) = self.args.error {
            return Err(err);
        }
        let mut statement = connection.prepare_cached(self.sql)?;
        bind_all(&mut statement, &self.args.values)?;
        Ok(statement)
    }
}

/// Binds `values` to a statement's parameters. `$n` (the SQL shared with PostgreSQL) takes the
/// n-th value: SQLite numbers such named parameters by first appearance, which is not always n.
/// A bare `?` takes the value at its own position.
fn bind_all(statement: &mut Statement<'_>, values: &[Value]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let position = match statement.parameter_name(index) {
            Some(name) => name[1..]
                .parse::<usize>()
                .map_err(|_| rusqlite::Error::InvalidParameterName(name.to_owned()))?,
            None => index,
        };
        let value = values
            .get(position.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(position, values.len()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// What a statement changed.
pub(super) struct Done(u64);

impl Done {
    pub(super) fn rows_affected(&self) -> u64 {
        self.0
    }
}

pub(super) struct QueryAs<'q, T> {
    query: Query<'q>,
    row: PhantomData<fn() -> T>,
}

impl<T: FromDirectRow> QueryAs<'_, T> {
    pub(super) fn bind<V: ToSql>(mut self, value: V) -> Self {
        self.query.args.push(value);
        self
    }

    /// The first row; SQLite makes all of a statement's changes in its first step, so a
    /// `RETURNING` statement is complete even when later rows are not read.
    pub(super) fn fetch_optional(self, connection: &Connection) -> Ready<StoreResult<Option<T>>> {
        ready(self.first(connection))
    }

    pub(super) fn fetch_one(self, connection: &Connection) -> Ready<StoreResult<T>> {
        ready(
            self.first(connection)
                .and_then(|row| row.ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())),
        )
    }

    pub(super) fn fetch_all(self, connection: &Connection) -> Ready<StoreResult<Vec<T>>> {
        ready(self.all(connection))
    }

    fn first(self, connection: &Connection) -> StoreResult<Option<T>> {
        let mut statement = self.query.prepare(connection)?;
        let mut rows = statement.raw_query();
        Ok(rows.next()?.map(T::from_row).transpose()?)
    }

    fn all(self, connection: &Connection) -> StoreResult<Vec<T>> {
        let mut statement = self.query.prepare(connection)?;
        let mut rows = statement.raw_query();
        let mut decoded = Vec::new();
        while let Some(row) = rows.next()? {
            decoded.push(T::from_row(row)?);
        }
        Ok(decoded)
    }
}

/// A row decoded into a value, as `sqlx::FromRow` does for the sqlx backends.
pub(super) trait FromDirectRow: Sized {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

macro_rules! tuple_rows {
    ($($column:ident $index:tt),+) => {
        impl<$($column: FromSql),+> FromDirectRow for ($($column,)+) {
            fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get::<_, $column>($index)?,)+))
            }
        }
    };
}

tuple_rows!(A 0);
tuple_rows!(A 0, B 1);
tuple_rows!(A 0, B 1, C 2);
tuple_rows!(A 0, B 1, C 2, D 3);
tuple_rows!(A 0, B 1, C 2, D 3, E 4);
tuple_rows!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_rows!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

/// Rows decoded field by field from the columns of the same names, as `sqlx::FromRow` does.
macro_rules! rows_by_column_name {
    ($($type:ty { $($field:ident),+ })+) => {
        $(
            impl FromDirectRow for $type {
                fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
                    Ok(Self { $($field: row.get(stringify!($field))?),+ })
                }
            }
        )+
    };
}

rows_by_column_name! {
    Prompt { number, question, created_by, created_at, posted_period }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER)")
            .unwrap();
        connection
    }

    fn now<T>(future: Ready<T>) -> T {
        future.into_inner()
    }

    #[test]
    fn numbered_parameters_take_their_own_values_in_any_order() {
        let connection = connection();
        now(query("INSERT INTO t (c, b, a) VALUES ($3, $2, $1)")
            .bind(7_i64)
            .bind("seven")
            .bind(70_i64)
            .execute(&connection))
        .unwrap();
        let row: (i64, String, i64) = now(query_as("SELECT a, b, c FROM t WHERE b = $2 AND a = $1")
            .bind(7_i64)
            .bind("seven")
            .fetch_one(&connection))
        .unwrap();
        assert_eq!(row, (7, "seven".to_owned(), 70));
    }

    #[test]
    fn fetch_one_without_a_row_and_a_missing_value_are_errors() {
        let connection = connection();
        let none: StoreResult<(i64,)> = now(query_as("SELECT a FROM t").fetch_one(&connection));
        assert!(none.is_err());
        let short = now(query("INSERT INTO t (a, b) VALUES ($1, $2)")
            .bind(1_i64)
            .execute(&connection));
        assert!(short.is_err());
        let optional: Option<(i64,)> = now(query_as("SELECT a FROM t").fetch_optional(&connection)).unwrap();
        assert_eq!(optional, None);
    }
}
