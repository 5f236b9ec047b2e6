//! Envelopes as Slack sends them over Socket Mode (SLACK.md §9): the HTTP body (events), the
//! decoded `payload` form field (interactivity) or the form's fields (slash commands), wrapped with
//! an `envelope_id` the client acks.

use serde_json::{Map, Value, json};

/// An Events API envelope: `payload` is the whole `event_callback` body Slack would have POSTed.
pub fn events_api(payload: Value) -> Value {
    envelope("events_api", payload, false)
}

/// An interactivity envelope: `payload` is the JSON Slack would have sent as the `payload` form
/// field. Slack sets `accepts_response_payload` where an answer can travel in the ack (a
/// `view_submission`'s `response_action`, a `block_suggestion`'s options).
pub fn interactive(payload: Value, accepts_response_payload: bool) -> Value {
    envelope("interactive", payload, accepts_response_payload)
}

/// A slash-command envelope: the payload is the command's form fields, every value a string.
/// The ack may carry the command's immediate answer, so `accepts_response_payload` is true.
pub fn slash_commands(fields: &[(&str, &str)]) -> Value {
    let payload: Map<String, Value> = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::String((*value).to_owned())))
        .collect();
    envelope("slash_commands", Value::Object(payload), true)
}

/// Slack delivering `envelope` again because it was not acked in time: the same payload under a
/// new `envelope_id`, one more `retry_attempt`, and `retry_reason` (Slack says e.g. `"timeout"`).
pub fn redelivery(envelope: &Value, retry_reason: &str) -> Value {
    let mut again = envelope.clone();
    let attempt = envelope["retry_attempt"].as_u64().unwrap_or(0) + 1;
    if let Some(fields) = again.as_object_mut() {
        fields.insert("envelope_id".into(), new_envelope_id().into());
        fields.insert("retry_attempt".into(), attempt.into());
        fields.insert("retry_reason".into(), retry_reason.into());
    }
    again
}

/// The `envelope_id` of an envelope built here (empty for anything else).
pub fn envelope_id(envelope: &Value) -> &str {
    envelope["envelope_id"].as_str().unwrap_or_default()
}

fn envelope(kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
    json!({
        "envelope_id": new_envelope_id(),
        "payload": payload,
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
        "retry_attempt": 0,
        "retry_reason": "",
    })
}

/// Slack's envelope ids are UUIDs.
fn new_envelope_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
