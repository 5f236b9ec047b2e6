//! Storage: one interface, a SQLite and a PostgreSQL implementation, chosen by `DATABASE_URL`.
//!
//! All SQL lives below this module; callers speak in inbox rows and outcomes.

pub mod digest;
mod direct_sql;
mod insight_tx;
pub mod insights;
mod postgres;
pub mod reads;
mod reads_sql;
mod sqlite;
mod sqlite_checkpoints;
mod sqlite_direct;
mod sqlite_inbox;
mod sqlite_turns;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use digest::{
    DigestStore, FailedPost, HomeInsight, PostKey, PostKind, Prompt, RecapCircle, ScheduleTx, StatusMove,
};
pub use insights::{
    Activity, ActivityKind, CachedMessage, EmojiOverride, Insight, InsightDetails, InsightSource,
    InsightStatus, InsightTx, Membership, MembershipChange, MessageRef, Named, NewInsight, ReactionChange,
    Reply, Rule, TAG_SEPARATOR, TagSource, day_of,
};
pub use postgres::PostgresStore;
pub use reads::{
    Breakdown, CircleEngagement, Contributor, ExportPages, InsightFilter, InsightReads, InsightRow,
    InsightRowStream, Window,
};
pub use sqlite::SqliteStore;
pub use tokens::{ApiToken, ApiTokens, NewApiToken};

use crate::clock::Millis;
use crate::inbox::{InboxCounts, InboxKind, InboxRow, InboxState, NewInboxItem};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got {scheme:?})")]
    UnsupportedUrl { scheme: String },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    /// From SQLite's direct connection (`sqlite_direct`).
    #[error("database unavailable: {0}")]
    SqliteUnavailable(#[source] rusqlite::Error),
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The thread running a blocking write ended before it answered (runtime shutdown).
    #[error("database unavailable: the write was cut short")]
    WriteAborted,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err),
            sqlx::Error::Database(ref db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(err)
            }
            other => StoreError::Query(other),
        }
    }
}

/// Whether a database error means "the store is not usable right now" (reported as 503 so
/// Slack retries) rather than "this statement is wrong".
fn is_unavailable_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    match code.parse::<i32>() {
        Ok(sqlite_code) => is_unavailable_sqlite_code(sqlite_code),
        // PostgreSQL SQLSTATE: connection exceptions, operator intervention (shutdown),
        // insufficient resources, and a dropped database.
        Err(_) => {
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "3D000"
        }
    }
}

/// SQLite result codes for "not usable right now": BUSY, LOCKED, READONLY, IOERR, FULL,
/// CANTOPEN. The primary code is the low byte of an extended one.
pub(super) fn is_unavailable_sqlite_code(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::SqliteUnavailable(_) | StoreError::WriteAborted
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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
}

impl Settlement {
    pub fn id(&self) -> i64 {
        match self {
            Settlement::Done { id } | Settlement::Retry { id, .. } | Settlement::Dead { id, .. } => *id,
        }
    }
}

/// A channel's circle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub team_id: String,
    pub channel_id: String,
    pub active: bool,
    pub changed_by: Option<String>,
    pub updated_at: Millis,
}

/// A circle being turned on or off, and by whom (a user, or None for Slack's own events).
#[derive(Debug, Clone, Copy)]
pub struct CircleChange<'a> {
    pub team_id: &'a str,
    pub channel_id: &'a str,
    pub active: bool,
    pub changed_by: Option<&'a str>,
    pub at: Millis,
}

/// Which dead rows to put back in the queue.
#[derive(Debug, Clone, Copy)]
pub enum Requeue {
    One(i64),
    AllDead,
}

