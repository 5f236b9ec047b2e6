//! `POST /slack/interactions`: Block Kit interactivity. The `payload` form field is stored in the
//! inbox and acknowledged with an empty 200 (which also closes a submitted modal). A modal
//! submission whose view has a registered check is checked first: invalid input is answered
//! inline (`response_action: errors`) and nothing is stored.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::body::FORM_CONTENT_TYPE;
use super::error::IngressError;
use super::{IngressState, Intake, Reply};
use crate::inbox::{InboxKind, NewInboxItem, ViewRejection};

/// Interaction types Circlet acts on.
pub const HANDLED_INTERACTIONS: &[&str] = &[
    "block_actions",
    "message_action",
    "shortcut",
    "view_closed",
    "view_submission",
];

#[derive(Deserialize)]
struct InteractionForm<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    team: Option<Id>,
    enterprise: Option<Enterprise>,
    #[serde(default)]
    is_enterprise_install: Option<bool>,
    user: Option<User>,
    trigger_id: Option<String>,
    /// Only read for routing a `view_submission` to its check.
    view: Option<ViewHead>,
}

#[derive(Deserialize)]
struct ViewHead {
    callback_id: Option<String>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// Slack has sent `enterprise` with blank fields; nothing about it is required.
#[derive(Deserialize)]
struct Enterprise {
    id: Option<String>,
}

#[derive(Deserialize)]
struct User {
    team_id: Option<String>,
}

/// The routing fields of an interaction, and its payload as Slack sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionRequest {
    pub kind: String,
    /// The installation: the enterprise of an org-wide install (`is_enterprise_install`), else
    /// the team, else (`team: null` on some view payloads) the user's.
    pub team_id: Option<String>,
    pub trigger_id: Option<String>,
    /// A view submission's `callback_id`, which picks its inline check.
    pub callback_id: Option<String>,
    pub payload: String,
}

/// Reads a verified `payload=` form. Pure, so it is fuzzed directly
/// (fuzz/fuzz_targets/interactions.rs).
pub fn read(body: &[u8]) -> Result<InteractionRequest, IngressError> {
    let form: InteractionForm = serde_urlencoded::from_bytes(body)
        .map_err(|_| IngressError::malformed("body has no payload field"))?;
    read_payload(form.payload.into_owned())
}

/// Reads an interaction's JSON payload: the `payload` form field over HTTP, an envelope's
/// `payload` in Socket Mode.
pub fn read_payload(payload: String) -> Result<InteractionRequest, IngressError> {
    let head: Head = serde_json::from_str(&payload)
        .map_err(|_| IngressError::malformed("payload is not an interaction"))?;
    let enterprise = head
        .enterprise
        .and_then(|enterprise| enterprise.id)
        .filter(|id| !id.trim().is_empty() && head.is_enterprise_install == Some(true));
    Ok(InteractionRequest {
        kind: head.kind,
        team_id: enterprise
            .or_else(|| head.team.map(|team| team.id))
            .or_else(|| head.user.and_then(|user| user.team_id)),
        trigger_id: head.trigger_id,
        callback_id: head.view.and_then(|view| view.callback_id),
        payload,
    })
}

pub async fn receive(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let request = state.read_verified(headers, body, FORM_CONTENT_TYPE).await?;
    let interaction = read(&request.body)?;
    Ok(accept(&state.intake, interaction).await?.into_response())
}

/// Stores an interaction known to come from Slack, or refuses a modal submission inline.
pub async fn accept(intake: &Intake, interaction: InteractionRequest) -> Result<Reply, IngressError> {
    if interaction.kind == "block_suggestion" {
        // Circlet has no external selects; an empty list keeps Slack's UI from erroring.
        return Ok(Reply::Json(serde_json::json!({ "options": [] })));
    }
    if !HANDLED_INTERACTIONS.contains(&interaction.kind.as_str()) {
        tracing::debug!(interaction_type = %interaction.kind, "ignoring an interaction type Circlet does not handle");
        return Ok(Reply::Empty);
    }
    let team_id = interaction
        .team_id
        .ok_or_else(|| IngressError::malformed("interaction without a team"))?;
    if !intake.admits(&team_id, "interactions") {
        return Ok(Reply::Empty);
    }
    if interaction.kind == "view_submission"
        && let Some(callback_id) = &interaction.callback_id
        && let Some(refusal) = check_submission(intake, callback_id, &team_id, &interaction.payload).await?
    {
        return Ok(refusal);
    }
    let item = NewInboxItem {
        team_id,
        event_id: format!(
            "interaction:{}",
            delivery_key(interaction.trigger_id, &interaction.payload)
        ),
        kind: InboxKind::Interaction,
        event_type: interaction.kind,
        payload: interaction.payload,
        received_at: intake.clock.now_millis(),
    };
    intake.store_item(item, None).await?;
    Ok(Reply::Empty)
}

/// What makes a delivery of an interaction or a command the same delivery again: its
/// `trigger_id`, else a digest of its payload. Socket Mode redelivers an envelope Circlet did
/// not acknowledge with the same payload, so either way the redelivery is stored once.
pub(super) fn delivery_key(trigger_id: Option<String>, payload: &str) -> String {
    trigger_id.unwrap_or_else(|| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(payload.as_bytes())[..16])
    })
}

/// Runs the check registered for the view, if any: `Some(reply)` refuses the submission inline.
async fn check_submission(
    intake: &Intake,
    callback_id: &str,
    team_id: &str,
    payload: &str,
) -> Result<Option<Reply>, IngressError> {
    let Some(check) = intake.registry.view_check(callback_id) else {
        return Ok(None);
    };
    match check.check(team_id, payload).await {
        Ok(()) => Ok(None),
        Err(ViewRejection::Invalid(errors)) => {
            tracing::debug!(%callback_id, fields = ?errors.keys(), "modal submission refused inline");
            Ok(Some(Reply::Json(
                serde_json::json!({ "response_action": "errors", "errors": errors }),
            )))
        }
        Err(ViewRejection::Unavailable(why)) => {
            tracing::warn!(%callback_id, error = %why, "could not check a modal submission; answering 503");
            Err(IngressError::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn team_of(payload: &Value) -> Option<String> {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        read(body.as_bytes()).unwrap().team_id
    }

    #[test]
    fn an_org_wide_install_is_keyed_by_its_enterprise() {
        // view_submission_org_install__boltpy.json: `team` is null, the user's team is a workspace.
        let org = json!({"type": "view_submission", "team": null, "user": {"id": "W111", "team_id": "T_unexpected"},
            "enterprise": {"id": "E111", "name": "Sandbox"}, "is_enterprise_install": true});
        assert_eq!(team_of(&org).as_deref(), Some("E111"));
        let workspace = json!({"type": "block_actions", "team": {"id": "T111"}, "user": {"id": "W111", "team_id": "T111"},
            "enterprise": {"id": "E111"}, "is_enterprise_install": false});
        assert_eq!(team_of(&workspace).as_deref(), Some("T111"));
        let no_team = json!({"type": "view_closed", "team": null, "user": {"id": "W111", "team_id": "T222"}});
        assert_eq!(team_of(&no_team).as_deref(), Some("T222"));
    }
}
