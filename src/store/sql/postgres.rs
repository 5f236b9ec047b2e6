//! [`Executor`] for PostgreSQL, through sqlx: a connection (or a transaction, which is one)
//! and a pool (a connection per statement).

use async_trait::async_trait;
use futures_util::{Stream, TryStreamExt};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column as _, PgConnection, PgPool, Postgres, Row as _, TypeInfo as _};

use super::{Dialect, Executor, FromRow, Row, Statement, Value};
use crate::store::StoreResult;

fn query(statement: &Statement) -> Query<'_, Postgres, PgArguments> {
    let mut query = sqlx::query(statement.sql());
    for value in statement.values() {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_deref()),
            Value::Bool(v) => query.bind(*v),
            Value::Ints(v) => query.bind(v.as_slice()),
            Value::Texts(v) => query.bind(v.as_slice()),
        };
    }
    query
}

fn decode<T: FromRow>(row: &PgRow) -> StoreResult<T> {
    T::from_row(&PgColumns(row))
}

/// Every row, each decoded as it arrives (the rows the server sent are never all held beside
/// their models, and decoding overlaps the sending), into room for `reserve` of them.
async fn decode_all<T: FromRow>(
    mut rows: impl Stream<Item = Result<PgRow, sqlx::Error>> + Unpin,
    reserve: usize,
) -> StoreResult<Vec<T>> {
    let mut decoded = Vec::with_capacity(reserve);
    while let Some(row) = rows.try_next().await? {
        decoded.push(decode(&row)?);
    }
    Ok(decoded)
}

struct PgColumns<'r>(&'r PgRow);

impl Row for PgColumns<'_> {
    fn int(&self, index: usize) -> StoreResult<Option<i64>> {
        // Counts and ids are BIGINT; a few columns (attempts) are INTEGER.
        match self.0.column(index).type_info().name() {
            "INT4" => Ok(self.0.try_get::<Option<i32>, _>(index)?.map(i64::from)),
            "INT2" => Ok(self.0.try_get::<Option<i16>, _>(index)?.map(i64::from)),
            _ => Ok(self.0.try_get(index)?),
        }
    }

    fn text(&self, index: usize) -> StoreResult<Option<String>> {
        Ok(self.0.try_get(index)?)
    }

    fn boolean(&self, index: usize) -> StoreResult<Option<bool>> {
        Ok(self.0.try_get(index)?)
    }
}

#[async_trait]
impl Executor for PgConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        Ok(query(statement).execute(self).await?.rows_affected())
    }

    async fn fetch_all<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Vec<T>> {
        decode_all(query(statement).fetch(self), 0).await
    }

    async fn fetch_page<T: FromRow>(&mut self, statement: &Statement, rows: usize) -> StoreResult<Vec<T>> {
        decode_all(query(statement).fetch(self), rows).await
    }

    async fn fetch_optional<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Option<T>> {
        let row = query(statement).fetch_optional(self).await?;
        row.as_ref().map(decode).transpose()
    }
}

#[async_trait]
impl Executor for PgPool {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        Ok(query(statement).execute(&*self).await?.rows_affected())
    }

    async fn fetch_all<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Vec<T>> {
        decode_all(query(statement).fetch(&*self), 0).await
    }

    async fn fetch_page<T: FromRow>(&mut self, statement: &Statement, rows: usize) -> StoreResult<Vec<T>> {
        decode_all(query(statement).fetch(&*self), rows).await
    }

    async fn fetch_optional<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Option<T>> {
        let row = query(statement).fetch_optional(&*self).await?;
        row.as_ref().map(decode).transpose()
    }
}
