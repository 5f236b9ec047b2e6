//! The scripted circle the demo replays.

use serde_json::{Value, json};

use super::{Answer, JSON, SignedSender};
use crate::fake_slack::FakeSlack;

pub const TEAM: &str = "T0CIRCLE";
pub const CIRCLE: &str = "C0BEAUTY";
const BOT: &str = "UCIRCLET";

pub enum Step {
    Event {
        what: &'static str,
        envelope: Value,
    },
    Retry {
        what: &'static str,
        envelope: Value,
    },
    Forged {
        what: &'static str,
        envelope: Value,
    },
    Command {
        what: &'static str,
        text: &'static str,
        user: &'static str,
    },
    Interaction {
        what: &'static str,
        payload: Value,
    },
    /// Fills in and submits the capture modal Circlet last opened.
    SubmitModal {
        what: &'static str,
        user: &'static str,
        state: Value,
    },
}

impl Step {
    pub fn describe(&self) -> String {
        let (route, what) = match self {
            Step::Event { what, .. } | Step::Retry { what, .. } | Step::Forged { what, .. } => {
                ("events", what)
            }
            Step::Command { what, .. } => ("commands", what),
            Step::Interaction { what, .. } | Step::SubmitModal { what, .. } => ("interactions", what),
        };
        format!("{route:<13}{what}")
    }