impl Requeue {
    /// The one row meant, or None for all dead rows.
    pub(crate) fn id(self) -> Option<i64> {
        match self {
            Requeue::One(id) => Some(id),
            Requeue::AllDead => None,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations for this backend.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores new rows in one transaction, ignoring any whose `event_id` is already stored
    /// (Slack's retries). Returns how many rows this call stored.
    async fn insert_inbox(&self, items: &[NewInboxItem]) -> StoreResult<u64>;

    /// Atomically claims up to `limit` due rows for `lease`, oldest first, plus up to
    /// `URGENT_CLAIM` due interactions and commands ahead of them; a claim that lapses (its
    /// worker died) makes the row due again.
    async fn claim_inbox(&self, now: Millis, lease: Duration, limit: u32) -> StoreResult<Claim>;

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

    /// Makes a channel a circle (`active`) or stops capture there. Returns whether anything
    /// changed, so callers can tell "added" from "already a circle".
    async fn set_circle(&self, change: &CircleChange<'_>) -> StoreResult<bool>;

    /// The workspace's circles, active ones first, then by channel.
    async fn circles(&self, team_id: &str) -> StoreResult<Vec<Circle>>;

    /// Whether the channel is an active circle.
    async fn is_circle(&self, team_id: &str, channel_id: &str) -> StoreResult<bool>;

    /// Opens a transaction over capture and tagging data.
    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>>;

    /// Queries for reports and exports, off the write path.
    fn reads(&self) -> Arc<dyn InsightReads>;

    /// The export API's tokens.
    fn tokens(&self) -> Arc<dyn ApiTokens>;

    /// Digests, recaps, prompts and App Home.
    fn digests(&self) -> Arc<dyn DigestStore>;

    /// Drops cached messages seen before `before`, except those an insight was made from.
    async fn prune_messages(&self, before: Millis) -> StoreResult<u64>;

    /// Periodic upkeep off the request path (SQLite: checkpoint the WAL into the database file,
    /// which would otherwise stall whichever commit crosses the auto-checkpoint threshold).
    async fn maintain(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The inbox writer's own connection, for a run of back-to-back commits (see
    /// [`InboxAppender`]).
    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>>;

    async fn close(&self);
}

pub type SharedStore = Arc<dyn Store>;

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
    /// Same as [`Store::insert_inbox`], on the held connection.
    async fn append(&mut self, items: &[NewInboxItem]) -> StoreResult<u64>;

    /// Upkeep after a commit's requests were answered, while no ingest commit runs, so it
    /// delays no acknowledgement (SQLite: a checkpoint that lets the WAL start over).
    async fn upkeep(&mut self) -> StoreResult<()> {
        Ok(())
    }
}

/// Opens the store named by `database_url` (creating a SQLite file if missing).
pub async fn connect(database_url: &str) -> StoreResult<SharedStore> {
    let scheme = database_url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::connect(database_url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::connect(database_url).await?)),
        other => Err(StoreError::UnsupportedUrl {
            scheme: other.to_owned(),
        }),
    }
}

/// Drops cached messages seen before `$1`; those an insight was made from stay, so later replies
/// and edits still find them. One text for both backends.
pub(crate) const PRUNE_MESSAGES: &str = "DELETE FROM messages WHERE seen_at < $1 AND NOT EXISTS (SELECT 1 FROM insights i \
     WHERE i.team_id = messages.team_id AND i.channel_id = messages.channel_id AND i.message_ts = messages.ts)";

/// Interactions and commands a claim takes on top of its limit, ahead of older events.
pub(crate) const URGENT_CLAIM: i64 = 8;

pub(crate) fn new_claim_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A circle as both backends read it: team, channel, active, changed_by, updated_at.
pub(crate) type CircleRow = (String, String, bool, Option<String>, i64);

pub(crate) fn circle_from_row((team_id, channel_id, active, changed_by, updated_at): CircleRow) -> Circle {
    Circle {
        team_id,
        channel_id,
        active,
        changed_by,
        updated_at,
    }
}

/// An inbox row as both backends read it, in [`ROW_COLUMNS`] order.
pub(crate) type RowParts = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i32,
    String,
    Option<String>,
);

pub(crate) fn row_from_parts(parts: RowParts) -> StoreResult<InboxRow> {
    let (id, team_id, event_id, kind, event_type, payload, received_at, attempts, state, last_error) = parts;
    Ok(InboxRow {
        id,
        team_id,
        event_id,
        kind: kind
            .parse::<InboxKind>()
            .map_err(|_| StoreError::Corrupt(format!("inbox {id}: unknown kind {kind:?}")))?,
        event_type,
        payload,
        received_at,
        attempts: attempts.max(0) as u32,
        state: state
            .parse::<InboxState>()
            .map_err(|_| StoreError::Corrupt(format!("inbox {id}: unknown state {state:?}")))?,
        last_error,
    })
}

pub(crate) const ROW_COLUMNS: &str =
    "id, team_id, event_id, kind, event_type, payload, received_at, attempts, state, last_error";
