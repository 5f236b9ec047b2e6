//! Who Circlet is in the workspace: its bot user, learned once from `auth.test`.

use slack_morphism::prelude::SlackUserId;
use tokio::sync::OnceCell;

use crate::slack::{SlackApi, SlackError};

pub struct BotIdentity {
    slack: SlackApi,
    identity: OnceCell<Identity>,
}

/// What `auth.test` says about the installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub team_id: String,
    /// The workspace's URL (`https://acme.slack.com/`), which permalinks start with.
    pub url: String,
}

impl BotIdentity {
    pub fn new(slack: SlackApi) -> Self {
        Self {
            slack,
            identity: OnceCell::new(),
        }
    }

    /// Who the bot is; the first call asks Slack, later calls use the answer. A failed call is
    /// not cached, so the next one asks again.
    pub async fn identity(&self) -> Result<&Identity, SlackError> {
        self.identity
            .get_or_try_init(|| async {
                let found = self
                    .slack
                    .call("auth.test", |s| async move { s.auth_test().await })
                    .await?;
                Ok::<_, SlackError>(Identity {
                    user_id: found.user_id.to_string(),
                    team_id: found.team_id.to_string(),
                    url: found.url.0.to_string(),
                })
            })
            .await
    }

    /// The identity if Slack has already told it; never waits.
    pub fn known(&self) -> Option<&Identity> {
        self.identity.get()
    }

    /// Whether a bot token is configured (without one, Circlet cannot ask who it is).
    pub fn has_token(&self) -> bool {
        self.slack.has_token()
    }

    /// The bot's user id.
    pub async fn user_id(&self) -> Result<&str, SlackError> {
        Ok(self.identity().await?.user_id.as_str())
    }

    pub async fn is_bot(&self, user: &SlackUserId) -> Result<bool, SlackError> {
        Ok(self.user_id().await? == user.to_string())
    }
}
