//! `app_uninstalled`, and `tokens_revoked` naming the bot: the installation stops at once. No
//! call is made with its token from then on, its queued work is dropped, and its later
//! requests are refused without storing anything (ARCHITECTURE §9). Its data is purged after
//! `CIRCLET_UNINSTALL_RETENTION_DAYS` (at once with 0) by the daily privacy run, in either
//! mode, or at once by `circlet workspaces remove`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::job_team;
use super::privacy::Privacy;
use super::workspaces::Workspaces;
use crate::clock::SharedClock;
use crate::inbox::{HandlerError, InboxHandler, Job};

/// The events this handler takes.
pub const UNINSTALL_EVENTS: &[&str] = &["app_uninstalled", "tokens_revoked"];

#[derive(Deserialize)]
struct Envelope {
    event: Revoked,
}

#[derive(Deserialize)]
struct Revoked {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    tokens: Tokens,
}

/// Slack lists user ids here, not tokens.
#[derive(Deserialize, Default)]
struct Tokens {
    #[serde(default)]
    bot: Vec<String>,
}

pub struct UninstallHandler {
    pub workspaces: Arc<Workspaces>,
    pub privacy: Arc<Privacy>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for UninstallHandler {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable {}: {err}", job.row.event_type)))?;
        let event = envelope.event;
        // A user's own token revoked leaves the bot working.
        if event.kind == "tokens_revoked" && event.tokens.bot.is_empty() {
            return Ok(());
        }
        let team = job_team(job)?;
        let now = self.clock.now_millis();
        if !self.workspaces.is_multi() {
            tracing::warn!(team_id = %team.as_str(), event = %event.kind,
                "Circlet was uninstalled from its workspace; SLACK_BOT_TOKEN no longer works");
        } else if self.workspaces.uninstalled(&team, now).await? {
            tracing::info!(team_id = %team.as_str(), event = %event.kind, "workspace uninstalled: its work stops");
        }
        self.privacy.uninstalled(&team, now).await?;
        Ok(())
    }
}
