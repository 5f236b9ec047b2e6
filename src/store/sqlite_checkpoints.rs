//! When SQLite's WAL is copied back into the database file, and by whom.
//!
//! No commit checkpoints (`wal_autocheckpoint=0`): an acknowledgement must never wait for one.
//! The inbox writer checkpoints between its commits, in its write turn, so no commit appends
//! while it copies: it catches up with the whole WAL and the next commit starts the WAL over
//! from its beginning, overwriting blocks the file already has (a cheaper fsync than growing
//! it, measured in docs/BENCHMARKS.md). That copy is small as long as the WAL holds mostly the
//! writer's own few pages.
//!
//! The workers write far more during a burst (a capture transaction dirties hundreds of
//! pages). Copying that in the writer's turn held every acknowledgement behind the copy: during
//! a capture burst it was the tail of their latency (docs/BENCHMARKS.md). So once other writers
//! have committed more than a little since the last full copy, the writer leaves the checkpoint
//! alone, and a checkpoint on a connection of its own, on a blocking thread and outside any
//! turn, copies the WAL while commits go on.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{StoreResult, sqlite_direct};

/// The writer checkpoints after this many of its commits (or rows): few enough WAL pages that
/// the commit waiting behind the copy is not held long (docs/BENCHMARKS.md).
const WRITER_COMMITS: u32 = 25;
const WRITER_ROWS: u32 = 500;

/// Other writers' commits since the last full copy that the writer still copies in its turn;
/// from this many on, the background checkpoint takes over.
const OTHERS_COMMITS: u32 = 4;

pub(super) struct Checkpoints {
    /// When the last commit of this process happened, in milliseconds since `started`.
    last_commit: AtomicU64,
    started: Instant,
    /// Whether the WAL was truncated since the last commit (nothing left to shrink).
    truncated: AtomicBool,
    writer_commits: AtomicU32,
    writer_rows: AtomicU32,
    others_commits: AtomicU32,
    background_running: AtomicBool,
    /// Only ever locked on a blocking thread, by the one background checkpoint running.
    background: Mutex<Connection>,
    /// Upkeep's own, so its copy never waits for (or holds up) a background one: they may
    /// run at once, and SQLite lets the second do what the first left.
    upkeep: Mutex<Connection>,
}

impl Checkpoints {
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Arc<Self>> {
        let connection = sqlite_direct::connect(path, busy_timeout)?;
        let upkeep = sqlite_direct::connect(path, busy_timeout)?;
        Ok(Arc::new(Self {
            last_commit: AtomicU64::new(0),
            started: Instant::now(),
            truncated: AtomicBool::new(false),
            writer_commits: AtomicU32::new(0),
            writer_rows: AtomicU32::new(0),
            others_commits: AtomicU32::new(0),
            background_running: AtomicBool::new(false),
            background: Mutex::new(connection),
            upkeep: Mutex::new(upkeep),
        }))
    }

    fn committed(&self) {
        let at = self.started.elapsed().as_millis() as u64;
        self.last_commit.store(at, Ordering::Relaxed);
        self.truncated.store(false, Ordering::Release);
    }

