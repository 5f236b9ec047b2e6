//! Who writes next on SQLite. SQLite takes one writer at a time, and every write happens in a
//! turn of sqlx's one write connection (see `sqlite_direct`).
//!
//! Acknowledgements wait on the inbox writer's commits, and nothing else a user sees waits on
//! a write. So the inbox writer takes its turn straight from the pool, while every other
//! writer (the workers' claims, settles and transactions) first queues behind the others: at
//! most one of them is ever ahead of the inbox writer. With both workers in the pool's queue,
//! a commit waited for two transactions, which showed in acknowledgements' p99 during a
//! capture burst (docs/BENCHMARKS.md).

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::StoreResult;

/// Cloned, the same turns: every writer of one store must queue behind the same `others`, or
/// two of them (a worker's claim through the runner, the other worker's capture transaction)
/// could both be in the pool's queue ahead of the inbox writer.
#[derive(Clone)]
pub(super) struct WriteTurns {
    pool: SqlitePool,
    others: Arc<Mutex<()>>,
}

/// A turn at writing: holding it keeps every other writer of this process out.
pub(super) struct Turn {
    // Declared first, so dropped first: the connection goes back to the pool, where a waiting
    // inbox writer takes it, before the next of the others may ask for it.
    _connection: PoolConnection<Sqlite>,
    _queue: Option<OwnedMutexGuard<()>>,
}

impl WriteTurns {
    pub(super) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            others: Arc::default(),
        }
    }

    pub(super) async fn for_inbox_writer(&self) -> StoreResult<Turn> {
        Ok(Turn {
            _connection: self.pool.acquire().await?,
            _queue: None,
        })
    }

    pub(super) async fn for_others(&self) -> StoreResult<Turn> {
        let queue = self.others.clone().lock_owned().await;
        Ok(Turn {
            _connection: self.pool.acquire().await?,
            _queue: Some(queue),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    #[tokio::test]
    async fn the_inbox_writer_goes_before_other_writers_that_queued_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("turns.db").display());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let turns = Arc::new(WriteTurns::new(pool));
        let (order, mut taken) = tokio::sync::mpsc::unbounded_channel();

        let first = turns.for_others().await.unwrap();
        let other = {
            let (turns, order) = (turns.clone(), order.clone());
            tokio::spawn(async move {
                let _turn = turns.for_others().await.unwrap();
                order.send("other").unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let writer = {
            let (turns, order) = (turns.clone(), order.clone());
            tokio::spawn(async move {
                let _turn = turns.for_inbox_writer().await.unwrap();
                order.send("inbox writer").unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        writer.await.unwrap();
        other.await.unwrap();
        assert_eq!(taken.recv().await, Some("inbox writer"));
        assert_eq!(taken.recv().await, Some("other"));
    }
}
