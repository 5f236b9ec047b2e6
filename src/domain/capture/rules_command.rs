//! `/feedback rules [add "phrase" TAG [capture] | remove N]`: keyword rules.

use std::sync::Arc;

use async_trait::async_trait;

use super::emoji::valid_tag_name;
use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::slash::{QuoteProblem, SlashCommand, quoted};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, NewRule, Rule, SharedStore};

pub const RULES_USAGE: &str = "/feedback rules [add \"phrase\" TAG [capture] | remove N]";
const MAX_PHRASE: usize = 100;

pub struct RulesCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for RulesCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        command
            .answer_product_team(
                &self.access,
                &self.slack,
                "Sorry, only the product team and workspace admins can manage keyword rules.",
                || self.run(&command),
            )
            .await
    }
}

/// Reads `add "phrase" TAG [capture]` as typed (Slack clients may turn quotes into curly ones).
pub fn parse_add(rest: &str) -> Result<NewRule, String> {
    let usage = format!("Usage: `{RULES_USAGE}`, e.g. `/feedback rules add \"dark mode\" idea capture`.");
    let (phrase, tail) = match quoted(rest) {
        Ok(parts) => parts,
        Err(QuoteProblem::NoOpeningQuote) => return Err(format!("Put the phrase in double quotes. {usage}")),
        Err(QuoteProblem::NoClosingQuote) => {
            return Err(format!("The phrase needs a closing quote. {usage}"));
        }
    };
    let words: Vec<&str> = tail.split_whitespace().collect();
    if phrase.is_empty() || phrase.chars().count() > MAX_PHRASE {
        return Err(format!(
            "The phrase must be 1 to {MAX_PHRASE} characters. {usage}"
        ));
    }
    let (tag, capture) = match words.as_slice() {
        [tag] => (tag.to_lowercase(), false),
        [tag, flag] if flag.eq_ignore_ascii_case("capture") => (tag.to_lowercase(), true),
        _ => return Err(usage),
    };
    if !valid_tag_name(&tag) {
        return Err(format!(
            "`{tag}` cannot be a tag name: use lower-case letters, digits and dashes (up to 30)."
        ));
    }
    Ok(NewRule {
        phrase: phrase.to_owned(),
        tag,
        capture,
    })
}

fn describe(rule: &Rule) -> String {
    let captures = if rule.capture { " (also captures)" } else { "" };
    format!("{}. \"{}\" → `{}`{captures}", rule.number, rule.phrase, rule.tag)
}

impl RulesCommand {
    async fn run(&self, command: &SlashCommand) -> Result<String, HandlerError> {
        let team = &command.team_id;
        let rest = command.rest();
        let (action, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let (team, action, tail) = (team.clone(), action.to_ascii_lowercase(), tail.to_owned());
        let (user_id, now) = (command.user_id.clone(), self.clock.now_millis());
        let answer = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let answer = match action.as_str() {
                    "" | "list" => {
                        let rules = tx.rules(&team).await?;
                        if rules.is_empty() {
                            format!(
                                "No keyword rules yet. Add one with `{RULES_USAGE}`: a rule tags captured messages that \
                                 contain its phrase, and with `capture` it also captures them by itself."
                            )
                        } else {
                            let lines: Vec<String> = rules.iter().map(describe).collect();
                            format!(
                                "*Keyword rules*\n{}\nRemove one with `/feedback rules remove N`.",
                                lines.join("\n")
                            )
                        }
                    }
                    "add" => match parse_add(&tail) {
                        Ok(new) => {
                            let rule = tx
                                .add_rule(
                                    &team,
                                    &new,
                                    &user_id,
                                    now,
                                )
                                .await?;
                            format!(
                                "Added rule {}. It applies to messages captured or edited from now on.",
                                describe(&rule)
                            )
                        }
                        Err(problem) => problem,
                    },
                    "remove" => match tail.trim().trim_start_matches('#').parse::<i64>() {
                        Ok(number) => match tx.remove_rule(&team, number).await? {
                            Some(rule) => format!(
                                "Removed rule {}. Tags it already gave stay until those messages are edited.",
                                describe(&rule)
                            ),
                            None => format!("There is no rule {number}. `/feedback rules` lists them."),
                        },
                        Err(_) => "Usage: `/feedback rules remove N`, with N from `/feedback rules`.".to_owned(),
                    },
                    _ => format!("Usage: `{RULES_USAGE}`"),
                };
                Ok(answer)
            })
        })
        .await?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_reads_a_quoted_phrase_a_tag_and_the_capture_flag() {
        assert_eq!(
            parse_add("\"dark mode\" idea capture"),
            Ok(NewRule {
                phrase: "dark mode".into(),
                tag: "idea".into(),
                capture: true
            })
        );
        assert_eq!(
            parse_add("“refund” Billing"),
            Ok(NewRule {
                phrase: "refund".into(),
                tag: "billing".into(),
                capture: false
            })
        );
        assert!(parse_add("dark mode idea").unwrap_err().contains("double quotes"));
        assert!(
            parse_add("\"dark mode idea")
                .unwrap_err()
                .contains("closing quote")
        );
        assert!(
            parse_add("\"dark mode\" idea always")
                .unwrap_err()
                .starts_with("Usage")
        );
        assert!(parse_add("\"\" idea").is_err());
    }
}
