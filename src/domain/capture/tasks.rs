//! Follow-up work capture queues: Circlet's acknowledgement reaction, and fetching the text of
//! a message the cache did not have.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use slack_morphism::prelude::*;

use super::events;
use super::service::{self, TeamContext};
use crate::clock::{Millis, SharedClock};
use crate::domain::job_team;
use crate::domain::settings::DomainSettings;
use crate::domain::workspaces::Workspaces;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackError;
use crate::store::{self, CachedMessage, InsightTx, MessageRef, SharedStore};

/// Slack errors meaning the message is gone or out of Circlet's reach: retrying cannot help.
const UNREACHABLE: &[&str] = &[
    "message_not_found",
    "thread_not_found",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
];

#[derive(Deserialize)]
struct MessageTask {
    channel: ChannelId,
    ts: String,
}

/// `conversations.history` and `conversations.replies` answers, as far as a capture reads
/// them. slack-morphism's message model has no `user_team`/`team`, which name the author's own
/// workspace in a Slack Connect circle.
#[derive(Deserialize)]
struct Messages {
    #[serde(default)]
    messages: Vec<Fetched>,
}

#[derive(Debug, Clone, Deserialize)]
struct Fetched {
    ts: String,
    user: Option<String>,
    text: Option<String>,
    thread_ts: Option<String>,
    user_team: Option<String>,
    team: Option<String>,
}

fn read_task(job: &Job) -> Result<MessageTask, HandlerError> {
    serde_json::from_str(&job.row.payload)
        .map_err(|err| HandlerError::permanent(format!("unreadable task: {err}")))
}

fn unreachable_code(err: &SlackError) -> Option<&str> {
    match err {
        SlackError::Api { code, .. } if UNREACHABLE.contains(&code.as_str()) => Some(code),
        _ => None,
    }
}

/// Adds Circlet's reaction (`:eyes:` by default) to a captured message.
pub struct AckHandler {
    pub workspaces: Arc<Workspaces>,
    pub settings: Arc<DomainSettings>,
}

#[async_trait]
impl InboxHandler for AckHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let task = read_task(job)?;
        let slack = self.workspaces.slack(&job_team(job)?).await?;
        let request = &SlackApiReactionsAddRequest::new(
            task.channel.to_string().into(),
            SlackReactionName::new(self.settings.ack_emoji.clone()),
            task.ts.clone().into(),
        );
        let added = slack
            .call("reactions.add", |s| async move { s.reactions_add(request).await })
            .await;
        match added {
            Ok(_) => Ok(()),
            Err(SlackError::Api { code, .. }) if code == "already_reacted" => Ok(()),
            Err(err) => match unreachable_code(&err) {
                Some(code) => {
                    tracing::info!(channel = %task.channel, ts = %task.ts, code, "could not acknowledge a capture; skipping");
                    Ok(())
                }
                None => Err(err.into()),
            },
        }
    }
}

/// Asks Slack for the text of a message captured before its `message` event arrived (or
/// after the cache let it go); a message Slack cannot find drops the capture.
pub struct FetchMessageHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for FetchMessageHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let task = read_task(job)?;
        let team = job_team(job)?;
        let at = MessageRef {
            team_id: &team,
            channel_id: &task.channel,
            ts: &task.ts,
        };
        if !self.still_needed(at).await? {
            return Ok(());
        }
        let fetched = self.fetch(&team, &task).await;
        let now = self.clock.now_millis();
        let team_id = team.clone();
        store::transaction_with(self.store.as_ref(), move |tx| {
            Box::pin(async move { fill_in_fetched(tx, &team_id, &task, fetched, now).await })
        })
        .await
    }
}

