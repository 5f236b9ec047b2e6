//! The store over a database engine: every operation written once ([`SqlStore`]), the engine
//! supplying its connections ([`Runner`]) and what only it knows how to do ([`Engine`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::digest_queries::SqlDigests;
use super::forget::{ForgetStore, SqlForget};
use super::privacy::{PrivacyStore, SqlPrivacy};
use super::reads::SqlReads;
use super::runner::Runner;
use super::sql::{Executor, Statement};
use super::tokens::SqlTokens;
use super::workspaces::{SqlWorkspaces, WorkspaceStore};
use super::{
    ApiTokens, Backend, Circle, CircleChange, DigestStore, InsightReads, InsightTx, PRUNE_MESSAGES_SLICE,
    PRUNE_REACTIONS_SLICE, PRUNE_SLICE, Store, StoreResult, SweepMark, TxOutcome, TxWork, circles, inbox,
    prune_in_slices, sweeps, transaction,
};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId};
use crate::inbox::{
    Claim, InboxAppender, InboxCounts, InboxRow, InboxState, InboxStore, NewInboxItem, Requeue, Settlement,
};

/// What differs between SQLite and PostgreSQL beyond their SQL: opening, migrating, upkeep,
/// the inbox writer's held connection.
#[async_trait]
pub trait Engine: Runner {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations for this engine.
    async fn migrate(&self) -> StoreResult<()>;

    /// Periodic upkeep off the request path.
    async fn maintain(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Makes sure rows deleted so far are gone from the database's files too, not only from its
    /// tables (after a forget); whether it got all the way. Nothing to do unless the engine
    /// keeps old page images around.
    async fn erase_freed(&self) -> StoreResult<bool> {
        Ok(true)
    }

    /// Whether one writer at a time writes, every other waiting: then a long write is cut
    /// into short transactions, so the inbox writer's commits, which acknowledgements wait
    /// on, get in between.
    fn one_writer(&self) -> bool {
        false
    }

    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>>;

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>>;

    /// Runs `work` in a transaction; on the calling task unless the engine says otherwise.
    async fn run_transaction(&self, work: TxWork) -> StoreResult<TxOutcome> {
        transaction::run_here(self.begin().await, work).await
    }

    async fn close(&self);
}

/// The store on engine `E`. The engine is shared with the readers the store hands out, which
/// may outlive a call (an export's stream).
pub struct SqlStore<E> {
    pub(super) engine: Arc<E>,
}

impl<E> SqlStore<E> {
    pub(super) fn new(engine: E) -> Self {
        Self {
            engine: Arc::new(engine),
        }
    }
}

/// One slice of a prune ([`PRUNE_SLICE`] rows at most) of what is older than `before`.
fn prune_statement(sql: &'static str, before: i64) -> Statement {
    Statement::new(sql).bind(before).bind(PRUNE_SLICE)
}

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    fn backend(&self) -> Backend {
        self.engine.backend()
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.engine.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.engine
            .read(|c| {
                Box::pin(async move { c.fetch_one::<i64>(&Statement::new("SELECT 1")).await.map(drop) })
            })
            .await
    }

    async fn set_circle(&self, change: &CircleChange<'_>) -> StoreResult<bool> {
        circles::set(&*self.engine, change).await
    }

    async fn circles(&self, team_id: &TeamId) -> StoreResult<Vec<Circle>> {
        circles::of_team(&*self.engine, team_id).await
    }

    async fn is_circle(&self, team_id: &TeamId, channel_id: &ChannelId) -> StoreResult<bool> {
        circles::is_active(&*self.engine, team_id, channel_id).await
    }

    async fn sweep_marks(&self, team_id: Option<&TeamId>) -> StoreResult<Vec<SweepMark>> {
        sweeps::marks(&*self.engine, team_id).await
    }

    async fn advance_sweep_mark(
        &self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        swept_to: i64,
        swept_at: Millis,
    ) -> StoreResult<bool> {
        sweeps::advance(&*self.engine, team_id, channel_id, swept_to, swept_at).await
    }

    async fn begin(&self) -> StoreResult<Box<dyn InsightTx>> {
        self.engine.begin().await
    }

    async fn run_transaction(&self, work: TxWork) -> StoreResult<TxOutcome> {
        self.engine.run_transaction(work).await
    }

    fn reads(&self) -> Arc<dyn InsightReads> {
        Arc::new(SqlReads::new(self.engine.clone()))
    }

    fn tokens(&self) -> Arc<dyn ApiTokens> {
        Arc::new(SqlTokens::new(self.engine.clone()))
    }

    fn digests(&self) -> Arc<dyn DigestStore> {
        Arc::new(SqlDigests::new(self.engine.clone()))
    }

