//! PostgreSQL's [`Runner`]: reads on a pooled connection, writes in a transaction, both on the
//! calling task (the work waits on the server, not on the CPU).

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};

use super::StoreResult;
use futures_util::future::BoxFuture;

use super::runner::Runner;

pub(super) struct PostgresRunner {
    pool: PgPool,
}

impl PostgresRunner {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Runner for PostgresRunner {
    type Conn = PgConnection;

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let mut connection = self.pool.acquire().await?;
        work(&mut connection).await
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await?;
        let written = work(&mut tx).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// `synchronous_commit = off` for the one transaction: its commit returns before the WAL
    /// reaches the disk, and the next ordinary commit's flush covers it too.
    async fn write_step<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        let written = work(&mut tx).await?;
        tx.commit().await?;
        Ok(written)
    }
}
