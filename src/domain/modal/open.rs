//! The shortcut itself: opens the capture form on a circle message, prefilled from the message
//! or from the insight already capturing it; elsewhere it tells the user why nothing happens.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::IgnoredAny;
use slack_morphism::prelude::*;

use super::metadata::FormContext;
use super::view::{self, Audience, Prefill};
use super::{CALLBACK_ID, audience_of, may_edit, workspace_tags};
use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::capture::events;
use crate::domain::capture::service::{TeamContext, follow_merges};
use crate::domain::job_team;
use crate::domain::settings::DomainSettings;
use crate::domain::workspaces::Workspaces;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::{SlackApi, SlackError};
use crate::store::{
    self, CachedMessage, Insight, InsightDetails, InsightTx, MessageRef, SharedStore, StoreResult,
};

/// `views.open` errors meaning the trigger can no longer open anything: retrying cannot help.
const TRIGGER_GONE: &[&str] = &["expired_trigger_id", "invalid_trigger_id", "trigger_exchanged"];

/// The parts of a `message_action` payload the form needs.
#[derive(Debug, Deserialize)]
struct MessageAction {
    callback_id: String,
    trigger_id: String,
    user: Id,
    channel: Id,
    message: ActionMessage,
    #[serde(default)]
    response_url: Option<String>,
}

impl MessageAction {
    /// The channel, typed; None for text of another shape, which names no circle.
    fn channel(&self) -> Option<ChannelId> {
        ChannelId::parse(self.channel.id.as_str()).ok()
    }

    /// The message's author, typed; None when Slack named none, or text of another shape (it
    /// would only be shown, as a mention).
    fn author(&self) -> Option<UserId> {
        self.message
            .user
            .as_deref()
            .and_then(|user| UserId::parse(user).ok())
    }
}

#[derive(Debug, Deserialize)]
struct Id {
    id: String,
}

#[derive(Debug, Deserialize)]
struct ActionMessage {
    ts: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    /// The author's own workspace (`user_team`, else `team`): a partner organization's in a
    /// Slack Connect circle.
    #[serde(default)]
    user_team: Option<String>,
    #[serde(default)]
    team: Option<String>,
}

/// Handles the shortcut's `message_action` rows.
pub struct OpenFormHandler {
    pub store: SharedStore,
    /// Answers to the shortcut's `response_url`.
    pub slack: SlackApi,
    pub workspaces: Arc<Workspaces>,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
    pub settings: Arc<DomainSettings>,
}

/// What the shortcut finds on a circle message.
struct Found {
    prefill: Prefill,
    tags: BTreeSet<String>,
    /// The insight standing for the message (its merge target), if it is captured.
    captured: Option<Insight>,
}

#[async_trait]
impl InboxHandler for OpenFormHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let action: MessageAction = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable message action: {err}")))?;
        if action.callback_id != CALLBACK_ID {
            return Ok(());
        }
        let team_id = job_team(job)?;
        let user = UserId::parse(action.user.id.as_str())
            .map_err(|err| HandlerError::permanent(format!("message action: {err}")))?;
        let (found, audience) = tokio::join!(
            self.find(&team_id, &action),
            audience_of(&self.access, &team_id, &user)
        );
        let Some(Found {
            mut prefill,
            tags,
            captured,
        }) = found?
        else {
            return self.explain_not_a_circle(&action).await;
        };
        if let Some(insight) = &captured
            && !may_edit(insight, &user, audience)
        {
            return self.explain_already_captured(&action, insight.number).await;
        }
        if audience == Audience::Member {
            prefill.details = InsightDetails::default();
        }
        let context = FormContext {
            team_id: team_id.clone(),
            channel_id: prefill.channel_id.clone(),
            message_ts: action.message.ts.clone(),
            user_id: user,
            issued_at: self.clock.now_secs(),
            product_fields: audience == Audience::Product,
        };
        let form = view::capture_form(
            &prefill,
            &tags,
            audience,
            context.seal(&self.settings.signing_key),
        );
        match self.open(&team_id, &action.trigger_id, form).await {
            Ok(()) => {}
            Err(SlackError::Api { code, .. }) if TRIGGER_GONE.contains(&code.as_str()) => {
                tracing::info!(team = %team_id, code, "the shortcut's trigger expired before the form opened");
                self.apologize_for_the_delay(&action).await;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        }
        self.remember_message(&team_id, &action).await;
        Ok(())
    }
}

