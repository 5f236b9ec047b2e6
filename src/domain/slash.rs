//! A stored `/feedback` invocation, and answering it through its `response_url`.

use serde::Deserialize;

use crate::domain::access::ProductAccess;
use crate::domain::job_team;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::{HandlerError, Job};
use crate::slack::SlackApi;

#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    /// The installation the command is for (from the inbox row, see [`SlashCommand::from_job`]).
    pub team_id: TeamId,
    pub user_id: UserId,
    #[serde(default)]
    pub text: String,
    pub response_url: String,
}

impl SlashCommand {
    /// The form Slack sent, as stored in the inbox, for the installation its row is keyed by:
    /// an org-wide install's commands name a workspace in `team_id`, while its data is the
    /// enterprise's (ingress keys the row by it).
    pub fn from_job(job: &Job) -> Result<Self, HandlerError> {
        let mut command: Self = serde_urlencoded::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("stored slash command is unreadable: {err}")))?;
        command.team_id = job_team(job)?;
        Ok(command)
    }

    /// The words after the subcommand.
    pub fn args(&self) -> Vec<&str> {
        self.text.split_whitespace().skip(1).collect()
    }

    /// The text after the subcommand, as typed.
    pub fn rest(&self) -> &str {
        let text = self.text.trim_start();
        let subcommand_len = text.find(char::is_whitespace).unwrap_or(text.len());
        text[subcommand_len..].trim()
    }

    /// Answers a product-team subcommand: product users and workspace admins get what `run`
    /// answers; anyone else gets `refusal`, which reveals nothing.
    pub async fn answer_product_team<Fut>(
        &self,
        access: &ProductAccess,
        slack: &SlackApi,
        refusal: &str,
        run: impl FnOnce() -> Fut,
    ) -> Result<(), HandlerError>
    where
        Fut: Future<Output = Result<String, HandlerError>>,
    {
        let answer = if access.is_product_user(&self.team_id, &self.user_id).await? {
            run().await?
        } else {
            refusal.to_owned()
        };
        self.reply(slack, &answer).await
    }

    /// Answers the requester only, replacing the "Working on it…" acknowledgement, so a retry
    /// after a timeout shows the answer once.
    pub async fn reply(&self, slack: &SlackApi, text: &str) -> Result<(), HandlerError> {
        let message = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": true,
            "text": text,
        });
        slack.respond(&self.response_url, &message).await?;
        Ok(())
    }

    /// Like [`Self::reply`], with Block Kit `blocks`; `text` is what notifications and clients
    /// that cannot show blocks display.
    pub async fn reply_blocks(
        &self,
        slack: &SlackApi,
        text: &str,
        blocks: serde_json::Value,
    ) -> Result<(), HandlerError> {
        let message = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": true,
            "text": text,
            "blocks": blocks,
        });
        slack.respond(&self.response_url, &message).await?;
        Ok(())
    }
}

/// What is wrong with a quoted argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteProblem {
    NoOpeningQuote,
    NoClosingQuote,
}

/// Splits `"quoted text" rest` into the quoted text (trimmed) and the rest. Slack clients may
/// turn straight quotes into curly ones, so either kind opens and closes.
pub fn quoted(text: &str) -> Result<(&str, &str), QuoteProblem> {
    let text = text.trim();
    let Some(open) = text.chars().next().filter(|c| matches!(c, '"' | '“' | '”')) else {
        return Err(QuoteProblem::NoOpeningQuote);
    };
    let after_open = &text[open.len_utf8()..];
    let Some(close) = after_open.find(['"', '“', '”']) else {
        return Err(QuoteProblem::NoClosingQuote);
    };
    let closing_len = after_open[close..].chars().next().map_or(1, char::len_utf8);
    Ok((after_open[..close].trim(), &after_open[close + closing_len..]))
}

/// A channel as the command text gives it: Slack's escaped mention `<#C123|name>` (or `<#C123>`),
/// or a bare channel id.
pub fn channel_id(word: &str) -> Option<&str> {
    let id = match word.strip_prefix("<#").and_then(|rest| rest.strip_suffix('>')) {
        Some(mention) => mention.split('|').next().unwrap_or_default(),
        None => word,
    };
    let looks_like_id = id.len() >= 2
        && matches!(id.as_bytes()[0], b'C' | b'G')
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    looks_like_id.then_some(id)
}

/// A member as the command text gives them: Slack's escaped mention `<@U123|name>` (or
/// `<@U123>`), or a bare user id.
pub fn member(word: &str) -> Option<UserId> {
    let id = match word.strip_prefix("<@").and_then(|rest| rest.strip_suffix('>')) {
        Some(mention) => mention.split('|').next().unwrap_or_default(),
        None => word,
    };
    UserId::parse(id).ok()
}

/// A channel the command text names, typed (see [`channel_id`]).
pub fn channel(word: &str) -> Option<ChannelId> {
    channel_id(word).and_then(|id| ChannelId::parse(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_takes_straight_or_curly_quotes() {
        assert_eq!(quoted(r#" "dark mode" idea"#), Ok(("dark mode", " idea")));
        assert_eq!(
            quoted("“What would you change?”"),
            Ok(("What would you change?", ""))
        );
        assert_eq!(quoted("no quotes"), Err(QuoteProblem::NoOpeningQuote));
        assert_eq!(quoted("\"open"), Err(QuoteProblem::NoClosingQuote));
    }

    #[test]
    fn channels_are_read_from_escaped_mentions_or_ids() {
        assert_eq!(channel_id("<#C0BEAUTY|beauty-insiders>"), Some("C0BEAUTY"));
        assert_eq!(channel_id("<#G0PRIVATE>"), Some("G0PRIVATE"));
        assert_eq!(channel_id("C0BEAUTY"), Some("C0BEAUTY"));
        assert_eq!(channel_id("#beauty-insiders"), None);
        assert_eq!(channel_id("<@U0MAYA>"), None);
        assert_eq!(channel_id("beauty"), None);
    }
}
