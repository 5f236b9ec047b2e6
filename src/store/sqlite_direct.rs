//! SQLite's direct write connection: rusqlite, outside sqlx.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement and its
//! result across, two thread wake-ups per statement. The inbox writer's group commit and the
//! workers' transactions (capture batches of a few hundred statements) step their statements
//! on this connection instead, on the thread that runs them.
//!
//! Every use happens in a turn of sqlx's one write connection (holding it, unused), so these
//! writes and sqlx's never contend for SQLite's lock: they queue in the pool, not in SQLite's
//! busy handler.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{StoreError, StoreResult};

/// The one direct connection, shared by the inbox writer and the workers' transactions.
pub(super) type SharedConnection = Arc<Mutex<Connection>>;

/// Prepared statements kept: every statement of `insight_tx` and `digest` stays prepared.
const STATEMENT_CACHE: usize = 128;

/// Opens `path` with the same durability as the sqlx connections: WAL, `synchronous=FULL`
/// (an acknowledged event survives a power cut), no checkpoint inside a commit.
pub(super) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<SharedConnection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    connection.busy_timeout(busy_timeout)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    // 16 MiB of page cache (negative means KiB), like the sqlx connections.
    connection.pragma_update(None, "cache_size", -16384)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Arc::new(Mutex::new(connection)))
}

/// A write transaction on the direct connection, for [`super::insight_tx::SqlTx`]. Dropping it
/// without `commit` rolls back.
///
/// `BEGIN IMMEDIATE` (which may wait for another process's lock) and `COMMIT` (the fsync) run
/// on a blocking thread; the statements between them only read the page cache and append to
/// it, and run where they are called.
pub(super) struct DirectTransaction {
    /// None once committed.
    connection: Option<OwnedMutexGuard<Connection>>,
    turn: Option<PoolConnection<Sqlite>>,
}

impl DirectTransaction {
    pub(super) async fn begin(
        turn: PoolConnection<Sqlite>,
        connection: &SharedConnection,
    ) -> StoreResult<Self> {
        let guard = connection.clone().lock_owned().await;
        let guard = run_blocking(move || {
            let begun = guard.execute_batch("BEGIN IMMEDIATE");
            (guard, begun)
        })
        .await?;
        Ok(Self {
            connection: Some(guard),
            turn: Some(turn),
        })
    }

    pub(super) fn connection(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .expect("a transaction's connection is there until it commits")
    }

    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let guard = self.connection.take().expect("a transaction commits once");
        // The turn goes with the commit: if this future is dropped midway, the connection and
        // the turn are released only when the commit (or its rollback) has finished.
        let turn = self.turn.take();
        run_blocking(move || {
            let committed = guard.execute_batch("COMMIT");
            if committed.is_err() {
                roll_back(&guard);
            }
            drop(turn);
            ((), committed)
        })
        .await
    }
}

impl Drop for DirectTransaction {
    fn drop(&mut self) {
        if let Some(guard) = &self.connection {
            roll_back(guard);
        }
    }
}

fn roll_back(connection: &Connection) {
    if !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
}

/// Runs `work` on a blocking thread, which hands back what it was given along with the result.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> (T, rusqlite::Result<()>) + Send + 'static,
) -> StoreResult<T> {
    let (kept, result) = tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| StoreError::WriteAborted)?;
    result?;
    Ok(kept)
}

#[async_trait]
impl super::insight_tx::LockKeys for DirectTransaction {
    /// SQLite takes one writer at a time: its transactions already run one by one.
    async fn lock_keys(&mut self, _keys: &[String]) -> StoreResult<()> {
        Ok(())
    }
}
