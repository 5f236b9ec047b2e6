//! The SQLite inbox writer's insert, on the direct connection (see `sqlite_direct`): one
//! prepared single-row statement per event inside one `BEGIN IMMEDIATE … COMMIT`.
//!
//! The inbox writer runs on a thread of its own and steps it there; `SqliteStore::insert_inbox`
//! runs it through `sqlite_direct::write`. Either way only in a turn of sqlx's write connection.

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::StoreResult;
use crate::inbox::NewInboxItem;

const INSERT: &str = "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (event_id) DO NOTHING";

/// Stores `items` in one transaction and returns how many were new (duplicates are skipped).
/// Blocks for the commit.
pub(super) fn append(connection: &mut Connection, items: &[NewInboxItem]) -> StoreResult<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored = append_in(&tx, items)?;
    tx.commit()?;
    Ok(stored)
}

/// Stores `items` in the open transaction `tx`; how many were new.
pub(super) fn append_in(tx: &Transaction<'_>, items: &[NewInboxItem]) -> StoreResult<u64> {
    let mut insert = tx.prepare_cached(INSERT)?;
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
        assert_eq!(append(&mut connection, &[item("Ev1"), item("Ev2")]).unwrap(), 2);
        assert_eq!(
            append(&mut connection, &[item("Ev2"), item("Ev3"), item("Ev3")]).unwrap(),
            1
        );
        assert_eq!(append(&mut connection, &[]).unwrap(), 0);
    }

    #[tokio::test]
    async fn a_locked_database_is_unavailable_not_a_query_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = migrated(&dir).await;
        let direct = sqlite_direct::open(&path, Duration::from_millis(50)).unwrap();
        let mut connection = direct.lock().await;
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = append(&mut connection, &[item("Ev1")]).unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(append(&mut connection, &[item("Ev1")]).unwrap(), 1);
    }

    #[tokio::test]
    async fn a_statement_error_is_not_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        // A database without migrations: the inbox table is missing.
        Connection::open(&path).unwrap();
        let direct = sqlite_direct::open(&path, Duration::from_millis(50)).unwrap();
        let err = append(&mut *direct.lock().await, &[item("Ev1")]).unwrap_err();
        assert!(!err.is_unavailable(), "{err}");
    }
}
