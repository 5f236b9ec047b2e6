//! A submitted capture form: checked in the request path (so Slack shows mistakes in the
//! modal), then saved by a worker as the message's insight, created or updated.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::form::{FeedbackForm, FieldErrors, ViewState};
use super::metadata::{FormContext, MetadataError};
use super::open::already_captured;
use super::view::{Audience, TEXT_BLOCK};
use super::{CALLBACK_ID, may_edit, workspace_tags};
use crate::clock::{Millis, SharedClock};
use crate::domain::access::ProductAccess;
use crate::domain::capture::service::{self, TeamContext, follow_merges};
use crate::domain::settings::DomainSettings;
use crate::inbox::{HandlerError, InboxHandler, Job, ViewRejection, ViewSubmissionCheck};
use crate::secret::Secret;
use crate::store::{
    self, Insight, InsightSource, InsightTx, MessageRef, SharedStore, StoreResult, TagSource,
};

const EXPIRED: &str = "This form has expired or could not be verified. Please close it and use the \
                       Capture feedback shortcut on the message again.";
const NOT_A_CIRCLE: &str = "This channel is no longer a circle, so Circlet can't capture feedback from it.";

/// The parts of a `view_submission` payload the form needs.
#[derive(Debug, Deserialize)]
struct Submission {
    user: Id,
    view: SubmittedView,
}

#[derive(Debug, Deserialize)]
struct Id {
    id: String,
}

#[derive(Debug, Deserialize)]
struct SubmittedView {
    #[serde(default)]
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: ViewState,
}

impl Submission {
    fn parse(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }

    /// The message the form is about, if the form is Circlet's, fresh at `now` (Unix seconds),
    /// and submitted by whom it was opened for.
    fn context(&self, team_id: &str, key: &Secret, now: i64) -> Result<FormContext, MetadataError> {
        let context = FormContext::open(&self.view.private_metadata, key, now)?;
        context.check_submitter(team_id, &self.user.id)?;
        Ok(context)
    }
}

/// The checks of a submission that need no database: its payload, its signed metadata (for
/// `team_id` at `now`) and the form's fields against `known_tags`. `None` when the payload or
/// metadata is refused. Used by the fuzzer (fuzz/fuzz_targets/interactions.rs).
pub fn read_offline(
    team_id: &str,
    payload: &str,
    key: &Secret,
    now: i64,
    known_tags: &std::collections::BTreeSet<String>,
) -> Option<(FormContext, Result<FeedbackForm, FieldErrors>)> {
    let submission = Submission::parse(payload).ok()?;
    let context = submission.context(team_id, key, now).ok()?;
    let form = FeedbackForm::read(&submission.view.state, known_tags, context.product_fields);
    Some((context, form))
}

/// Answers a submission's mistakes inline, before anything is stored.
pub struct SubmissionCheck {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub settings: Arc<DomainSettings>,
}

#[async_trait]
impl ViewSubmissionCheck for SubmissionCheck {
    async fn check(&self, team_id: &str, payload: &str) -> Result<(), ViewRejection> {
        let refuse =
            |message: &str| ViewRejection::Invalid(FieldErrors::from([(TEXT_BLOCK.into(), message.into())]));
        let submission = Submission::parse(payload).map_err(|_| refuse(EXPIRED))?;
        let context = submission
            .context(team_id, &self.settings.signing_key, self.clock.now_secs())
            .map_err(|err| {
                tracing::info!(%team_id, error = %err, "refused a capture form");
                refuse(EXPIRED)
            })?;
        let unavailable = |err: crate::store::StoreError| ViewRejection::Unavailable(err.to_string());
        let (team, insight) = team_and_insight(&self.store, &context)
            .await
            .map_err(unavailable)?;
        if !team.circles.contains(&context.channel_id) {
            return Err(refuse(NOT_A_CIRCLE));
        }
        // The form says whether it was opened for a product user (signed); the worker asks
        // Slack again before it saves.
        let audience = if context.product_fields {
            Audience::Product
        } else {
            Audience::Member
        };
        if let Some(insight) = insight
            && !may_edit(&insight, &context.user_id, audience)
        {
            return Err(refuse(&already_captured(insight.number)));
        }
        FeedbackForm::read(
            &submission.view.state,
            &workspace_tags(&team),
            context.product_fields,
        )
        .map_err(ViewRejection::Invalid)?;
        Ok(())
    }
}

/// Saves a checked submission as the message's insight.
pub struct SaveFormHandler {
    pub store: SharedStore,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
    pub settings: Arc<DomainSettings>,
}

