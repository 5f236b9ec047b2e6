//! Makes one scheduled post: the product digest, a circle's recap, or a discussion prompt.
//!
//! At most once: a post already recorded is not made again, and a post made but not recorded
//! (a crash in between) is found by its message metadata before posting
//! ([`SlackApi::post_message_once`]). Slack refusing the channel (the bot is not in it, it is
//! gone) is recorded, logged, counted and shown in `/readyz`; the next week tries again.

use std::sync::Arc;

use async_trait::async_trait;
use slack_morphism::prelude::{SlackApiChatPostMessageRequest, SlackMessageContent};

use super::content::{circle_recap, digest_message, product_digest, prompt_message, recap_message};
use super::message::Message;
use super::scheduler::PostTask;
use crate::clock::SharedClock;
use crate::domain::settings::{DomainSettings, QuietWeek};
use crate::domain::workspaces::Workspaces;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::metrics::Metrics;
use crate::slack::SlackError;
use crate::store::{PostKey, PostKind, SharedStore};

/// Slack errors that mean "this channel cannot take Circlet's post" until someone fixes it.
const CHANNEL_REFUSALS: &[&str] = &[
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
    "missing_scope",
];

pub struct PostHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub metrics: Metrics,
    pub clock: SharedClock,
    pub settings: Arc<DomainSettings>,
}

#[async_trait]
impl InboxHandler for PostHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let task: PostTask = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable scheduled post: {err}")))?;
        let message = self.message(&task).await?;
        self.post(job, &task.key, message, None).await?;
        if let Some(prompt) = &task.prompt {
            let key = PostKey {
                kind: PostKind::Prompt,
                ..task.key.clone()
            };
            let message = Some(prompt_message(&prompt.question));
            self.post(job, &key, message, Some(prompt.number)).await?;
        }
        Ok(())
    }
}

impl PostHandler {
    /// Posts `message` under `key` unless that post is already recorded; None records that
    /// there was nothing to post this week. A prompt's post is remembered by its `prompt`
    /// number, so replies in its thread are captured.
    async fn post(
        &self,
        job: &Job,
        key: &PostKey,
        message: Option<Message>,
        prompt: Option<i64>,
    ) -> Result<(), HandlerError> {
        let kind = key.kind;
        let digests = self.store.digests();
        if digests.posted_ts(key).await?.is_some() {
            return Ok(());
        }
        let Some(message) = message else {
            // Recorded with no message: nothing to post this week, and nothing to retry.
            digests.record_post(key, "", self.clock.now_millis()).await?;
            self.metrics.count_scheduled_post(kind.as_str(), "skipped");
            return Ok(());
        };
        let request = SlackApiChatPostMessageRequest::new(
            key.channel_id.as_str().to_owned().into(),
            SlackMessageContent::new()
                .with_text(message.fallback.clone())
                .with_blocks(message.blocks()),
        );
        // Each post goes out in the workspace of its channel, with that workspace's token.
        let slack = self.workspaces.slack(&key.team_id).await?;
        slack.pace(key.channel_id.as_str()).await;
        match slack.post_message_once(&key.id(), request, job.is_retry()).await {
            Ok(ts) => {
                let now = self.clock.now_millis();
                if let Some(number) = prompt {
                    digests
                        .add_prompt_post(&key.team_id, &key.channel_id, &ts.0, number, now)
                        .await?;
                }
                digests.record_post(key, &ts.0, now).await?;
                self.metrics.count_scheduled_post(kind.as_str(), "posted");
                tracing::info!(post = %key.id(), ts = %ts.0, "posted");
                Ok(())
            }
            Err(err) => match refusal(&err) {
                Some(code) => self.refused(key, kind, code).await,
                None => Err(err.into()),
            },
        }
    }

    /// What to post, or None when there is nothing to post this week.
    async fn message(&self, task: &PostTask) -> Result<Option<Message>, HandlerError> {
        let key = &task.key;
        let period = task.period();
        Ok(match key.kind {
            PostKind::Digest => Some(digest_message(
                &product_digest(&self.store, &key.team_id, &period).await?,
            )),
            PostKind::Recap => {
                let circles = self.store.digests().recap_circles(&key.team_id).await?;
                let wanted = circles.iter().any(|c| c.channel_id == key.channel_id && c.recap);
                if !wanted || self.store.digests().posted_ts(key).await?.is_some() {
                    return Ok(None);
                }
                let recap = circle_recap(&self.store, &key.team_id, &key.channel_id, &period).await?;
                if recap.is_quiet() && self.settings.quiet_week == QuietWeek::Skip {
                    return Ok(None);
                }
                Some(recap_message(&recap))
            }
            PostKind::Prompt => task.prompt.as_ref().map(|p| prompt_message(&p.question)),
        })
    }

    async fn refused(&self, key: &PostKey, kind: PostKind, code: &str) -> Result<(), HandlerError> {
        tracing::warn!(
            post = %key.id(),
            channel = %key.channel_id,
            error = code,
            "Slack refused a scheduled post; invite @circlet to the channel (or fix the setting): it is tried again next week"
        );
        self.store.digests().fail_post(key, code).await?;
        self.metrics.count_scheduled_post(kind.as_str(), code);
        Ok(())
    }
}

fn refusal(err: &SlackError) -> Option<&str> {
    err.code().filter(|code| CHANNEL_REFUSALS.contains(code))
}
