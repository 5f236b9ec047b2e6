//! Who may run product-team commands: the users or user group in `CIRCLET_PRODUCT_USERS`, and
//! always the workspace's admins and owners, provided they belong to the installed workspace.
//!
//! A Slack Connect circle holds members of other organizations. Their own organization may make
//! them admins, and `users.info` reports those flags as it finds them; so a user whose own
//! workspace is not the installation's is never a product user, whatever their flags or lists
//! say (ARCHITECTURE §10).

use std::sync::Arc;
use std::time::{Duration, Instant};

use slack_morphism::prelude::*;
use tokio::sync::Mutex;

use crate::domain::bot::BotIdentity;
use crate::domain::settings::ProductUsers;
use crate::slack::{SlackApi, SlackError};

/// How long a user group's members are trusted before asking Slack again.
const GROUP_CACHE: Duration = Duration::from_secs(300);

pub struct ProductAccess {
    product_users: ProductUsers,
    slack: SlackApi,
    bot: Arc<BotIdentity>,
    group_members: Mutex<Option<(Instant, Vec<String>)>>,
}

impl ProductAccess {
    pub fn new(product_users: ProductUsers, slack: SlackApi, bot: Arc<BotIdentity>) -> Self {
        Self {
            product_users,
            slack,
            bot,
            group_members: Mutex::new(None),
        }
    }

    /// Whether `user` may configure circles, triage, report and export. Users listed in the
    /// settings (by id or group) are the operator's own choice; admin flags are Slack's word
    /// about a user of whichever organization, so they count only for the installed workspace.
    pub async fn is_product_user(&self, user: &str) -> Result<bool, SlackError> {
        let listed = match &self.product_users {
            ProductUsers::Users(users) => users.iter().any(|u| u == user),
            ProductUsers::UserGroup(group) => self.group_has(group, user).await?,
            ProductUsers::AdminsOnly => false,
        };
        if listed {
            return Ok(true);
        }
        self.is_admin(user).await
    }

    async fn is_admin(&self, user: &str) -> Result<bool, SlackError> {
        let member = self.member(user).await?;
        let flags = &member.flags;
        let admin = [flags.is_admin, flags.is_owner, flags.is_primary_owner].contains(&Some(true));
        if admin && !self.is_of_installed_workspace(&member).await? {
            tracing::info!(%user, team_id = ?member.team_id, "an admin of another organization is not a product user here");
            return Ok(false);
        }
        Ok(admin)
    }

    async fn member(&self, user: &str) -> Result<SlackUser, SlackError> {
        let request = &SlackApiUsersInfoRequest::new(user.into());
        let answer = self
            .slack
            .call("users.info", |s| async move { s.users_info(request).await })
            .await?;
        Ok(answer.user)
    }

    /// Whether `member`'s own workspace is the installation's: their `team_id`, or, in an
    /// Enterprise Grid organization, one of the workspaces they belong to, or, for an org-wide
    /// install, the organization itself. A user Slack names no workspace for is not trusted.
    async fn is_of_installed_workspace(&self, member: &SlackUser) -> Result<bool, SlackError> {
        let identity = self.bot.identity().await?;
        let ours = |team: &str| team == identity.team_id || team == identity.installation();
        let home = member.team_id.as_ref().is_some_and(|team| ours(&team.0));
        let grid = member.enterprise_user.as_ref();
        let grid_team = grid
            .and_then(|grid| grid.teams.as_ref())
            .is_some_and(|teams| teams.iter().any(|team| ours(&team.0)));
        let organization = identity.is_enterprise_install
            && grid.is_some_and(|grid| grid.enterprise_id.0 == identity.installation());
        Ok(home || grid_team || organization)
    }

    async fn group_has(&self, group: &str, user: &str) -> Result<bool, SlackError> {
        let mut cached = self.group_members.lock().await;
        let fresh = cached.as_ref().is_some_and(|(at, _)| at.elapsed() < GROUP_CACHE);
        if !fresh {
            let request = &SlackApiUserGroupsUsersListRequest::new(group.into());
            let answer = self
                .slack
                .call("usergroups.users.list", |s| async move {
                    s.usergroups_users_list(request).await
                })
                .await?;
            let members = answer.users.iter().map(ToString::to_string).collect();
            *cached = Some((Instant::now(), members));
        }
        Ok(cached
            .as_ref()
            .is_some_and(|(_, members)| members.iter().any(|m| m == user)))
    }
}
