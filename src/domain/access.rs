//! Who may run product-team commands in a workspace: the users or user group its settings name
//! (`/feedback settings product-users`, or `CIRCLET_PRODUCT_USERS` in single-workspace mode when
//! the workspace set none), and always the workspace's admins and owners, provided they belong
//! to the installed workspace.
//!
//! A Slack Connect circle holds members of other organizations. Their own organization may make
//! them admins, and `users.info` reports those flags as it finds them; so a user whose own
//! workspace is not the installation's is never a product user, whatever their flags or lists
//! say (ARCHITECTURE §10).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slack_morphism::prelude::*;
use tokio::sync::Mutex;

use crate::domain::settings::ProductUsers;
use crate::domain::workspaces::{Workspace, Workspaces};
use crate::ids::{TeamId, UserId};
use crate::slack::SlackError;
use crate::store::SharedStore;

/// How long a user group's members are trusted before asking Slack again.
const GROUP_CACHE: Duration = Duration::from_secs(300);

pub struct ProductAccess {
    /// `CIRCLET_PRODUCT_USERS`: applies where a workspace set none of its own.
    configured: ProductUsers,
    workspaces: Arc<Workspaces>,
    store: SharedStore,
    /// A user group's members, by group id.
    group_members: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl ProductAccess {
    pub fn new(configured: ProductUsers, workspaces: Arc<Workspaces>, store: SharedStore) -> Self {
        Self {
            configured,
            workspaces,
            store,
            group_members: Mutex::default(),
        }
    }

    /// Who the workspace's settings name: its own setting, else the configured one.
    pub async fn product_users(&self, team: &TeamId) -> Result<ProductUsers, SlackError> {
        let settings =
            self.store
                .workspaces()
                .settings(team)
                .await
                .map_err(|err| SlackError::Unavailable {
                    method: "settings",
                    detail: err.to_string(),
                })?;
        Ok(settings
            .product_users
            .as_deref()
            .and_then(ProductUsers::parse)
            .unwrap_or_else(|| self.configured.clone()))
    }

    /// Whether `user` may configure circles, triage, report and export in `team`. Users listed
    /// in the settings (by id or group) are the operator's own choice; admin flags are Slack's
    /// word about a user of whichever organization, so they count only for the installed
    /// workspace.
    pub async fn is_product_user(&self, team: &TeamId, user: &UserId) -> Result<bool, SlackError> {
        let workspace = self.workspaces.get(team).await?;
        let listed = match self.product_users(team).await? {
            ProductUsers::Users(users) => users.iter().any(|u| user == u.as_str()),
            ProductUsers::UserGroup(group) => self.group_has(&workspace, &group, user).await?,
            ProductUsers::AdminsOnly => false,
        };
        if listed {
            return Ok(true);
        }
        is_admin(&workspace, user).await
    }

    async fn group_has(&self, workspace: &Workspace, group: &str, user: &UserId) -> Result<bool, SlackError> {
        let mut cached = self.group_members.lock().await;
        let fresh = cached
            .get(group)
            .is_some_and(|(at, _)| at.elapsed() < GROUP_CACHE);
        if !fresh {
            let request = &SlackApiUserGroupsUsersListRequest::new(group.into());
            let answer = workspace
                .slack()
                .call("usergroups.users.list", |s| async move {
                    s.usergroups_users_list(request).await
                })
                .await?;
            let members = answer.users.iter().map(ToString::to_string).collect();
            cached.insert(group.to_owned(), (Instant::now(), members));
        }
        Ok(cached
            .get(group)
            .is_some_and(|(_, members)| members.iter().any(|m| user == m.as_str())))
    }
}

async fn is_admin(workspace: &Workspace, user: &UserId) -> Result<bool, SlackError> {
    let member = member(workspace, user).await?;
    let flags = &member.flags;
    let admin = [flags.is_admin, flags.is_owner, flags.is_primary_owner].contains(&Some(true));
    if admin && !is_of_installed_workspace(workspace, &member).await? {
        tracing::info!(%user, team_id = ?member.team_id, "an admin of another organization is not a product user here");
        return Ok(false);
    }
    Ok(admin)
}

async fn member(workspace: &Workspace, user: &UserId) -> Result<SlackUser, SlackError> {
    let request = &SlackApiUsersInfoRequest::new(user.as_str().into());
    let answer = workspace
        .slack()
        .call("users.info", |s| async move { s.users_info(request).await })
        .await?;
    Ok(answer.user)
}

/// Whether `member`'s own workspace is the installation's: their `team_id`, or, in an
/// Enterprise Grid organization, one of the workspaces they belong to, or, for an org-wide
/// install, the organization itself. A user Slack names no workspace for is not trusted.
async fn is_of_installed_workspace(workspace: &Workspace, member: &SlackUser) -> Result<bool, SlackError> {
    let identity = workspace.bot().identity().await?;
    let ours = |team: &str| identity.team_id == team || identity.installation() == team;
    let home = member.team_id.as_ref().is_some_and(|team| ours(&team.0));
    let grid = member.enterprise_user.as_ref();
    let grid_team = grid
        .and_then(|grid| grid.teams.as_ref())
        .is_some_and(|teams| teams.iter().any(|team| ours(&team.0)));
    let organization = identity.is_enterprise_install
        && grid.is_some_and(|grid| identity.installation() == grid.enterprise_id.0.as_str());
    Ok(home || grid_team || organization)
}
