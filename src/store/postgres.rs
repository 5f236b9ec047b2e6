//! PostgreSQL backend: for deployments that run several replicas against one database.
//! Workers claim with `FOR UPDATE SKIP LOCKED`, so replicas never take the same row.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};

use super::digest::{DigestPools, DigestStore};
use super::insight_tx::PgTx;
use super::reads_sql::SqlPool;
use super::sqlite::counts_from;
use super::tokens::TokenPools;
use super::{ApiTokens, InboxAppender, InsightReads};
use super::{
    Backend, Circle, CircleChange, CircleRow, Claim, InsightTx, PRUNE_MESSAGES, ROW_COLUMNS, Requeue,
    RowParts, Settlement, Store, StoreResult, URGENT_CLAIM, circle_from_row, new_claim_token, row_from_parts,
};
use crate::clock::Millis;
use crate::inbox::{InboxCounts, InboxRow, InboxState, NewInboxItem};
use std::sync::Arc;

pub struct PostgresStore {
    pool: PgPool,
}

/// The claim: due rows in `run_after` order, locked so no other replica takes them. People
/// wait on interactions and commands, so up to `URGENT_CLAIM` of them ($5) join every claim
/// ahead of older events; both CTEs walk partial indexes of due rows. The ids are matched with
/// `= ANY(ARRAY(…))`, so the update finds each row by primary key: `id IN (…) OR id IN (…)`
/// made PostgreSQL scan the whole table on every claim (2,300 events/s drained against
/// ~34,000 with this form, docs/BENCHMARKS.md).
fn claim_sql() -> String {
    format!(
        "WITH urgent AS (SELECT id FROM inbox WHERE state IN ('pending', 'running') \
                         AND kind IN ('interaction', 'command') AND run_after <= $3 \
                         ORDER BY run_after LIMIT $5 FOR UPDATE SKIP LOCKED), \
              due AS (SELECT id FROM inbox WHERE state IN ('pending', 'running') AND run_after <= $3 \
                      ORDER BY run_after LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE inbox SET state = 'running', attempts = attempts + 1, run_after = $1, claim_token = $2 \
         WHERE id = ANY(ARRAY(SELECT id FROM urgent UNION SELECT id FROM due)) \
         RETURNING {ROW_COLUMNS}"
    )
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
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_inbox(&self, items: &[NewInboxItem]) -> StoreResult<u64> {
        insert_items(&mut *self.pool.acquire().await?, items).await
    }

    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>> {
        Ok(Box::new(PgAppender(self.pool.acquire().await?)))
    }

    async fn claim_inbox(&self, now: Millis, lease: Duration, limit: u32) -> StoreResult<Claim> {
        let token = new_claim_token();
        let lease_end = now + lease.as_millis() as i64;
        let sql = claim_sql();
        let rows: Vec<RowParts> = sqlx::query_as(&sql)
            .bind(lease_end)
            .bind(&token)
            .bind(now)
            .bind(limit as i64)
            .bind(URGENT_CLAIM)
            .fetch_all(&self.pool)
            .await?;
        let mut rows = rows
            .into_iter()
            .map(row_from_parts)
            .collect::<StoreResult<Vec<_>>>()?;
        rows.sort_by_key(|row| row.id);
        Ok(Claim { token, rows })
    }

    async fn settle_inbox(&self, token: &str, settlements: &[Settlement], now: Millis) -> StoreResult<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        let mut done = Vec::new();
        let mut tx = self.pool.begin().await?;
        for settlement in settlements {
            match settlement {
                Settlement::Done { id } => done.push(*id),
                Settlement::Retry { id, run_after, error } => {
                    sqlx::query(
                        "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL, last_error = $2 \
                         WHERE id = $3 AND claim_token = $4",
                    )
                    .bind(run_after)
                    .bind(error)
                    .bind(id)
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                }
                Settlement::Dead { id, error } => {
                    sqlx::query(
                        "UPDATE inbox SET state = 'dead', finished_at = $1, claim_token = NULL, last_error = $2 \
                         WHERE id = $3 AND claim_token = $4",
                    )
                    .bind(now)
                    .bind(error)
                    .bind(id)
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        if !done.is_empty() {
            sqlx::query(
                "UPDATE inbox SET state = 'done', finished_at = $1, claim_token = NULL, last_error = NULL \
                 WHERE id = ANY($2) AND claim_token = $3",
            )
            .bind(now)
            .bind(&done)
            .bind(token)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_inbox(&self, token: &str, ids: &[i64], now: Millis) -> StoreResult<()> {
        sqlx::query(
            "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL, attempts = GREATEST(attempts - 1, 0) \
             WHERE id = ANY($2) AND claim_token = $3",
        )
        .bind(now)
        .bind(ids)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prune_inbox(&self, finished_before: Millis) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM inbox WHERE id IN \
                 (SELECT id FROM inbox WHERE state = 'done' AND finished_at < $1 LIMIT 5000)",
            )
            .bind(finished_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += deleted;
            if deleted < 5000 {
                return Ok(total);
            }
        }
    }

    async fn inbox_counts(&self) -> StoreResult<InboxCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM inbox GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        Ok(counts_from(rows))
    }

    async fn list_inbox(&self, state: Option<InboxState>, limit: u32) -> StoreResult<Vec<InboxRow>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM inbox WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<RowParts> = sqlx::query_as(&sql)
            .bind(state.map(InboxState::as_str))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(row_from_parts).collect()
    }

    async fn find_inbox_by_event_id(&self, event_id: &str) -> StoreResult<Option<InboxRow>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM inbox WHERE event_id = $1");
        let row: Option<RowParts> = sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(row_from_parts).transpose()
    }

    async fn requeue_dead(&self, which: Requeue, now: Millis) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE inbox SET state = 'pending', attempts = 0, run_after = $1, finished_at = NULL \
             WHERE state = 'dead' AND ($2::bigint IS NULL OR id = $2)",
        )
        .bind(now)
        .bind(which.id())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_circle(&self, change: &CircleChange<'_>) -> StoreResult<bool> {
        // Only a real change touches the row, so "already a circle" is visible to the caller.
        let changed = sqlx::query(
            "INSERT INTO circles (team_id, channel_id, active, changed_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (team_id, channel_id) DO UPDATE SET active = excluded.active, changed_by = excluded.changed_by, \
             updated_at = excluded.updated_at WHERE circles.active <> excluded.active",
        )
        .bind(change.team_id)
        .bind(change.channel_id)
        .bind(change.active)
        .bind(change.changed_by)
        .bind(change.at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn circles(&self, team_id: &str) -> StoreResult<Vec<Circle>> {
        let rows: Vec<CircleRow> = sqlx::query_as(
            "SELECT team_id, channel_id, active, changed_by, updated_at FROM circles WHERE team_id = $1 \
             ORDER BY active DESC, channel_id",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(circle_from_row).collect())
    }

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>> {
        Ok(Box::new(PgTx::new(self.pool.begin().await?)))
    }

    fn reads(&self) -> Arc<dyn InsightReads> {
        Arc::new(SqlPool(self.pool.clone()))
    }

    fn digests(&self) -> Arc<dyn DigestStore> {
        Arc::new(DigestPools {
            read: self.pool.clone(),
            write: self.pool.clone(),
        })
    }

    fn tokens(&self) -> Arc<dyn ApiTokens> {
        Arc::new(TokenPools {
            read: self.pool.clone(),
            write: self.pool.clone(),
        })
    }

    async fn prune_messages(&self, before: Millis) -> StoreResult<u64> {
        let done = sqlx::query(PRUNE_MESSAGES)
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn is_circle(&self, team_id: &str, channel_id: &str) -> StoreResult<bool> {
        let found: Option<(bool,)> =
            sqlx::query_as("SELECT active FROM circles WHERE team_id = $1 AND channel_id = $2")
                .bind(team_id)
                .bind(channel_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some_and(|(active,)| active))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The inbox writer's held connection (see [`InboxAppender`]).
struct PgAppender(PoolConnection<Postgres>);

#[async_trait]
impl InboxAppender for PgAppender {
    async fn append(&mut self, items: &[NewInboxItem]) -> StoreResult<u64> {
        insert_items(&mut self.0, items).await
    }
}

async fn insert_items(connection: &mut PgConnection, items: &[NewInboxItem]) -> StoreResult<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    let column = |f: fn(&NewInboxItem) -> &str| items.iter().map(f).collect::<Vec<_>>();
    let received: Vec<i64> = items.iter().map(|item| item.received_at).collect();
    // One statement per batch whatever its size: a round trip per event is the trap here.
    let stored = sqlx::query(
        "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
         SELECT t, e, k, y, p, r, r FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             AS batch(t, e, k, y, p, r) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(column(|item| &item.team_id))
    .bind(column(|item| &item.event_id))
    .bind(column(|item| item.kind.as_str()))
    .bind(column(|item| &item.event_type))
    .bind(column(|item| &item.payload))
    .bind(received)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE inbox").execute(&store.pool).await.unwrap();

        let plan: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {}", claim_sql()))
            .bind(1_000_000_i64)
            .bind("token")
            .bind(30_000_i64)
            .bind(128_i64)
            .bind(URGENT_CLAIM)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        store.pool.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;

        let plan: Vec<String> = plan.into_iter().map(|(line,)| line).collect();
        assert!(
            !plan.iter().any(|line| line.contains("Seq Scan")),
            "the claim scans the inbox:\n{}",
            plan.join("\n")
        );
    }
}
