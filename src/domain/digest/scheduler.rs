//! Claims the week's posts when their time has come and queues them as inbox tasks.
//!
//! Every replica runs this. A post is claimed by inserting its key, in the transaction that
//! queues its task, so exactly one replica queues each. Only the latest week is considered: a
//! week missed while Circlet was down goes out once at start, older ones never.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::schedule::Period;
use crate::clock::{Millis, SharedClock};
use crate::domain::settings::DomainSettings;
use crate::ids::{ChannelId, TeamId};
use crate::inbox::NewInboxItem;
use crate::metrics::Metrics;
use crate::store::{self, InsightTx, PostKey, PostKind, RecapCircle, SharedStore, StoreResult};

/// The inbox task that makes one scheduled post.
pub const POST_TASK: &str = "scheduled_post";

/// How often the scheduler looks at the clock.
const TICK: Duration = Duration::from_secs(30);
/// How far back refused posts are reported in `/readyz` and `/metrics`.
const FAILURES_SHOWN_FOR: Millis = 8 * 24 * 3600 * 1000;

/// One queued post; its content is computed when it is posted, from the week it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostTask {
    pub key: PostKey,
    pub start: Millis,
    pub end: Millis,
    /// The discussion prompt to post after a circle's recap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<QueuedPrompt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedPrompt {
    pub number: i64,
    pub question: String,
}

impl PostTask {
    pub fn period(&self) -> Period {
        Period {
            key: self.key.period.clone(),
            start: self.start,
            end: self.end,
        }
    }
}

#[derive(Clone)]
pub struct DigestScheduler {
    pub store: SharedStore,
    pub settings: Arc<DomainSettings>,
    pub clock: SharedClock,
    pub metrics: Metrics,
}

impl DigestScheduler {
    /// Claims and queues whatever is due now; returns how many posts this call queued.
    pub async fn run_due(&self) -> StoreResult<usize> {
        let now = self.clock.now_millis();
        let period = self.settings.schedule.latest_period(now);
        let digests = self.store.digests();
        let mut queued = 0;
        let mut teams = digests.teams_with_circles().await?;
        // A home workspace's digest covers its linked workspaces' circles, also when it has
        // none of its own.
        let homes: Vec<TeamId> = self
            .store
            .workspaces()
            .installations()
            .await?
            .into_iter()
            .filter(|i| i.is_active())
            .filter_map(|i| i.home_team_id)
            .collect();
        for home in &homes {
            if !teams.contains(home) {
                teams.push(home.clone());
            }
        }
        for team in teams {
            let circles: Vec<RecapCircle> = digests
                .recap_circles(&team)
                .await?
                .into_iter()
                // A week that ended before the channel became a circle is not its week.
                .filter(|c| c.since < period.end)
                .collect();
            if circles.is_empty() && !homes.contains(&team) {
                continue;
            }
            queued += self.claim_team(&team, &circles, &period, now).await?;
        }
        self.refresh_failures(now).await;
        Ok(queued)
    }

    async fn claim_team(
        &self,
        team: &TeamId,
        circles: &[RecapCircle],
        period: &Period,
        now: Millis,
    ) -> StoreResult<usize> {
        let digest_channel = self.digest_channel(team).await?;
        let team_id = team.clone();
        let (circles, week) = (circles.to_vec(), period.clone());
        let queued = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(
                async move { claim_week(tx, &team_id, digest_channel.as_ref(), &circles, &week, now).await },
            )
        })
        .await?;
        if queued > 0 {
            tracing::info!(team_id = %team, period = %period.key, queued, "queued the week's digest, recaps and prompts");
        }
        Ok(queued)
    }

    /// Where the workspace's digest goes: the channel set with `/feedback digest channel`, else
    /// `CIRCLET_DIGEST_CHANNEL` (single-workspace mode). The configuration checked the shape of
    /// the latter at start-up; text of another shape names no channel to post to.
    async fn digest_channel(&self, team: &TeamId) -> StoreResult<Option<ChannelId>> {
        if let Some(set) = self.store.workspaces().settings(team).await?.digest_channel {
            return Ok(Some(set));
        }
        Ok(self
            .settings
            .digest_channel
            .as_deref()
            .and_then(|text| match ChannelId::parse(text) {
                Ok(channel) => Some(channel),
                Err(err) => {
                    tracing::warn!(team_id = %team, error = %err, "CIRCLET_DIGEST_CHANNEL is no channel id; no digest");
                    None
                }
            }))
    }

    /// Publishes how many of the last week's posts Slack refused.
    async fn refresh_failures(&self, now: Millis) {
        match self.store.digests().failed_posts(now - FAILURES_SHOWN_FOR).await {
            Ok(failed) => self.metrics.set_scheduled_post_failing(failed.len()),
            Err(err) => tracing::warn!(error = %err, "cannot read refused scheduled posts"),
        }
    }

    /// Runs until shutdown: at start (a missed week goes out now), then every half minute.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.run_due().await {
                tracing::warn!(error = %err, "digest scheduler failed; will retry");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }
}

fn queue_item(task: &PostTask, now: Millis) -> NewInboxItem {
    let payload = serde_json::to_value(task).unwrap_or_default();
    NewInboxItem::task(
        task.key.team_id.as_str(),
        format!("post:{}", task.key.id()),
        POST_TASK,
        &payload,
        now,
    )
}

/// Claims the week's digest (when there is a digest channel), every circle's recap and the
/// week's prompt in each circle, and queues a task for each claim won; how many were queued.
async fn claim_week(
    tx: &mut dyn InsightTx,
    team: &TeamId,
    digest_channel: Option<&ChannelId>,
    circles: &[RecapCircle],
    period: &Period,
    now: Millis,
) -> StoreResult<usize> {
    let mut queued = 0;
    let task = |key: PostKey, prompt: Option<QueuedPrompt>| PostTask {
        key,
        start: period.start,
        end: period.end,
        prompt,
    };
    if let Some(channel) = digest_channel {
        let key = PostKey::new(team, channel, &period.key, PostKind::Digest);
        if tx.claim_post(&key, now).await? {
            tx.enqueue(&queue_item(&task(key, None), now)).await?;
            queued += 1;
        }
    }
    // Every circle's week is claimed (its recap may be off: the task checks that when it
    // runs, so turning it back on before the post still counts).
    let mut claimed = Vec::new();
    for circle in circles {
        let key = PostKey::new(team, &circle.channel_id, &period.key, PostKind::Recap);
        if tx.claim_post(&key, now).await? {
            claimed.push(key);
        }
    }
    // The week's prompt is chosen when its circles' weeks are claimed, so a prompt added
    // later in the week waits for the next one. It rides with the recap: one task posts
    // both, recap first.
    let prompt = match claimed.is_empty() {
        true => None,
        false => tx.prompt_for_period(team, &period.key).await?,
    };
    for key in claimed {
        let mut queued_prompt = None;
        if let Some(prompt) = &prompt {
            let prompt_key = PostKey::new(team, &key.channel_id, &period.key, PostKind::Prompt);
            if tx.claim_post(&prompt_key, now).await? {
                queued_prompt = Some(QueuedPrompt {
                    number: prompt.number,
                    question: prompt.question.clone(),
                });
            }
        }
        tx.enqueue(&queue_item(&task(key, queued_prompt), now)).await?;
        queued += 1;
    }
    Ok(queued)
}
