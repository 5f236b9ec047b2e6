//! `circlet backfill [--since DATE] [--channel C] [--team T]`: reads circles' history from
//! Slack and applies what was missed (ARCHITECTURE §12), with progress on a terminal and a
//! summary at the end.

use std::io::IsTerminal;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{App, AppError};
use crate::config::Config;
use crate::domain::backfill::{BackfillError, Recovered, SweepRequest};
use crate::ids::{ChannelId, TeamId};

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Read from this day (YYYY-MM-DD, UTC) instead of where the last sweep ended; may reach
    /// further back than the usual 7 days.
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,
    /// Only this circle (a channel id such as C0123456789).
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// Only this workspace (multi-workspace mode); all served ones by default.
    #[arg(long, value_name = "TEAM_ID")]
    pub team: Option<String>,
}

pub async fn run(mut config: Config, args: BackfillArgs) -> Result<(), AppError> {
    let channel = args
        .channel
        .as_deref()
        .map(|c| ChannelId::parse(crate::domain::slash::channel_id(c).unwrap_or(c)))
        .transpose()
        .map_err(|err| AppError::Usage(format!("--channel: {err}")))?;
    let only_team = args
        .team
        .as_deref()
        .map(TeamId::parse)
        .transpose()
        .map_err(|err| AppError::Usage(format!("--team: {err}")))?;
    let since = args
        .since
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis());
    // The app's services, without its listeners' fixed ports and without answering Slack:
    // a `serve` may be running beside it.
    config.bind = ([127, 0, 0, 1], 0).into();
    config.ops_bind = None;
    if config.signing_secret.is_none() && config.socket.is_none() {
        config.signing_secret = Some(crate::secret::Secret::new(uuid::Uuid::new_v4().to_string()));
    }
    let app = App::builder(config).without_background_workers().build().await?;
    let services = app.services();
    let teams = match only_team {
        Some(team) => vec![team],
        None => served_teams(services).await?,
    };
    let bar = progress_bar();
    let mut total = Recovered::default();
    for team in teams {
        let request = SweepRequest {
            team: team.clone(),
            channel: channel.clone(),
            since,
        };
        let shown = |circle: &ChannelId, so_far: &Recovered| {
            bar.set_message(format!("{team} #{circle}: {}", so_far.summary()));
            bar.tick();
        };
        match services.backfill.sweep(&request, &shown).await {
            Ok(found) => {
                bar.println(format!("{team}: {}", found.summary()));
                total = total.plus(found);
            }
            Err(BackfillError::NotACircle(channel)) => {
                return Err(AppError::Usage(format!("{channel} is not a circle in {team}")));
            }
            Err(BackfillError::Slack(err)) => return Err(err.into()),
            Err(BackfillError::Store(err)) => return Err(err.into()),
        }
    }
    bar.finish_and_clear();
    println!("Backfill done: {}.", total.summary());
    services.store.close().await;
    Ok(())
}

async fn served_teams(services: &crate::domain::Services) -> Result<Vec<TeamId>, AppError> {
    let mut teams = Vec::new();
    for workspace in services.workspaces.active() {
        match &workspace.team_id {
            Some(team) => teams.push(team.clone()),
            None => {
                let installation = workspace.bot().identity().await?.installation().to_owned();
                let team = TeamId::parse(installation).map_err(|err| AppError::Usage(err.to_string()))?;
                teams.push(team);
            }
        }
    }
    Ok(teams)
}

/// A spinner on a terminal; nothing when stderr is a file or a pipe.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar
}
