//! Storage: one interface, a SQLite and a PostgreSQL implementation, chosen by `DATABASE_URL`.
//!
//! All SQL lives below this module; callers speak in inbox rows and outcomes.

mod circles;
pub mod digest;
mod digest_queries;
mod engine;
mod export_queries;
pub mod forget;
mod inbox;
pub mod insights;
pub mod member_data;
mod postgres;
mod postgres_runner;
pub mod privacy;
pub mod reads;
mod report_queries;
mod runner;
pub mod sql;
mod sql_tx;
mod sqlite;
mod sqlite_checkpoints;
mod sqlite_direct;
mod sqlite_inbox;
mod sqlite_runner;
mod sqlite_turns;
mod sweeps;
pub mod tokens;
mod transaction;
pub mod workspaces;

use std::sync::Arc;

use async_trait::async_trait;

pub use digest::{
    DigestStore, FailedPost, HomeInsight, PostKey, PostKind, Prompt, RecapCircle, ScheduleTx, StatusMove,
    Voter,
};
pub use engine::SqlStore;
pub use forget::{ForgetMember, ForgetStore, Forgotten, MemberState};
pub use insights::{
    Activity, ActivityKind, CachedMessage, CircleCount, EmojiOverride, Insight, InsightDetails,
    InsightSource, InsightStatus, InsightTx, MAX_REVISIONS, Membership, MembershipChange, MessageRef, Named,
    NewInsight, NewRule, Person, Reaction, ReactionChange, Reply, Rule, TAG_SEPARATOR, TagSource, day_of,
};
pub use postgres::PostgresStore;
pub use privacy::{MemberData, PrivacyRun, PrivacyStore};
pub use reads::{
    Breakdown, CircleEngagement, Contributor, ExportPages, InsightFilter, InsightReads, InsightRow,
    InsightRowStream, Window,
};
pub use sqlite::SqliteStore;
pub use sweeps::SweepMark;
pub use tokens::{ApiToken, ApiTokens, NewApiToken, TokenTeam};
pub use transaction::{TxOutcome, TxWork, transaction, transaction_with};
pub use workspaces::{Installation, Purged, RotatedTokens, SettingChange, WorkspaceSettings, WorkspaceStore};

use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};
pub use crate::inbox::{Claim, InboxAppender, InboxStore, Requeue, Settlement};
pub use crate::store_error::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A channel's circle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub active: bool,
    /// Read leniently (see [`sql::Lenient`]).
    pub changed_by: Option<UserId>,
    pub updated_at: Millis,
}

/// A circle being turned on or off, and by whom (a user, or None for Slack's own events).
#[derive(Debug, Clone, Copy)]
pub struct CircleChange<'a> {
    pub team_id: &'a TeamId,
    pub channel_id: &'a ChannelId,
    pub active: bool,
    pub changed_by: Option<&'a UserId>,
    pub at: Millis,
}

