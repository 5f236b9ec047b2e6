//! `circlet digest --dry-run [--channel C] [--team T]`: prints what the next scheduled posts
//! will say (the week in progress, as it stands), without posting anything.

use clap::Args;

use crate::app::AppError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::digest::{circle_recap, digest_message, product_digest, recap_message};
use crate::ids::TeamId;
use crate::store::{self, RecapCircle, SharedStore};

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Print instead of posting (required: `circlet serve` posts on the schedule).
    #[arg(long)]
    pub dry_run: bool,
    /// Only this channel's post: the digest channel's digest, or a circle's member recap.
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// The workspace, when the database holds more than one.
    #[arg(long, value_name = "TEAM_ID")]
    pub team: Option<TeamId>,
}

pub async fn run(config: Config, args: DigestArgs) -> Result<(), AppError> {
    if !args.dry_run {
        return Err(AppError::Usage(
            "circlet digest only previews: add --dry-run (`circlet serve` posts the digest on CIRCLET_DIGEST_SCHEDULE)"
                .to_owned(),
        ));
    }
    let store = store::connect(&config.database_url).await?;
    store.migrate().await?;
    let printed = print(&store, &config, &args).await;
    store.close().await;
    print!("{}", printed?);
    Ok(())
}

async fn print(store: &SharedStore, config: &Config, args: &DigestArgs) -> Result<String, AppError> {
    let team = team(store, args.team.as_ref()).await?;
    let period = config.digest_schedule.upcoming_period(SystemClock.now_millis());
    let circles = store.digests().recap_circles(&team).await?;
    let names = store.digests().names(&team).await?;
    let channel = args
        .channel
        .as_deref()
        .map(|c| crate::domain::slash::channel_id(c).unwrap_or(c).to_owned());
    let wants_digest = channel.is_none() || channel == config.digest_channel;
    let mut out = format!(
        "Posts for the week ending {} ({}), as they stand now:\n\n",
        period.key, config.digest_schedule
    );
    if wants_digest {
        match &config.digest_channel {
            Some(channel) => out.push_str(&format!("── product digest, to #{channel}\n")),
            None => out.push_str("── product digest (not posted: CIRCLET_DIGEST_CHANNEL is not set)\n"),
        }
        out.push_str(&digest_message(&product_digest(store, &team, &period).await?).text_named(&names));
    }
    let asked = |circle: &RecapCircle| {
        channel
            .as_ref()
            .is_none_or(|channel| circle.channel_id == channel.as_str())
    };
    for circle in circles.iter().filter(|c| asked(c)) {
        let name = circle.name.as_deref().unwrap_or(circle.channel_id.as_str());
        let state = if circle.recap {
            ""
        } else {
            " (recaps are off: not posted)"
        };
        out.push_str(&format!("\n── member recap, to #{name}{state}\n"));
        let recap = circle_recap(store, &team, &circle.channel_id, &period).await?;
        out.push_str(&recap_message(&recap).text_named(&names));
    }
    if let Some(channel) = &channel
        && !wants_digest
        && !circles.iter().any(asked)
    {
        return Err(AppError::Usage(format!(
            "{channel} is neither CIRCLET_DIGEST_CHANNEL nor a circle of workspace {team}"
        )));
    }
    Ok(out)
}

/// The workspace asked for, or the only one with circles.
async fn team(store: &SharedStore, asked: Option<&TeamId>) -> Result<TeamId, AppError> {
    if let Some(team) = asked {
        return Ok(team.clone());
    }
    let teams = store.digests().teams_with_circles().await?;
    match teams.as_slice() {
        [team] => Ok(team.clone()),
        [] => Err(AppError::Usage(
            "no circles yet: invite @circlet to a customer channel first".to_owned(),
        )),
        _ => Err(AppError::Usage(format!(
            "the database holds several workspaces ({}): pick one with --team",
            teams.iter().map(TeamId::as_str).collect::<Vec<_>>().join(", ")
        ))),
    }
}
