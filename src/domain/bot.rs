//! Who Circlet is in the workspace: its bot user, learned once from `auth.test`.

use slack_morphism::prelude::SlackUserId;
use tokio::sync::OnceCell;

use crate::slack::{SlackApi, SlackError};

pub struct BotIdentity {
    slack: SlackApi,
    user_id: OnceCell<String>,
}

impl BotIdentity {
    pub fn new(slack: SlackApi) -> Self {
        Self {
            slack,
            user_id: OnceCell::new(),
        }
    }

    /// The bot's user id; the first call asks Slack, later calls use the answer. A failed call
    /// is not cached, so the next one asks again.
    pub async fn user_id(&self) -> Result<&str, SlackError> {
        let id = self
            .user_id
            .get_or_try_init(|| async {
                let identity = self
                    .slack
                    .call("auth.test", |s| async move { s.auth_test().await })
                    .await?;
                Ok::<_, SlackError>(identity.user_id.to_string())
            })
            .await?;
        Ok(id.as_str())
    }

    pub async fn is_bot(&self, user: &SlackUserId) -> Result<bool, SlackError> {
        Ok(self.user_id().await? == user.to_string())
    }
}
