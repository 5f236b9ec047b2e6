//! Retention and uninstall purges (ARCHITECTURE §13): insights past `CIRCLET_RETENTION_DAYS`
//! deleted with everything attached, uninstalled workspaces purged once
//! `CIRCLET_UNINSTALL_RETENTION_DAYS` have passed, and a record of each daily run for `/readyz`.
//! Written once over an engine's runner.

use std::sync::Arc;

use async_trait::async_trait;

use super::insights::INSIGHT_CHILDREN;
use super::runner::{RunStatement, Runner};
use super::sql::{Columns, Executor, FromRow, Row, Statement, in_list};
use super::workspaces::{Purged, delete_workspace_rows};
use super::{PRUNE_SLICE, StoreResult, day_of, member_data, prune_in_slices};
use crate::clock::Millis;
use crate::ids::{TeamId, UserId};

pub use super::member_data::MemberData;

/// What one daily privacy run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyRun {
    /// The UTC day (days since the Unix epoch) the run was for.
    pub day: i64,
    pub finished_at: Millis,
    pub insights_deleted: u64,
    pub workspaces_purged: u64,
}

impl FromRow for PrivacyRun {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(PrivacyRun {
            day: c.take()?,
            finished_at: c.take()?,
            insights_deleted: c.take::<i64>()?.max(0) as u64,
            workspaces_purged: c.take::<i64>()?.max(0) as u64,
        })
    }
}

#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Deletes the insights whose message was posted before `before`, with everything attached
    /// (revisions, tags, sources, votes, replies, status changes, the cached message and its
    /// thread, reactions on it) and the insights merged into them; in slices, each its own
    /// transaction. The day counts reports read stay exact (their triggers). How many insights
    /// went.
    async fn expire_insights(&self, before: Millis) -> StoreResult<u64>;

    /// Deletes member activity of the days before `before`'s day and finished inbox rows
    /// (which hold Slack's payloads) received before `before`; how many rows went.
    async fn expire_activity(&self, before: Millis) -> StoreResult<u64>;

    /// Single-workspace mode: records that Slack uninstalled the app (the first time is kept).
    async fn record_uninstall(&self, team_id: &TeamId, at: Millis) -> StoreResult<()>;

    /// Single-workspace mode: the token works again, so the pending purge is cancelled.
    /// Whether one was pending.
    async fn cancel_uninstall(&self, team_id: &TeamId) -> StoreResult<bool>;

    /// Workspaces uninstalled at or before `before` and not installed again.
    async fn uninstalled_before(&self, before: Millis) -> StoreResult<Vec<TeamId>>;

    /// Purges the workspace if it is still uninstalled since `before` or earlier, checked in
    /// the purge's own transaction (a reinstall a moment ago wins). None when not due.
    async fn purge_uninstalled(&self, team_id: &TeamId, before: Millis) -> StoreResult<Option<Purged>>;

    /// Keeps what a run did (one row per day; a day's second run replaces it).
    async fn record_run(&self, run: &PrivacyRun) -> StoreResult<()>;

    /// The latest run.
    async fn last_run(&self) -> StoreResult<Option<PrivacyRun>>;

    /// Everything held about one member in one workspace, their own words only.
    async fn member_data(&self, team_id: &TeamId, user_id: &UserId) -> StoreResult<MemberData>;
}

/// Whether a workspace's purge is due: uninstalled through "Add to Slack" at or before `$2`,
/// or (single-workspace mode) recorded so with no active installation since.
const DUE: &str = "SELECT team_id FROM installations WHERE uninstalled_at <= $2 AND {installation} \
     UNION SELECT u.team_id FROM uninstalls u WHERE u.uninstalled_at <= $2 AND {uninstall} \
     AND NOT EXISTS (SELECT 1 FROM installations i WHERE i.team_id = u.team_id AND i.uninstalled_at IS NULL)";

/// [`PrivacyStore`] over an engine's runner.
pub(super) struct SqlPrivacy<R> {
    runner: Arc<R>,
}

impl<R> SqlPrivacy<R> {
    pub(super) fn new(runner: Arc<R>) -> Self {
        Self { runner }
    }
}

impl<R: Runner> SqlPrivacy<R> {
    /// One slice of [`PrivacyStore::expire_insights`]; how many insights it deleted.
    async fn expire_slice(&self, before_secs: i64) -> StoreResult<u64> {
        self.runner
            .write(move |c| Box::pin(async move { expire_slice(c, before_secs).await }))
            .await
    }
}

