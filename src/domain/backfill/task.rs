//! Sweeps as inbox work: each replica asks for a sweep of every served workspace at start and
//! every `CIRCLET_SWEEP_MINUTES`, under a key shared by every replica for that period, so the
//! inbox keeps one sweep per workspace and period and one worker runs it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Backfill, BackfillError, SweepRequest};
use crate::ids::TeamId;
use crate::inbox::{HandlerError, InboxHandler, Job, NewInboxItem};
use crate::store;

/// The inbox task that sweeps one workspace's circles.
pub const SWEEP_TASK: &str = "backfill_sweep";

#[derive(Debug, Default, Serialize, Deserialize)]
struct SweepTask {
    #[serde(default)]
    period: i64,
}

pub struct SweepHandler {
    pub backfill: Arc<Backfill>,
}

#[async_trait]
impl InboxHandler for SweepHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let team = TeamId::parse(job.row.team_id.as_str())
            .map_err(|err| HandlerError::permanent(format!("sweep of no workspace: {err}")))?;
        let request = SweepRequest {
            team,
            channel: None,
            since: None,
        };
        match self.backfill.sweep(&request, &|_, _| {}).await {
            Ok(recovered) => {
                tracing::info!(team = %request.team, summary = %recovered.summary(), "swept the circles' history");
                Ok(())
            }
            Err(BackfillError::NotACircle(_)) => Ok(()),
            Err(BackfillError::Slack(err)) => Err(err.into()),
            Err(BackfillError::Store(err)) => Err(err.into()),
        }
    }
}

/// Queues a sweep of every served workspace now and then every `every` (`None`: only now),
/// until shutdown.
pub async fn keep_sweeping(backfill: Arc<Backfill>, every: Option<Duration>, shutdown: CancellationToken) {
    // Replicas started in the same period share the start sweep's key too.
    let period_length = every.unwrap_or(Duration::from_secs(600)).as_millis().max(1) as i64;
    loop {
        let period = backfill.clock.now_millis() / period_length;
        if let Err(err) = queue_sweeps(&backfill, period).await {
            tracing::warn!(error = %err, "could not queue the backfill sweeps; trying again next period");
        }
        let Some(every) = every else { return };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn queue_sweeps(backfill: &Backfill, period: i64) -> Result<(), HandlerError> {
    let now = backfill.clock.now_millis();
    for workspace in backfill.workspaces.active() {
        let team = match &workspace.team_id {
            Some(team) => team.clone(),
            None => {
                if !workspace.bot().has_token() {
                    continue;
                }
                let installation = workspace.bot().identity().await?.installation().to_owned();
                TeamId::parse(installation).map_err(|err| HandlerError::permanent(err.to_string()))?
            }
        };
        let task = NewInboxItem::task(
            team.as_str(),
            format!("sweep:{team}:{period}"),
            SWEEP_TASK,
            &json!(SweepTask { period }),
            now,
        );
        store::transaction(backfill.store.as_ref(), move |tx| {
            Box::pin(async move { tx.enqueue(&task).await.map(drop) })
        })
        .await?;
    }
    Ok(())
}