    /// Sends the step; slash commands get the fake's `response_url` for their answers.
    pub async fn send(&self, sender: &SignedSender, fake: &FakeSlack) -> reqwest::Result<Answer> {
        let response_url = fake.response_url("demo");
        let response_url = response_url.as_str();
        match self {
            Step::Event { envelope, .. } => sender.event(envelope).await,
            Step::Retry { envelope, .. } => sender.event_retry(envelope, 1).await,
            Step::Forged { envelope, .. } => {
                let body = envelope.to_string().into_bytes();
                let mut headers = sender.signed_headers(chrono::Utc::now().timestamp(), b"something else");
                headers.remove("content-type");
                sender.post_with("/slack/events", JSON, body, headers, &[]).await
            }
            Step::Command { text, user, .. } => {
                // Slack gives every invocation its own trigger; the inbox keys commands by it.
                let trigger = format!("demo.{}", uuid::Uuid::new_v4().simple());
                sender
                    .command(&[
                        ("team_id", TEAM),
                        ("channel_id", CIRCLE),
                        ("user_id", user),
                        ("command", "/feedback"),
                        ("text", text),
                        ("trigger_id", trigger.as_str()),
                        ("response_url", response_url),
                    ])
                    .await
            }
            Step::Interaction { payload, .. } => sender.interaction(payload).await,
            Step::SubmitModal { user, state, .. } => {
                let opened = fake.calls_to("views.open");
                let view = opened
                    .last()
                    .map(|call| call.params["view"].clone())
                    .unwrap_or_default();
                let submission = json!({
                    "type": "view_submission", "trigger_id": "demo.trigger.3",
                    "team": {"id": TEAM, "domain": "circle"}, "user": {"id": user, "team_id": TEAM},
                    "view": {
                        "id": "V0DEMO", "team_id": TEAM, "type": "modal",
                        "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                        "blocks": view["blocks"], "state": state,
                    },
                    "response_urls": [],
                });
                sender.interaction(&submission).await
            }
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

/// `user` reacts with `emoji` at `at` to the message `ts` by `item_user`.
fn reaction(user: &str, emoji: &str, item_user: &str, ts: &str, at: &str) -> Value {
    json!({
        "type": "reaction_added", "user": user, "reaction": emoji, "item_user": item_user,
        "item": {"type": "message", "channel": CIRCLE, "ts": ts}, "event_ts": at,
    })
}

fn edit(ts: &str, at: &str, text: &str) -> Value {
    json!({
        "type": "message", "subtype": "message_changed", "channel": CIRCLE, "hidden": true,
        "message": {"type": "message", "user": "U0MAYA", "text": text, "ts": ts, "edited": {"user": "U0MAYA", "ts": at}},
        "previous_message": {"type": "message", "user": "U0MAYA", "ts": ts},
        "ts": at, "event_ts": at,
    })
}

fn reply(user: &str, ts: &str, thread_ts: &str, text: &str) -> Value {
    let mut event = message(user, ts, text);
    event["thread_ts"] = json!(thread_ts);
    event["parent_user_id"] = json!("U0MAYA");
    event
}

/// Midnight UTC before the week's first message (2025-11-23).
pub const WEEK_START: crate::clock::Millis = 1_763_856_000_000;

/// Who runs the product team's commands in the demo (CIRCLET_PRODUCT_USERS).
pub const PRODUCT_USER: &str = "U0PM";
const MAYA_IDEA: &str = "1763900100.000100";
const PRIYA_BUG: &str = "1763900200.000100";

/// A week in #beauty-insiders: members share, react, vote, reply and edit; the product team
/// tags, sets a rule and ships Maya's idea, and Circlet closes the loop in her thread.
pub fn week() -> Vec<(&'static str, Vec<Step>)> {
    let bulb = envelope(
        "Ev0DEMO04",
        reaction("U0LEO", "bulb", "U0MAYA", MAYA_IDEA, "1763900300.000100"),
    );
    vec![
        (
            "Monday",
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
                            MAYA_IDEA,
                            "Would love a refillable version of the night cream",
                        ),
                    ),
                },
                Step::Event {
                    what: "Priya: the serum pump jams",
                    envelope: envelope(
                        "Ev0DEMO03",
                        message("U0PRIYA", PRIYA_BUG, "The pump on the serum bottle jams half way"),
                    ),
                },
                Step::Event {
                    what: "Leo reacts :bulb: to Maya (captures it)",
                    envelope: bulb.clone(),
                },
                Step::Retry {
                    what: "Slack retries that delivery (Retry-Num 1)",
                    envelope: bulb,
                },
                Step::Event {
                    what: "Sam reacts :bug: to Priya (captures it)",
                    envelope: envelope(
                        "Ev0DEMO05",
                        reaction("U0SAM", "bug", "U0PRIYA", PRIYA_BUG, "1763900400.000100"),
                    ),
                },
            ],
        ),
        (
            "Tuesday",
            vec![
                Step::Event {
                    what: "Priya votes :+1: on Maya's idea",
                    envelope: envelope(
                        "Ev0DEMO06",
                        reaction("U0PRIYA", "+1", "U0MAYA", MAYA_IDEA, "1763986800.000100"),
                    ),
                },
                Step::Event {
                    what: "Jo votes :+1::skin-tone-3: on it too",
                    envelope: envelope(
                        "Ev0DEMO07",
                        reaction(
                            "U0JO",
                            "+1::skin-tone-3",
                            "U0MAYA",
                            MAYA_IDEA,
                            "1763986900.000100",
                        ),
                    ),
                },
                Step::Event {
                    what: "Maya's own :+1: (an author's vote does not count)",
                    envelope: envelope(
                        "Ev0DEMO08",
                        reaction("U0MAYA", "+1", "U0MAYA", MAYA_IDEA, "1763987000.000100"),
                    ),
                },
                Step::Event {
                    what: "an event type Circlet does not handle",
                    envelope: envelope(
                        "Ev0DEMO09",
                        json!({"type": "link_shared", "channel": CIRCLE, "links": []}),
                    ),
                },
                Step::Forged {
                    what: "a forged request (bad signature)",
                    envelope: envelope("Ev0DEMO10", message("U0EVIL", "1763987100.000100", "spam")),
                },
            ],
        ),
        (
            "Wednesday",
            vec![
                Step::Event {
                    what: "Sam replies in Maya's thread",
                    envelope: envelope(
                        "Ev0DEMO11",
                        reply(
                            "U0SAM",
                            "1764073200.000100",
                            MAYA_IDEA,
                            "Yes! The jar is too pretty to throw away",
                        ),
                    ),
                },
                Step::Event {
                    what: "Maya edits her message",
                    envelope: envelope(
                        "Ev0DEMO12",
                        edit(
                            MAYA_IDEA,
                            "1764073300.000100",
                            "Would love a refillable version of the night cream, with refill pouches",
                        ),
                    ),
                },
            ],
        ),
        (
            "Thursday",
            vec![
                Step::Command {
                    what: "/feedback help",
                    text: "help",
                    user: "U0MAYA",
                },
                Step::Command {
                    what: "/feedback rules add \"refill\" sustainability",
                    text: "rules add \"refill\" sustainability",
                    user: PRODUCT_USER,
                },
                Step::Event {
                    what: "Maya edits again (the new rule tags it)",
                    envelope: envelope(
                        "Ev0DEMO13",
                        edit(
                            MAYA_IDEA,
                            "1764159600.000100",
                            "Would love a refillable version of the night cream, with refill pouches please",
                        ),
                    ),
                },
                Step::Command {
                    what: "/feedback tags",
                    text: "tags",
                    user: PRODUCT_USER,
                },
                Step::Interaction {
                    what: "Capture feedback shortcut on Priya's message",
                    payload: json!({
                        "type": "message_action", "callback_id": "capture_feedback", "trigger_id": "demo.trigger.2",
                        "team": {"id": TEAM, "domain": "circle"}, "user": {"id": "U0CM", "team_id": TEAM},
                        "channel": {"id": CIRCLE, "name": "beauty-insiders"},
                        "message": {"type": "message", "user": "U0PRIYA", "ts": PRIYA_BUG, "text": "The pump on the serum bottle jams half way"},
                        "response_url": "http://127.0.0.1:9/unused",
                    }),
                },
                Step::SubmitModal {
                    what: "…tagged bug, packaging area, negative, Glow & Co",
                    user: "U0CM",
                    state: json!({"values": {
                        "text": {"input": {"type": "plain_text_input", "value": "The pump on the serum bottle jams half way"}},
                        "tags": {"input": {"type": "multi_static_select", "selected_options": [
                            {"text": {"type": "plain_text", "text": "bug"}, "value": "bug"}]}},
                        "product_area": {"input": {"type": "plain_text_input", "value": "packaging"}},
                        "sentiment": {"input": {"type": "static_select", "selected_option":
                            {"text": {"type": "plain_text", "text": "negative"}, "value": "negative"}}},
                        "company": {"input": {"type": "plain_text_input", "value": "Glow & Co"}},
                    }}),
                },
            ],
        ),
        (
            "Friday",
            vec![
                Step::Command {
                    what: "/feedback status 1 shipped",
                    text: "status 1 shipped",
                    user: PRODUCT_USER,
                },
                Step::Command {
                    what: "/feedback circle list",
                    text: "circle list",
                    user: PRODUCT_USER,
                },
            ],
        ),
    ]
}
