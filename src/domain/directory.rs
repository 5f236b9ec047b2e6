//! Who is in each circle and what people and channels are called, for reports and exports.
//! Learned from Slack in inbox tasks (never on the request path): when a circle starts, its
//! name and member list; when someone's feedback is first captured, their display name and
//! their own workspace (`users.info`), which for a Slack Connect member is another
//! organization's. Someone Slack will not tell about (`user_not_found`) is named by their id.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use super::bot::Identity;
use super::job_team;
use super::workspaces::{Workspace, Workspaces};
use crate::clock::{Millis, SharedClock};
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job, NewInboxItem};
use crate::slack::{SlackApi, SlackError};
use crate::store::{self, InsightTx, Membership, MembershipChange, Named, SharedStore, StoreResult};

/// Task: read a circle's name and members (and the workspace's URL, for permalinks).
pub const LOAD_CIRCLE_TASK: &str = "load_circle";
/// Task: read a person's display name.
pub const PERSON_TASK: &str = "fetch_person";

/// Members per `conversations.members` page; Slack allows up to 1,000 and suggests 200.
const MEMBERS_PAGE: u16 = 200;
/// Pages read before giving up on a huge channel (circles are 10–100 people).
const MAX_MEMBER_PAGES: usize = 50;

/// Answers that mean "this will never work", not "try again".
const GONE: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "user_not_visible",
    "missing_scope",
];

#[derive(Debug, Serialize, Deserialize)]
struct CircleTask {
    channel: ChannelId,
}

#[derive(Debug, Serialize, Deserialize)]
struct PersonTask {
    user: UserId,
}

/// The task that loads a circle that just started; keyed by when, so a circle removed and
/// added again is read again.
pub fn circle_load(team_id: &TeamId, channel_id: &ChannelId, now: Millis) -> NewInboxItem {
    let payload = serde_json::json!(CircleTask {
        channel: channel_id.clone()
    });
    NewInboxItem::task(
        team_id.as_str(),
        format!("{LOAD_CIRCLE_TASK}:{team_id}:{channel_id}:{now}"),
        LOAD_CIRCLE_TASK,
        &payload,
        now,
    )
}

/// The person's own workspace if the directory knows it; queues reading their name (and
/// workspace) from Slack when the directory does not know them at all.
pub async fn learn_person(
    tx: &mut dyn InsightTx,
    team_id: &TeamId,
    user_id: &UserId,
    now: Millis,
) -> StoreResult<Option<TeamId>> {
    if let Some(person) = tx.person(team_id, user_id).await? {
        return Ok(person.user_team_id);
    }
    let payload = serde_json::json!(PersonTask {
        user: user_id.clone()
    });
    let key = format!("{PERSON_TASK}:{team_id}:{user_id}");
    tx.enqueue(&NewInboxItem::task(
        team_id.as_str(),
        key,
        PERSON_TASK,
        &payload,
        now,
    ))
    .await?;
    Ok(None)
}

fn gone(err: &SlackError) -> Option<&str> {
    match err {
        SlackError::Api { code, .. } if GONE.contains(&code.as_str()) => Some(code),
        _ => None,
    }
}

fn read<T: for<'de> Deserialize<'de>>(job: &Job) -> Result<T, HandlerError> {
    serde_json::from_str(&job.row.payload)
        .map_err(|err| HandlerError::permanent(format!("unreadable task: {err}")))
}

pub struct CircleLoadHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for CircleLoadHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let task: CircleTask = read(job)?;
        let team = job_team(job)?;
        let channel = task.channel.as_str();
        let workspace = self.workspaces.get(&team).await?;
        let (identity, info, members) = match fetch(&workspace, channel).await {
            Ok(found) => found,
            Err(err) => {
                return match gone(&err) {
                    Some(code) => {
                        tracing::info!(%channel, code, "cannot read the circle's details; reports show its id");
                        Ok(())
                    }
                    None => Err(err.into()),
                };
            }
        };
        let now = self.clock.now_millis();
        let (team_id, channel_id) = (team.clone(), task.channel.clone());
        let workspace_url = (identity.installation() == &team).then(|| identity.url.clone());
        let channel_name = info.channel.name.clone();
        let count = members.len();
        store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let (team, channel) = (&team_id, &channel_id);
                // Only the installed workspace's URL: an org-wide token could answer for another.
                if let Some(url) = &workspace_url {
                    tx.set_name(Named::Workspace { team_id: team }, url, now).await?;
                }
                if let Some(name) = channel_name.as_deref() {
                    let named = Named::Channel {
                        team_id: team,
                        channel_id: channel,
                    };
                    tx.set_name(named, name, now).await?;
                }
                // A member list entry of another shape names no one.
                for user in members
                    .iter()
                    .filter_map(|user| UserId::parse(user.as_str()).ok())
                {
                    let membership = Membership {
                        team_id: team,
                        channel_id: channel,
                        user_id: &user,
                        change: MembershipChange::Present,
                        at: now,
                    };
                    tx.set_membership(&membership).await?;
                }
                Ok(())
            })
        })
        .await?;
        tracing::info!(%channel, members = count, "read the circle's name and members");
        Ok(())
    }
}

