//! `POST /slack/commands`: the `/feedback` slash command. Quick answers go back inline; work
//! that takes longer is stored in the inbox and acknowledged with an ephemeral "working on it",
//! its result following through `response_url`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slack_morphism::prelude::{SlackCommandEventResponse, SlackMessageContent, SlackMessageResponseType};

use super::body::{FORM_CONTENT_TYPE, read_capped};
use super::error::IngressError;
use super::interactions::delivery_key;
use super::{IngressState, Intake, Reply};
use crate::domain::{feedback_command, workspaces};
use crate::inbox::{InboxKind, NewInboxItem};

/// The fields of a slash command form that routing needs.
#[derive(Debug, Deserialize)]
pub struct CommandForm {
    pub team_id: Option<String>,
    pub enterprise_id: Option<String>,
    /// `true` for an org-wide install, whose data is keyed by its enterprise.
    pub is_enterprise_install: Option<String>,
    pub command: Option<String>,
    #[serde(default)]
    pub text: String,
    pub trigger_id: Option<String>,
}

impl CommandForm {
    /// The installation the command is for: the enterprise of an org-wide install
    /// (`is_enterprise_install=true`), else the workspace (ARCHITECTURE §9).
    pub fn installation(&self) -> Option<&str> {
        let org_wide = self.is_enterprise_install.as_deref() == Some("true");
        let enterprise = self.enterprise_id.as_deref().filter(|id| !id.trim().is_empty());
        match (org_wide, enterprise) {
            (true, Some(enterprise)) => Some(enterprise),
            _ => self.team_id.as_deref(),
        }
    }
}

/// Reads a verified slash command form. Pure, so it is fuzzed directly
/// (fuzz/fuzz_targets/commands.rs).
pub fn read_form(body: &[u8]) -> Result<CommandForm, IngressError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| IngressError::malformed("body is not a slash command form"))
}

pub async fn receive(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let body = read_capped(&headers, body, state.body_deadline).await?;
    if is_ssl_check(&body) {
        // Slack's periodic certificate check is not signed; answer it and use nothing else.
        return Ok(StatusCode::OK.into_response());
    }
    let request = state.verify(headers, body)?;
    request.require_content_type(FORM_CONTENT_TYPE)?;
    let form = read_form(&request.body)?;
    let body =
        String::from_utf8(request.body.into()).map_err(|_| IngressError::malformed("body is not UTF-8"))?;
    Ok(accept(&state.intake, form, body).await?.into_response())
}

/// Answers or queues a slash command known to come from Slack. `body` is the command as a
/// form, which is what the inbox keeps and the worker reads, however it arrived.
pub async fn accept(intake: &Intake, form: CommandForm, body: String) -> Result<Reply, IngressError> {
    let (Some(team_id), Some(command)) = (form.installation().map(str::to_owned), form.command) else {
        return Err(IngressError::malformed(
            "slash command without team_id or command",
        ));
    };

    if !intake.admits(&team_id, "commands") {
        return Ok(ephemeral(workspaces::REFUSAL.to_owned()));
    }
    let asked = feedback_command::subcommand(&form.text);
    let available = intake.registry.types(InboxKind::Command);
    if asked == "help" {
        return Ok(ephemeral(feedback_command::help_text(&available)));
    }
    if !intake.registry.handles(InboxKind::Command, &asked) {
        return Ok(ephemeral(feedback_command::unknown_text(&asked, &available)));
    }
    let item = NewInboxItem {
        team_id,
        event_id: format!("command:{}", delivery_key(form.trigger_id, &body)),
        kind: InboxKind::Command,
        event_type: asked,
        payload: body,
        received_at: intake.clock.now_millis(),
    };
    tracing::debug!(%command, subcommand = %item.event_type, "queued a slash command");
    intake.store_item(item, None).await?;
    Ok(ephemeral(":hourglass_flowing_sand: Working on it…".to_owned()))
}

/// A Socket Mode `slash_commands` payload (the form's fields as a JSON object) as the form
/// Slack would have posted over HTTP, so the inbox holds one shape whichever way it came.
pub fn form_body_from_json(payload: &str) -> Result<String, IngressError> {
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(payload)
        .map_err(|_| IngressError::malformed("slash command payload is not an object"))?;
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &fields {
        match value {
            serde_json::Value::String(text) => form.append_pair(name, text),
            serde_json::Value::Null => continue,
            other => form.append_pair(name, &other.to_string()),
        };
    }
    Ok(form.finish())
}

/// Slack's unsigned certificate check (`ssl_check=1`).
pub fn is_ssl_check(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct SslCheck {
        ssl_check: Option<String>,
    }
    serde_urlencoded::from_bytes::<SslCheck>(body).is_ok_and(|form| form.ssl_check.as_deref() == Some("1"))
}

fn ephemeral(text: String) -> Reply {
    let answer = SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
        .with_response_type(SlackMessageResponseType::Ephemeral);
    // A plain struct of strings: serializing it cannot fail.
    Reply::Json(serde_json::to_value(answer).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation(body: &str) -> Option<String> {
        read_form(body.as_bytes())
            .unwrap()
            .installation()
            .map(str::to_owned)
    }

    #[test]
    fn an_org_wide_install_is_keyed_by_its_enterprise() {
        // slash_command_org_level_app__java.txt
        let org =
            "team_id=T111&user_id=W111&command=%2Ffeedback&is_enterprise_install=true&enterprise_id=E111";
        assert_eq!(installation(org).as_deref(), Some("E111"));
        // slash_command_enterprise__boltpy.txt: a workspace install inside an organization.
        let workspace = "team_id=T111&user_id=W111&command=%2Ffeedback&enterprise_id=E111";
        assert_eq!(installation(workspace).as_deref(), Some("T111"));
        let flagged_blank = "team_id=T111&command=%2Ffeedback&is_enterprise_install=true&enterprise_id=";
        assert_eq!(installation(flagged_blank).as_deref(), Some("T111"));
        assert_eq!(installation("command=%2Ffeedback"), None);
    }
}
