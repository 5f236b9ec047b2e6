//! `circlet token create|list|revoke`: tokens for the export API.

use clap::Subcommand;

use super::utc;
use crate::app::AppError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::tokens;
use crate::ids::TeamId;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// What the token is for, e.g. "looker".
        #[arg(long)]
        name: String,
        /// The workspace (team id, T…) it reads; needed only when the database holds several.
        #[arg(long, value_name = "TEAM_ID")]
        team: Option<TeamId>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name or id; it stops working at once.
    Revoke {
        /// The token's name or id (see `circlet token list`).
        name_or_id: String,
    },
}

pub async fn run(config: Config, command: TokenCommand) -> Result<(), AppError> {
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;
    let tokens = store.tokens();
    let now = SystemClock.now_millis();
    match command {
        TokenCommand::Create { name, team } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(AppError::Usage("--name must not be empty".into()));
            }
            let issued = tokens::issue(tokens.as_ref(), name, team.as_ref(), now).await?;
            println!("{}", issued.token);
            eprintln!(
                "token {} ({name}) created. Copy it now: it is not shown again. Use it as `Authorization: Bearer <token>`.",
                issued.stored.id
            );
        }
        TokenCommand::List => {
            let all = tokens.tokens().await?;
            if all.is_empty() {
                println!("no tokens; create one with `circlet token create --name NAME`");
            } else {
                println!(
                    "{:>4}  {:<20} {:<12} {:<20} {:<20} STATE",
                    "ID", "NAME", "WORKSPACE", "CREATED (UTC)", "LAST USED (UTC)"
                );
                for token in all {
                    println!(
                        "{:>4}  {:<20} {:<12} {:<20} {:<20} {}",
                        token.id,
                        token.name,
                        token.team.label(),
                        utc(Some(token.created_at)),
                        utc(token.last_used_at),
                        if token.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                    );
                }
            }
        }
        TokenCommand::Revoke { name_or_id } => match tokens.revoke_token(&name_or_id, now).await? {
            0 => {
                store.close().await;
                return Err(AppError::Usage(format!(
                    "no active token is named or numbered {name_or_id:?} (see `circlet token list`)"
                )));
            }
            n => println!("revoked {n} token(s) named or numbered {name_or_id:?}"),
        },
    }
    store.close().await;
    Ok(())
}
