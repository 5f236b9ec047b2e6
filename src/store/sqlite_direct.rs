//! SQLite's direct write connection: rusqlite, outside sqlx.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement and its
//! result across, two thread wake-ups per statement. The inbox writer's group commit, the
//! workers' claims and settles, and their transactions (capture batches of a few hundred
//! statements) step their statements on this connection instead.
//!
//! Every use happens in a turn of sqlx's one write connection (holding it, unused), so these
//! writes and sqlx's never contend for SQLite's lock: they queue in the pool, not in SQLite's
//! busy handler.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_turns::Turn;
use super::{StoreError, StoreResult};

/// The one direct connection, shared by the inbox writer and the workers' transactions.
pub(super) type SharedConnection = Arc<Mutex<Connection>>;

/// Prepared statements kept: every statement of `sql_tx` and `digest` stays prepared.
const STATEMENT_CACHE: usize = 128;

/// A rusqlite connection to the existing database at `path` with the same durability as the
/// sqlx connections: WAL, `synchronous=FULL` (an acknowledged event survives a power cut), no
/// checkpoint inside a commit.
pub(super) fn connect(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    connection.busy_timeout(busy_timeout)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.pragma_update(None, "journal_size_limit", super::sqlite::JOURNAL_SIZE_LIMIT)?;
    Ok(connection)
}

/// The direct connection: [`connect`], with the foreign keys and page cache of the sqlx
/// connections.
pub(super) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<SharedConnection> {
    let connection = connect(path, busy_timeout)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    // Zeroes what it deletes (see `store::forget`). Only connections that delete rows: the
    // checkpoint connections (`connect` alone) copy pages as they are, and with it set their
    // WAL restarts changed (the WAL-reuse test in store_suite measured it).
    connection.pragma_update(None, "secure_delete", super::sqlite::SECURE_DELETE)?;
    // 16 MiB of page cache (negative means KiB), like the sqlx connections.
    connection.pragma_update(None, "cache_size", -16384)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Arc::new(Mutex::new(connection)))
}

/// A write transaction on the direct connection, for [`super::sql_tx::SqlTx`]. Dropping it
/// without `commit` rolls back.
///
/// `BEGIN IMMEDIATE` (which may wait for another process's lock) and `COMMIT` (the fsync) run
/// on a blocking thread; the statements between them only read the page cache and append to
/// it, and run where they are called.
pub(super) struct DirectTransaction {
    open: Open,
    checkpoints: Arc<Checkpoints>,
}

/// The connection, in a transaction, and the turn it writes in. However it is dropped (a
/// failed `COMMIT`, a caller that gave up, a future cancelled while its blocking part still
/// ran), an unfinished transaction is rolled back before the connection is free again.
struct Open {
    connection: OwnedMutexGuard<Connection>,
    _turn: Turn,
}

impl Drop for Open {
    fn drop(&mut self) {
        if !self.connection.is_autocommit() {
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }
}

impl DirectTransaction {
    pub(super) async fn begin(
        turn: Turn,
        connection: &SharedConnection,
        checkpoints: Arc<Checkpoints>,
    ) -> StoreResult<Self> {
        let open = Open {
            connection: connection.clone().lock_owned().await,
            _turn: turn,
        };
        let open = run_blocking(move || {
            let begun = open.connection.execute_batch("BEGIN IMMEDIATE");
            (open, begun)
        })
        .await?;
        Ok(Self { open, checkpoints })
    }

    pub(super) fn connection(&mut self) -> &mut Connection {
        &mut self.open.connection
    }

