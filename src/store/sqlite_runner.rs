//! SQLite's [`Runner`]: writes in a turn on the direct connection, reads on a pool of rusqlite
//! readers, both on blocking threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use futures_util::future::BoxFuture;

use super::runner::Runner;
use super::sqlite_checkpoints::Checkpoints;
use super::sqlite_direct::{self, SharedConnection};
use super::sqlite_turns::WriteTurns;
use super::{StoreError, StoreResult};

/// Read connections: WAL lets them read while the writer writes.
const READERS: usize = 4;

/// Write steps between two copies of the whole WAL in a step's turn.
const STEPS_PER_COPY: u32 = 8;

pub(super) struct SqliteRunner {
    turns: WriteTurns,
    direct: SharedConnection,
    checkpoints: Arc<Checkpoints>,
    readers: Readers,
    closed: AtomicBool,
    /// Write steps committed, for copying the WAL whole every [`STEPS_PER_COPY`].
    steps: Arc<AtomicU32>,
}

impl SqliteRunner {
    pub(super) fn new(
        turns: WriteTurns,
        direct: SharedConnection,
        checkpoints: Arc<Checkpoints>,
        path: &Path,
        busy_timeout: Duration,
    ) -> Self {
        Self {
            turns,
            direct,
            checkpoints,
            readers: Readers::new(path, busy_timeout),
            closed: AtomicBool::new(false),
            steps: Arc::default(),
        }
    }

    /// Refuses all later work; the readers' connections close.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.readers
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    fn open(&self) -> StoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }
}

/// A pool of read-only connections, opened as they are first needed.
struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    fn new(path: &Path, busy_timeout: Duration) -> Self {
        Self {
            path: path.to_owned(),
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(READERS),
        }
    }

    fn take(&self) -> StoreResult<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open_reader(&self.path, self.busy_timeout),
        }
    }

    fn put_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(connection);
    }
}

fn open_reader(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    connection.busy_timeout(busy_timeout)?;
    // Readers delete nothing, but every connection says the same (`store::forget`).
    connection.pragma_update(None, "secure_delete", super::sqlite::SECURE_DELETE)?;
    // The page cache of the other connections (16 MiB): reports read the same index pages
    // again and again.
    connection.pragma_update(None, "cache_size", -16384)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

#[async_trait]
impl Runner for SqliteRunner {
    type Conn = Connection;

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.open()?;
        let _permit = self
            .permits()
            .acquire()
            .await
            .map_err(|_| StoreError::WriteAborted)?;
        let mut connection = self.readers.take()?;
        let runtime = tokio::runtime::Handle::current();
        let (connection, read) = tokio::task::spawn_blocking(move || {
            let read = runtime.block_on(work(&mut connection));
            (connection, read)
        })
        .await
        .map_err(|_| StoreError::WriteAborted)?;
        self.readers.put_back(connection);
        read
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.write_synced(Sync::Flushed, work).await
    }

    /// `synchronous=NORMAL` for the one commit: in WAL mode the commit then appends to the WAL
    /// without an fsync, and the next `FULL` commit's fsync of the WAL covers it too.
    async fn write_step<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.write_synced(Sync::Deferred, work).await
    }
}

/// Whether a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    Flushed,
    Deferred,
}

impl SqliteRunner {
    async fn write_synced<T, F>(&self, sync: Sync, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Connection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.open()?;
        let turn = self.turns.for_others().await?;
        let mut connection = self.direct.clone().lock_owned().await;
        let runtime = tokio::runtime::Handle::current();
        let checkpoints = self.checkpoints.clone();
        let steps = self.steps.clone();
        let written = tokio::task::spawn_blocking(move || {
            if sync == Sync::Deferred {
                connection.execute_batch("PRAGMA synchronous = NORMAL")?;
            }
            let written = match connection.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => {
                    let written = runtime.block_on(work(&mut connection));
                    sqlite_direct::end_transaction(&mut connection, written)
                }
                Err(err) => Err(err.into()),
            };
            // Back before the turn ends: every other commit on this connection waits for the disk.
            let restored = match sync {
                Sync::Deferred => connection.execute_batch("PRAGMA synchronous = FULL"),
                Sync::Flushed => Ok(()),
            };
            // Steps come many back to back, with the inbox writer's commits between them, so the
            // WAL is never copied whole and would grow through all of them (to ~130 MB for a
            // large forget, which then took ~130 ms to truncate while every writer waited). Every
            // few steps it is copied whole while no one can append, so the next commit starts
            // it over. Not after every step: each copy costs two fsyncs (~15 ms here).
            let copy_due = sync == Sync::Deferred
                && written.is_ok()
                && steps.fetch_add(1, Ordering::Relaxed).is_multiple_of(STEPS_PER_COPY);
            if copy_due && let Err(err) = checkpoints.copy_in_turn() {
                tracing::warn!(error = %err, "WAL checkpoint after a write step failed; upkeep copies it later");
            }
            drop(turn);
            restored?;
            written
        })
        .await
        .map_err(|_| StoreError::WriteAborted)?;
        self.checkpoints.others_committed();
        written
    }

    fn permits(&self) -> &Semaphore {
        &self.readers.permits
    }
}
