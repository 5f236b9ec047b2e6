//! Who Circlet is in the workspace: its bot user, learned once from `auth.test`.

use serde::Deserialize;
use slack_morphism::prelude::SlackUserId;
use tokio::sync::OnceCell;

use crate::ids::{TeamId, UserId};
use crate::slack::{SlackApi, SlackError};

/// `auth.test` takes no parameters besides the token.
const NO_PARAMS: [(&str, Option<&str>); 0] = [];

pub struct BotIdentity {
    slack: SlackApi,
    identity: OnceCell<Identity>,
}

/// What `auth.test` says about the installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub team_id: TeamId,
    /// The workspace's URL (`https://acme.slack.com/`), which permalinks start with.
    pub url: String,
    /// The Enterprise Grid organization, if any.
    pub enterprise_id: Option<TeamId>,
    /// Installed across the whole organization (org-wide app), not one workspace of it.
    pub is_enterprise_install: bool,
}

impl Identity {
    /// The key the installation's data is stored under, as ingress attributes requests
    /// (ARCHITECTURE §9): the enterprise of an org-wide install, else the workspace.
    pub fn installation(&self) -> &TeamId {
        match (&self.enterprise_id, self.is_enterprise_install) {
            (Some(enterprise), true) => enterprise,
            _ => &self.team_id,
        }
    }
}

/// `auth.test`'s answer as Circlet reads it: slack-morphism's model has no `enterprise_id` nor
/// `is_enterprise_install`, which an org-wide install needs. Its ids are checked as it is read.
#[derive(Deserialize)]
struct AuthTest {
    user_id: UserId,
    team_id: TeamId,
    url: String,
    #[serde(default)]
    enterprise_id: Option<String>,
    #[serde(default)]
    is_enterprise_install: Option<bool>,
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
                let found: AuthTest = self
                    .slack
                    .call("auth.test", |s| async move {
                        s.http_session_api.http_get("auth.test", &NO_PARAMS, None).await
                    })
                    .await?;
                let enterprise_id = found
                    .enterprise_id
                    .filter(|id| !id.is_empty())
                    .map(TeamId::parse)
                    .transpose()
                    .map_err(|err| SlackError::Protocol {
                        method: "auth.test",
                        detail: err.to_string(),
                    })?;
                Ok::<_, SlackError>(Identity {
                    user_id: found.user_id,
                    team_id: found.team_id,
                    url: found.url,
                    enterprise_id,
                    is_enterprise_install: found.is_enterprise_install.unwrap_or(false),
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
    pub async fn user_id(&self) -> Result<&UserId, SlackError> {
        Ok(&self.identity().await?.user_id)
    }

    pub async fn is_bot(&self, user: &SlackUserId) -> Result<bool, SlackError> {
        Ok(self.user_id().await?.as_str() == user.0)
    }
}