/// Gives a capture the text Slack returned for its message, or drops the capture when Slack
/// cannot find the message; nothing when the message event arrived meanwhile.
async fn fill_in_fetched(
    tx: &mut dyn InsightTx,
    team: &TeamId,
    task: &MessageTask,
    fetched: Result<Option<Fetched>, SlackError>,
    now: Millis,
) -> Result<(), HandlerError> {
    let at = MessageRef {
        team_id: team,
        channel_id: &task.channel,
        ts: &task.ts,
    };
    let Some(insight) = tx.insight_by_message(at).await? else {
        return Ok(());
    };
    if insight.text.is_some() || insight.deleted {
        return Ok(()); // the message event arrived meanwhile
    }
    let message = match fetched {
        Ok(Some(message)) => message,
        Ok(None) => {
            tracing::info!(channel = %task.channel, ts = %task.ts, "captured message not found in Slack; dropping the capture");
            return Ok(tx.discard_insight(insight.id).await?);
        }
        Err(err) => match unreachable_code(&err) {
            Some(code) => {
                tracing::info!(channel = %task.channel, ts = %task.ts, code, "cannot read the captured message; dropping the capture");
                return Ok(tx.discard_insight(insight.id).await?);
            }
            None => return Err(err.into()),
        },
    };
    let cached = CachedMessage {
        team_id: team.clone(),
        channel_id: task.channel.clone(),
        ts: task.ts.clone(),
        // An author of another shape names no one.
        user_id: message.user.as_deref().and_then(|user| UserId::parse(user).ok()),
        text: message.text.clone().unwrap_or_default(),
        thread_ts: message.thread_ts.clone(),
        user_team_id: events::author_team(message.user_team.as_deref(), message.team.as_deref()),
    };
    tx.put_message(&cached, now).await?;
    tx.set_text(insight.id, &cached.text, 0, now).await?;
    if let Some(author_team) = &cached.user_team_id {
        tx.set_author_team(insight.id, author_team).await?;
    }
    let context = TeamContext::load(tx, team).await?;
    service::tag_by_rules(tx, &context, &insight, &cached.text).await?;
    service::queue_ack(tx, &insight, now).await?;
    Ok(())
}

impl FetchMessageHandler {
    async fn still_needed(&self, at: MessageRef<'_>) -> Result<bool, HandlerError> {
        let (team_id, channel_id, ts) = (at.team_id.clone(), at.channel_id.clone(), at.ts.to_owned());
        let insight = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let at = MessageRef {
                    team_id: &team_id,
                    channel_id: &channel_id,
                    ts: &ts,
                };
                tx.insight_by_message(at).await
            })
        })
        .await?;
        Ok(insight.is_some_and(|i| i.text.is_none() && !i.deleted))
    }

    /// The message itself: from the channel's history, or from its thread when it is a reply.
    async fn fetch(&self, team: &TeamId, task: &MessageTask) -> Result<Option<Fetched>, SlackError> {
        let slack = self.workspaces.slack(team).await?;
        let (channel, ts) = (task.channel.as_str(), task.ts.as_str());
        let history = vec![
            ("channel", Some(channel)),
            ("latest", Some(ts)),
            ("inclusive", Some("true")),
            ("limit", Some("1")),
        ];
        let history = &history;
        let found: Messages = slack
            .call("conversations.history", |s| async move {
                s.http_session_api
                    .http_get("conversations.history", history, None)
                    .await
            })
            .await?;
        if let Some(found) = found.messages.into_iter().find(|m| m.ts == ts) {
            return Ok(Some(found));
        }
        let replies = vec![
            ("channel", Some(channel)),
            ("ts", Some(ts)),
            ("latest", Some(ts)),
            ("inclusive", Some("true")),
        ];
        let replies = &replies;
        match slack
            .call("conversations.replies", |s| async move {
                s.http_session_api
                    .http_get::<Messages, _, _>("conversations.replies", replies, None)
                    .await
            })
            .await
        {
            Ok(answer) => Ok(answer.messages.into_iter().find(|m| m.ts == ts)),
            Err(SlackError::Api { code, .. }) if code == "thread_not_found" => Ok(None),
            Err(err) => Err(err),
        }
    }
}
