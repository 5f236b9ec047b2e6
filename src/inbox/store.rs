//! The queue's storage: what the inbox needs of a database, written here and implemented by
//! the store's backends (the queue owns its trait, so it depends on no backend).

use std::time::Duration;

use async_trait::async_trait;

use super::{InboxCounts, InboxRow, InboxState, NewInboxItem};
use crate::clock::Millis;
use crate::store_error::StoreResult;

/// A batch of rows claimed by one worker; only the holder of `token` may settle them.
#[derive(Debug)]
pub struct Claim {
    pub token: String,
    pub rows: Vec<InboxRow>,
}

/// What happened to one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Done {
        id: i64,
    },
    Retry {
        id: i64,
        run_after: Millis,
        error: String,
    },
    Dead {
        id: i64,
        error: String,
    },
    /// Not run, and not an attempt: the row waits until `run_after` with its attempt given
    /// back (its workspace cannot be told yet, say).
    Postpone {
        id: i64,
        run_after: Millis,
    },
}

impl Settlement {
    pub fn id(&self) -> i64 {
        match self {
            Settlement::Done { id }
            | Settlement::Retry { id, .. }
            | Settlement::Dead { id, .. }
            | Settlement::Postpone { id, .. } => *id,
        }
    }
}

/// Which dead rows to put back in the queue.
#[derive(Debug, Clone, Copy)]
pub enum Requeue {
    One(i64),
    AllDead,
}

impl Requeue {
    /// The one row meant, or None for all dead rows.
    pub fn id(self) -> Option<i64> {
        match self {
            Requeue::One(id) => Some(id),
            Requeue::AllDead => None,
        }
    }
}

/// Durable storage of the inbox's rows, shared by the request path (through the writer), the
/// workers and the command line.
#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// Stores new rows in one transaction, ignoring any whose `event_id` is already stored
    /// (Slack's retries). Returns how many rows this call stored.
    async fn insert_inbox(&self, items: &[NewInboxItem]) -> StoreResult<u64>;

    /// Atomically claims up to `limit` due rows for `lease`, oldest first, plus up to
    /// `URGENT_CLAIM` due interactions and commands ahead of them; a claim that lapses (its
    /// worker died) makes the row due again. The claim's token names `owner` (a process, see
    /// [`InboxStore::release_claims_of`]); an empty owner names none.
    async fn claim_inbox_as(
        &self,
        owner: &str,
        now: Millis,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Claim>;

    /// [`InboxStore::claim_inbox_as`] by no owner in particular.
    async fn claim_inbox(&self, now: Millis, lease: Duration, limit: u32) -> StoreResult<Claim> {
        self.claim_inbox_as("", now, lease, limit).await
    }

    /// Extends a claim's rows that are still running to `until`, so a batch that runs long
    /// (Slack slow) is not taken over by another worker while it runs. Returns how many.
    async fn extend_claim(&self, token: &str, until: Millis) -> StoreResult<u64>;

    /// Puts back in the queue, due at `now`, the rows a process left running when it died:
    /// on PostgreSQL those claimed by `owner` (this process's earlier life, recognised by
    /// name); on SQLite every running row, since one process owns the file. Their attempt
    /// stays counted, so a row that crashes its process every time still ends up dead.
    async fn release_claims_of(&self, owner: &str, now: Millis) -> StoreResult<u64>;

    /// Records outcomes of claimed rows in one transaction; rows whose claim was lost are skipped.
    async fn settle_inbox(&self, token: &str, settlements: &[Settlement], now: Millis) -> StoreResult<()>;

    /// Gives claimed but unstarted rows back, e.g. on shutdown.
    async fn release_inbox(&self, token: &str, ids: &[i64], now: Millis) -> StoreResult<()>;

    /// Deletes finished rows older than `finished_before`; returns how many.
    async fn prune_inbox(&self, finished_before: Millis) -> StoreResult<u64>;

    async fn inbox_counts(&self) -> StoreResult<InboxCounts>;

    /// Newest first; `state` filters when given.
    async fn list_inbox(&self, state: Option<InboxState>, limit: u32) -> StoreResult<Vec<InboxRow>>;

    async fn find_inbox_by_event_id(&self, event_id: &str) -> StoreResult<Option<InboxRow>>;

    /// Puts dead rows back to pending with a fresh attempt budget; returns how many.
    async fn requeue_dead(&self, which: Requeue, now: Millis) -> StoreResult<u64>;

    /// The inbox writer's own connection, for a run of back-to-back commits (see
    /// [`InboxAppender`]).
    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>>;
}

/// One connection kept by the inbox writer while batches keep coming. Taking a pooled
/// connection per commit costs a liveness check when it goes back (sqlx pings every released
/// connection), and the next commit waits for it; held, back-to-back commits run one after the
/// other. The writer lets go once its queue has been empty for a millisecond, or after ten, so
/// SQLite's one write connection is shared fairly with the workers.
///
/// The inbox writer runs on a thread of its own, so an appender may block that thread for the
/// length of a commit (SQLite's does, to skip sqlx's thread hop); it is never used elsewhere.
#[async_trait]
pub trait InboxAppender: Send {
    /// Same as [`InboxStore::insert_inbox`], on the held connection.
    async fn append(&mut self, items: &[NewInboxItem]) -> StoreResult<u64>;

    /// Upkeep after a commit's requests were answered, while no ingest commit runs, so it
    /// delays no acknowledgement (SQLite: a checkpoint that lets the WAL start over).
    async fn upkeep(&mut self) -> StoreResult<()> {
        Ok(())
    }
}
