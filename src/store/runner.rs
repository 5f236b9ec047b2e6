//! Where each backend runs store work, and on which connection. Store operations are plain
//! async functions over an [`Executor`]; a [`Runner`] hands them a connection for reading, or
//! a transaction for writing, and decides where they run: PostgreSQL's on the calling task,
//! SQLite's on a blocking thread (its statements step on the thread that calls them, and the
//! runtime's threads must stay free to acknowledge Slack's requests).

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use super::StoreResult;
use super::sql::{Executor, FromRow, Statement};

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

    /// Runs `work` as one step of long work cut into many write transactions, like
    /// [`write`](Self::write) except that its commit does not wait for the disk to have it:
    /// a crash of the machine (not of the process) may lose the step, until the work's last
    /// transaction, an ordinary [`write`](Self::write), makes it and every step before it
    /// durable. A step's flush cost far more than its statements (docs/BENCHMARKS.md).
    async fn write_step<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Self::Conn) -> BoxFuture<'c, StoreResult<T>> + Send + 'static;
}

/// One statement run on its own, the common case: a read, or a write in a transaction of its
/// own.
#[async_trait]
pub trait RunStatement: Runner {
    async fn read_all<T: FromRow + 'static>(&self, statement: Statement) -> StoreResult<Vec<T>> {
        self.read(move |c| Box::pin(async move { c.fetch_all(&statement).await }))
            .await
    }

    async fn read_optional<T: FromRow + 'static>(&self, statement: Statement) -> StoreResult<Option<T>> {
        self.read(move |c| Box::pin(async move { c.fetch_optional(&statement).await }))
            .await
    }

    async fn read_one<T: FromRow + 'static>(&self, statement: Statement) -> StoreResult<T> {
        self.read(move |c| Box::pin(async move { c.fetch_one(&statement).await }))
            .await
    }

    /// Runs the statement in a write transaction; how many rows it changed.
    async fn write_execute(&self, statement: Statement) -> StoreResult<u64> {
        self.write(move |c| Box::pin(async move { c.execute(&statement).await }))
            .await
    }

    /// Runs the statement in a write transaction; the row it returns.
    async fn write_one<T: FromRow + 'static>(&self, statement: Statement) -> StoreResult<T> {
        self.write(move |c| Box::pin(async move { c.fetch_one(&statement).await }))
            .await
    }
}

impl<R: Runner> RunStatement for R {}