impl SaveFormHandler {
    /// Whether the submitter counts as a product user for this save. Slack is asked only when
    /// it matters: the form carries product fields, or someone else's insight stands for the
    /// message. Asked before the saving transaction opens, never inside it.
    async fn audience(&self, context: &FormContext) -> Result<Audience, HandlerError> {
        let (_, insight) = team_and_insight(&self.store, context).await?;
        let someone_elses =
            insight.is_some_and(|insight| insight.author_id.as_ref() != Some(&context.user_id));
        if !(context.product_fields || someone_elses) {
            return Ok(Audience::Member);
        }
        Ok(
            if self
                .access
                .is_product_user(&context.team_id, &context.user_id)
                .await?
            {
                Audience::Product
            } else {
                Audience::Member
            },
        )
    }
}

#[async_trait]
impl InboxHandler for SaveFormHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let submission = Submission::parse(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable view submission: {err}")))?;
        if submission.view.callback_id != CALLBACK_ID {
            return Ok(());
        }
        let team_id = job.row.team_id.as_str();
        // Checked as of its arrival: the form was fresh then, however long the row waited.
        let received_secs = job.row.received_at.div_euclid(1000);
        let context = submission
            .context(team_id, &self.settings.signing_key, received_secs)
            .map_err(|err| HandlerError::permanent(format!("capture form refused: {err}")))?;
        let audience = self.audience(&context).await?;
        let now = self.clock.now_millis();
        store::transaction_with(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let team = TeamContext::load(tx, &context.team_id).await?;
                if !team.circles.contains(&context.channel_id) {
                    tracing::info!(team_id = %context.team_id, channel = %context.channel_id, "capture form for a channel that stopped being a circle; not saved");
                    return Ok(());
                }
                // The workspace's tags may have changed since the check; a refused form stays
                // visible as a dead row rather than being saved in part.
                let form = FeedbackForm::read(
                    &submission.view.state,
                    &workspace_tags(&team),
                    context.product_fields,
                )
                .map_err(|errors| {
                    HandlerError::permanent(format!(
                        "capture form no longer valid in: {}",
                        errors.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                save(tx, &team, &context, &form, audience, now).await?;
                Ok(())
            })
        })
        .await
    }
}

/// The workspace's capture settings and the live insight standing for the form's message, read
/// in a transaction of their own.
async fn team_and_insight(
    store: &SharedStore,
    context: &FormContext,
) -> StoreResult<(TeamContext, Option<Insight>)> {
    let context = context.clone();
    store::transaction(store.as_ref(), move |tx| {
        Box::pin(async move {
            let team = TeamContext::load(tx, &context.team_id).await?;
            let message = MessageRef {
                team_id: &context.team_id,
                channel_id: &context.channel_id,
                ts: &context.message_ts,
            };
            let insight = live_insight(tx, message).await?;
            Ok((team, insight))
        })
    })
    .await
}

/// The live insight standing for `message` (its merge target), if the message is captured.
async fn live_insight(tx: &mut dyn InsightTx, message: MessageRef<'_>) -> StoreResult<Option<Insight>> {
    match tx.insight_by_message(message).await? {
        Some(insight) if !insight.deleted => Ok(Some(follow_merges(tx, insight).await?)),
        _ => Ok(None),
    }
}

/// Captures the message with the form's text (or updates the insight already capturing it,
/// when `audience` may edit it), then sets its modal tags and, for product users, details.
async fn save(
    tx: &mut dyn InsightTx,
    team: &TeamContext,
    context: &FormContext,
    form: &FeedbackForm,
    audience: Audience,
    now: Millis,
) -> StoreResult<()> {
    let message = MessageRef {
        team_id: &team.team_id,
        channel_id: &context.channel_id,
        ts: &context.message_ts,
    };
    if let Some(insight) = live_insight(tx, message).await?
        && !may_edit(&insight, &context.user_id, audience)
    {
        tracing::info!(team_id = %team.team_id, user = %context.user_id, number = insight.number,
            "capture form for someone else's insight from a member; not saved");
        return Ok(());
    }
    let captured = service::capture(
        tx,
        team,
        message,
        None,
        InsightSource::Shortcut,
        Some(&form.text),
        now,
    )
    .await?;
    let Some(insight) = captured else {
        tracing::info!(team_id = %team.team_id, channel = %context.channel_id, "capture form for a deleted message; not saved");
        return Ok(());
    };
    tx.add_source(insight.id, InsightSource::Shortcut).await?;
    if insight.text.as_deref() != Some(form.text.as_str()) {
        // The insight's own version: a later edit of the Slack message still updates the text.
        if tx
            .set_text(insight.id, &form.text, insight.text_version, now)
            .await?
        {
            service::tag_by_rules(tx, team, &insight, &form.text).await?;
        }
        if insight.text.is_none() {
            // Captured by a reaction whose text was still being fetched: this text completes it.
            service::queue_ack(tx, &insight, now).await?;
        }
    }
    tx.replace_tags(insight.id, TagSource::Modal, &form.tags).await?;
    match (&form.details, audience) {
        (Some(details), Audience::Product) => tx.set_details(insight.id, details, now).await,
        _ => Ok(()),
    }
}
