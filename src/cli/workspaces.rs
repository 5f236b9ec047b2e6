//! `circlet workspaces list|link|unlink|remove`: the installed workspaces (multi-workspace
//! mode) and the links between them.

use clap::Subcommand;

use super::utc;
use crate::app::AppError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::links;
use crate::ids::TeamId;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// List installed workspaces, their state and links (never their tokens).
    List,
    /// Make T_SOURCE's circles part of T_HOME's reports, exports, API and digest.
    Link {
        /// The workspace whose circles are added (e.g. a community workspace).
        #[arg(value_name = "T_SOURCE")]
        source: String,
        /// The workspace whose product team sees them (e.g. the brand's own).
        #[arg(long = "to", value_name = "T_HOME")]
        home: String,
    },
    /// Stop counting T_SOURCE's circles in its home workspace.
    Unlink {
        #[arg(value_name = "T_SOURCE")]
        source: String,
    },
    /// Delete everything Circlet holds about these workspaces, at once and for good.
    Remove {
        #[arg(value_name = "TEAM_ID", required = true)]
        teams: Vec<String>,
    },
}

fn team(text: &str) -> Result<TeamId, AppError> {
    TeamId::parse(text).map_err(|err| AppError::Usage(err.to_string()))
}

fn usage(err: links::LinkError) -> AppError {
    match err {
        links::LinkError::Store(err) => AppError::Store(err),
        other => AppError::Usage(other.to_string()),
    }
}

pub async fn run(config: Config, command: WorkspacesCommand) -> Result<(), AppError> {
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;
    let workspaces = store.workspaces();
    let now = SystemClock.now_millis();
    let result = match command {
        WorkspacesCommand::List => {
            let all = workspaces.installations().await?;
            if all.is_empty() {
                println!(
                    "no installed workspaces; in multi-workspace mode they appear here once installed through /slack/install"
                );
            } else {
                println!(
                    "{:<12} {:<24} {:<12} {:<20} {:<12}",
                    "TEAM", "NAME", "STATE", "INSTALLED (UTC)", "LINKED TO"
                );
                for i in all {
                    let state = if i.is_active() { "active" } else { "uninstalled" };
                    println!(
                        "{:<12} {:<24} {:<12} {:<20} {:<12}",
                        i.team_id.as_str(),
                        i.team_name.as_deref().unwrap_or("-"),
                        state,
                        utc(Some(i.installed_at)),
                        i.home_team_id.as_ref().map_or("-", TeamId::as_str),
                    );
                }
            }
            Ok(())
        }
        WorkspacesCommand::Link { source, home } => {
            let (source, home) = (team(&source)?, team(&home)?);
            match links::link(workspaces.as_ref(), &source, &home, now).await {
                Ok(true) => {
                    println!(
                        "linked {} to {}: its circles now count in {}'s reports, exports, API and digest",
                        source.as_str(),
                        home.as_str(),
                        home.as_str()
                    );
                    Ok(())
                }
                Ok(false) => {
                    println!("{} was already linked to {}", source.as_str(), home.as_str());
                    Ok(())
                }
                Err(err) => Err(usage(err)),
            }
        }
        WorkspacesCommand::Unlink { source } => {
            let source = team(&source)?;
            match links::unlink(workspaces.as_ref(), &source, now).await {
                Ok(true) => {
                    println!("unlinked {}", source.as_str());
                    Ok(())
                }
                Ok(false) => {
                    println!("{} was not linked", source.as_str());
                    Ok(())
                }
                Err(err) => Err(usage(err)),
            }
        }
        WorkspacesCommand::Remove { teams } => {
            let teams = teams.iter().map(|t| team(t)).collect::<Result<Vec<_>, _>>()?;
            for team in teams {
                let purged = workspaces.purge_workspace(&team).await?;
                println!("removed {}: {} rows deleted", team.as_str(), purged.rows());
            }
            Ok(())
        }
    };
    store.close().await;
    result
}
