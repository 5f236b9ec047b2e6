//! Circles: the channels Circlet captures feedback in. A channel becomes one when the bot is
//! invited (or by `/feedback circle add`), and stops when the bot leaves, the channel is
//! archived, or `/feedback circle remove` is run. Data always stays.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use slack_morphism::prelude::{SlackEventCallbackBody, SlackPushEvent};

use super::access::ProductAccess;
use super::directory;
use super::slash::{self, SlashCommand};
use super::workspaces::Workspaces;
use super::{job_team, payload_channel};
use crate::clock::{Millis, SharedClock};
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, CircleChange, Membership, MembershipChange, SharedStore};

pub const CIRCLE_USAGE: &str = "/feedback circle add #channel | remove #channel | list";

/// Keeps circles in step with the bot's channel membership.
pub struct MembershipHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for MembershipHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let event: SlackPushEvent = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable event: {err}")))?;
        let SlackPushEvent::EventCallback(callback) = event else {
            return Ok(());
        };
        let at = callback.event_time.0.as_millisecond();
        let team = job_team(job)?;
        let workspace = self.workspaces.get(&team).await?;
        let bot = workspace.bot();
        let (channel, active, by) = match callback.event {
            SlackEventCallbackBody::MemberJoinedChannel(joined) if bot.is_bot(&joined.user).await? => {
                (joined.channel, true, joined.inviter.map(|u| u.to_string()))
            }
            SlackEventCallbackBody::MemberLeftChannel(left) if bot.is_bot(&left.user).await? => {
                (left.channel, false, None)
            }
            SlackEventCallbackBody::MemberJoinedChannel(joined) => {
                let (channel, user) = (
                    payload_channel(joined.channel.to_string())?,
                    joined.user.to_string(),
                );
                return self
                    .member(&team, &channel, &user, MembershipChange::Joined, at)
                    .await;
            }
            SlackEventCallbackBody::MemberLeftChannel(left) => {
                let (channel, user) = (payload_channel(left.channel.to_string())?, left.user.to_string());
                return self
                    .member(&team, &channel, &user, MembershipChange::Left, at)
                    .await;
            }
            SlackEventCallbackBody::ChannelArchive(archived) => {
                (archived.channel, false, Some(archived.user.to_string()))
            }
            _ => return Ok(()),
        };
        let channel = payload_channel(channel.to_string())?;
        // Who made the change is a note, not a key: a redacted or odd inviter is recorded as no one.
        let by = by.and_then(|user| UserId::parse(user).ok());
        let now = self.clock.now_millis();
        let change = CircleChange {
            team_id: &team,
            channel_id: &channel,
            active,
            changed_by: by.as_ref(),
            at: now,
        };
        let changed = self.store.set_circle(&change).await?;
        if changed {
            tracing::info!(team_id = %team, %channel, active, "circle changed");
            if active {
                self.store
                    .insert_inbox(&[directory::circle_load(&team, &channel, now)])
                    .await?;
            }
        }
        Ok(())
    }
}

impl MembershipHandler {
    /// Keeps a circle's member list current; other channels' members are none of Circlet's business.
    async fn member(
        &self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        user_id: &str,
        change: MembershipChange,
        at: Millis,
    ) -> Result<(), HandlerError> {
        if !self.store.is_circle(team_id, channel_id).await? {
            return Ok(());
        }
        // A member of another shape names no one to count.
        let Ok(user_id) = UserId::parse(user_id) else {
            return Ok(());
        };
        let (team_id, channel_id) = (team_id.clone(), channel_id.clone());
        store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let membership = Membership {
                    team_id: &team_id,
                    channel_id: &channel_id,
                    user_id: &user_id,
                    change,
                    at,
                };
                tx.set_membership(&membership).await
            })
        })
        .await?;
        Ok(())
    }
}

/// `/feedback circle add|remove|list`, for product users and admins.
pub struct CircleCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for CircleCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        command
            .answer_product_team(
                &self.access,
                &self.slack,
                "Sorry, only the product team and workspace admins can manage circles.",
                || self.run(&command),
            )
            .await
    }
}

impl CircleCommand {
    async fn run(&self, command: &SlashCommand) -> Result<String, HandlerError> {
        let args = command.args();
        let team = &command.team_id;
        match args.as_slice() {
            ["list"] | [] => self.list(team).await,
            [action @ ("add" | "remove"), channel] => {
                let Some(channel) = slash::channel(channel) else {
                    return Ok(format!(
                        "I can't tell which channel `{channel}` is: mention it so Slack links it, e.g. `{CIRCLE_USAGE}`."
                    ));
                };
                let active = *action == "add";
                let change = CircleChange {
                    team_id: team,
                    channel_id: &channel,
                    active,
                    changed_by: Some(&command.user_id),
                    at: self.clock.now_millis(),
                };
                let changed = self.store.set_circle(&change).await?;
                if active && changed {
                    let load = directory::circle_load(team, &channel, change.at);
                    self.store.insert_inbox(&[load]).await?;
                }
                Ok(match (active, changed) {
                    (true, true) => format!(
                        "<#{channel}> is now a circle: reactions and the *Capture feedback* shortcut there become insights. \
                         Invite @circlet to the channel if it is not a member yet."
                    ),
                    (true, false) => format!("<#{channel}> is already a circle."),
                    (false, true) => {
                        format!(
                            "Circlet no longer captures feedback in <#{channel}>. What it captured stays."
                        )
                    }
                    (false, false) => format!("<#{channel}> is not a circle."),
                })
            }
            _ => Ok(format!("Usage: `{CIRCLE_USAGE}`")),
        }
    }

    async fn list(&self, team: &TeamId) -> Result<String, HandlerError> {
        let circles = self.store.circles(team).await?;
        let team_id = team.clone();
        let counts: HashMap<ChannelId, i64> = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.insight_counts(&team_id).await })
        })
        .await?
        .into_iter()
        .map(|count| (count.channel_id, count.insights))
        .collect();
        let active: Vec<String> = circles
            .iter()
            .filter(|c| c.active)
            .map(|c| {
                let n = counts.get(&c.channel_id).copied().unwrap_or(0);
                let insights = if n == 1 { "insight" } else { "insights" };
                format!("• <#{}> — {n} {insights}", c.channel_id)
            })
            .collect();
        if active.is_empty() {
            return Ok(
                "No circles yet. Invite @circlet to a customer channel, or run `/feedback circle add #channel`."
                    .to_owned(),
            );
        }
        Ok(format!("*Circles* ({})\n{}", active.len(), active.join("\n")))
    }
}
