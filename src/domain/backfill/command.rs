//! `/feedback backfill [#channel] [since YYYY-MM-DD]`: product users recover what an outage
//! lost, now; the answer says what was recovered.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{Backfill, BackfillError, SweepRequest};
use crate::clock::Millis;
use crate::domain::access::ProductAccess;
use crate::domain::slash::{self, SlashCommand};
use crate::ids::ChannelId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;

pub const BACKFILL_USAGE: &str = "/feedback backfill [#channel] [since YYYY-MM-DD]";
const REFUSAL: &str = "Sorry, only the product team and workspace admins can run a backfill.";

pub struct BackfillCommand {
    pub backfill: Arc<Backfill>,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
}

/// What the words after `backfill` ask for.
#[derive(Debug, PartialEq, Eq)]
pub struct Asked {
    pub channel: Option<ChannelId>,
    pub since: Option<Millis>,
}

/// Reads `[#channel] [since YYYY-MM-DD]`, in either order.
pub fn parse(words: &[&str]) -> Result<Asked, String> {
    let usage = format!("Usage: `{BACKFILL_USAGE}`.");
    let mut asked = Asked {
        channel: None,
        since: None,
    };
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if word.eq_ignore_ascii_case("since") {
            let date = words
                .next()
                .ok_or_else(|| format!("`since` needs a date. {usage}"))?;
            let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("`{date}` is not a date like 2026-12-01. {usage}"))?;
            let midnight = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
            asked.since = Some(midnight.ok_or_else(|| usage.clone())?);
        } else if let Some(channel) = slash::channel(word).filter(|_| asked.channel.is_none()) {
            asked.channel = Some(channel);
        } else {
            return Err(format!("I don't understand `{word}`. {usage}"));
        }
    }
    Ok(asked)
}

#[async_trait]
impl InboxHandler for BackfillCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        if !self
            .access
            .is_product_user(&command.team_id, &command.user_id)
            .await?
        {
            return command.reply(&self.slack, REFUSAL).await;
        }
        let asked = match parse(&command.args()) {
            Ok(asked) => asked,
            Err(usage) => return command.reply(&self.slack, &usage).await,
        };
        let request = SweepRequest {
            team: command.team_id.clone(),
            channel: asked.channel,
            since: asked.since,
        };
        let answer = match self.backfill.sweep(&request, &|_, _| {}).await {
            Ok(recovered) => format!(":white_check_mark: Backfill done: {}.", recovered.summary()),
            Err(BackfillError::NotACircle(channel)) => {
                format!(
                    "<#{channel}> is not a circle: add it with `/feedback circle add <#{channel}>` first."
                )
            }
            Err(BackfillError::Slack(err)) if !err.is_transient() => {
                format!("Slack refused to show the history ({err}); is @circlet in the channel?")
            }
            Err(BackfillError::Slack(err)) => return Err(err.into()),
            Err(BackfillError::Store(err)) => return Err(err.into()),
        };
        command.reply(&self.slack, &answer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_and_date_in_either_order() {
        let both = parse(&["<#C0CIRCLE|beauty>", "since", "2026-12-01"]).unwrap();
        assert_eq!(both.channel.as_ref().map(ChannelId::as_str), Some("C0CIRCLE"));
        assert_eq!(both.since, Some(1_796_083_200_000));
        assert_eq!(parse(&["since", "2026-12-01", "<#C0CIRCLE>"]).unwrap(), both);
        assert_eq!(
            parse(&[]).unwrap(),
            Asked {
                channel: None,
                since: None
            }
        );
        assert!(parse(&["since"]).unwrap_err().contains("needs a date"));
        assert!(
            parse(&["since", "yesterday"])
                .unwrap_err()
                .contains("is not a date")
        );
        assert!(parse(&["everything"]).unwrap_err().contains("Usage"));
    }
}
