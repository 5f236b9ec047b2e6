//! `/feedback report`: checks who asks and what, computes the report and answers with its
//! blocks, replacing the "Working on it…" acknowledgement.

use std::sync::Arc;

use async_trait::async_trait;

use super::blocks::render_blocks;
use super::model::compute;
use super::request::{ReportRequest, RequestError, parse};
use crate::clock::{Millis, SharedClock};
use crate::domain::access::ProductAccess;
use crate::domain::capture::service::TeamContext;
use crate::domain::links;
use crate::domain::modal::workspace_tags;
use crate::domain::slash::SlashCommand;
use crate::ids::TeamId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, SharedStore, StoreResult};

/// The answer to anyone but the product team; it names nothing, so it reveals nothing.
pub const REFUSAL: &str = "Sorry, reports are for the product team and workspace admins.";

pub struct ReportCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for ReportCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        // Before reading the request: even "not a circle" would tell a customer something.
        if !self
            .access
            .is_product_user(&command.team_id, &command.user_id)
            .await?
        {
            return command.reply(&self.slack, REFUSAL).await;
        }
        let now = self.clock.now_millis();
        let request = match self.request(&command, now).await? {
            Ok(request) => request,
            Err(wrong) => return command.reply(&self.slack, &wrong.answer()).await,
        };
        let report = compute(self.store.reads().as_ref(), &request, now).await?;
        let rendered = render_blocks(&report);
        command
            .reply_blocks(&self.slack, &rendered.text, rendered.blocks_json())
            .await
    }
}

impl ReportCommand {
    /// The request typed, checked against the workspace: the channel must be a circle and the
    /// tag one the workspace has.
    async fn request(
        &self,
        command: &SlashCommand,
        now: Millis,
    ) -> StoreResult<Result<ReportRequest, RequestError>> {
        let mut request = match parse(&command.team_id, &command.args(), now) {
            Ok(request) => request,
            Err(wrong) => return Ok(Err(wrong)),
        };
        // The workspace's own circles and those of the workspaces linked to it.
        let covered = links::covered_by(self.store.workspaces().as_ref(), &command.team_id).await?;
        request.linked_teams = covered[1..].to_vec();
        if let Some(channel) = &request.channel_id {
            let mut known = false;
            for team in &covered {
                known = known || self.store.is_circle(team, channel).await?;
            }
            if !known {
                return Ok(Err(RequestError::NotACircle(channel.clone())));
            }
        }
        if let Some(tag) = &request.tag {
            let mut known = false;
            for team in &covered {
                known = known || self.is_known_tag(team, tag).await?;
            }
            if !known {
                return Ok(Err(RequestError::UnknownTag(tag.clone())));
            }
        }
        Ok(Ok(request))
    }

    /// A tag the emoji map or a keyword rule gives (as the capture modal offers them), or one
    /// an insight carries (the modal and retired emoji leave those behind).
    async fn is_known_tag(&self, team: &TeamId, tag: &str) -> StoreResult<bool> {
        if self.store.reads().tag_in_use(team, tag).await? {
            return Ok(true);
        }
        let team_id = team.clone();
        let context = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move { TeamContext::load(tx, &team_id).await })
        })
        .await?;
        Ok(workspace_tags(&context).contains(tag))
    }
}
