//! `POST /slack/commands`: the `/feedback` slash command. Quick answers go back inline; work
//! that takes longer is stored in the inbox and acknowledged with an ephemeral "working on it",
//! its result following through `response_url`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slack_morphism::prelude::{SlackCommandEventResponse, SlackMessageContent, SlackMessageResponseType};

use super::IngressState;
use super::body::{FORM_CONTENT_TYPE, read_capped};
use super::error::IngressError;
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
    let (Some(team_id), Some(command)) = (form.installation().map(str::to_owned), form.command) else {
        return Err(IngressError::malformed(
            "slash command without team_id or command",
        ));
    };

    if !state.admits(&team_id, "commands") {
        return Ok(ephemeral(workspaces::REFUSAL.to_owned()));
    }
    let asked = feedback_command::subcommand(&form.text);
    let available = state.registry.types(InboxKind::Command);
    if asked == "help" {
        return Ok(ephemeral(feedback_command::help_text(&available)));
    }
    if !state.registry.handles(InboxKind::Command, &asked) {
        return Ok(ephemeral(feedback_command::unknown_text(&asked, &available)));
    }
    let key = form
        .trigger_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let payload =
        String::from_utf8(request.body.into()).map_err(|_| IngressError::malformed("body is not UTF-8"))?;
    let item = NewInboxItem {
        team_id,
        event_id: format!("command:{key}"),
        kind: InboxKind::Command,
        event_type: asked,
        payload,
        received_at: state.clock.now_millis(),
    };
    tracing::debug!(%command, subcommand = %item.event_type, "queued a slash command");
    state.store_item(item, None).await?;
    Ok(ephemeral(":hourglass_flowing_sand: Working on it…".to_owned()))
}

/// Slack's unsigned certificate check (`ssl_check=1`).
pub fn is_ssl_check(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct SslCheck {
        ssl_check: Option<String>,
    }
    serde_urlencoded::from_bytes::<SslCheck>(body).is_ok_and(|form| form.ssl_check.as_deref() == Some("1"))
}

fn ephemeral(text: String) -> Response {
    Json(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
    .into_response()
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