/// Deletes up to [`PRUNE_SLICE`] expired insights (and those merged into them) with what is
/// attached, in the caller's transaction.
async fn expire_slice<C: Executor>(c: &mut C, before_secs: i64) -> StoreResult<u64> {
    let dialect = c.dialect();
    // Slack's message time: the ts is seconds since the epoch, as text.
    let mut ids: Vec<i64> = c
        .fetch_all(
            &Statement::new(
                "SELECT id FROM insights WHERE CAST(message_ts AS DOUBLE PRECISION) < $1 ORDER BY id LIMIT $2",
            )
            .bind(before_secs)
            .bind(PRUNE_SLICE),
        )
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // A merge moved a merged insight's votes, tags and replies into its target: an insight
    // merged into an expired one is only its shell, and goes with it.
    let merged: Vec<i64> = c
        .fetch_all(
            &Statement::new(format!(
                "SELECT id FROM insights WHERE {}",
                in_list(dialect, "merged_into", "$1")
            ))
            .bind(ids.clone()),
        )
        .await?;
    ids.extend(merged);
    ids.sort_unstable();
    ids.dedup();
    for table in INSIGHT_CHILDREN {
        let statement = Statement::new(format!(
            "DELETE FROM {table} WHERE {}",
            in_list(dialect, "insight_id", "$1")
        ));
        c.execute(&statement.bind(ids.clone())).await?;
    }
    // The cached message, its thread, and the reactions on it, each found by its key index.
    let messages = format!(
        "(SELECT team_id, channel_id, message_ts FROM insights WHERE {})",
        in_list(dialect, "id", "$1")
    );
    for (table, key) in [
        ("messages", "team_id, channel_id, ts"),
        ("messages", "team_id, channel_id, thread_ts"),
        ("reactions", "team_id, channel_id, message_ts"),
    ] {
        let statement = Statement::new(format!("DELETE FROM {table} WHERE ({key}) IN {messages}"));
        c.execute(&statement.bind(ids.clone())).await?;
    }
    let deleted = c
        .execute(
            &Statement::new(format!(
                "DELETE FROM insights WHERE {}",
                in_list(dialect, "id", "$1")
            ))
            .bind(ids),
        )
        .await?;
    // The triggers counted the deleted insights out of their days; emptied days go too.
    c.execute(&Statement::new("DELETE FROM insight_days WHERE count <= 0"))
        .await?;
    Ok(deleted)
}

/// Deletes up to `$2` member activity rows of days before `$1`.
const EXPIRE_ACTIVITY_SLICE: &str = "DELETE FROM member_activity WHERE (team_id, day, channel_id, user_id) IN \
     (SELECT team_id, day, channel_id, user_id FROM member_activity WHERE day < $1 LIMIT $2)";

/// Deletes up to `$2` finished inbox rows received before `$1`.
const EXPIRE_INBOX_SLICE: &str = "DELETE FROM inbox WHERE id IN \
     (SELECT id FROM inbox WHERE state IN ('done', 'dead') AND received_at < $1 LIMIT $2)";

#[async_trait]
impl<R: Runner> PrivacyStore for SqlPrivacy<R> {
    async fn expire_insights(&self, before: Millis) -> StoreResult<u64> {
        let before_secs = before.div_euclid(1000);
        prune_in_slices(|| self.expire_slice(before_secs)).await
    }

    async fn expire_activity(&self, before: Millis) -> StoreResult<u64> {
        let mut deleted = 0;
        for (sql, bound) in [
            (EXPIRE_ACTIVITY_SLICE, day_of(before)),
            (EXPIRE_INBOX_SLICE, before),
        ] {
            deleted += prune_in_slices(|| {
                self.runner
                    .write_execute(Statement::new(sql).bind(bound).bind(PRUNE_SLICE))
            })
            .await?;
        }
        Ok(deleted)
    }

    async fn record_uninstall(&self, team_id: &TeamId, at: Millis) -> StoreResult<()> {
        let statement = Statement::new(
            "INSERT INTO uninstalls (team_id, uninstalled_at) VALUES ($1, $2) ON CONFLICT (team_id) DO NOTHING",
        )
        .bind(team_id)
        .bind(at);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn cancel_uninstall(&self, team_id: &TeamId) -> StoreResult<bool> {
        let statement = Statement::new("DELETE FROM uninstalls WHERE team_id = $1").bind(team_id);
        Ok(self.runner.write_execute(statement).await? > 0)
    }

    async fn uninstalled_before(&self, before: Millis) -> StoreResult<Vec<TeamId>> {
        let sql = DUE
            .replace("{installation}", "TRUE")
            .replace("{uninstall}", "TRUE")
            .replace("$2", "$1");
        self.runner
            .read_all(Statement::new(format!("{sql} ORDER BY 1")).bind(before))
            .await
    }

    async fn purge_uninstalled(&self, team_id: &TeamId, before: Millis) -> StoreResult<Option<Purged>> {
        let team = team_id.clone();
        let due = Statement::new(format!(
            "SELECT COUNT(*) FROM ({}) due",
            DUE.replace("{installation}", "team_id = $1")
                .replace("{uninstall}", "u.team_id = $1")
        ))
        .bind(team_id)
        .bind(before);
        self.runner
            .write(move |c| {
                Box::pin(async move {
                    if c.fetch_one::<i64>(&due).await? == 0 {
                        return Ok(None);
                    }
                    delete_workspace_rows(c, &team).await.map(Some)
                })
            })
            .await
    }

    async fn record_run(&self, run: &PrivacyRun) -> StoreResult<()> {
        let statement = Statement::new(
            "INSERT INTO privacy_runs (day, finished_at, insights_deleted, workspaces_purged) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (day) DO UPDATE SET finished_at = excluded.finished_at, \
             insights_deleted = excluded.insights_deleted, workspaces_purged = excluded.workspaces_purged",
        )
        .bind(run.day)
        .bind(run.finished_at)
        .bind(run.insights_deleted as i64)
        .bind(run.workspaces_purged as i64);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn last_run(&self) -> StoreResult<Option<PrivacyRun>> {
        self.runner
            .read_optional(Statement::new(
                "SELECT day, finished_at, insights_deleted, workspaces_purged FROM privacy_runs \
                 ORDER BY day DESC LIMIT 1",
            ))
            .await
    }

    async fn member_data(&self, team_id: &TeamId, user_id: &UserId) -> StoreResult<MemberData> {
        let (team, user) = (team_id.clone(), user_id.clone());
        self.runner
            .read(move |c| Box::pin(async move { member_data::read(c, &team, &user).await }))
            .await
    }
}
