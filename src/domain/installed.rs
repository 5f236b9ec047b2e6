//! Workspace isolation. In single-workspace mode (`SLACK_BOT_TOKEN`) Circlet serves exactly the
//! installation its token belongs to, as `auth.test` reports it (asked once, then cached): the
//! workspace, or the organization of an org-wide install. Requests are keyed by the installation
//! they are delivered to (an event by its `authorizations`, so a Slack Connect partner's member
//! counts for ours). Signed requests and stored rows for any other key are ignored: events are
//! acknowledged and dropped, slash commands get a refusal, interactions an empty answer; a
//! worker drops such a row before any handler reads it. Another workspace can only send signed requests if the app
//! is installed there too, and Circlet would act on that workspace with the wrong token.
//!
//! Without a bot token Circlet cannot call Slack at all (nor ask who it is), so every workspace
//! is accepted; this mode is for local runs and load tests only.

use std::sync::Arc;

use async_trait::async_trait;

use super::bot::BotIdentity;
use crate::inbox::{HandlerError, TeamGate};

/// What a refused slash command is told.
pub const REFUSAL: &str = "This Circlet is installed in another workspace, so it can't help here.";

pub struct InstalledTeam {
    bot: Arc<BotIdentity>,
}

impl InstalledTeam {
    pub fn new(bot: Arc<BotIdentity>) -> Self {
        Self { bot }
    }
}

#[async_trait]
impl TeamGate for InstalledTeam {
    fn admits_now(&self, team_id: &str) -> Option<bool> {
        if !self.bot.has_token() {
            return Some(true);
        }
        self.bot
            .known()
            .map(|identity| identity.installation() == team_id)
    }

    async fn admits(&self, team_id: &str) -> Result<bool, HandlerError> {
        if let Some(verdict) = self.admits_now(team_id) {
            return Ok(verdict);
        }
        let identity = self.bot.identity().await?;
        Ok(identity.installation() == team_id)
    }
}
