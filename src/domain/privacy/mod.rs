//! Privacy and retention (ARCHITECTURE §13): the daily run that deletes insights past
//! `CIRCLET_RETENTION_DAYS` and purges workspaces uninstalled longer than
//! `CIRCLET_UNINSTALL_RETENTION_DAYS`, and "Download my data" from App Home.

pub mod download;
pub mod task;

use std::sync::Arc;

use crate::clock::{Millis, SharedClock};
use crate::domain::settings::Retention;
use crate::domain::workspaces::Workspaces;
use crate::ids::TeamId;
use crate::slack::SlackError;
use crate::store::{PrivacyRun, Purged, SharedStore, StoreError, day_of};

const DAY_MILLIS: Millis = 86_400_000;

/// Runs retention and uninstall purges over the store.
pub struct Privacy {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
    pub retention: Retention,
}

impl Privacy {
    /// One run: expired insights (and member activity and finished inbox rows of those days)
    /// deleted, due workspaces purged, and the run recorded for `/readyz`.
    pub async fn run(&self) -> Result<PrivacyRun, StoreError> {
        let now = self.clock.now_millis();
        let privacy = self.store.privacy();
        let mut insights_deleted = 0;
        if let Some(days) = self.retention.insight_days {
            let before = now - i64::from(days) * DAY_MILLIS;
            insights_deleted = privacy.expire_insights(before).await?;
            let rows = privacy.expire_activity(before).await?;
            tracing::info!(
                insights = insights_deleted,
                other_rows = rows,
                days,
                "deleted what is past retention"
            );
        }
        let before = self.uninstall_cutoff(now);
        let mut workspaces_purged = 0;
        for team in privacy.uninstalled_before(before).await? {
            if let Some(purged) = privacy.purge_uninstalled(&team, before).await? {
                workspaces_purged += 1;
                log_purge(&team, &purged);
            }
        }
        let run = PrivacyRun {
            day: day_of(now),
            finished_at: self.clock.now_millis(),
            insights_deleted,
            workspaces_purged,
        };
        privacy.record_run(&run).await?;
        Ok(run)
    }

    /// After Slack uninstalled the app from `team`: single-workspace mode records it (the
    /// installation row does in multi-workspace mode), and with no retention days the
    /// workspace is purged at once.
    pub async fn uninstalled(&self, team: &TeamId, at: Millis) -> Result<(), StoreError> {
        let privacy = self.store.privacy();
        if !self.workspaces.is_multi() {
            privacy.record_uninstall(team, at).await?;
        }
        if self.retention.uninstall_days == 0
            && let Some(purged) = privacy.purge_uninstalled(team, at).await?
        {
            log_purge(team, &purged);
        }
        Ok(())
    }

    /// Single-workspace mode, at start: a bot token that works means the app is installed
    /// (again), so a purge an earlier uninstall left pending is cancelled.
    pub async fn cancel_if_reinstalled(&self) -> Result<(), CancelError> {
        let Some(bot) = self.workspaces.single_bot() else {
            return Ok(());
        };
        if !bot.has_token() {
            return Ok(());
        }
        let team = bot.identity().await?.installation().clone();
        if self.store.privacy().cancel_uninstall(&team).await? {
            tracing::info!(team_id = %team.as_str(), "the bot token works again: the pending purge is cancelled");
        }
        Ok(())
    }

    fn uninstall_cutoff(&self, now: Millis) -> Millis {
        now - i64::from(self.retention.uninstall_days) * DAY_MILLIS
    }
}

fn log_purge(team: &TeamId, purged: &Purged) {
    tracing::info!(team_id = %team.as_str(), rows = purged.rows(), "purged an uninstalled workspace's data");
}

/// Why a pending purge could not be checked at start.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
