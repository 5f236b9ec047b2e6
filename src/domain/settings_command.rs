//! `/feedback settings [product-users @a @b | @group | admins]`: a workspace's own settings,
//! set from Slack by its product users and admins (ARCHITECTURE §9). `/feedback digest channel
//! #c` (in `digest::command`) sets the other one.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::domain::access::ProductAccess;
use crate::domain::settings::ProductUsers;
use crate::domain::slash::SlashCommand;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::slack::SlackApi;
use crate::store::{SettingChange, SharedStore};

pub const SETTINGS_USAGE: &str =
    "/feedback settings [product-users @someone @someone-else | @group | admins]";
const REFUSAL: &str = "Sorry, only the product team and workspace admins can change Circlet's settings.";

pub struct SettingsCommand {
    pub store: SharedStore,
    pub slack: SlackApi,
    pub access: Arc<ProductAccess>,
    pub clock: SharedClock,
}

/// What the words ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum SettingsAction {
    Show,
    ProductUsers(ProductUsers),
}

/// Reads `settings …`'s words (after `settings`). Mentions come as Slack escapes them:
/// `<@U123|name>` for a member, `<!subteam^S123|@group>` for a user group.
pub fn parse(words: &[&str]) -> Result<SettingsAction, String> {
    let usage = format!("Usage: `{SETTINGS_USAGE}`.");
    let Some((first, rest)) = words.split_first() else {
        return Ok(SettingsAction::Show);
    };
    if !first.eq_ignore_ascii_case("product-users") {
        return Err(usage);
    }
    match rest {
        [] => Err(format!(
            "Name the product team: members, one user group, or `admins`. {usage}"
        )),
        [only] if only.eq_ignore_ascii_case("admins") => {
            Ok(SettingsAction::ProductUsers(ProductUsers::AdminsOnly))
        }
        [only] if let Some(group) = group_id(only) => Ok(SettingsAction::ProductUsers(
            ProductUsers::UserGroup(group.to_owned()),
        )),
        members => {
            let mut users = Vec::new();
            for word in members {
                match user_id(word) {
                    Some(user) if !users.contains(&user) => users.push(user),
                    Some(_) => {}
                    None if group_id(word).is_some() => {
                        return Err(format!("Name one user group on its own, or members. {usage}"));
                    }
                    None => return Err(format!("`{word}` is not a member: mention them with @. {usage}")),
                }
            }
            Ok(SettingsAction::ProductUsers(ProductUsers::Users(users)))
        }
    }
}

/// `<@U123|name>` or `<@U123>` → `U123`.
fn user_id(word: &str) -> Option<String> {
    let inner = word.strip_prefix("<@")?.strip_suffix('>')?;
    let id = inner.split('|').next()?;
    UserId::parse(id).ok().map(UserId::into_string)
}

/// `<!subteam^S123|@group>` or `<!subteam^S123>` → `S123`.
fn group_id(word: &str) -> Option<&str> {
    let inner = word.strip_prefix("<!subteam^")?.strip_suffix('>')?;
    let id = inner.split('|').next()?;
    let shaped = id.len() >= 2
        && id.starts_with('S')
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    shaped.then_some(id)
}

fn describe(users: &ProductUsers) -> String {
    match users {
        ProductUsers::AdminsOnly => "workspace admins and owners only".to_owned(),
        ProductUsers::Users(users) => {
            let mentions: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
            format!("{} (and workspace admins)", mentions.join(" "))
        }
        ProductUsers::UserGroup(group) => format!("<!subteam^{group}> (and workspace admins)"),
    }
}

#[async_trait]
impl InboxHandler for SettingsCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        let team = &command.team_id;
        if !self.access.is_product_user(team, &command.user_id).await? {
            return command.reply(&self.slack, REFUSAL).await;
        }
        let answer = match parse(&command.args()) {
            Err(usage) => usage,
            Ok(SettingsAction::Show) => self.show(team).await?,
            Ok(SettingsAction::ProductUsers(users)) => {
                let setting = users.to_setting();
                let change = SettingChange::ProductUsers(Some(setting.as_str()));
                self.store
                    .workspaces()
                    .change_setting(team, change, &command.user_id, self.clock.now_millis())
                    .await?;
                format!("The product team is now {}.", describe(&users))
            }
        };
        command.reply(&self.slack, &answer).await
    }
}

impl SettingsCommand {
    async fn show(&self, team: &TeamId) -> Result<String, HandlerError> {
        let users = self.access.product_users(team).await?;
        let settings = self.store.workspaces().settings(team).await?;
        let digest = match settings.digest_channel {
            Some(channel) => format!("<#{channel}>"),
            None => "not set (`/feedback digest channel #channel`)".to_owned(),
        };
        Ok(format!(
            "*Circlet's settings here*\n• Product team: {}\n• Weekly digest channel: {digest}\n\nChange them with `{SETTINGS_USAGE}`.",
            describe(&users)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_become_ids() {
        assert_eq!(parse(&[]), Ok(SettingsAction::Show));
        assert_eq!(
            parse(&["product-users", "<@U0ANA|ana>", "<@W0BEN>", "<@U0ANA|ana>"]),
            Ok(SettingsAction::ProductUsers(ProductUsers::Users(vec![
                "U0ANA".into(),
                "W0BEN".into()
            ])))
        );
        assert_eq!(
            parse(&["Product-Users", "<!subteam^S0PM|@product>"]),
            Ok(SettingsAction::ProductUsers(ProductUsers::UserGroup(
                "S0PM".into()
            )))
        );
        assert_eq!(
            parse(&["product-users", "admins"]),
            Ok(SettingsAction::ProductUsers(ProductUsers::AdminsOnly))
        );
    }

    #[test]
    fn anything_else_explains_itself() {
        for words in [
            vec!["product-users"],
            vec!["product-users", "@ana"],
            vec!["product-users", "<@U0ANA>", "<!subteam^S0PM|@p>"],
            vec!["colour", "blue"],
        ] {
            let err = parse(&words).unwrap_err();
            assert!(err.contains(SETTINGS_USAGE), "{words:?}: {err}");
        }
    }
}