    pub(super) async fn commit(self) -> StoreResult<()> {
        let open = self.open;
        run_blocking(move || {
            let committed = open.connection.execute_batch("COMMIT");
            drop(open);
            ((), committed)
        })
        .await?;
        self.checkpoints.others_committed();
        Ok(())
    }
}

/// Ends the transaction `work` ran in: COMMIT when it succeeded, ROLLBACK when it failed, and
/// a ROLLBACK after a COMMIT that failed, so the connection is never left inside one.
pub(super) fn end_transaction<T>(connection: &mut Connection, work: StoreResult<T>) -> StoreResult<T> {
    let ended = match &work {
        Ok(_) => connection.execute_batch("COMMIT"),
        Err(_) => connection.execute_batch("ROLLBACK"),
    };
    if ended.is_err() && !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    ended?;
    work
}

/// Runs `work` on a blocking thread; it hands back what it was given along with the result.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> (T, rusqlite::Result<()>) + Send + 'static,
) -> StoreResult<T> {
    let (kept, result) = tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| StoreError::WriteAborted)?;
    result?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite_turns::WriteTurns;
    use sqlx::SqlitePool;

    /// A database with a `notes` table, the store's pieces over it, and `other`, a plain
    /// connection that plays another process.
    struct Database {
        _dir: tempfile::TempDir,
        turns: WriteTurns,
        direct: SharedConnection,
        checkpoints: Arc<Checkpoints>,
        other: Connection,
    }

    impl Database {
        async fn new(busy_timeout: Duration) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("direct.db");
            let other = Connection::open(&path).unwrap();
            other
                .execute_batch(
                    "PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
                )
                .unwrap();
            let pool = SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            Self {
                turns: WriteTurns::new(pool),
                direct: open(&path, busy_timeout).unwrap(),
                checkpoints: Checkpoints::open(&path, busy_timeout).unwrap(),
                other,
                _dir: dir,
            }
        }

        async fn begin(&self) -> StoreResult<DirectTransaction> {
            let turn = self.turns.for_others().await.unwrap();
            DirectTransaction::begin(turn, &self.direct, self.checkpoints.clone()).await
        }

        fn notes(&self) -> i64 {
            self.other
                .query_row("SELECT COUNT(*) FROM notes", [], |row| row.get(0))
                .unwrap()
        }
    }

    fn add_note(tx: &mut DirectTransaction, text: &str) {
        tx.connection()
            .execute("INSERT INTO notes (text) VALUES (?1)", [text])
            .unwrap();
    }

    #[tokio::test]
    async fn a_commit_is_seen_by_other_connections_and_a_drop_rolls_back() {
        let db = Database::new(Duration::from_secs(1)).await;
        let mut tx = db.begin().await.unwrap();
        add_note(&mut tx, "kept");
        tx.commit().await.unwrap();
        let mut tx = db.begin().await.unwrap();
        add_note(&mut tx, "dropped");
        drop(tx);
        assert_eq!(db.notes(), 1);
        assert!(db.direct.lock().await.is_autocommit(), "no transaction left open");
    }

    #[tokio::test]
    async fn a_begin_that_waits_out_another_writer_is_unavailable_and_leaves_the_connection_free() {
        let db = Database::new(Duration::from_millis(50)).await;
        db.other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = db
            .begin()
            .await
            .err()
            .expect("the other connection holds the write lock");
        assert!(err.is_unavailable(), "{err}");
        db.other.execute_batch("ROLLBACK").unwrap();
        let mut tx = db.begin().await.unwrap();
        add_note(&mut tx, "after");
        tx.commit().await.unwrap();
        assert_eq!(db.notes(), 1);
    }

    #[tokio::test]
    async fn a_begin_given_up_midway_still_rolls_back_before_the_connection_is_free() {
        let db = Database::new(Duration::from_secs(5)).await;
        db.other.execute_batch("BEGIN IMMEDIATE").unwrap();
        // The caller stops waiting while BEGIN still waits on its blocking thread.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), db.begin())
                .await
                .is_err()
        );
        db.other.execute_batch("ROLLBACK").unwrap();
        // BEGIN then succeeds on its thread with nobody to hand the transaction to.
        let connection = db.direct.lock().await;
        assert!(
            connection.is_autocommit(),
            "the abandoned transaction was rolled back"
        );
    }
}
