//! The capture handler: reactions and circle messages from the inbox, a claimed batch at a
//! time in one transaction, so capture keeps up with bursts (one commit per batch, not per
//! event).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::events::{self, CaptureEvent};
use super::service::{self, TeamContext};
use crate::clock::SharedClock;
use crate::domain::bot::BotIdentity;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::SharedStore;

/// Event types this handler takes.
pub const CAPTURE_EVENTS: &[&str] = &["message", "reaction_added", "reaction_removed"];

#[derive(Clone)]
pub struct CaptureHandler {
    pub store: SharedStore,
    pub bot: Arc<BotIdentity>,
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
        match self.apply_on_a_blocking_thread(jobs, &parsed).await {
            Ok(()) => parsed.into_iter().map(|event| event.map(|_| ())).collect(),
            Err(err) => {
                tracing::warn!(error = %err, rows = jobs.len(), "capture batch failed; will retry");
                vec![Err(err); jobs.len()]
            }
        }
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
    /// [`Self::apply_all`] off the runtime's threads: on SQLite a batch's statements step on
    /// the calling thread, a few milliseconds of work without a pause, and the runtime's
    /// threads must stay free to acknowledge Slack's requests.
    async fn apply_on_a_blocking_thread(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Result<(), HandlerError> {
        let (handler, jobs, events) = (self.clone(), jobs.to_vec(), events.to_vec());
        let runtime = tokio::runtime::Handle::current();
        match tokio::task::spawn_blocking(move || runtime.block_on(handler.apply_all(&jobs, &events))).await {
            Ok(applied) => applied,
            // The worker parks the rows, as it does when any handler panics.
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(HandlerError::transient("the capture batch was cut short")),
        }
    }

    /// Whether a reaction of the batch is in a circle, so the bot's own id is needed to leave
    /// its reactions out. Asked before the transaction: the answer may take a Slack call, and
    /// events outside circles must not wait on Slack at all.
    async fn reacts_in_a_circle(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Result<bool, HandlerError> {
        let mut circles: HashMap<&str, Vec<String>> = HashMap::new();
        for (job, event) in jobs.iter().zip(events) {
            let Ok(CaptureEvent::Reaction(reaction)) = event else {
                continue;
            };
            let team = job.row.team_id.as_str();
            if !circles.contains_key(team) {
                let active = self.store.circles(team).await?;
                let channels = active
                    .into_iter()
                    .filter(|c| c.active)
                    .map(|c| c.channel_id)
                    .collect();
                circles.insert(team, channels);
            }
            if circles[team].contains(&reaction.channel) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn apply_all(
        &self,
        jobs: &[Job],
        events: &[Result<CaptureEvent, HandlerError>],
    ) -> Result<(), HandlerError> {
        let bot_user = if self.reacts_in_a_circle(jobs, events).await? {
            self.bot.user_id().await?.to_owned()
        } else {
            String::new()
        };
        let now = self.clock.now_millis();
        let mut tx = self.store.begin().await?;
        tx.lock_messages(&message_keys(jobs, events)).await?;
        let mut teams: HashMap<&str, TeamContext> = HashMap::new();
        for (job, event) in jobs.iter().zip(events) {
            let Ok(event) = event else { continue };
            if let CaptureEvent::Ignored(why) = event {
                tracing::debug!(event_id = %job.row.event_id, why, "not for capture");
                continue;
            }
            let team = job.row.team_id.as_str();
            if !teams.contains_key(team) {
                let context = TeamContext::load(tx.as_mut(), team).await?;
                teams.insert(team, context);
            }
            let context = &teams[team];
            service::apply(tx.as_mut(), context, &bot_user, event, now).await?;
        }
        tx.commit().await.map_err(HandlerError::from)
    }
}
