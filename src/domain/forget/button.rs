//! The confirmation's buttons (`block_actions`). "Forget" runs the forget here, in the inbox
//! worker: the click was stored before it was acknowledged, so a crash resumes it. The click is
//! checked before anything is removed: the button's grant must be Circlet's, fresh, shown to
//! this clicker in this workspace, and the clicker must still be a product user or admin.
//! Other actions are left alone: they belong to whatever else renders buttons.

use async_trait::async_trait;
use serde_json::json;

use super::grant::{ForgetGrant, GrantError};
use super::{CANCEL_ACTION, CONFIRM_ACTION, Forgetting, REFUSAL, outcome_text};
use crate::domain::block_actions::BlockActions;
use crate::domain::job_team;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::forget::PSEUDONYM_SLOT;

/// What a confirmed click's row says once the member is forgotten: the click without the
/// member's id, so a retry answers without forgetting again.
const DONE_PREFIX: &str = "done:";

pub(super) struct ForgetButton(pub(super) Forgetting);

#[async_trait]
impl InboxHandler for ForgetButton {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let payload = BlockActions::read(job)?;
        let Some(action) = payload
            .actions
            .iter()
            .find(|a| [CONFIRM_ACTION, CANCEL_ACTION].contains(&a.action_id.as_str()))
        else {
            return Ok(());
        };
        let team = job_team(job)?;
        let clicker = payload.user()?;
        let value = action.value.as_deref().unwrap_or_default();
        let answer = if action.action_id == CANCEL_ACTION {
            "Nothing was forgotten.".to_owned()
        } else if let Some(pseudonym) = value.strip_prefix(DONE_PREFIX) {
            format!("Done: the member is forgotten; their insights show as `{pseudonym}`.")
        } else {
            self.confirm(job, &team, &clicker, value, payload.response_url.as_deref())
                .await?
        };
        if let Some(response_url) = &payload.response_url {
            let message = json!({"response_type": "ephemeral", "replace_original": true, "text": answer});
            self.0.slack.respond(response_url, &message).await?;
        }
        Ok(())
    }
}

impl ForgetButton {
    /// Checks a "Forget" click and runs it; the answer for the clicker.
    async fn confirm(
        &self,
        job: &Job,
        team: &TeamId,
        clicker: &UserId,
        value: &str,
        response_url: Option<&str>,
    ) -> Result<String, HandlerError> {
        let forgetting = &self.0;
        let grant = ForgetGrant::open(
            value,
            &forgetting.settings.signing_key,
            forgetting.clock.now_secs(),
        )
        .and_then(|grant| grant.check_clicker(team, clicker).map(|()| grant));
        let grant = match grant {
            Ok(grant) => grant,
            Err(err @ (GrantError::Malformed | GrantError::Forged | GrantError::WrongClicker)) => {
                tracing::warn!(team_id = %team, %clicker, error = %err, "a forget confirmation was refused");
                return Ok(REFUSAL.to_owned());
            }
            Err(GrantError::Stale) => {
                return Ok(format!(
                    "This confirmation has expired; run `{}` again.",
                    super::FORGET_USAGE
                ));
            }
        };
        if !forgetting.access.is_product_user(team, clicker).await? {
            return Ok(REFUSAL.to_owned());
        }
        // The pseudonym is known only inside the forget's transaction: the store fills it in.
        let stub = done_stub(clicker, response_url, PSEUDONYM_SLOT);
        let forgotten = forgetting
            .forget(team, &grant.member, Some((job.row.id, stub)))
            .await?;
        Ok(outcome_text(&grant.member, &forgotten))
    }
}

/// The click as it is kept once done: who clicked, where to answer, and the pseudonym.
fn done_stub(clicker: &UserId, response_url: Option<&str>, pseudonym: &str) -> String {
    json!({
        "type": "block_actions",
        "user": {"id": clicker.as_str()},
        "response_url": response_url,
        "actions": [{"action_id": CONFIRM_ACTION, "value": format!("{DONE_PREFIX}{pseudonym}")}],
    })
    .to_string()
}
