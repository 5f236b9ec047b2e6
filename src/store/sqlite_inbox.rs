//! The SQLite inbox writer's own connection, outside sqlx.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement and its
//! result across: two thread wake-ups per group commit, on a machine where the commit itself
//! (WAL append and fsync) is the whole acknowledgement latency. The inbox writer already runs
//! on a thread of its own, so it steps the insert itself: one prepared single-row statement per
//! event inside one `BEGIN IMMEDIATE … COMMIT`.
//!
//! `SqliteStore::insert_inbox` uses it too, on a blocking thread. Either way it writes only in
//! a turn of sqlx's one write connection (see `SqliteAppender`), so it never contends with the
//! workers' writes for SQLite's lock.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::{StoreError, StoreResult, is_unavailable_sqlite_code};
use crate::inbox::NewInboxItem;

const INSERT: &str = "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (event_id) DO NOTHING";

pub(super) struct DirectInbox {
    connection: Mutex<Connection>,
}

impl DirectInbox {
    /// Opens `path` with the same durability as the sqlx connections: WAL, `synchronous=FULL`
    /// (an acknowledged event survives a power cut), no checkpoint inside a commit.
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(busy_timeout)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        connection.set_prepared_statement_cache_capacity(4);
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // Only the inbox writer locks it; a panic mid-commit leaves SQLite to roll back.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `items` in one transaction and returns how many were new (duplicates are
    /// skipped). Blocks for the commit.
    pub(super) fn append(&self, items: &[NewInboxItem]) -> StoreResult<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut connection = self.connection();
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stored = 0;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for item in items {
                stored += insert.execute(params![
                    item.team_id,
                    item.event_id,
                    item.kind.as_str(),
                    item.event_type,
                    item.payload,
                    item.received_at,
                ])? as u64;
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// A PASSIVE checkpoint; with no commit running beside it, it copies the whole WAL and the
    /// next commit starts the WAL over from its beginning.
    pub(super) fn checkpoint(&self) -> StoreResult<()> {
        self.connection()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(ref failure, _)
                if is_unavailable_sqlite_code(failure.extended_code) =>
            {
                StoreError::SqliteUnavailable(err)
            }
            other => StoreError::Sqlite(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::InboxKind;
    use crate::store::{SqliteStore, Store};

    fn item(event_id: &str) -> NewInboxItem {
        NewInboxItem {
            team_id: "T0DIRECT".into(),
            event_id: event_id.into(),
            kind: InboxKind::Event,
            event_type: "reaction_added".into(),
            payload: "{}".into(),
            received_at: 1_000,
        }
    }

    async fn migrated(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("circlet.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store.close().await;
        path
    }

    #[tokio::test]
    async fn append_counts_only_new_events() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = DirectInbox::open(&migrated(&dir).await, Duration::from_secs(1)).unwrap();
        assert_eq!(inbox.append(&[item("Ev1"), item("Ev2")]).unwrap(), 2);
        assert_eq!(inbox.append(&[item("Ev2"), item("Ev3"), item("Ev3")]).unwrap(), 1);
        assert_eq!(inbox.append(&[]).unwrap(), 0);
    }

    #[tokio::test]
    async fn a_locked_database_is_unavailable_not_a_query_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = migrated(&dir).await;
        let inbox = DirectInbox::open(&path, Duration::from_millis(50)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = inbox.append(&[item("Ev1")]).unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(inbox.append(&[item("Ev1")]).unwrap(), 1);
    }

    #[test]
    fn a_statement_error_is_not_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        // A database without migrations: the inbox table is missing.
        Connection::open(&path).unwrap();
        let inbox = DirectInbox::open(&path, Duration::from_millis(50)).unwrap();
        let err = inbox.append(&[item("Ev1")]).unwrap_err();
        assert!(!err.is_unavailable(), "{err}");
    }
}