#[async_trait]
pub trait Store: InboxStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations for this backend.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Makes a channel a circle (`active`) or stops capture there. Returns whether anything
    /// changed, so callers can tell "added" from "already a circle".
    async fn set_circle(&self, change: &CircleChange<'_>) -> StoreResult<bool>;

    /// The workspace's circles, active ones first, then by channel.
    async fn circles(&self, team_id: &TeamId) -> StoreResult<Vec<Circle>>;

    /// Whether the channel is an active circle.
    async fn is_circle(&self, team_id: &TeamId, channel_id: &ChannelId) -> StoreResult<bool>;

    /// How far each circle's history has been read by backfill: one workspace's, or all.
    async fn sweep_marks(&self, team_id: Option<&TeamId>) -> StoreResult<Vec<SweepMark>>;

    /// Moves a circle's sweep mark forward (never back); whether it moved.
    async fn advance_sweep_mark(
        &self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        swept_to: i64,
        swept_at: Millis,
    ) -> StoreResult<bool>;

    /// Opens a transaction over capture and tagging data, held by the caller: for tests and
    /// tools that hold one open on purpose. Application code runs its work through
    /// [`transaction()`], which lets the backend choose the thread.
    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>>;

    /// Runs `work` in a transaction where this backend runs them (see [`transaction()`], the
    /// typed way to call it).
    async fn run_transaction(&self, work: TxWork) -> StoreResult<TxOutcome>;

    /// Queries for reports and exports, off the write path.
    fn reads(&self) -> Arc<dyn InsightReads>;

    /// The export API's tokens.
    fn tokens(&self) -> Arc<dyn ApiTokens>;

    /// Digests, recaps, prompts and App Home.
    fn digests(&self) -> Arc<dyn DigestStore>;

    /// Installations, links, per-workspace settings and "Add to Slack" states.
    fn workspaces(&self) -> Arc<dyn WorkspaceStore>;

    /// Retention, uninstall purges and what is held about a member (ARCHITECTURE §13).
    fn privacy(&self) -> Arc<dyn PrivacyStore>;

    /// Forgetting members (ARCHITECTURE §13).
    fn forgetting(&self) -> Arc<dyn ForgetStore>;

    /// Drops cached messages seen before `before`, except those an insight was made from, in
    /// slices of [`PRUNE_SLICE`] rows.
    async fn prune_messages(&self, before: Millis) -> StoreResult<u64>;

    /// Drops reaction rows from before `before` that no insight or cached message needs, in
    /// slices of [`PRUNE_SLICE`] rows.
    async fn prune_reactions(&self, before: Millis) -> StoreResult<u64>;

    /// Periodic upkeep off the request path (SQLite: checkpoint the WAL into the database file,
    /// which would otherwise stall whichever commit crosses the auto-checkpoint threshold).
    async fn maintain(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn close(&self);
}

pub type SharedStore = Arc<dyn Store>;

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

/// Rows one pruning statement deletes at most: a prune after a long downtime runs as many short
/// statements, each a turn of its own, so acknowledgements never wait behind one long delete.
pub const PRUNE_SLICE: i64 = 5000;

/// Drops up to `$2` cached messages seen before `$1`; those an insight was made from stay, so
/// later replies and edits still find them. One text for both backends.
pub(crate) const PRUNE_MESSAGES_SLICE: &str = "DELETE FROM messages WHERE (team_id, channel_id, ts) IN \
     (SELECT m.team_id, m.channel_id, m.ts FROM messages m WHERE m.seen_at < $1 AND NOT EXISTS \
      (SELECT 1 FROM insights i WHERE i.team_id = m.team_id AND i.channel_id = m.channel_id AND i.message_ts = m.ts) \
      LIMIT $2)";

/// Drops up to `$2` reaction rows older than `$1` (Slack's `event_ts`, microseconds) that no
/// insight and no cached message needs: a reaction is kept only to count on a capture of its
/// message, which needs the message cached or already captured. One text for both backends.
pub(crate) const PRUNE_REACTIONS_SLICE: &str = "DELETE FROM reactions WHERE \
     (team_id, channel_id, message_ts, user_id, emoji) IN \
     (SELECT r.team_id, r.channel_id, r.message_ts, r.user_id, r.emoji FROM reactions r WHERE r.event_ts < $1 \
      AND NOT EXISTS (SELECT 1 FROM insights i \
          WHERE i.team_id = r.team_id AND i.channel_id = r.channel_id AND i.message_ts = r.message_ts) \
      AND NOT EXISTS (SELECT 1 FROM messages m \
          WHERE m.team_id = r.team_id AND m.channel_id = r.channel_id AND m.ts = r.message_ts) \
      LIMIT $2)";

/// Runs `slice` until it deletes fewer than [`PRUNE_SLICE`] rows; returns how many in all.
pub(crate) async fn prune_in_slices<F, Fut>(mut slice: F) -> StoreResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = slice().await?;
        total += deleted;
        if deleted < PRUNE_SLICE as u64 {
            return Ok(total);
        }
    }
}
