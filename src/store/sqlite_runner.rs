//! SQLite's [`Runner`]: writes in a turn on the direct connection, reads on a pool of rusqlite
//! readers, both on blocking threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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

pub(super) struct SqliteRunner {
    turns: WriteTurns,
    direct: SharedConnection,
    checkpoints: Arc<Checkpoints>,
    readers: Readers,
    closed: AtomicBool,
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
        self.open()?;
        let turn = self.turns.for_others().await?;
        let mut connection = self.direct.clone().lock_owned().await;
        let runtime = tokio::runtime::Handle::current();
        let written = tokio::task::spawn_blocking(move || {
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let written = runtime.block_on(work(&mut connection));
            let ended = sqlite_direct::end_transaction(&mut connection, written);
            drop(turn);
            ended
        })
        .await
        .map_err(|_| StoreError::WriteAborted)?;
        self.checkpoints.others_committed();
        written
    }
}

impl SqliteRunner {
    fn permits(&self) -> &Semaphore {
        &self.readers.permits
    }
}
