//! The SQLite inbox writer's commits, on the direct connection (see `sqlite_direct`): the
//! inbox's insert (its SQL written once in `inbox`) inside one `BEGIN IMMEDIATE … COMMIT`,
//! stepped on the writer's own thread, in its turn at writing.
//!
//! This is the one store path that binds rusqlite parameters itself rather than through a
//! `Statement`: it runs for every acknowledged event, and a `Statement` would copy each
//! payload into an owned value first (docs/BENCHMARKS.md, issue 22).

use rusqlite::{Connection, params};

use super::{StoreResult, inbox, sqlite_direct};
use crate::inbox::NewInboxItem;

/// Stores `items` in one transaction and returns how many were new (duplicates are skipped).
/// Blocks for the commit (its future is ready when made).
pub(super) async fn append(connection: &mut Connection, items: &[NewInboxItem]) -> StoreResult<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let stored = insert(connection, items);
    sqlite_direct::end_transaction(connection, stored)
}

fn insert(connection: &Connection, items: &[NewInboxItem]) -> StoreResult<u64> {
    let mut insert = connection.prepare_cached(inbox::INSERT_ONE)?;
    let mut stored = 0;
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
    Ok(stored)
}

/// A PASSIVE checkpoint; with no commit running beside it, it copies the whole WAL and the
/// next commit starts the WAL over from its beginning.
pub(super) fn checkpoint(connection: &Connection) -> StoreResult<()> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::inbox::InboxKind;
    use crate::store::sqlite_direct;
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
        let direct = sqlite_direct::open(&migrated(&dir).await, Duration::from_secs(1)).unwrap();
        let mut connection = direct.lock().await;
        assert_eq!(
            append(&mut connection, &[item("Ev1"), item("Ev2")])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            append(&mut connection, &[item("Ev2"), item("Ev3"), item("Ev3")])
                .await
                .unwrap(),
            1
        );
        assert_eq!(append(&mut connection, &[]).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_locked_database_is_unavailable_not_a_query_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = migrated(&dir).await;
        let direct = sqlite_direct::open(&path, Duration::from_millis(50)).unwrap();
        let mut connection = direct.lock().await;
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = append(&mut connection, &[item("Ev1")]).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(append(&mut connection, &[item("Ev1")]).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_statement_error_is_not_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        // A database without migrations: the inbox table is missing.
        Connection::open(&path).unwrap();
        let direct = sqlite_direct::open(&path, Duration::from_millis(50)).unwrap();
        let err = append(&mut *direct.lock().await, &[item("Ev1")])
            .await
            .unwrap_err();
        assert!(!err.is_unavailable(), "{err}");
    }
}
