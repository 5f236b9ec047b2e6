//! The capture handler: reactions and circle messages from the inbox, a claimed batch at a
//! time in a few transactions, so capture keeps up with bursts (one commit per
//! [`EVENTS_PER_TRANSACTION`] events, not per event).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::events::{self, CaptureEvent};
use super::service::{self, TeamContext};
use crate::clock::SharedClock;
use crate::domain::workspaces::Workspaces;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::{self, SharedStore};

/// Event types this handler takes.
pub const CAPTURE_EVENTS: &[&str] = &["message", "reaction_added", "reaction_removed"];

/// Events per capture transaction. On SQLite a transaction holds the one write turn, which the
/// inbox writer needs for every acknowledgement, so a shorter transaction answers Slack sooner
/// during a capture burst and a longer one captures faster: this is the largest size that kept
/// acknowledgements' p99 within its target (docs/BENCHMARKS.md).
pub const EVENTS_PER_TRANSACTION: usize = 32;

#[derive(Clone)]
pub struct CaptureHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for CaptureHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let mut results = self.handle_batch(std::slice::from_ref(job)).await;
        results.pop().unwrap_or(Ok(()))
    }

    fn takes_batches(&self) -> bool {
        true
    }

    async fn handle_batch(&self, jobs: &[Job]) -> Vec<Result<(), HandlerError>> {
        let parsed: Vec<Result<CaptureEvent, HandlerError>> = jobs
            .iter()
            .map(|job| {
                events::parse(&job.row.payload).map_err(|err| HandlerError::permanent(err.to_string()))
            })
            .collect();
        self.apply_in_transactions(jobs, &parsed).await
    }
}

/// The messages a batch's events touch (each message and its thread's parent), as lock keys:
/// a vote, a reply or an edit must not run beside the capture of its message unseen.
fn message_keys(jobs: &[Job], events: &[Result<CaptureEvent, HandlerError>]) -> Vec<String> {
    let mut keys = Vec::new();
    for (job, event) in jobs.iter().zip(events) {
        let (channel, ts, thread) = match event {
            Ok(CaptureEvent::Reaction(r)) => (&r.channel, &r.message_ts, None),
            Ok(CaptureEvent::Posted(p)) => (&p.channel, &p.ts, p.thread_ts.as_ref()),
            Ok(CaptureEvent::Edited(e)) => (&e.channel, &e.ts, e.thread_ts.as_ref()),
            Ok(CaptureEvent::Deleted { channel, ts }) => (channel, ts, None),
            Ok(CaptureEvent::Ignored(_)) | Err(_) => continue,
        };
        for ts in std::iter::once(ts).chain(thread) {
            keys.push(format!("{}\u{1f}{channel}\u{1f}{ts}", job.row.team_id));
        }
    }
    keys
}

impl CaptureHandler {
    /// The batch in order, [`EVENTS_PER_TRANSACTION`] events per transaction. When one fails,
    /// its events and all after it are retried (capture is idempotent, so events of a
    /// committed part that come round again change nothing).
    async fn apply_in_transactions(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Vec<Result<(), HandlerError>> {
        let bot_users = match self.bot_users_if_needed(jobs, events).await {
            Ok(bot_users) => bot_users,
            Err(err) => {
                tracing::warn!(error = %err, rows = jobs.len(), "capture batch failed; will retry");
                return vec![Err(err); jobs.len()];
            }
        };
        let mut results = Vec::with_capacity(jobs.len());
        for (part, part_events) in jobs
            .chunks(EVENTS_PER_TRANSACTION)
            .zip(events.chunks(EVENTS_PER_TRANSACTION))
        {
            if let Err(err) = self.apply_part(part, part_events, &bot_users).await {
                let left = jobs.len() - results.len();
                tracing::warn!(error = %err, rows = left, "capture batch failed; will retry");
                results.resize(jobs.len(), Err(err));
                break;
            }
            results.extend(
                part_events
                    .iter()
                    .map(|event| event.as_ref().map(|_| ()).map_err(Clone::clone)),
            );
        }
        results
    }

    /// The workspaces with a reaction of the batch in a circle, so the bot's own id is needed
    /// there to leave its reactions out. Asked once, before the batch's transactions: the
    /// answer may take a Slack call, and events outside circles must not wait on Slack at all.
    async fn reacting_in_circles(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Result<Vec<TeamId>, HandlerError> {
        let mut reacting = Vec::new();
        let mut circles: HashMap<TeamId, Vec<ChannelId>> = HashMap::new();
        for (job, event) in jobs.iter().zip(events) {
            let Ok(CaptureEvent::Reaction(reaction)) = event else {
                continue;
            };
            // A workspace id of the wrong shape has no circles.
            let Ok(team) = TeamId::parse(job.row.team_id.as_str()) else {
                continue;
            };
            if !circles.contains_key(&team) {
                let active = self.store.circles(&team).await?;
                let channels = active
                    .into_iter()
                    .filter(|c| c.active)
                    .map(|c| c.channel_id)
                    .collect();
                circles.insert(team.clone(), channels);
            }
            if !reacting.contains(&team) && circles[&team].contains(&reaction.channel) {
                reacting.push(team);
            }
        }
        Ok(reacting)
    }

    /// Each workspace's bot user id, whose reactions capture leaves out; only for workspaces
    /// with a reaction of the batch in a circle, so other batches never wait on Slack for it.
    async fn bot_users_if_needed(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Result<HashMap<TeamId, UserId>, HandlerError> {
        let mut bot_users = HashMap::new();
        for team in self.reacting_in_circles(jobs, events).await? {
            let workspace = self.workspaces.get(&team).await?;
            let bot_user = workspace.bot().user_id().await?.to_owned();
            bot_users.insert(team, bot_user);
        }
        Ok(bot_users)
    }

    /// One transaction over a part of the batch.
    async fn apply_part(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
        bot_users: &HashMap<TeamId, UserId>,
    ) -> Result<(), HandlerError> {
        let now = self.clock.now_millis();
        let keys = message_keys(jobs, events);
        let (jobs, events, bot_users) = (jobs.to_vec(), events.to_vec(), bot_users.clone());
        store::transaction_with(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.lock_messages(&keys).await?;
                let mut teams: HashMap<TeamId, TeamContext> = HashMap::new();
                for (job, event) in jobs.iter().zip(&events) {
                    let Ok(event) = event else { continue };
                    if let CaptureEvent::Ignored(why) = event {
                        tracing::debug!(event_id = %job.row.event_id, why, "not for capture");
                        continue;
                    }
                    // A workspace of another shape has no data to change.
                    let Ok(team) = TeamId::parse(job.row.team_id.as_str()) else {
                        continue;
                    };
                    if !teams.contains_key(&team) {
                        let context = TeamContext::load(tx, &team).await?;
                        teams.insert(team.clone(), context);
                    }
                    let bot_user = bot_users.get(&team).map_or("", UserId::as_str);
                    service::apply(tx, &teams[&team], bot_user, event, now).await?;
                }
                Ok(())
            })
        })
        .await
    }
}
