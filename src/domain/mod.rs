//! Domain services. They know Slack's data but not HTTP, and are handed what they need
//! ([`Services`], [`settings::DomainSettings`]): they never read the configuration or the wiring.

pub mod access;
pub mod backfill;
pub mod block_actions;
pub mod bot;
pub mod capture;
pub mod circles;
pub mod digest;
pub mod directory;
pub mod dm_file;
pub mod export;
pub mod feedback_command;
pub mod forget;
pub mod home;
pub mod install;
pub mod links;
pub mod modal;
pub mod privacy;
pub mod reports;
pub mod seal;
mod services;
pub mod settings;
pub mod settings_command;
pub mod slash;
pub mod tokens;
pub mod triage;
pub mod uninstall;
pub mod workspaces;

pub use services::Services;

use crate::ids::{ChannelId, TeamId};
use crate::inbox::{HandlerError, Job};

/// The workspace a queued job belongs to, typed once here: ingress keeps it as Slack sent it.
pub(crate) fn job_team(job: &Job) -> Result<TeamId, HandlerError> {
    TeamId::parse(job.row.team_id.as_str())
        .map_err(|err| HandlerError::permanent(format!("queued job's workspace: {err}")))
}

/// A channel id from a Slack payload, typed.
pub(crate) fn payload_channel(text: impl Into<String>) -> Result<ChannelId, HandlerError> {
    ChannelId::parse(text).map_err(|err| HandlerError::permanent(format!("payload's channel: {err}")))
}

#[cfg(test)]
mod feedback_props;
