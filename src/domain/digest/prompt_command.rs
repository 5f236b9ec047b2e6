//! `/feedback prompt [add "question" | list | remove N]`: discussion prompts, queued and posted
//! one a week in every circle with the recap.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::slash::{QuoteProblem, SlashCommand, quoted};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{self, Prompt, SharedStore};

pub const PROMPT_USAGE: &str = "/feedback prompt [add \"question\" | list | remove N]";
/// A question fits a Block Kit section with room to spare.
const MAX_QUESTION: usize = 500;

pub struct PromptCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

#[async_trait]
impl InboxHandler for PromptCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        command
            .answer_product_team(
                &self.access,
                &self.slack,
                "Sorry, only the product team and workspace admins can manage discussion prompts.",
                || self.run(&command),
            )
            .await
    }
}

/// What `prompt …` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum PromptAction {
    List,
    Add(String),
    Remove(i64),
}

pub fn parse(rest: &str) -> Result<PromptAction, String> {
    let usage = format!(
        "Usage: `{PROMPT_USAGE}`, e.g. `/feedback prompt add \"What would make your routine easier?\"`."
    );
    let rest = rest.trim();
    let (action, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match action.to_ascii_lowercase().as_str() {
        "" | "list" if tail.trim().is_empty() => Ok(PromptAction::List),
        "add" => {
            let question = match quoted(tail) {
                Ok((question, after)) if after.trim().is_empty() => question,
                Ok(_) => return Err(format!("Put the whole question in one pair of quotes. {usage}")),
                Err(QuoteProblem::NoOpeningQuote) => {
                    return Err(format!("Put the question in double quotes. {usage}"));
                }
                Err(QuoteProblem::NoClosingQuote) => {
                    return Err(format!("The question needs a closing quote. {usage}"));
                }
            };
            if question.is_empty() || question.chars().count() > MAX_QUESTION {
                return Err(format!(
                    "A question must be 1 to {MAX_QUESTION} characters. {usage}"
                ));
            }
            Ok(PromptAction::Add(question.to_owned()))
        }
        "remove" => match tail.trim().trim_start_matches('#').parse::<i64>() {
            Ok(number) if number > 0 => Ok(PromptAction::Remove(number)),
            _ => Err(format!(
                "Say which prompt to remove by its number, e.g. `/feedback prompt remove 2`. {usage}"
            )),
        },
        _ => Err(usage),
    }
}

fn describe(prompt: &Prompt) -> String {
    format!("{}. “{}”", prompt.number, prompt.question)
}

impl PromptCommand {
    async fn run(&self, command: &SlashCommand) -> Result<String, HandlerError> {
        let action = match parse(command.rest()) {
            Ok(action) => action,
            Err(usage) => return Ok(usage),
        };
        let now = self.clock.now_millis();
        let (team, user_id) = (command.team_id.clone(), command.user_id.clone());
        let answer = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let answer = match action {
                    PromptAction::List => {
                        let queued = tx.queued_prompts(&team).await?;
                        if queued.is_empty() {
                            format!(
                                "No prompts queued. Add one with `{PROMPT_USAGE}`: each week the next one is posted in \
                                 every circle with the recap, and replies in its thread are captured as insights."
                            )
                        } else {
                            let lines: Vec<String> = queued.iter().map(describe).collect();
                            format!(
                                "*Queued prompts* (the first goes out with the next recap)\n{}\nRemove one with \
                                 `/feedback prompt remove N`.",
                                lines.join("\n")
                            )
                        }
                    }
                    PromptAction::Add(question) => {
                        let prompt = tx.add_prompt(&team, &question, &user_id, now).await?;
                        let ahead = tx.queued_prompts(&team).await?.len().saturating_sub(1);
                        let when = match ahead {
                            0 => "It goes out with the next weekly recap.".to_owned(),
                            n => format!("{n} queued before it; one goes out each week."),
                        };
                        format!("Added prompt {}. {when}", describe(&prompt))
                    }
                    PromptAction::Remove(number) => match tx.remove_prompt(&team, number, now).await? {
                        Some(prompt) if prompt.posted_period.is_some() => format!(
                            "Removed prompt {}. It was already posted; replies in its thread are still captured.",
                            describe(&prompt)
                        ),
                        Some(prompt) => format!("Removed prompt {}.", describe(&prompt)),
                        None => {
                            format!("There is no prompt {number}. `/feedback prompt list` shows the queued ones.")
                        }
                    },
                }
                ;
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
    fn prompt_words_are_read_or_answered_with_the_usage() {
        assert_eq!(parse(""), Ok(PromptAction::List));
        assert_eq!(parse("list"), Ok(PromptAction::List));
        assert_eq!(
            parse("add “What would you change?”"),
            Ok(PromptAction::Add("What would you change?".into()))
        );
        assert_eq!(parse("remove 2"), Ok(PromptAction::Remove(2)));
        assert_eq!(parse("remove #3"), Ok(PromptAction::Remove(3)));
        for (wrong, says) in [
            ("add What now?", "double quotes"),
            ("add \"open", "closing quote"),
            ("add \"\"", "1 to 500"),
            ("add \"a\" \"b\"", "one pair of quotes"),
            ("remove", "by its number"),
            ("remove zero", "by its number"),
            ("remove 0", "by its number"),
            ("frobnicate", "Usage"),
            ("list extra", "Usage"),
        ] {
            let answer = parse(wrong).unwrap_err();
            assert!(answer.contains(says), "{wrong}: {answer}");
            assert!(answer.contains(PROMPT_USAGE), "{wrong}: {answer}");
        }
        let long = format!("add \"{}\"", "x".repeat(501));
        assert!(parse(&long).unwrap_err().contains("1 to 500"));
    }
}