type CircleDetails = (Identity, SlackApiConversationsInfoResponse, Vec<String>);

async fn fetch(workspace: &Workspace, channel: &str) -> Result<CircleDetails, SlackError> {
    let identity = workspace.bot().identity().await?.clone();
    let info_request = &SlackApiConversationsInfoRequest::new(channel.to_owned().into());
    let info = workspace
        .slack()
        .call("conversations.info", |s| async move {
            s.conversations_info(info_request).await
        })
        .await?;
    let members = members(workspace.slack(), channel).await?;
    Ok((identity, info, members))
}

async fn members(slack: &SlackApi, channel: &str) -> Result<Vec<String>, SlackError> {
    let mut members = Vec::new();
    let mut cursor: Option<SlackCursorId> = None;
    for _ in 0..MAX_MEMBER_PAGES {
        let request = &SlackApiConversationsMembersRequest::new()
            .with_channel(channel.to_owned().into())
            .with_limit(MEMBERS_PAGE)
            .opt_cursor(cursor.clone());
        let page = slack
            .call("conversations.members", |s| async move {
                s.conversations_members(request).await
            })
            .await?;
        members.extend(page.members.iter().map(ToString::to_string));
        cursor = page.response_metadata.and_then(|m| m.next_cursor);
        if cursor.as_ref().is_none_or(|c| c.to_string().is_empty()) {
            break;
        }
    }
    Ok(members)
}

pub struct PersonHandler {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for PersonHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let task: PersonTask = read(job)?;
        let team = job_team(job)?;
        let slack = self.workspaces.slack(&team).await?;
        let request = &SlackApiUsersInfoRequest::new(task.user.to_string().into());
        let user = match slack
            .call("users.info", |s| async move { s.users_info(request).await })
            .await
        {
            Ok(found) => Some(found.user),
            // A Slack Connect member Slack will not show (or anyone it lost) is named by id, like
            // anyone without a name, so exports and reports show who it was.
            Err(err) => match gone(&err) {
                Some(code) => {
                    tracing::info!(user = %task.user, code, "cannot read a member's name; naming them by id");
                    None
                }
                None => return Err(err.into()),
            },
        };
        let name = user
            .as_ref()
            .and_then(display_name)
            .unwrap_or_else(|| task.user.to_string());
        // Their own workspace, which for a Slack Connect member is another organization's.
        let user_team = user
            .as_ref()
            .and_then(|user| user.team_id.as_ref())
            .and_then(|team| TeamId::parse(team.to_string()).ok());
        let (team_id, user_id, now) = (team, task.user.clone(), self.clock.now_millis());
        store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let person = Named::Person {
                    team_id: &team_id,
                    user_id: &user_id,
                };
                tx.set_name(person, &name, now).await?;
                if let Some(user_team) = &user_team {
                    tx.set_person_team(&team_id, &user_id, user_team).await?;
                }
                Ok(())
            })
        })
        .await?;
        Ok(())
    }
}

/// The name people see in Slack: the display name, else the real name, else the handle.
fn display_name(user: &SlackUser) -> Option<String> {
    let profile = user.profile.as_ref();
    [
        profile.and_then(|p| p.display_name.clone()),
        profile.and_then(|p| p.real_name.clone()),
        user.real_name.clone(),
        user.name.clone(),
    ]
    .into_iter()
    .flatten()
    .map(|name| name.trim().to_owned())
    .find(|name| !name.is_empty())
}
