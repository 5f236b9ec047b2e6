//! [`Executor`] for SQLite, over a rusqlite connection. Statements step on the calling thread
//! (no hop to a connection thread, as sqlx's SQLite driver makes twice per statement), so the
//! SQLite backend runs its work on blocking threads, never on the runtime's.

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::{Dialect, Executor, FromRow, Row, Statement, Value};
use crate::store::StoreResult;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match self {
            Value::Int(v) => v.map_or(ValueRef::Null, ValueRef::Integer),
            Value::Text(v) => v
                .as_deref()
                .map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes())),
            Value::Bool(v) => v.map_or(ValueRef::Null, |b| ValueRef::Integer(i64::from(b))),
            Value::Ints(v) => return Ok(ToSqlOutput::from(json_list(v))),
            Value::Texts(v) => return Ok(ToSqlOutput::from(json_list(v))),
        };
        Ok(ToSqlOutput::Borrowed(value))
    }
}

fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

/// A prepared (cached) statement with its values bound. `$n` takes the n-th value: SQLite
/// numbers such named parameters by first appearance, which is not always n.
fn prepare<'c>(
    connection: &'c Connection,
    statement: &Statement,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut prepared = connection.prepare_cached(statement.sql())?;
    let values = statement.values();
    for index in 1..=prepared.parameter_count() {
        let position = match prepared.parameter_name(index) {
            Some(name) => name[1..]
                .parse::<usize>()
                .map_err(|_| rusqlite::Error::InvalidParameterName(name.to_owned()))?,
            None => index,
        };
        let value = values
            .get(position.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(position, values.len()))?;
        prepared.raw_bind_parameter(index, value)?;
    }
    Ok(prepared)
}

struct SqliteColumns<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteColumns<'_, '_> {
    fn int(&self, index: usize) -> StoreResult<Option<i64>> {
        Ok(self.0.get(index)?)
    }

    fn text(&self, index: usize) -> StoreResult<Option<String>> {
        Ok(self.0.get(index)?)
    }

    fn boolean(&self, index: usize) -> StoreResult<Option<bool>> {
        Ok(self.0.get(index)?)
    }
}

/// Runs `statement` and decodes up to `limit` rows, into room for `reserve` of them.
fn rows<T: FromRow>(
    connection: &Connection,
    statement: &Statement,
    limit: usize,
    reserve: usize,
) -> StoreResult<Vec<T>> {
    let mut prepared = prepare(connection, statement)?;
    let mut rows = prepared.raw_query();
    let mut decoded = Vec::with_capacity(reserve);
    while decoded.len() < limit {
        match rows.next()? {
            Some(row) => decoded.push(T::from_row(&SqliteColumns(row))?),
            None => break,
        }
    }
    Ok(decoded)
}

#[async_trait]
impl Executor for Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        let mut prepared = prepare(self, statement)?;
        let mut rows = prepared.raw_query();
        while rows.next()?.is_some() {}
        Ok(self.changes())
    }

    async fn fetch_all<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Vec<T>> {
        rows(self, statement, usize::MAX, 0)
    }

    async fn fetch_page<T: FromRow>(
        &mut self,
        statement: &Statement,
        rows_at_most: usize,
    ) -> StoreResult<Vec<T>> {
        rows(self, statement, rows_at_most, rows_at_most)
    }

    async fn fetch_optional<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Option<T>> {
        Ok(rows(self, statement, 1, 1)?.pop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::Columns;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER, d BOOLEAN)")
            .unwrap();
        connection
    }

    fn now<T>(future: impl std::future::Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(future).expect("ready at once")
    }

    struct Thing {
        a: i64,
        b: Option<String>,
        c: i64,
        d: bool,
    }

    impl FromRow for Thing {
        fn from_row(row: &dyn Row) -> StoreResult<Self> {
            let mut c = Columns::new(row);
            Ok(Thing {
                a: c.take()?,
                b: c.take()?,
                c: c.take()?,
                d: c.take()?,
            })
        }
    }

    #[test]
    fn numbered_parameters_take_their_own_values_in_any_order_and_repeat() {
        let mut connection = connection();
        let insert = Statement::new("INSERT INTO t (c, b, a, d) VALUES ($3, $2, $1, $4)")
            .bind(7_i64)
            .bind("seven")
            .bind(70_i64)
            .bind(true);
        assert_eq!(now(Executor::execute(&mut connection, &insert)).unwrap(), 1);
        let select = Statement::new("SELECT a, b, c, d FROM t WHERE b = $2 AND a = $1 AND c = $1 * 10")
            .bind(7_i64)
            .bind("seven");
        let thing: Thing = now(Executor::fetch_one(&mut connection, &select)).unwrap();
        assert_eq!(
            (thing.a, thing.b.as_deref(), thing.c, thing.d),
            (7, Some("seven"), 70, true)
        );
    }

    #[test]
    fn lists_bind_as_json_for_json_each() {
        let mut connection = connection();
        for a in 1..=4_i64 {
            now(Executor::execute(
                &mut connection,
                &Statement::new("INSERT INTO t (a) VALUES ($1)").bind(a),
            ))
            .unwrap();
        }
        let sql = format!(
            "SELECT a FROM t WHERE {} ORDER BY a",
            crate::store::sql::in_list(Dialect::Sqlite, "a", "$1")
        );
        let found: Vec<i64> = now(Executor::fetch_all(
            &mut connection,
            &Statement::new(sql).bind(vec![2_i64, 4]),
        ))
        .unwrap();
        assert_eq!(found, [2, 4]);
    }

    #[test]
    fn a_missing_row_or_value_is_an_error_and_null_is_none() {
        let mut connection = connection();
        let none: StoreResult<i64> = now(Executor::fetch_one(
            &mut connection,
            &Statement::new("SELECT a FROM t"),
        ));
        assert!(none.is_err());
        let short = now(Executor::execute(
            &mut connection,
            &Statement::new("INSERT INTO t (a, b) VALUES ($1, $2)").bind(1_i64),
        ));
        assert!(short.is_err());
        now(Executor::execute(
            &mut connection,
            &Statement::new("INSERT INTO t (a, b) VALUES ($1, $2)")
                .bind(1_i64)
                .bind(None::<&str>),
        ))
        .unwrap();
        let b: Vec<(i64, Option<String>)> = now(Executor::fetch_all(
            &mut connection,
            &Statement::new("SELECT a, b FROM t"),
        ))
        .unwrap();
        assert_eq!(b, [(1, None)]);
    }
}
