//! SQLite backend: the embedded default. WAL with `synchronous=FULL`, so an acknowledged event
//! survives a power cut; the inbox writer's group commit keeps that cheap.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::digest::{DigestPools, DigestStore};
use super::direct_sql::FromDirectRow;
use super::insight_tx::SqliteTx;
use super::reads_sql::SqlPool;
use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_direct::{self, DirectTransaction, SharedConnection};
use super::sqlite_inbox;
use super::sqlite_turns::{Turn, WriteTurns};
use super::tokens::TokenPools;
use super::{ApiTokens, InboxAppender, InsightReads};
use super::{
    Backend, Circle, CircleChange, CircleRow, Claim, InsightTx, PRUNE_MESSAGES, ROW_COLUMNS, Requeue,
    RowParts, Settlement, Store, StoreResult, URGENT_CLAIM, circle_from_row, new_claim_token, row_from_parts,
};
use crate::clock::Millis;
use crate::inbox::{InboxCounts, InboxRow, InboxState, NewInboxItem};
use std::sync::Arc;

/// One sqlx write connection, a pool of readers and the direct connection. SQLite takes one
/// writer at a time, so every write, sqlx's own or the direct connection's, happens in a turn
/// of the one write connection: writes queue in the pool (cheap) instead of in SQLite's busy
/// handler (sleeps of milliseconds).
pub struct SqliteStore {
    writer: SqlitePool,
    /// Turns of `writer` for the inbox writer and the direct connection's other writes.
    turns: WriteTurns,
    readers: SqlitePool,
    /// The inbox's writes (inserts, claims, settles) and every [`InsightTx`], stepped outside
    /// sqlx (see `sqlite_direct`).
    direct: SharedConnection,
    checkpoints: Arc<Checkpoints>,
}

/// How long a write waits for another process's write lock (`circlet inbox retry` beside a
/// running server) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The workers' claim (see `claim_inbox`): ?1 lease end, ?2 claim token, ?3 now, ?4 limit,
/// ?5 urgent rows.
static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE inbox SET state = 'running', attempts = attempts + 1, run_after = ?1, claim_token = ?2 \
         WHERE id IN (SELECT id FROM inbox WHERE state IN ('pending', 'running') \
                      AND kind IN ('interaction', 'command') AND run_after <= ?3 \
                      ORDER BY run_after LIMIT ?5) \
            OR id IN (SELECT id FROM inbox WHERE state IN ('pending', 'running') AND run_after <= ?3 \
                      ORDER BY run_after LIMIT ?4) \
         RETURNING {ROW_COLUMNS}"
    )
});

