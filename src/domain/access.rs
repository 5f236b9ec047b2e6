//! Who may run product-team commands: the users or user group in `CIRCLET_PRODUCT_USERS`, and
//! always the workspace's admins and owners.

use std::time::{Duration, Instant};

use slack_morphism::prelude::*;
use tokio::sync::Mutex;

use crate::config::ProductUsers;
use crate::slack::{SlackApi, SlackError};

/// How long a user group's members are trusted before asking Slack again.
const GROUP_CACHE: Duration = Duration::from_secs(300);

pub struct ProductAccess {
    product_users: ProductUsers,
    slack: SlackApi,
    group_members: Mutex<Option<(Instant, Vec<String>)>>,
}

impl ProductAccess {
    pub fn new(product_users: ProductUsers, slack: SlackApi) -> Self {
        Self {
            product_users,
            slack,
            group_members: Mutex::new(None),
        }
    }

    /// Whether `user` may configure circles, triage, report and export.
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

    async fn is_admin(&self, user: &str) -> Result<bool, SlackError> {
        let request = &SlackApiUsersInfoRequest::new(user.into());
        let answer = self
            .slack
            .call("users.info", |s| async move { s.users_info(request).await })
            .await?;
        let flags = &answer.user.flags;
        Ok([flags.is_admin, flags.is_owner, flags.is_primary_owner].contains(&Some(true)))
    }
}