    /// Whether no commit happened for `idle` and the WAL was not truncated since the last one:
    /// after a burst the WAL file keeps its size (up to `journal_size_limit`) until then.
    pub(super) fn truncate_due(&self, idle: Duration) -> bool {
        let since = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_commit.load(Ordering::Relaxed)));
        since >= idle && !self.truncated.load(Ordering::Acquire)
    }

    /// Copies the whole WAL back and truncates it to nothing, on a blocking thread; whether it
    /// did. Call it in a write turn, so no commit of this process runs meanwhile; readers that
    /// keep the WAL in use make it return unfinished, and the next idle moment tries again.
    pub(super) async fn truncate(self: &Arc<Self>) -> StoreResult<bool> {
        let checkpoints = self.clone();
        let truncated = tokio::task::spawn_blocking(move || {
            let connection = checkpoints
                .background
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // (busy, WAL frames, frames copied); busy 0 means the WAL was reset.
            let busy: i64 = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            Ok::<_, rusqlite::Error>(busy == 0)
        })
        .await
        .map_err(|_| super::StoreError::WriteAborted)??;
        if truncated {
            self.truncated.store(true, Ordering::Release);
        }
        Ok(truncated)
    }

    /// Copies what it can of the WAL without waiting for or blocking anyone (upkeep), on a
    /// blocking thread.
    pub(super) async fn copy_passively(self: &Arc<Self>) -> StoreResult<()> {
        let checkpoints = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = checkpoints
                .upkeep
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .await
        .map_err(|_| super::StoreError::WriteAborted)??;
        Ok(())
    }

    /// Copies the whole WAL back now, on the calling (blocking) thread: for a writer that
    /// holds the write turn, so that nothing appends meanwhile and the next commit starts the
    /// WAL over. Under a steady stream of commits the WAL is otherwise never copied whole, and
    /// a long run of writes leaves a WAL of hundreds of megabytes.
    pub(super) fn copy_in_turn(&self) -> rusqlite::Result<()> {
        let connection = self
            .upkeep
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    }

    /// Copies the WAL back without blocking anyone until what is left is a few commits' worth
    /// (or `tries` copies were made), on a blocking thread: so that a truncation after it,
    /// which keeps every writer waiting, has little left to copy. A copy finds the WAL busy
    /// while a background one runs; it then waits a moment and tries again.
    pub(super) async fn copy_until_nearly_caught_up(self: &Arc<Self>, tries: u32) -> StoreResult<()> {
        /// Frames left that a truncation copies in about a millisecond.
        const FEW_FRAMES: i64 = 64;
        for _ in 0..tries {
            let checkpoints = self.clone();
            let (busy, frames, copied) = tokio::task::spawn_blocking(move || {
                let connection = checkpoints
                    .upkeep
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
            })
            .await
            .map_err(|_| super::StoreError::WriteAborted)??;
            if busy == 0 && frames - copied <= FEW_FRAMES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    pub(super) fn writer_committed(&self, rows: usize) {
        self.committed();
        self.writer_commits.fetch_add(1, Ordering::Relaxed);
        self.writer_rows.fetch_add(rows as u32, Ordering::Relaxed);
    }

    /// Whether the writer should checkpoint now, in its turn: enough of its own commits, little
    /// of anyone else's left to copy, and no background checkpoint copying. If so, counting
    /// starts over: the writer copies the whole WAL, since nothing appends during its turn.
    pub(super) fn writer_checkpoint_due(&self) -> bool {
        let enough = self.writer_commits.load(Ordering::Relaxed) >= WRITER_COMMITS
            || self.writer_rows.load(Ordering::Relaxed) >= WRITER_ROWS;
        if !enough
            || self.others_commits.load(Ordering::Relaxed) >= OTHERS_COMMITS
            || self.background_running.load(Ordering::Acquire)
        {
            return false;
        }
        self.writer_commits.store(0, Ordering::Relaxed);
        self.writer_rows.store(0, Ordering::Relaxed);
        self.others_commits.store(0, Ordering::Relaxed);
        true
    }

    /// Another writer committed; once enough is waiting, a background checkpoint copies it.
    pub(super) fn others_committed(self: &Arc<Self>) {
        self.committed();
        let waiting = self.others_commits.fetch_add(1, Ordering::Relaxed) + 1;
        if waiting < OTHERS_COMMITS || self.background_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let checkpoints = self.clone();
        tokio::task::spawn_blocking(move || checkpoints.copy_in_background());
    }

    fn copy_in_background(&self) {
        // Counted from here: commits that land while it copies are left for the next one.
        self.others_commits.store(0, Ordering::Relaxed);
        self.writer_commits.store(0, Ordering::Relaxed);
        self.writer_rows.store(0, Ordering::Relaxed);
        let connection = self
            .background
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(err) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "background WAL checkpoint failed; the next one retries");
        }
        drop(connection);
        self.background_running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoints() -> (tempfile::TempDir, Arc<Checkpoints>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x)")
            .unwrap();
        let checkpoints = Checkpoints::open(&path, Duration::from_secs(1)).unwrap();
        (dir, checkpoints)
    }

    #[tokio::test]
    async fn the_writer_checkpoints_after_enough_of_its_own_commits() {
        let (_dir, checkpoints) = checkpoints();
        for _ in 0..WRITER_COMMITS - 1 {
            checkpoints.writer_committed(1);
        }
        assert!(!checkpoints.writer_checkpoint_due());
        checkpoints.writer_committed(1);
        assert!(checkpoints.writer_checkpoint_due());
        assert!(!checkpoints.writer_checkpoint_due(), "counting starts over");
    }

    async fn until(condition: impl Fn() -> bool) {
        for _ in 0..400 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("condition not met within 2 s");
    }

    #[tokio::test]
    // The lock is held across the waits on purpose: it keeps the background checkpoint waiting.
    #[allow(clippy::await_holding_lock)]
    async fn others_writing_a_lot_moves_the_checkpoint_out_of_the_writers_turn() {
        let (_dir, checkpoints) = checkpoints();
        checkpoints.writer_committed(WRITER_ROWS as usize);
        for _ in 0..OTHERS_COMMITS - 1 {
            checkpoints.others_committed();
        }
        assert!(!checkpoints.background_running.load(Ordering::Acquire));
        assert!(
            checkpoints.writer_checkpoint_due(),
            "a few of others' commits are still the writer's to copy"
        );

        // Hold the background connection, so the background checkpoint waits mid-way.
        let held = checkpoints.background.lock().unwrap();
        for _ in 0..OTHERS_COMMITS {
            checkpoints.others_committed();
        }
        assert!(checkpoints.background_running.load(Ordering::Acquire));
        until(|| checkpoints.others_commits.load(Ordering::Relaxed) == 0).await;
        checkpoints.writer_committed(WRITER_ROWS as usize);
        assert!(
            !checkpoints.writer_checkpoint_due(),
            "the writer leaves the copy to the background checkpoint"
        );
        drop(held);
        until(|| !checkpoints.background_running.load(Ordering::Acquire)).await;
        assert!(checkpoints.writer_checkpoint_due(), "and takes it up again after");
    }
}
