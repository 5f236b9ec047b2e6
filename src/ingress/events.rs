//! `POST /slack/events`: the Events API. Verify, store in the inbox, then answer 200.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::IngressError;
use super::{IngressState, Intake, Reply};
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
    "user_change",
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
    /// The installation the event is delivered to (Slack sends at most one entry). In a Slack
    /// Connect channel the envelope's `team_id` may name a partner's workspace instead.
    #[serde(borrow, default)]
    authorizations: Option<Vec<Authorization<'a>>>,
    #[serde(borrow, default)]
    event: Option<InnerEvent<'a>>,
}

#[derive(Deserialize)]
struct Authorization<'a> {
    #[serde(borrow, default)]
    team_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    enterprise_id: Option<Cow<'a, str>>,
    #[serde(default)]
    is_enterprise_install: Option<bool>,
}

impl<'a> Authorization<'a> {
    /// The installation this authorization names: its enterprise for an org-wide install, else
    /// its workspace. Blank ids (Slack's schema samples have them) name nothing.
    fn installation(self) -> Option<Cow<'a, str>> {
        let (team, enterprise) = (non_blank(self.team_id), non_blank(self.enterprise_id));
        if self.is_enterprise_install == Some(true) {
            enterprise.or(team)
        } else {
            team
        }
    }
}

fn non_blank(id: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    id.filter(|id| !id.trim().is_empty())
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
    /// An event Circlet handles: store it under `team_id`, the installation it is delivered
    /// to (see [`classify`]).
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
///
/// An event is attributed to the installation `authorizations[0]` names (its `team_id`, or its
/// `enterprise_id` for an org-wide install), as Bolt does; only without one, the envelope's
/// `team_id`, then its `enterprise_id`. In a Slack Connect channel the envelope may name the
/// partner's workspace while the event is delivered to ours (ARCHITECTURE §9, §10).
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
            let installation = envelope
                .authorizations
                .and_then(|authorizations| authorizations.into_iter().next())
                .and_then(Authorization::installation);
            let team_id = installation
                .or(envelope.team_id)
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
    let retry_num = request.retry_num();
    Ok(accept(&state.intake, &request.body, retry_num)
        .await?
        .into_response())
}

/// Classifies an Events API body known to come from Slack and stores the event it carries.
/// `retry_num` is Slack's redelivery count (`X-Slack-Retry-Num`, or an envelope's
/// `retry_attempt`), for the log only: the `event_id` deduplicates.
pub async fn accept(intake: &Intake, body: &[u8], retry_num: Option<u32>) -> Result<Reply, IngressError> {
    match classify(body)? {
        EventDelivery::UrlVerification { challenge } => {
            Ok(Reply::Json(serde_json::json!({ "challenge": challenge })))
        }
        EventDelivery::Callback {
            team_id,
            event_id,
            event_type,
        } => {
            if !intake.admits(&team_id, "events") {
                return Ok(Reply::Empty);
            }
            let payload = std::str::from_utf8(body)
                .map_err(|_| IngressError::malformed("body is not UTF-8"))?
                .to_owned();
            let item = NewInboxItem {
                team_id,
                event_id,
                kind: InboxKind::Event,
                event_type,
                payload,
                received_at: intake.clock.now_millis(),
            };
            intake.store_item(item, retry_num).await?;
            Ok(Reply::Empty)
        }
        EventDelivery::Unsubscribed { event_type, event_id } => {
            tracing::debug!(%event_type, %event_id, "ignoring an event type Circlet does not handle");
            Ok(Reply::Empty)
        }
        EventDelivery::AppRateLimited => {
            tracing::warn!(
                "Slack is rate limiting event deliveries to this app (app_rate_limited); some events were not delivered"
            );
            Ok(Reply::Empty)
        }
        EventDelivery::Other { envelope_type } => {
            tracing::debug!(%envelope_type, "ignoring an unknown envelope type");
            Ok(Reply::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn callback(envelope: &Value) -> String {
        match classify(envelope.to_string().as_bytes()) {
            Ok(EventDelivery::Callback { team_id, .. }) => team_id,
            other => panic!("not a callback: {other:?}"),
        }
    }

    fn event(team: Value, enterprise: Value, authorizations: Option<Value>) -> Value {
        let mut envelope = json!({
            "type": "event_callback", "event_id": "Ev1", "team_id": team, "enterprise_id": enterprise,
            "event": {"type": "reaction_added"},
        });
        if let Some(authorizations) = authorizations {
            envelope["authorizations"] = authorizations;
        }
        envelope
    }

    #[test]
    fn a_shared_channel_event_belongs_to_the_installation_it_is_delivered_to() {
        // reaction_added_shared_channel__boltpy.json: a partner's member reacted.
        let shared = event(
            json!("T_SOURCE"),
            json!("E_SOURCE"),
            Some(
                json!([{"enterprise_id": "E_INSTALLED", "team_id": "T_INSTALLED", "user_id": "W111",
                "is_bot": true, "is_enterprise_install": false}]),
            ),
        );
        assert_eq!(callback(&shared), "T_INSTALLED");
    }

    #[test]
    fn an_org_wide_install_is_keyed_by_its_enterprise() {
        // app_home_opened_messages_tab_org_install__boltpy.json
        let org = event(
            json!("T111"),
            json!("E111"),
            Some(
                json!([{"enterprise_id": "E111", "team_id": null, "user_id": "W111", "is_bot": true,
                "is_enterprise_install": true}]),
            ),
        );
        assert_eq!(callback(&org), "E111");
        let with_team = event(
            json!("T111"),
            json!("E111"),
            Some(json!([{"enterprise_id": "E111", "team_id": "T222", "is_enterprise_install": true}])),
        );
        assert_eq!(callback(&with_team), "E111");
    }

    #[test]
    fn without_authorizations_the_envelope_names_the_workspace() {
        assert_eq!(callback(&event(json!("T1"), json!("E1"), None)), "T1");
        assert_eq!(callback(&event(Value::Null, json!("E1"), None)), "E1");
        assert_eq!(callback(&event(json!("T1"), Value::Null, Some(json!([])))), "T1");
        assert_eq!(
            callback(&event(json!("T1"), Value::Null, Some(Value::Null))),
            "T1"
        );
        // Slack's schema samples blank every id of their authorization.
        let blank = json!([{"enterprise_id": "", "team_id": "", "user_id": "", "is_bot": false,
            "is_enterprise_install": false}]);
        assert_eq!(callback(&event(json!("T1"), Value::Null, Some(blank))), "T1");
        let none = event(Value::Null, Value::Null, Some(json!([{"is_bot": true}])));
        assert!(classify(none.to_string().as_bytes()).is_err());
    }

    #[test]
    fn only_the_first_authorization_counts() {
        let two = json!([{"team_id": "T2"}, {"team_id": "T3"}]);
        assert_eq!(callback(&event(json!("T1"), Value::Null, Some(two))), "T2");
    }

    proptest! {
        #[test]
        fn the_installation_wins_over_the_envelope(
            envelope_team in "[A-Z0-9]{1,12}",
            installed in "T[A-Z0-9]{1,11}",
            enterprise in "E[A-Z0-9]{1,11}",
            org_wide in any::<bool>(),
        ) {
            let authorization = json!([{"team_id": installed, "enterprise_id": enterprise,
                "is_enterprise_install": org_wide}]);
            let key = callback(&event(json!(envelope_team), Value::Null, Some(authorization)));
            prop_assert_eq!(key, if org_wide { enterprise } else { installed });
        }
    }
}
