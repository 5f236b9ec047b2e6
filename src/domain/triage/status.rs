//! Changing an insight's status, by `/feedback status ID STATUS` or a status button.

use async_trait::async_trait;

use super::errors::{InsightRef, parse_reference, parse_status};
use super::{Triage, TriageError, close_loop, live_insight, merge_target};
use crate::domain::block_actions::BlockActions;
use crate::domain::job_team;
use crate::domain::slash::SlashCommand;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::{self, InsightStatus};

pub const STATUS_USAGE: &str = "/feedback status ID new|reviewing|planned|shipped|declined";
/// The `action_id` of the status buttons; their `value` is `"ID:STATUS"`, e.g. `"42:shipped"`.
/// A message with several of them may suffix it (`insight_status:42:shipped`): Slack wants the
/// action ids of one message's buttons to differ.
pub const STATUS_ACTION: &str = "insight_status";

/// Whether `action_id` is a status button's: [`STATUS_ACTION`], alone or with a `:` suffix.
pub fn is_status_action(action_id: &str) -> bool {
    action_id
        .strip_prefix(STATUS_ACTION)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// `/feedback status ID STATUS`.
pub(super) struct StatusCommand(pub(super) Triage);

#[async_trait]
impl InboxHandler for StatusCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        let work = async {
            let (reference, status) = parse_args(&command.args())?;
            self.0
                .set_status(&command.team_id, &command.user_id, reference, status)
                .await
        };
        let answer = self.0.answer(&command.team_id, &command.user_id, work).await?;
        command.reply(&self.0.slack, &answer).await
    }
}

/// `ID STATUS`, the words after `/feedback status`.
pub fn parse_args(args: &[&str]) -> Result<(InsightRef, InsightStatus), TriageError> {
    match args {
        [reference, status] => Ok((parse_reference(reference)?, parse_status(status)?)),
        _ => Err(TriageError::Usage(STATUS_USAGE)),
    }
}

/// A click on a status button (`block_actions`). Other actions are left alone: they belong to
/// whatever else renders buttons.
pub(super) struct StatusButton(pub(super) Triage);

#[async_trait]
impl InboxHandler for StatusButton {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let payload = BlockActions::read(job)?;
        let clicks = payload.actions.iter().filter(|a| is_status_action(&a.action_id));
        for click in clicks {
            let team = job_team(job)?;
            let user = payload.user()?;
            let work = async {
                let value = click.value.as_deref().unwrap_or_default();
                let Some((reference, status)) = value.split_once(':') else {
                    return Err(TriageError::Usage(STATUS_USAGE));
                };
                let (reference, status) = (parse_reference(reference)?, parse_status(status)?);
                self.0.set_status(&team, &user, reference, status).await
            };
            let answer = self.0.answer(&team, &user, work).await?;
            if let Some(response_url) = &payload.response_url {
                // Ephemeral and not replacing: the message with the buttons stays as it is.
                let message = serde_json::json!({
                    "response_type": "ephemeral",
                    "replace_original": false,
                    "text": answer,
                });
                self.0.slack.respond(response_url, &message).await?;
            }
        }
        Ok(())
    }
}

impl Triage {
    /// Sets the status of the workspace's insight `number`; a change to planned, shipped or
    /// declined queues its close-the-loop replies in the same transaction, so they exist
    /// exactly when the change does. Returns the answer for `user`.
    async fn set_status(
        &self,
        team: &TeamId,
        user: &UserId,
        reference: InsightRef,
        status: InsightStatus,
    ) -> Result<String, TriageError> {
        let now = self.clock.now_millis();
        // The insight's own workspace: the product team's, or one linked to it.
        let team = &self.workspace_of(team, &reference).await?;
        let number = reference.number;
        let (team_id, user_id) = (team.clone(), user.clone());
        let texts = self.settings.loop_texts.clone();
        let threads = store::transaction_with(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let insight = live_insight(tx, &team_id, number).await?;
                if let Some(target) = merge_target(tx, &insight).await? {
                    return Err(TriageError::StatusOfMerged { number, target });
                }
                let Some(change) = tx.change_status(insight.id, status, Some(&user_id), now).await? else {
                    // Already so, or someone changed or merged it a moment ago: answer from
                    // what is stored now.
                    let current = live_insight(tx, &team_id, number).await?;
                    return Err(match merge_target(tx, &current).await? {
                        Some(target) => TriageError::StatusOfMerged { number, target },
                        None => TriageError::AlreadyInStatus(number, status),
                    });
                };
                if !status.closes_the_loop() {
                    return Ok(0);
                }
                Ok(close_loop::queue(tx, &insight, change, &texts, status, now).await?)
            })
        })
        .await?;
        tracing::info!(team_id = %team, number, %status, by = %user, "insight status changed");
        let told = match threads {
            0 => String::new(),
            1 => " I'm letting its author and voters know in its thread.".to_owned(),
            2 => " I'm letting the authors and voters know in its thread and in the thread of the \
                  insight merged into it."
                .to_owned(),
            n => format!(
                " I'm letting the authors and voters know in its thread and in the threads of the {} \
                 insights merged into it.",
                n - 1
            ),
        };
        Ok(format!("{reference} is now *{status}*.{told}"))
    }
}