impl SqliteStore {
    /// `work` in one transaction on the direct connection, in a turn of the write connection.
    async fn direct_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let turn = self.turns.for_others().await?;
        let written = sqlite_direct::write(turn, &self.direct, work).await?;
        self.checkpoints.others_committed();
        Ok(written)
    }

    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // 16 MiB of page cache (negative means KiB), so the inbox indexes stay in memory.
            .pragma("cache_size", "-16384");
        let pool = |connections| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                // A local file needs no liveness ping before each use; it would cost a round
                // trip to the connection's thread on every ingest batch.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
        };
        // No checkpoint inside a commit, so no acknowledgement waits for one: see
        // `sqlite_checkpoints` for who copies the WAL back, and when.
        let writer = pool(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let direct = sqlite_direct::open(options.get_filename(), BUSY_TIMEOUT)?;
        let checkpoints = Checkpoints::open(options.get_filename(), BUSY_TIMEOUT)?;
        let readers = pool(4).connect_with(options).await?;
        Ok(Self {
            turns: WriteTurns::new(writer.clone()),
            writer,
            readers,
            direct,
            checkpoints,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn insert_inbox(&self, items: &[NewInboxItem]) -> StoreResult<u64> {
        // The inbox writer's statement, off the async workers.
        let items = items.to_vec();
        self.direct_write(move |tx| sqlite_inbox::append_in(tx, &items))
            .await
    }

    async fn claim_inbox(&self, now: Millis, lease: Duration, limit: u32) -> StoreResult<Claim> {
        let token = new_claim_token();
        let lease_end = now + lease.as_millis() as i64;
        let claim_token = token.clone();
        let mut rows = self
            .direct_write(move |tx| {
                // One statement, so the claim is atomic: SQLite runs it under the write lock.
                // People wait on interactions and commands: up to URGENT_CLAIM of them join every
                // claim ahead of older events (both subqueries walk partial indexes of due rows).
                let mut claim = tx.prepare_cached(&CLAIM)?;
                let mut rows = claim.query(params![
                    lease_end,
                    claim_token,
                    now,
                    i64::from(limit),
                    URGENT_CLAIM
                ])?;
                let mut claimed = Vec::new();
                while let Some(row) = rows.next()? {
                    claimed.push(row_from_parts(RowParts::from_row(row)?)?);
                }
                Ok(claimed)
            })
            .await?;
        rows.sort_by_key(|row| row.id);
        Ok(Claim { token, rows })
    }

    async fn settle_inbox(&self, token: &str, settlements: &[Settlement], now: Millis) -> StoreResult<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        let (token, settlements) = (token.to_owned(), settlements.to_vec());
        self.direct_write(move |tx| {
            // Finished rows, the common case, in one statement whatever their number.
            let done: Vec<i64> = settlements
                .iter()
                .filter_map(|s| match s {
                    Settlement::Done { id } => Some(*id),
                    _ => None,
                })
                .collect();
            if !done.is_empty() {
                tx.prepare_cached(
                    "UPDATE inbox SET state = 'done', finished_at = ?1, claim_token = NULL, last_error = NULL \
                     WHERE claim_token = ?2 AND id IN (SELECT value FROM json_each(?3))",
                )?
                .execute(params![now, token, json_array(&done)])?;
            }
            for settlement in &settlements {
                match settlement {
                    Settlement::Done { .. } => {}
                    Settlement::Retry { id, run_after, error } => {
                        tx.prepare_cached(
                            "UPDATE inbox SET state = 'pending', run_after = ?1, claim_token = NULL, last_error = ?2 \
                             WHERE id = ?3 AND claim_token = ?4",
                        )?
                        .execute(params![run_after, error, id, token])?;
                    }
                    Settlement::Dead { id, error } => {
                        tx.prepare_cached(
                            "UPDATE inbox SET state = 'dead', finished_at = ?1, claim_token = NULL, last_error = ?2 \
                             WHERE id = ?3 AND claim_token = ?4",
                        )?
                        .execute(params![now, error, id, token])?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn release_inbox(&self, token: &str, ids: &[i64], now: Millis) -> StoreResult<()> {
        let (token, ids) = (token.to_owned(), ids.to_vec());
        self.direct_write(move |tx| {
            let mut release = tx.prepare_cached(
                "UPDATE inbox SET state = 'pending', run_after = ?1, claim_token = NULL, \
                 attempts = MAX(attempts - 1, 0) WHERE id = ?2 AND claim_token = ?3",
            )?;
            for id in ids {
                release.execute(params![now, id, token])?;
            }
            Ok(())
        })
        .await
    }

    async fn prune_inbox(&self, finished_before: Millis) -> StoreResult<u64> {
        let mut total = 0;
        // In slices, so a large backlog never holds the write lock for long.
        loop {
            let deleted = sqlx::query(
                "DELETE FROM inbox WHERE id IN \
                 (SELECT id FROM inbox WHERE state = 'done' AND finished_at < ?1 LIMIT 5000)",
            )
            .bind(finished_before)
            .execute(&self.writer)
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
            .fetch_all(&self.readers)
            .await?;
        Ok(counts_from(rows))
    }

    async fn list_inbox(&self, state: Option<InboxState>, limit: u32) -> StoreResult<Vec<InboxRow>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM inbox WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2"
        );
        let rows: Vec<RowParts> = sqlx::query_as(&sql)
            .bind(state.map(InboxState::as_str))
            .bind(limit as i64)
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(row_from_parts).collect()
    }

    async fn find_inbox_by_event_id(&self, event_id: &str) -> StoreResult<Option<InboxRow>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM inbox WHERE event_id = ?1");
        let row: Option<RowParts> = sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(row_from_parts).transpose()
    }

    async fn requeue_dead(&self, which: Requeue, now: Millis) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE inbox SET state = 'pending', attempts = 0, run_after = ?1, finished_at = NULL \
             WHERE state = 'dead' AND (?2 IS NULL OR id = ?2)",
        )
        .bind(now)
        .bind(which.id())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_circle(&self, change: &CircleChange<'_>) -> StoreResult<bool> {
        // Only a real change touches the row, so "already a circle" is visible to the caller.
        let changed = sqlx::query(
            "INSERT INTO circles (team_id, channel_id, active, changed_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (team_id, channel_id) DO UPDATE SET active = excluded.active, changed_by = excluded.changed_by, \
             updated_at = excluded.updated_at WHERE circles.active <> excluded.active",
        )
        .bind(change.team_id)
        .bind(change.channel_id)
        .bind(change.active)
        .bind(change.changed_by)
        .bind(change.at)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    async fn circles(&self, team_id: &str) -> StoreResult<Vec<Circle>> {
        let rows: Vec<CircleRow> = sqlx::query_as(
            "SELECT team_id, channel_id, active, changed_by, updated_at FROM circles WHERE team_id = ?1 \
             ORDER BY active DESC, channel_id",
        )
        .bind(team_id)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(circle_from_row).collect())
    }

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>> {
        let turn = self.turns.for_others().await?;
        Ok(Box::new(SqliteTx::new(
            DirectTransaction::begin(turn, &self.direct, self.checkpoints.clone()).await?,
        )))
    }

    fn reads(&self) -> Arc<dyn InsightReads> {
        Arc::new(SqlPool(self.readers.clone()))
    }

    fn digests(&self) -> Arc<dyn DigestStore> {
        Arc::new(DigestPools {
            read: self.readers.clone(),
            write: self.writer.clone(),
        })
    }

    fn tokens(&self) -> Arc<dyn ApiTokens> {
        Arc::new(TokenPools {
            read: self.readers.clone(),
            write: self.writer.clone(),
        })
    }

    async fn prune_messages(&self, before: Millis) -> StoreResult<u64> {
        let done = sqlx::query(PRUNE_MESSAGES)
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn is_circle(&self, team_id: &str, channel_id: &str) -> StoreResult<bool> {
        let found: Option<(bool,)> =
            sqlx::query_as("SELECT active FROM circles WHERE team_id = ?1 AND channel_id = ?2")
                .bind(team_id)
                .bind(channel_id)
                .fetch_optional(&self.readers)
                .await?;
        Ok(found.is_some_and(|(active,)| active))
    }

    async fn maintain(&self) -> StoreResult<()> {
        // PASSIVE copies what it can without blocking the writer or readers; the writer then
        // restarts the WAL from its beginning once everything was copied. Under a steady
        // stream of commits it never catches up: the inbox writer's own checkpoints do.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.readers)
            .await?;
        Ok(())
    }

    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>> {
        Ok(Box::new(SqliteAppender {
            _write_turn: self.turns.for_inbox_writer().await?,
            direct: self.direct.clone(),
            checkpoints: self.checkpoints.clone(),
        }))
    }

    async fn close(&self) {
        // A last full checkpoint leaves a compact database file behind.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await;
        self.writer.close().await;
        self.readers.close().await;
    }
}

/// The inbox writer's turn at writing. Holding sqlx's one write connection, unused, keeps the
/// workers' writes out while the writer commits on its own connection: they queue in the pool
/// instead of in SQLite's busy handler.
struct SqliteAppender {
    _write_turn: Turn,
    direct: SharedConnection,
    checkpoints: Arc<Checkpoints>,
}

#[async_trait]
impl InboxAppender for SqliteAppender {
    async fn append(&mut self, items: &[NewInboxItem]) -> StoreResult<u64> {
        // Blocks for the commit: the inbox writer has a thread of its own.
        let stored = sqlite_inbox::append(&mut *self.direct.lock().await, items)?;
        self.checkpoints.writer_committed(items.len());
        Ok(stored)
    }

    async fn upkeep(&mut self) -> StoreResult<()> {
        if !self.checkpoints.writer_checkpoint_due() {
            return Ok(());
        }
        // In the writer's turn, so no commit appends while it copies (`sqlite_checkpoints`).
        sqlite_inbox::checkpoint(&*self.direct.lock().await)
    }
}

/// `[1,2,3]`: ids as one parameter, for `json_each`, so one prepared statement serves any
/// number of them.
fn json_array(ids: &[i64]) -> String {
    let listed: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", listed.join(","))
}

pub(super) fn counts_from(rows: Vec<(String, i64)>) -> InboxCounts {
    let mut counts = InboxCounts::default();
    for (state, n) in rows {
        if let Ok(state) = state.parse::<InboxState>() {
            counts.set(state, n.max(0) as u64);
        }
    }
    counts
}
