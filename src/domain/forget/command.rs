//! `/feedback forget @member`: product users and admins get a confirmation with a "Forget"
//! button; nothing is removed until it is clicked.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::grant::ForgetGrant;
use super::{CANCEL_ACTION, CONFIRM_ACTION, Forgetting, REFUSAL};
use crate::domain::slash::{self, SlashCommand};
use crate::ids::UserId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::MemberState;

pub const FORGET_USAGE: &str = "/feedback forget @member";

pub(super) struct ForgetCommand(pub(super) Forgetting);

#[async_trait]
impl InboxHandler for ForgetCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        let forgetting = &self.0;
        if !forgetting
            .access
            .is_product_user(&command.team_id, &command.user_id)
            .await?
        {
            return command.reply(&forgetting.slack, REFUSAL).await;
        }
        let member = match command.args()[..] {
            [word] => slash::member(word),
            _ => None,
        };
        let Some(member) = member else {
            return command
                .reply(&forgetting.slack, &format!("Name one member: `{FORGET_USAGE}`"))
                .await;
        };
        let state = forgetting
            .store
            .forgetting()
            .member_state(&command.team_id, &member)
            .await?;
        let answer = match state {
            MemberState::Unknown => format!("Circlet holds nothing about <@{member}> in this workspace."),
            MemberState::Forgotten => {
                format!("<@{member}> was already forgotten: Circlet holds nothing more about them.")
            }
            MemberState::Held => {
                let grant = ForgetGrant {
                    team: command.team_id.clone(),
                    member: member.clone(),
                    requester: command.user_id.clone(),
                    issued_at: forgetting.clock.now_secs(),
                };
                let value = grant.seal(&forgetting.settings.signing_key);
                let text = confirmation_text(&member);
                return command
                    .reply_blocks(&forgetting.slack, &text, confirmation_blocks(&text, &value))
                    .await;
            }
        };
        command.reply(&forgetting.slack, &answer).await
    }
}

fn confirmation_text(member: &UserId) -> String {
    format!(
        "Forget <@{member}>? Circlet removes everything it holds about them in this workspace: their \
         messages, replies, votes, tags given, activity and name. Insights they authored keep their \
         counts, but their text is removed and their author becomes a pseudonym. This cannot be undone."
    )
}

/// The question, a danger "Forget" button carrying the sealed grant, and "Cancel".
fn confirmation_blocks(text: &str, grant: &str) -> Value {
    json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "elements": [
            {
                "type": "button",
                "action_id": CONFIRM_ACTION,
                "style": "danger",
                // Plain text shows a mention as its raw `<@U…>`; the question above names them.
                "text": {"type": "plain_text", "text": "Forget this member"},
                "value": grant,
            },
            {
                "type": "button",
                "action_id": CANCEL_ACTION,
                "text": {"type": "plain_text", "text": "Cancel"},
                "value": "cancel",
            },
        ]},
    ])
}
