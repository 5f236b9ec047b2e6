//! The scripted circle the demo replays.

use serde_json::{Value, json};

use super::{Answer, JSON, SignedSender};

const TEAM: &str = "T0CIRCLE";
const CIRCLE: &str = "C0BEAUTY";
const BOT: &str = "UCIRCLET";

pub enum Step {
    Event { what: &'static str, envelope: Value },
    Retry { what: &'static str, envelope: Value },
    Forged { what: &'static str, envelope: Value },
    Command { what: &'static str, text: &'static str },
    Interaction { what: &'static str, payload: Value },
}

impl Step {
    pub fn describe(&self) -> String {
        let (route, what) = match self {
            Step::Event { what, .. } | Step::Retry { what, .. } | Step::Forged { what, .. } => {
                ("events", what)
            }
            Step::Command { what, .. } => ("commands", what),
            Step::Interaction { what, .. } => ("interactions", what),
        };
        format!("{route:<13}{what}")
    }

    pub async fn send(&self, sender: &SignedSender) -> reqwest::Result<Answer> {
        match self {
            Step::Event { envelope, .. } => sender.event(envelope).await,
            Step::Retry { envelope, .. } => sender.event_retry(envelope, 1).await,
            Step::Forged { envelope, .. } => {
                let body = envelope.to_string().into_bytes();
                let mut headers = sender.signed_headers(chrono::Utc::now().timestamp(), b"something else");
                headers.remove("content-type");
                sender.post_with("/slack/events", JSON, body, headers, &[]).await
            }
            Step::Command { text, .. } => {
                sender
                    .command(&[
                        ("team_id", TEAM),
                        ("channel_id", CIRCLE),
                        ("user_id", "U0MAYA"),
                        ("command", "/feedback"),
                        ("text", text),
                        ("trigger_id", "demo.trigger.1"),
                        ("response_url", "http://127.0.0.1:9/unused"),
                    ])
                    .await
            }
            Step::Interaction { payload, .. } => sender.interaction(payload).await,
        }
    }
}

fn envelope(event_id: &str, event: Value) -> Value {
    json!({
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0CIRCLET",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_763_900_000,
        "authorizations": [{"team_id": TEAM, "user_id": BOT, "is_bot": true}],
    })
}

fn message(user: &str, ts: &str, text: &str) -> Value {
    json!({"type": "message", "channel": CIRCLE, "channel_type": "channel", "user": user, "text": text, "ts": ts, "event_ts": ts})
}

fn reaction(user: &str, emoji: &str, item_user: &str, ts: &str) -> Value {
    json!({
        "type": "reaction_added", "user": user, "reaction": emoji, "item_user": item_user,
        "item": {"type": "message", "channel": CIRCLE, "ts": ts}, "event_ts": ts,
    })
}

pub fn morning() -> Vec<Step> {
    let bulb = envelope(
        "Ev0DEMO04",
        reaction("U0LEO", "bulb", "U0MAYA", "1763900100.000100"),
    );
    vec![
        Step::Event {
            what: "url_verification (Slack checks the URL)",
            envelope: json!({"token": "unused", "challenge": "demo-challenge-3eZbrw", "type": "url_verification"}),
        },
        Step::Event {
            what: "Circlet is invited to #beauty-insiders",
            envelope: envelope(
                "Ev0DEMO01",
                json!({"type": "member_joined_channel", "user": BOT, "channel": CIRCLE, "channel_type": "C", "team": TEAM, "inviter": "U0CM"}),
            ),
        },
        Step::Event {
            what: "Maya: refillable night cream?",
            envelope: envelope(
                "Ev0DEMO02",
                message(
                    "U0MAYA",
                    "1763900100.000100",
                    "Would love a refillable version of the night cream",
                ),
            ),
        },
        Step::Event {
            what: "Priya: the serum pump jams",
            envelope: envelope(
                "Ev0DEMO03",
                message(
                    "U0PRIYA",
                    "1763900200.000100",
                    "The pump on the serum bottle jams half way",
                ),
            ),
        },
        Step::Event {
            what: "Leo reacts :bulb: to Maya",
            envelope: bulb.clone(),
        },
        Step::Retry {
            what: "Slack retries that delivery (Retry-Num 1)",
            envelope: bulb,
        },
        Step::Event {
            what: "Sam reacts :bug: to Priya",
            envelope: envelope(
                "Ev0DEMO05",
                reaction("U0SAM", "bug", "U0PRIYA", "1763900200.000100"),
            ),
        },
        Step::Event {
            what: "Priya votes :+1: on Maya's idea",
            envelope: envelope(
                "Ev0DEMO06",
                reaction("U0PRIYA", "+1", "U0MAYA", "1763900100.000100"),
            ),
        },
        Step::Event {
            what: "an event type Circlet does not handle",
            envelope: envelope(
                "Ev0DEMO07",
                json!({"type": "link_shared", "channel": CIRCLE, "links": []}),
            ),
        },
        Step::Forged {
            what: "a forged request (bad signature)",
            envelope: envelope("Ev0DEMO08", message("U0EVIL", "1763900300.000100", "spam")),
        },
        Step::Command {
            what: "/feedback help",
            text: "help",
        },
        Step::Interaction {
            what: "Capture feedback shortcut on Priya's message",
            payload: json!({
                "type": "message_action", "callback_id": "capture_feedback", "trigger_id": "demo.trigger.2",
                "team": {"id": TEAM, "domain": "circle"}, "user": {"id": "U0CM", "team_id": TEAM},
                "channel": {"id": CIRCLE, "name": "beauty-insiders"},
                "message": {"type": "message", "user": "U0PRIYA", "ts": "1763900200.000100", "text": "The pump on the serum bottle jams half way"},
                "response_url": "http://127.0.0.1:9/unused",
            }),
        },
    ]
}
