//! `/feedback tags [set :emoji: NAME | unset :emoji:]`: the workspace's emoji → tag map.

use std::sync::Arc;

use async_trait::async_trait;

use super::emoji::{EmojiMap, FEEDBACK, emoji_name, is_vote, valid_tag_name};
use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::slash::SlashCommand;
use crate::ids::TeamId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, SharedStore};

pub const TAGS_USAGE: &str = "/feedback tags [set :emoji: NAME | unset :emoji:]";

pub struct TagsCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for TagsCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        command
            .answer_product_team(
                &self.access,
                &self.slack,
                "Sorry, only the product team and workspace admins can change tags.",
                || self.run(&command),
            )
            .await
    }
}

impl TagsCommand {
    async fn run(&self, command: &SlashCommand) -> Result<String, HandlerError> {
        let team = &command.team_id;
        let args = command.args();
        let (emoji, tag) = match args.as_slice() {
            [] | ["list"] => return self.list(team).await,
            [set, emoji, tag] if set.eq_ignore_ascii_case("set") => (*emoji, Some(tag.to_lowercase())),
            [unset, emoji] if unset.eq_ignore_ascii_case("unset") => (*emoji, None),
            _ => return Ok(format!("Usage: `{TAGS_USAGE}`")),
        };
        let Some(emoji) = emoji_name(emoji) else {
            return Ok(format!(
                "`{emoji}` is not an emoji name. Write it as Slack does, e.g. `:rocket:`. Usage: `{TAGS_USAGE}`"
            ));
        };
        if is_vote(emoji) {
            return Ok(format!("`:{emoji}:` is how members vote, so it cannot be a tag."));
        }
        if let Some(tag) = &tag
            && !valid_tag_name(tag)
        {
            return Ok(format!(
                "`{tag}` cannot be a tag name: use lower-case letters, digits and dashes (up to 30), e.g. `pain-point`."
            ));
        }
        let (team_id, emoji_name, new_tag) = (team.clone(), emoji.to_owned(), tag.clone());
        let (user_id, now) = (command.user_id.clone(), self.clock.now_millis());
        let set = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let was = EmojiMap::new(&tx.emoji_overrides(&team_id).await?);
                if new_tag.is_none() && was.action(&emoji_name).is_none() {
                    return Ok(false);
                }
                tx.set_emoji_tag(&team_id, &emoji_name, new_tag.as_deref(), &user_id, now)
                    .await?;
                Ok(true)
            })
        })
        .await?;
        if !set {
            return Ok(format!(
                "`:{emoji}:` does not capture anything here, so there is nothing to unset."
            ));
        }
        Ok(match tag.as_deref() {
            Some(FEEDBACK) => {
                format!("Reacting with :{emoji}: now captures a message as feedback, without a tag.")
            }
            Some(tag) => format!("Reacting with :{emoji}: now captures a message and tags it `{tag}`."),
            None => format!(":{emoji}: no longer captures anything. Insights it captured keep their tags."),
        })
    }

    async fn list(&self, team: &TeamId) -> Result<String, HandlerError> {
        let team_id = team.clone();
        let (overrides, rules) = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok((tx.emoji_overrides(&team_id).await?, tx.rules(&team_id).await?)) })
        })
        .await?;
        let map = EmojiMap::new(&overrides);
        let mut lines = vec!["*Reactions that capture feedback*".to_owned()];
        lines.extend(map.entries().map(|(emoji, tag)| match tag {
            FEEDBACK => format!("• :{emoji}: → captured as feedback (no tag)"),
            tag => format!("• :{emoji}: → `{tag}`"),
        }));
        if map.entries().next().is_none() {
            lines.push("• none — add one with `/feedback tags set :emoji: NAME`".to_owned());
        }
        lines.push(":+1: on a captured message is a vote.".to_owned());
        let mut rule_tags: Vec<&str> = rules.iter().map(|r| r.tag.as_str()).collect();
        rule_tags.sort_unstable();
        rule_tags.dedup();
        if !rule_tags.is_empty() {
            let shown: Vec<String> = rule_tags.iter().map(|t| format!("`{t}`")).collect();
            lines.push(format!(
                "Keyword rules also tag: {} (see `/feedback rules`).",
                shown.join(", ")
            ));
        }
        lines.push(format!("Change with `{TAGS_USAGE}`."));
        Ok(lines.join("\n"))
    }
}
