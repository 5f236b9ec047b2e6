//! `circlet forget U… [--team T]`: removes everything held about members (ARCHITECTURE §13) and
//! prints what was removed. Needs only the database: a `serve` may run beside it.

use clap::Args;

use crate::app::AppError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::ids::{TeamId, UserId};
use crate::store::{self, ForgetMember, ForgetStore, MemberState};

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The members to forget, by Slack user id (U… or W…).
    #[arg(required = true, value_name = "USER_ID")]
    pub users: Vec<String>,
    /// The workspace (team id) to forget them in. Needed only when the database holds them in
    /// several; by default, the one that holds them.
    #[arg(long, value_name = "TEAM_ID")]
    pub team: Option<String>,
}

pub async fn run(config: Config, args: ForgetArgs) -> Result<(), AppError> {
    let users = args
        .users
        .iter()
        .map(|user| UserId::parse(user.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| AppError::Usage(err.to_string()))?;
    let team = args
        .team
        .as_deref()
        .map(TeamId::parse)
        .transpose()
        .map_err(|err| AppError::Usage(format!("--team: {err}")))?;
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;
    let forgetting = store.forgetting();
    let mut outcome = Ok(());
    for user in &users {
        if let Err(err) = forget_one(forgetting.as_ref(), user, team.as_ref()).await {
            outcome = Err(err);
            break;
        }
    }
    store.close().await;
    outcome
}

async fn forget_one(store: &dyn ForgetStore, user: &UserId, team: Option<&TeamId>) -> Result<(), AppError> {
    let Some(team) = which_team(store, user, team).await? else {
        println!("{user}: Circlet holds nothing about them in any workspace.");
        return Ok(());
    };
    match store.member_state(&team, user).await? {
        MemberState::Unknown => {
            println!("{user}: Circlet holds nothing about them in {team}.");
            return Ok(());
        }
        MemberState::Forgotten => {
            println!("{user}: already forgotten in {team}; nothing more is held about them.");
            return Ok(());
        }
        MemberState::Held => {}
    }
    let member = ForgetMember {
        team_id: &team,
        user_id: user,
        at: SystemClock.now_millis(),
        inbox_row: None,
    };
    let forgotten = store.forget_member(&member).await?;
    println!(
        "{user}: forgotten in {team}; their insights now show as {}.",
        forgotten.pseudonym
    );
    for line in forgotten.summary() {
        println!("  {line}");
    }
    Ok(())
}

/// The workspace to forget `user` in: the one named, else the only one holding them.
async fn which_team(
    store: &dyn ForgetStore,
    user: &UserId,
    named: Option<&TeamId>,
) -> Result<Option<TeamId>, AppError> {
    if let Some(team) = named {
        return Ok(Some(team.clone()));
    }
    let mut teams = store.teams_holding(user).await?;
    match teams.len() {
        0 | 1 => Ok(teams.pop()),
        _ => {
            let listed: Vec<&str> = teams.iter().map(TeamId::as_str).collect();
            Err(AppError::Usage(format!(
                "{user} is known in several workspaces ({}); name one with --team",
                listed.join(", ")
            )))
        }
    }
}
