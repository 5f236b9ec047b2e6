//! `POST /slack/events`: the Events API. Verify, store in the inbox, then answer 200.

use std::borrow::Cow;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::IngressState;
use super::error::IngressError;
use crate::inbox::{InboxKind, NewInboxItem};

/// Inner event types Circlet subscribes to (the `bot_events` of manifest.yaml). Others are
/// acknowledged and ignored, so a subscription added in Slack before the code is harmless.
pub const SUBSCRIBED_EVENTS: &[&str] = &[
    "app_home_opened",
    "app_uninstalled",
    "channel_archive",
    "channel_unarchive",
    "member_joined_channel",
    "member_left_channel",
    "message",
    "reaction_added",
    "reaction_removed",
    "tokens_revoked",
];

/// Only the fields routing needs. Everything else is stored verbatim and parsed by the
/// worker, which keeps the acknowledgement path cheap.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    challenge: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    team_id: Option<Cow<'a, str>>,
    /// Org-wide installs key their data by enterprise; their envelopes may have no team_id.
    #[serde(borrow, default)]
    enterprise_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<InnerEvent<'a>>,
}

#[derive(Deserialize)]
struct InnerEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// What an Events API body asks of Circlet, read from its routing fields only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDelivery {
    /// Slack checking the request URL: answer the challenge.
    UrlVerification { challenge: String },
    /// An event Circlet handles: store it.
    Callback {
        team_id: String,
        event_id: String,
        event_type: String,
    },
    /// An event type Circlet does not subscribe to: acknowledge, store nothing.
    Unsubscribed { event_type: String, event_id: String },
    /// Slack dropped deliveries to this app.
    AppRateLimited,
    /// An envelope type Circlet does not know.
    Other { envelope_type: String },
}

/// Reads an Events API body (already verified) into what to do with it. Pure, so it is fuzzed
/// directly (fuzz/fuzz_targets/events.rs).
pub fn classify(body: &[u8]) -> Result<EventDelivery, IngressError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|_| IngressError::malformed("body is not a JSON event envelope"))?;
    Ok(match envelope.kind.as_ref() {
        "url_verification" => {
            let challenge = envelope
                .challenge
                .ok_or_else(|| IngressError::malformed("url_verification without a challenge"))?;
            EventDelivery::UrlVerification {
                challenge: challenge.into_owned(),
            }
        }
        "event_callback" => {
            let event_id = envelope
                .event_id
                .ok_or_else(|| IngressError::malformed("event_callback without event_id"))?;
            let team_id = envelope
                .team_id
                .or(envelope.enterprise_id)
                .ok_or_else(|| IngressError::malformed("event_callback without team_id or enterprise_id"))?;
            let event = envelope
                .event
                .ok_or_else(|| IngressError::malformed("event_callback without an event"))?;
            let (event_id, event_type) = (event_id.into_owned(), event.kind.into_owned());
            if SUBSCRIBED_EVENTS.contains(&event_type.as_str()) {
                EventDelivery::Callback {
                    team_id: team_id.into_owned(),
                    event_id,
                    event_type,
                }
            } else {
                EventDelivery::Unsubscribed { event_type, event_id }
            }
        }
        "app_rate_limited" => EventDelivery::AppRateLimited,
        other => EventDelivery::Other {
            envelope_type: other.to_owned(),
        },
    })
}

pub async fn receive(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngressError> {
    let request = state.read_verified(headers, body, "application/json").await?;
    match classify(&request.body)? {
        EventDelivery::UrlVerification { challenge } => {
            Ok(Json(serde_json::json!({ "challenge": challenge })).into_response())
        }
        EventDelivery::Callback {
            team_id,
            event_id,
            event_type,
        } => {
            if !state.admits(&team_id, "events") {
                return Ok(StatusCode::OK.into_response());
            }
            let retry_num = request.retry_num();
            let payload = String::from_utf8(request.body.into())
                .map_err(|_| IngressError::malformed("body is not UTF-8"))?;
            let item = NewInboxItem {
                team_id,
                event_id,
                kind: InboxKind::Event,
                event_type,
                payload,
                received_at: state.clock.now_millis(),
            };
            state.store_item(item, retry_num).await?;
            Ok(StatusCode::OK.into_response())
        }
        EventDelivery::Unsubscribed { event_type, event_id } => {
            tracing::debug!(%event_type, %event_id, "ignoring an event type Circlet does not handle");
            Ok(StatusCode::OK.into_response())
        }
        EventDelivery::AppRateLimited => {
            tracing::warn!(
                "Slack is rate limiting event deliveries to this app (app_rate_limited); some events were not delivered"
            );
            Ok(StatusCode::OK.into_response())
        }
        EventDelivery::Other { envelope_type } => {
            tracing::debug!(%envelope_type, "ignoring an unknown envelope type");
            Ok(StatusCode::OK.into_response())
        }
    }
}
