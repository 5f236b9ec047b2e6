//! One Socket Mode frame: what it is, and for an envelope, what to send back. An envelope takes
//! the HTTP path's [`Intake`] after its routing fields are read (the socket itself is the proof
//! that it came from Slack: Socket Mode has no signature), and is acknowledged only once it is
//! stored, so one that cannot be stored is redelivered by Slack.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingress::error::IngressError;
use crate::ingress::{Intake, Reply, commands, events, interactions};

/// A frame Slack sends, read for routing only; the payload stays as Slack wrote it.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    envelope_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    accepts_response_payload: bool,
    #[serde(default)]
    retry_attempt: Option<u32>,
    /// A `disconnect`'s reason.
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

/// What a text frame asks of the connection.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    Hello,
    /// Slack will close this connection soon (`refresh_requested`, `warning`,
    /// `link_disabled`…): open its replacement.
    Disconnect {
        reason: String,
    },
    Envelope(Envelope<'a>),
    /// Not JSON, or a type Circlet does not know: logged and dropped.
    Unknown {
        kind: String,
    },
}

/// An envelope carrying an event, an interaction or a slash command.
#[derive(Debug, PartialEq)]
pub struct Envelope<'a> {
    pub id: String,
    pub kind: EnvelopeKind,
    pub payload: &'a str,
    pub accepts_response_payload: bool,
    pub retry_attempt: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind {
    EventsApi,
    Interactive,
    SlashCommands,
}

impl EnvelopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeKind::EventsApi => "events_api",
            EnvelopeKind::Interactive => "interactive",
            EnvelopeKind::SlashCommands => "slash_commands",
        }
    }
}

/// How an envelope ended, for `/metrics` and the decision to acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or knowingly ignored) and acknowledged.
    Acked,
    /// Unreadable: acknowledged so Slack stops redelivering what can never be read.
    Malformed,
    /// Not stored (the database is down): not acknowledged, so Slack redelivers it.
    Unstored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acked => "acked",
            Outcome::Malformed => "malformed",
            Outcome::Unstored => "unstored",
        }
    }
}

/// Reads a text frame.
pub fn read(text: &str) -> Incoming<'_> {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return Incoming::Unknown {
            kind: "unreadable".into(),
        };
    };
    let kind = match frame.kind.as_ref() {
        "hello" => return Incoming::Hello,
        "disconnect" => {
            return Incoming::Disconnect {
                reason: frame.reason.map(Cow::into_owned).unwrap_or_default(),
            };
        }
        "events_api" => EnvelopeKind::EventsApi,
        "interactive" => EnvelopeKind::Interactive,
        "slash_commands" => EnvelopeKind::SlashCommands,
        other => {
            return Incoming::Unknown {
                kind: other.to_owned(),
            };
        }
    };
    match (frame.envelope_id, frame.payload) {
        (Some(id), Some(payload)) if !id.is_empty() => Incoming::Envelope(Envelope {
            id: id.into_owned(),
            kind,
            payload: payload.get(),
            accepts_response_payload: frame.accepts_response_payload,
            retry_attempt: frame.retry_attempt,
        }),
        _ => Incoming::Unknown {
            kind: format!("{} without envelope_id or payload", kind.as_str()),
        },
    }
}

/// Takes an envelope through the intake. `Some(ack)` is the frame to send back; `None` means
/// it was not stored and must not be acknowledged.
pub async fn handle(intake: &Intake, envelope: &Envelope<'_>) -> (Outcome, Option<String>) {
    let retry = envelope.retry_attempt.filter(|attempt| *attempt > 0);
    let result = match envelope.kind {
        EnvelopeKind::EventsApi => events::accept(intake, envelope.payload.as_bytes(), retry).await,
        EnvelopeKind::Interactive => match interactions::read_payload(envelope.payload.to_owned()) {
            Ok(interaction) => interactions::accept(intake, interaction).await,
            Err(err) => Err(err),
        },
        EnvelopeKind::SlashCommands => accept_command(intake, envelope.payload).await,
    };
    match result {
        Ok(reply) => {
            let payload = match reply {
                Reply::Json(answer) if envelope.accepts_response_payload => Some(answer),
                _ => None,
            };
            (Outcome::Acked, Some(ack(&envelope.id, payload)))
        }
        Err(IngressError::Unavailable) => (Outcome::Unstored, None),
        Err(err) => {
            tracing::warn!(
                envelope_id = %envelope.id,
                envelope_type = envelope.kind.as_str(),
                error = %err,
                "acknowledged a Socket Mode envelope Circlet cannot read, so Slack stops redelivering it"
            );
            (Outcome::Malformed, Some(ack(&envelope.id, None)))
        }
    }
}

async fn accept_command(intake: &Intake, payload: &str) -> Result<Reply, IngressError> {
    let body = commands::form_body_from_json(payload)?;
    let form = commands::read_form(body.as_bytes())?;
    commands::accept(intake, form, body).await
}

/// `{"envelope_id": …}`, with the answer Slack should act on when it takes one.
pub fn ack(envelope_id: &str, payload: Option<serde_json::Value>) -> String {
    let mut ack = serde_json::json!({ "envelope_id": envelope_id });
    if let Some(payload) = payload {
        ack["payload"] = payload;
    }
    ack.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_keep_their_payload_as_sent() {
        let text = r#"{"envelope_id":"e1","type":"events_api","payload":{"type":"event_callback","b":1, "a":2},"accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout"}"#;
        let Incoming::Envelope(envelope) = read(text) else {
            panic!("not an envelope")
        };
        assert_eq!(envelope.payload, r#"{"type":"event_callback","b":1, "a":2}"#);
        assert_eq!(
            (envelope.id.as_str(), envelope.kind, envelope.retry_attempt),
            ("e1", EnvelopeKind::EventsApi, Some(1))
        );
    }

    #[test]
    fn control_frames_and_strangers_are_told_apart() {
        assert_eq!(read(r#"{"type":"hello","num_connections":1}"#), Incoming::Hello);
        assert_eq!(
            read(r#"{"type":"disconnect","reason":"warning","debug_info":{"host":"h"}}"#),
            Incoming::Disconnect {
                reason: "warning".into()
            }
        );
        assert!(matches!(read("not json"), Incoming::Unknown { .. }));
        assert!(matches!(
            read(r#"{"type":"new_thing","envelope_id":"e"}"#),
            Incoming::Unknown { .. }
        ));
        assert!(matches!(
            read(r#"{"type":"events_api","payload":{}}"#),
            Incoming::Unknown { .. }
        ));
        assert!(matches!(
            read(r#"{"type":"events_api","envelope_id":"","payload":{}}"#),
            Incoming::Unknown { .. }
        ));
    }

    #[test]
    fn an_ack_carries_a_payload_only_when_given_one() {
        assert_eq!(ack("e1", None), r#"{"envelope_id":"e1"}"#);
        let with: serde_json::Value =
            serde_json::from_str(&ack("e2", Some(serde_json::json!({"text": "hi"})))).unwrap();
        assert_eq!(
            with,
            serde_json::json!({"envelope_id": "e2", "payload": {"text": "hi"}})
        );
    }
}