impl OpenFormHandler {
    /// What the form starts with, the workspace's tags and the message's insight, or None
    /// outside a circle. Reads only: nothing is written before the modal is open, the
    /// trigger is short-lived.
    async fn find(&self, team: &TeamId, action: &MessageAction) -> Result<Option<Found>, HandlerError> {
        let Some(channel) = action.channel() else {
            return Ok(None);
        };
        let prefill = Prefill::message(channel, action.author(), action.message.text.clone());
        let (team_id, ts) = (team.clone(), action.message.ts.clone());
        let found = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move { find_in(tx, &team_id, &ts, prefill).await })
        })
        .await?;
        Ok(found)
    }

    async fn open(&self, team: &TeamId, trigger_id: &str, form: SlackView) -> Result<(), SlackError> {
        let slack = self.workspaces.slack(team).await?;
        let request = &SlackApiViewsOpenRequest::new(trigger_id.to_owned().into(), form);
        // The answer echoes the view; only success matters, so it is not decoded (a view shape
        // the models do not know must not turn an open modal into a failed job).
        slack
            .call("views.open", |s| async move {
                s.http_session_api
                    .http_post::<_, IgnoredAny>("views.open", request, None)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn explain_not_a_circle(&self, action: &MessageAction) -> Result<(), HandlerError> {
        let channel = &action.channel.id;
        let text = format!(
            "Circlet only captures feedback in circles, and <#{channel}> isn't one yet. To make it a circle, \
             invite @circlet to the channel (`/invite @circlet`), or ask the product team to run \
             `/feedback circle add <#{channel}>`."
        );
        let Some(response_url) = &action.response_url else {
            tracing::info!(%channel, "shortcut used outside a circle, and no response_url to say so");
            return Ok(());
        };
        self.slack.respond(response_url, &ephemeral(&text)).await?;
        Ok(())
    }

    /// Someone other than the author or the product team used the shortcut on a captured
    /// message: nothing of the insight is shown, only its number and how to support it.
    async fn explain_already_captured(
        &self,
        action: &MessageAction,
        number: i64,
    ) -> Result<(), HandlerError> {
        let Some(response_url) = &action.response_url else {
            tracing::info!(
                number,
                "shortcut on someone else's captured message, and no response_url to say so"
            );
            return Ok(());
        };
        self.slack
            .respond(response_url, &ephemeral(&already_captured(number)))
            .await?;
        Ok(())
    }

    /// Best effort: without it the user just sees nothing happen.
    async fn apologize_for_the_delay(&self, action: &MessageAction) {
        let Some(response_url) = &action.response_url else {
            return;
        };
        let text = "Sorry, the *Capture feedback* form took too long to open. Please use the shortcut on the message again.";
        if let Err(err) = self.slack.respond(response_url, &ephemeral(text)).await {
            tracing::info!(error = %err, "could not tell the user the form did not open");
        }
    }

    /// Caches the message (author, thread) for the capture on submit. Best effort: the modal is
    /// open, so failing the job here would only retry with a spent trigger.
    async fn remember_message(&self, team: &TeamId, action: &MessageAction) {
        let Some(channel_id) = action.channel() else {
            return;
        };
        let message = CachedMessage {
            team_id: team.clone(),
            channel_id,
            ts: action.message.ts.clone(),
            user_id: action.author(),
            text: action.message.text.clone(),
            thread_ts: action.message.thread_ts.clone(),
            user_team_id: events::author_team(
                action.message.user_team.as_deref(),
                action.message.team.as_deref(),
            ),
        };
        if let Err(err) = self.cache(&message).await {
            tracing::warn!(error = %err, "could not cache the shortcut's message; the capture will lack its author");
        }
    }

    async fn cache(&self, message: &CachedMessage) -> StoreResult<()> {
        let (message, now) = (message.clone(), self.clock.now_millis());
        store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.put_message(&message, now).await.map(|_| ()) })
        })
        .await
    }
}

/// [`OpenFormHandler::find`] in its transaction: `prefill` holds what the shortcut's payload
/// says of the message (`ts` in the channel it names).
async fn find_in(
    tx: &mut dyn InsightTx,
    team: &TeamId,
    ts: &str,
    mut prefill: Prefill,
) -> StoreResult<Option<Found>> {
    let context = TeamContext::load(tx, team).await?;
    if !context.circles.contains(&prefill.channel_id) {
        return Ok(None);
    }
    let channel = prefill.channel_id.clone();
    let message = MessageRef {
        team_id: team,
        channel_id: &channel,
        ts,
    };
    let captured = match tx.insight_by_message(message).await? {
        Some(insight) if !insight.deleted => Some(follow_merges(tx, insight).await?),
        _ => None,
    };
    if let Some(insight) = &captured {
        prefill.tags = tx.tags(insight.id).await?;
        prefill.number = Some(insight.number);
        if let Some(text) = &insight.text {
            prefill.text = text.clone();
        }
        prefill.details = InsightDetails {
            product_area: insight.product_area.clone(),
            sentiment: insight.sentiment.clone(),
            customer_company: insight.customer_company.clone(),
        };
    }
    Ok(Some(Found {
        prefill,
        tags: workspace_tags(&context),
        captured,
    }))
}

/// What someone who may not edit an insight is told about it.
pub fn already_captured(number: i64) -> String {
    format!("This message is already captured as #{number} — a :+1: on it counts as your vote.")
}

fn ephemeral(text: &str) -> serde_json::Value {
    serde_json::json!({ "response_type": "ephemeral", "replace_original": false, "text": text })
}