    fn workspaces(&self) -> Arc<dyn WorkspaceStore> {
        Arc::new(SqlWorkspaces::new(self.engine.clone()))
    }

    fn privacy(&self) -> Arc<dyn PrivacyStore> {
        Arc::new(SqlPrivacy::new(self.engine.clone()))
    }

    fn forgetting(&self) -> Arc<dyn ForgetStore> {
        Arc::new(SqlForget::new(self.engine.clone()))
    }

    async fn prune_messages(&self, before: Millis) -> StoreResult<u64> {
        prune_in_slices(|| self.prune_slice(PRUNE_MESSAGES_SLICE, before)).await
    }

    async fn prune_reactions(&self, before: Millis) -> StoreResult<u64> {
        prune_in_slices(|| self.prune_slice(PRUNE_REACTIONS_SLICE, before.saturating_mul(1000))).await
    }

    async fn maintain(&self) -> StoreResult<()> {
        self.engine.maintain().await
    }

    async fn close(&self) {
        self.engine.close().await
    }
}

impl<E: Engine> SqlStore<E> {
    /// One slice of a prune, in a write transaction of its own (on SQLite the inbox writer
    /// goes first between two).
    async fn prune_slice(&self, sql: &'static str, before: i64) -> StoreResult<u64> {
        let statement = prune_statement(sql, before);
        self.engine
            .write(move |c| Box::pin(async move { c.execute(&statement).await }))
            .await
    }
}

#[async_trait]
impl<E: Engine> InboxStore for SqlStore<E> {
    async fn insert_inbox(&self, items: &[NewInboxItem]) -> StoreResult<u64> {
        let items = items.to_vec();
        self.engine
            .write(move |c| Box::pin(async move { inbox::insert(c, &items).await }))
            .await
    }

    async fn claim_inbox_as(
        &self,
        owner: &str,
        now: Millis,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Claim> {
        let token = inbox::new_claim_token(owner);
        let lease_end = now + lease.as_millis() as i64;
        let claim_token = token.clone();
        let rows = self
            .engine
            .write(move |c| {
                Box::pin(async move { inbox::claim(c, &claim_token, now, lease_end, limit).await })
            })
            .await?;
        Ok(Claim { token, rows })
    }

    async fn extend_claim(&self, token: &str, until: Millis) -> StoreResult<u64> {
        let token = token.to_owned();
        self.engine
            .write(move |c| Box::pin(async move { inbox::extend_claim(c, &token, until).await }))
            .await
    }

    async fn release_claims_of(&self, owner: &str, now: Millis) -> StoreResult<u64> {
        let owner = owner.to_owned();
        self.engine
            .write(move |c| Box::pin(async move { inbox::release_claims_of(c, &owner, now).await }))
            .await
    }

    async fn settle_inbox(&self, token: &str, settlements: &[Settlement], now: Millis) -> StoreResult<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        let (token, settlements) = (token.to_owned(), settlements.to_vec());
        self.engine
            .write(move |c| Box::pin(async move { inbox::settle(c, &token, &settlements, now).await }))
            .await
    }

    async fn release_inbox(&self, token: &str, ids: &[i64], now: Millis) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (token, ids) = (token.to_owned(), ids.to_vec());
        self.engine
            .write(move |c| Box::pin(async move { inbox::release(c, &token, &ids, now).await }))
            .await
    }

    async fn prune_inbox(&self, finished_before: Millis) -> StoreResult<u64> {
        prune_in_slices(|| {
            self.engine
                .write(move |c| Box::pin(async move { inbox::prune_slice(c, finished_before).await }))
        })
        .await
    }

    async fn inbox_counts(&self) -> StoreResult<InboxCounts> {
        self.engine
            .read(|c| Box::pin(async move { inbox::counts(c).await }))
            .await
    }

    async fn list_inbox(&self, state: Option<InboxState>, limit: u32) -> StoreResult<Vec<InboxRow>> {
        self.engine
            .read(move |c| Box::pin(async move { inbox::list(c, state, limit).await }))
            .await
    }

    async fn find_inbox_by_event_id(&self, event_id: &str) -> StoreResult<Option<InboxRow>> {
        let event_id = event_id.to_owned();
        self.engine
            .read(move |c| Box::pin(async move { inbox::find_by_event_id(c, &event_id).await }))
            .await
    }

    async fn requeue_dead(&self, which: Requeue, now: Millis) -> StoreResult<u64> {
        self.engine
            .write(move |c| Box::pin(async move { inbox::requeue_dead(c, which, now).await }))
            .await
    }

    async fn inbox_appender(&self) -> StoreResult<Box<dyn InboxAppender>> {
        self.engine.inbox_appender().await
    }
}
