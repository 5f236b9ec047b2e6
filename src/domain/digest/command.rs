//! `/feedback digest [preview [#channel] | circle on|off #channel]`: the product team previews
//! the digest (or a circle's recap) as it would be posted now, and turns recaps on or off.

use std::sync::Arc;

use async_trait::async_trait;

use super::content::{circle_recap, digest_message, product_digest, recap_message};
use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::reports::words::date;
use crate::domain::settings::DomainSettings;
use crate::domain::slash::{SlashCommand, channel};
use crate::ids::ChannelId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, SettingChange, SharedStore};

pub const DIGEST_USAGE: &str =
    "/feedback digest [preview [#channel] | circle on|off #channel | channel #channel]";
const REFUSAL: &str = "Sorry, the digest is for the product team and workspace admins.";

pub struct DigestCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
    pub settings: Arc<DomainSettings>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DigestAction {
    /// The product digest, or with a channel that circle's recap.
    Preview(Option<ChannelId>),
    Recap {
        channel: ChannelId,
        on: bool,
    },
    /// Where the workspace's weekly digest goes.
    Channel(ChannelId),
}

pub fn parse(words: &[&str]) -> Result<DigestAction, String> {
    let usage = format!("Usage: `{DIGEST_USAGE}`.");
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (lower.as_slice(), words) {
        ([] | ["preview"], _) => Ok(DigestAction::Preview(None)),
        (["preview", _], [_, word]) => match channel(word) {
            Some(id) => Ok(DigestAction::Preview(Some(id))),
            None => Err(format!("`{word}` is not a channel: pick one with #. {usage}")),
        },
        (["circle", switch @ ("on" | "off"), _], [_, _, word]) => match channel(word) {
            Some(id) => Ok(DigestAction::Recap {
                channel: id,
                on: *switch == "on",
            }),
            None => Err(format!("`{word}` is not a channel: pick one with #. {usage}")),
        },
        (["channel", _], [_, word]) => match channel(word) {
            Some(id) => Ok(DigestAction::Channel(id)),
            None => Err(format!("`{word}` is not a channel: pick one with #. {usage}")),
        },
        (["circle", ..], _) => Err(format!(
            "Say `on` or `off` and the circle, e.g. `/feedback digest circle off #beauty-insiders`. {usage}"
        )),
        _ => Err(usage),
    }
}

#[async_trait]
impl InboxHandler for DigestCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        if !self
            .access
            .is_product_user(&command.team_id, &command.user_id)
            .await?
        {
            return command.reply(&self.slack, REFUSAL).await;
        }
        let team = &command.team_id;
        let now = self.clock.now_millis();
        match parse(&command.args()) {
            Err(usage) => command.reply(&self.slack, &usage).await,
            Ok(DigestAction::Preview(channel)) => {
                // The week the next digest covers, as it stands now.
                let period = self.settings.schedule.upcoming_period(now);
                let message = match channel {
                    None => digest_message(&product_digest(&self.store, team, &period).await?),
                    Some(channel) => {
                        if !self.store.is_circle(team, &channel).await? {
                            return command
                                .reply(
                                    &self.slack,
                                    &format!("<#{channel}> is not a circle, so it has no recap."),
                                )
                                .await;
                        }
                        recap_message(&circle_recap(&self.store, team, &channel, &period).await?)
                    }
                };
                command
                    .reply_blocks(&self.slack, &message.fallback, message.blocks_json())
                    .await
            }
            Ok(DigestAction::Channel(channel)) => {
                let change = SettingChange::DigestChannel(Some(&channel));
                self.store
                    .workspaces()
                    .change_setting(&command.team_id, change, &command.user_id, now)
                    .await?;
                let next = date(self.settings.schedule.next_end(now));
                let answer = format!(
                    "The weekly digest goes to <#{channel}> ({}, next on {next}). Invite @circlet there if it isn't in it yet.",
                    self.settings.schedule
                );
                command.reply(&self.slack, &answer).await
            }
            Ok(DigestAction::Recap { channel, on }) => {
                let (team_id, channel_id) = (team.clone(), channel.clone());
                let before = store::transaction(self.store.as_ref(), move |tx| {
                    Box::pin(async move { tx.set_recap(&team_id, &channel_id, on).await })
                })
                .await?;
                let next = date(self.settings.schedule.next_end(now));
                let answer = match (before, on) {
                    (None, _) => format!(
                        "<#{channel}> is not a circle. Add it with `/feedback circle add <#{channel}>` first."
                    ),
                    (Some(true), true) => format!("Recaps were already on for <#{channel}>."),
                    (Some(false), false) => format!("Recaps were already off for <#{channel}>."),
                    (Some(_), true) => format!(
                        "Recaps are on for <#{channel}>: members get a weekly recap ({}, next on {next}).",
                        self.settings.schedule
                    ),
                    (Some(_), false) => format!(
                        "Recaps are off for <#{channel}>. Prompts still go out there; turn recaps back on with \
                         `/feedback digest circle on <#{channel}>`."
                    ),
                };
                command.reply(&self.slack, &answer).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_words_are_read_or_answered_with_the_usage() {
        assert_eq!(parse(&[]), Ok(DigestAction::Preview(None)));
        assert_eq!(parse(&["Preview"]), Ok(DigestAction::Preview(None)));
        assert_eq!(
            parse(&["preview", "<#C0B|beauty>"]),
            Ok(DigestAction::Preview(Some(ChannelId::parse("C0B").unwrap())))
        );
        assert_eq!(
            parse(&["circle", "off", "<#C0B|beauty>"]),
            Ok(DigestAction::Recap {
                channel: ChannelId::parse("C0B").unwrap(),
                on: false
            })
        );
        for (wrong, says) in [
            (vec!["circle"], "Say `on` or `off`"),
            (vec!["circle", "maybe", "<#C0B>"], "Say `on` or `off`"),
            (vec!["circle", "on", "beauty"], "is not a channel"),
            (vec!["preview", "beauty"], "is not a channel"),
            (vec!["send"], "Usage"),
        ] {
            let answer = parse(&wrong).unwrap_err();
            assert!(answer.contains(says), "{wrong:?}: {answer}");
            assert!(answer.contains(DIGEST_USAGE), "{wrong:?}: {answer}");
        }
    }
}
