//! Where each backend runs store work, and on which connection. Store operations are plain
//! async functions over an [`Executor`]; a [`Runner`] hands them a connection for reading, or
//! a transaction for writing, and decides where they run: PostgreSQL's on the calling task,
//! SQLite's on a blocking thread (its statements step on the thread that calls them, and the
//! runtime's threads must stay free to acknowledge Slack's requests).

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use super::StoreResult;
use super::sql::Executor;

#[async_trait]
pub trait Runner: Send + Sync + 'static {
    type Conn: Executor + Send + 'static;

    /// Runs `work` on a connection for reading (no transaction of its own).
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Self::Conn) -> BoxFuture<'c, StoreResult<T>> + Send + 'static;

    /// Runs `work` in a write transaction: committed when it returns `Ok`, rolled back when
    /// it fails.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Self::Conn) -> BoxFuture<'c, StoreResult<T>> + Send + 'static;
}
