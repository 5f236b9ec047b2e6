//! What runs a [`Statement`]: a connection, transaction or pool of either backend.

use async_trait::async_trait;

use super::{Dialect, FromRow, Statement};
use crate::store::{StoreError, StoreResult};

/// Runs statements. Every store operation is written once against this trait; the backends
/// differ only in the executor they hand it.
#[async_trait]
pub trait Executor: Send {
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64>;

    /// Every row the statement returns.
    async fn fetch_all<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Vec<T>>;

    /// Every row of a statement that returns at most `rows` (a page, by its LIMIT), with room
    /// for them reserved up front: pages read one after the other then take one allocation
    /// each, where growing a page took several, which the allocator kept (the export's peak
    /// memory grew with its size).
    async fn fetch_page<T: FromRow>(&mut self, statement: &Statement, rows: usize) -> StoreResult<Vec<T>>;

    /// The first row, if any. A statement that changes rows has made all its changes by then
    /// (SQLite makes them in its first step; PostgreSQL before answering).
    async fn fetch_optional<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<Option<T>>;

    /// The first row, which must be there.
    async fn fetch_one<T: FromRow>(&mut self, statement: &Statement) -> StoreResult<T> {
        self.fetch_optional(statement)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from: {}", statement.sql())))
    }
}
