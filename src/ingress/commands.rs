//! `POST /slack/commands`: the `/feedback` slash command. Quick answers go back inline; work
//! that takes longer is stored in the inbox and acknowledged with an ephemeral "working on it",
//! its result following through `response_url`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use slack_morphism::prelude::{SlackCommandEventResponse, SlackMessageContent, SlackMessageResponseType};

use super::IngressState;
use super::body::{FORM_CONTENT_TYPE, read_capped};
use super::error::IngressError;
use crate::domain::feedback_command;
use crate::inbox::{InboxKind, NewInboxItem};

#[derive(Deserialize)]
struct CommandForm {
    team_id: Option<String>,
    command: Option<String>,
    #[serde(default)]
    text: String,
    trigger_id: Option<String>,
}

pub async fn receive(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let body = read_capped(&headers, body).await?;
    if is_ssl_check(&body) {
        // Slack's periodic certificate check is not signed; answer it and use nothing else.
        return Ok(StatusCode::OK.into_response());
    }
    let request = state.verify(headers, body)?;
    request.require_content_type(FORM_CONTENT_TYPE)?;
    let form: CommandForm = serde_urlencoded::from_bytes(&request.body)
        .map_err(|_| IngressError::malformed("body is not a slash command form"))?;
    let (Some(team_id), Some(command)) = (form.team_id, form.command) else {
        return Err(IngressError::malformed(
            "slash command without team_id or command",
        ));
    };

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

fn is_ssl_check(body: &Bytes) -> bool {
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
