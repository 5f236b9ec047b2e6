//! PostgreSQL backend: for deployments that run several replicas against one database.
//! Workers claim with `FOR UPDATE SKIP LOCKED`, so replicas never take the same row.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};

use super::engine::{Engine, SqlStore};
use super::inbox;
use super::postgres_runner::PostgresRunner;
use super::runner::Runner;
use super::sql_tx::PgTx;
use super::{Backend, InsightTx, StoreResult};
use crate::inbox::{InboxAppender, NewInboxItem};

/// The PostgreSQL store.
pub type PostgresStore = SqlStore<PostgresEngine>;

pub struct PostgresEngine {
    pool: PgPool,
    runner: PostgresRunner,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // No liveness ping before each use: it is a round trip to the server in front of
            // every ingest batch. A connection that died fails its statement (503, Slack
            // retries) and the pool drops it when it is released.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(SqlStore::new(PostgresEngine {
            runner: PostgresRunner::new(pool.clone()),
            pool,
        }))
    }
}

#[async_trait]
impl Runner for PostgresEngine {
    type Conn = PgConnection;

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.read(work).await
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.write(work).await
    }

    async fn write_step<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.write_step(work).await
    }
}

#[async_trait]
impl Engine for PostgresEngine {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>> {
        Ok(Box::new(PgAppender(self.pool.acquire().await?)))
    }

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>> {
        Ok(Box::new(PgTx::new(self.pool.begin().await?)))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The inbox writer's held connection (see [`InboxAppender`]): one statement per batch, in
/// autocommit.
struct PgAppender(PoolConnection<Postgres>);

#[async_trait]
impl InboxAppender for PgAppender {
    async fn append(&mut self, items: &[NewInboxItem]) -> StoreResult<u64> {
        inbox::insert(&mut *self.0, items).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use sqlx::Connection;

    const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// The claim's plan on a backlog: every row it touches is found through an index. A whole
    /// table scan per claim makes draining a backlog quadratic.
    #[tokio::test]
    async fn the_claim_reads_rows_by_index_not_by_scanning_the_inbox() {
        let name = format!("circlet_unit_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(ADMIN_URL)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let store = PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        sqlx::query(
            "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after, state) \
             SELECT 'T0', 'Ev' || g, 'event', 'reaction_added', repeat('x', 600), g, g, \
                    CASE WHEN g % 4 = 0 THEN 'pending' ELSE 'done' END \
             FROM generate_series(1, 20000) g",
        )
        .execute(&store.engine.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE inbox")
            .execute(&store.engine.pool)
            .await
            .unwrap();

        let claim = inbox::claim_statement(
            super::super::sql::Dialect::Postgres,
            "token",
            30_000,
            1_000_000,
            128,
        );
        let explain = super::super::sql::Statement::new(format!("EXPLAIN {}", claim.sql()));
        let explain = claim.values().iter().cloned().fold(explain, |s, v| s.bind(v));
        let mut pool = store.engine.pool.clone();
        let plan: Vec<String> = super::super::sql::Executor::fetch_all(&mut pool, &explain)
            .await
            .unwrap();
        store.engine.pool.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;

        assert!(
            !plan.iter().any(|line| line.contains("Seq Scan")),
            "the claim scans the inbox:\n{}",
            plan.join("\n")
        );
    }
}
