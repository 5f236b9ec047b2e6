//! SQLite backend: the embedded default. WAL with `synchronous=FULL`, so an acknowledged event
//! survives a power cut; the inbox writer's group commit keeps that cheap.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use rusqlite::Connection;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::engine::{Engine, SqlStore};
use super::runner::Runner;
use super::sql_tx::SqliteTx;
use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_direct::{self, DirectTransaction, SharedConnection};
use super::sqlite_inbox;
use super::sqlite_runner::SqliteRunner;
use super::sqlite_turns::{Turn, WriteTurns};
use super::{Backend, InsightTx, StoreResult, TxOutcome, TxWork};
use crate::inbox::{InboxAppender, NewInboxItem};

/// The SQLite store.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// One sqlx write connection (migrations, and the turns of every write), the direct
/// connection and the runner's rusqlite readers. SQLite takes one writer at a time, so every
/// write happens in a turn of the one write connection: writes queue in the pool (cheap)
/// instead of in SQLite's busy handler (sleeps of milliseconds).
pub struct SqliteEngine {
    writer: SqlitePool,
    /// Turns of `writer` for the inbox writer and the direct connection's other writes.
    turns: WriteTurns,
    /// The inbox's writes (inserts, claims, settles) and every [`InsightTx`], stepped outside
    /// sqlx (see `sqlite_direct`).
    direct: SharedConnection,
    checkpoints: Arc<Checkpoints>,
    /// How long without a commit before upkeep truncates the WAL file, in milliseconds (set
    /// after the engine is shared).
    truncate_idle_after: AtomicU64,
    runner: SqliteRunner,
}

/// The WAL file's size once a checkpoint let it start over: a burst grows it, and it is cut
/// back to this much instead of keeping its peak size.
pub(super) const JOURNAL_SIZE_LIMIT: &str = "33554432";

/// `PRAGMA secure_delete` on every connection that deletes rows, and the readers (see
/// `store::forget`).
pub(super) const SECURE_DELETE: &str = "ON";

/// How long without a commit before the WAL file is truncated to nothing.
pub const TRUNCATE_IDLE_AFTER: Duration = Duration::from_secs(30);

/// How long a write waits for another process's write lock (`circlet inbox retry` beside a
/// running server) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT)
            // Deleted content is overwritten with zeros, not only unlinked: a forgotten member's
            // words must leave the file (ARCHITECTURE §13).
            .pragma("secure_delete", SECURE_DELETE)
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
        // One queue of turns for the runner's writes (claims, settles, prunes, digests) and
        // the engine's (transactions, truncation), so at most one of them waits ahead of the
        // inbox writer (`sqlite_turns`).
        let turns = WriteTurns::new(writer.clone());
        let runner = SqliteRunner::new(
            turns.clone(),
            direct.clone(),
            checkpoints.clone(),
            options.get_filename(),
            BUSY_TIMEOUT,
        );
        Ok(SqlStore::new(SqliteEngine {
            turns,
            writer,
            direct,
            checkpoints,
            truncate_idle_after: AtomicU64::new(TRUNCATE_IDLE_AFTER.as_millis() as u64),
            runner,
        }))
    }

    /// Changes how long without a commit upkeep waits before truncating the WAL.
    pub fn truncate_wal_when_idle_for(self, idle: Duration) -> Self {
        self.engine
            .truncate_idle_after
            .store(idle.as_millis() as u64, Ordering::Relaxed);
        self
    }
}

#[async_trait]
impl Runner for SqliteEngine {
    type Conn = Connection;

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.read(work).await
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.write(work).await
    }

    async fn write_step<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.runner.write_step(work).await
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn one_writer(&self) -> bool {
        true
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.writer).await?;
        Ok(())
    }

    /// On a blocking thread: the transaction's statements step where they are called.
    async fn run_transaction(&self, work: TxWork) -> StoreResult<TxOutcome> {
        super::transaction::run_on_a_blocking_thread(self.begin().await, work).await
    }

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>> {
        let turn = self.turns.for_others().await?;
        Ok(Box::new(SqliteTx::new(
            DirectTransaction::begin(turn, &self.direct, self.checkpoints.clone()).await?,
        )))
    }

    async fn maintain(&self) -> StoreResult<()> {
        // PASSIVE copies what it can without blocking the writer or readers; the writer then
        // restarts the WAL from its beginning once everything was copied. Under a steady
        // stream of commits it never catches up: the inbox writer's own checkpoints do.
        self.checkpoints.copy_passively().await?;
        let idle = Duration::from_millis(self.truncate_idle_after.load(Ordering::Relaxed));
        if self.checkpoints.truncate_due(idle) {
            let _turn = self.turns.for_others().await?;
            self.checkpoints.truncate().await?;
        }
        Ok(())
    }

    /// With `secure_delete`, deleted rows are zeroed in the pages that held them; the WAL may
    /// still hold older images of those pages, so it is copied back and truncated to nothing.
    /// Copied first beside the writers, so that the truncation, which keeps them waiting, has
    /// only the last few commits left to copy (after a long forget the WAL holds tens of
    /// megabytes: copied in the truncation's turn, it held acknowledgements for ~300 ms).
    async fn erase_freed(&self) -> StoreResult<bool> {
        self.checkpoints.copy_until_nearly_caught_up(50).await?;
        let _turn = self.turns.for_others().await?;
        self.checkpoints.truncate().await
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
        self.runner.close();
        self.writer.close().await;
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
        let stored = sqlite_inbox::append(&mut *self.direct.lock().await, items).await?;
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
