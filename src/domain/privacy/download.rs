//! "Download my data" (ARCHITECTURE §13): a button in every member's App Home; a click sends
//! the member, by direct message, a JSON file of everything Circlet holds about them in that
//! workspace. Whose data is read comes from the click's signed payload (its user, and the
//! workspace the row was stored under), never from the button's value.

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use slack_morphism::prelude::*;

use crate::clock::SharedClock;
use crate::domain::block_actions::BlockActions;
use crate::domain::dm_file::{DmFile, send_by_dm};
use crate::domain::job_team;
use crate::domain::workspaces::Workspaces;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::{MemberData, SharedStore};

/// The button's action id.
pub const DOWNLOAD_ACTION: &str = "download_my_data";

/// The App Home block with the button.
pub fn download_block() -> SlackBlock {
    let button = SlackBlockButtonElement::new(pt!("Download my data")).with_action_id(DOWNLOAD_ACTION.into());
    SlackActionsBlock::new(vec![button.into()])
        .with_block_id("download_my_data".into())
        .into()
}

/// The file: who and when, then every section of [`MemberData`].
#[derive(serde::Serialize)]
struct DataFile<'a> {
    workspace: &'a str,
    member: &'a str,
    generated_at: String,
    #[serde(flatten)]
    data: &'a MemberData,
}

/// A click on "Download my data" (`block_actions`); other actions are left alone.
pub struct DownloadButton {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for DownloadButton {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let payload = BlockActions::read(job)?;
        if !payload.actions.iter().any(|a| a.action_id == DOWNLOAD_ACTION) {
            return Ok(());
        }
        let team = job_team(job)?;
        let user = payload.user()?;
        let data = self.store.privacy().member_data(&team, &user).await?;
        self.send(&team, &user, &data).await
    }
}

impl DownloadButton {
    async fn send(&self, team: &TeamId, user: &UserId, data: &MemberData) -> Result<(), HandlerError> {
        let now = DateTime::from_timestamp_millis(self.clock.now_millis()).unwrap_or_default();
        let contents = DataFile {
            workspace: team.as_str(),
            member: user.as_str(),
            generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            data,
        };
        let io = |err: std::io::Error| HandlerError::transient(format!("cannot write the data file: {err}"));
        let mut file = tempfile::NamedTempFile::new().map_err(io)?;
        serde_json::to_writer_pretty(file.as_file_mut(), &contents)
            .map_err(|err| HandlerError::permanent(format!("cannot write the data file: {err}")))?;
        file.as_file_mut().flush().map_err(io)?;
        let length = file.as_file().metadata().map_err(io)?.len();
        let filename = format!("circlet-my-data-{}.json", now.format("%Y-%m-%d"));
        let slack = self.workspaces.slack(team).await?;
        let dm = DmFile {
            filename: &filename,
            path: file.path(),
            length,
            comment: "Here is everything Circlet holds about you in this workspace.".to_owned(),
        };
        send_by_dm(&slack, user, dm).await?;
        Ok(())
    }
}
