//! A customer circle as Slack would show it to Circlet: signed events built on Slack's sample
//! payloads, `/feedback` commands, and reading what capture stored.

use circlet::store::{CircleChange, Insight, MessageRef};
use serde_json::{Value, json};

use super::{TestApp, samples};

pub const TEAM: &str = "T0CIRCLE";
pub const CIRCLE: &str = "C0CIRCLE";
/// The fake Slack's bot user (auth.test).
pub const BOT: &str = "UCIRCLET";

pub async fn make_circle(app: &TestApp, channel: &str) {
    let change = CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0CM")),
        at: 0,
    };
    app.store.set_circle(&change).await.unwrap();
}

fn envelope(sample: &str, event_id: &str) -> Value {
    let mut envelope = samples::json("events", sample);
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!(TEAM);
    // Delivered to the test workspace's installation, which is what attributes an event.
    if let Some(authorization) = envelope["authorizations"].get_mut(0) {
        authorization["team_id"] = json!(TEAM);
        authorization["user_id"] = json!(BOT);
    }
    envelope
}

/// `reaction_added` (or `_removed`) by `user` with `emoji` on the message `ts` by `author`;
/// `at` orders events (seconds).
pub fn reaction(
    added: bool,
    user: &str,
    emoji: &str,
    channel: &str,
    ts: &str,
    author: &str,
    at: u32,
) -> Value {
    let kind = if added {
        "reaction_added"
    } else {
        "reaction_removed"
    };
    let mut event = envelope(
        "reaction_added__boltpy.json",
        &format!("Ev{kind}{user}{emoji}{ts}{at}"),
    );
    event["event"] = json!({
        "type": kind, "user": user, "reaction": emoji, "item_user": author,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": format!("1700000{at:03}.000100"),
    });
    event
}

pub fn message(user: &str, channel: &str, ts: &str, text: &str, thread_ts: Option<&str>) -> Value {
    let mut event = envelope("message_plain__boltpy.json", &format!("Evmsg{channel}{ts}"));
    let inner = &mut event["event"];
    inner["user"] = json!(user);
    // The author's own workspace, as Slack names it on every message.
    inner["team"] = json!(TEAM);
    inner["channel"] = json!(channel);
    inner["ts"] = json!(ts);
    inner["event_ts"] = json!(ts);
    inner["text"] = json!(text);
    inner.as_object_mut().unwrap().remove("blocks");
    if let Some(thread_ts) = thread_ts {
        inner["thread_ts"] = json!(thread_ts);
    }
    event
}

pub fn edit(channel: &str, ts: &str, text: &str, at: u32) -> Value {
    let mut event = envelope("message_changed__boltpy.json", &format!("Evedit{ts}{at}"));
    let inner = &mut event["event"];
    inner["channel"] = json!(channel);
    inner["message"]["text"] = json!(text);
    inner["message"]["ts"] = json!(ts);
    inner["previous_message"]["ts"] = json!(ts);
    let event_ts = format!("1700000{at:03}.000200");
    inner["event_ts"] = json!(event_ts);
    inner["ts"] = json!(event_ts);
    event
}

pub fn delete(channel: &str, ts: &str) -> Value {
    let mut event = envelope("message_deleted__boltpy.json", &format!("Evdel{ts}"));
    let inner = &mut event["event"];
    inner["channel"] = json!(channel);
    inner["deleted_ts"] = json!(ts);
    inner["previous_message"]["ts"] = json!(ts);
    event
}

/// Sends events in order, each acknowledged with 200.
pub async fn send(app: &TestApp, events: &[Value]) {
    for event in events {
        let answer = app.sender.event(event).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

/// Sends events and runs the inbox (follow-up tasks included) until it is empty.
pub async fn deliver(app: &TestApp, events: &[Value]) {
    send(app, events).await;
    app.worker.drain().await.unwrap();
}

/// A captured insight with what hangs off it.
#[derive(Debug)]
pub struct Captured {
    pub insight: Insight,
    pub tags: Vec<String>,
    pub voters: Vec<String>,
    pub replies: Vec<String>,
    pub revisions: Vec<String>,
}

pub async fn captured(app: &TestApp, channel: &str, ts: &str) -> Option<Captured> {
    let mut tx = app.store.begin().await.unwrap();
    let at = MessageRef {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
        ts,
    };
    let insight = tx.insight_by_message(at).await.unwrap()?;
    Some(Captured {
        tags: tx.tags(insight.id).await.unwrap(),
        voters: tx
            .voters(insight.id)
            .await
            .unwrap()
            .into_iter()
            .map(circlet::ids::UserId::into_string)
            .collect(),
        replies: tx
            .replies(insight.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.text)
            .collect(),
        revisions: tx.revisions(insight.id).await.unwrap(),
        insight,
    })
}

/// Runs `/feedback {text}` as `user` in the test workspace; returns the ephemeral answer.
pub async fn feedback(app: &TestApp, user: &str, text: &str) -> String {
    feedback_in(app, TEAM, user, text).await
}

/// Runs `/feedback {text}` as `user` in workspace `team`: checks the immediate "working on it"
/// acknowledgement, runs the inbox, and returns the ephemeral answer sent to its response_url.
pub async fn feedback_in(app: &TestApp, team: &str, user: &str, text: &str) -> String {
    feedback_form(app, &[("team_id", team)], user, text).await
}

/// Runs `/feedback {text}` as `user` with the form fields `installation` names it by
/// (`team_id`, and for an org-wide install `enterprise_id` and `is_enterprise_install`), as
/// [`feedback_in`] does.
pub async fn feedback_form(app: &TestApp, installation: &[(&str, &str)], user: &str, text: &str) -> String {
    let reply = feedback_reply(app, installation, user, text).await;
    reply["text"].as_str().unwrap().to_owned()
}

/// Like [`feedback_form`], the whole ephemeral answer (its blocks too).
pub async fn feedback_reply(app: &TestApp, installation: &[(&str, &str)], user: &str, text: &str) -> Value {
    let response_id = uuid::Uuid::new_v4().simple().to_string();
    let response_url = app.fake.response_url(&response_id);
    let trigger = uuid::Uuid::new_v4().to_string();
    let mut form = installation.to_vec();
    form.extend([
        ("channel_id", "C0OPS"),
        ("user_id", user),
        ("command", "/feedback"),
        ("text", text),
        ("response_url", response_url.as_str()),
        ("trigger_id", trigger.as_str()),
    ]);
    let answer = app.sender.command(&form).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.json()["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Working on it"),
        "{}",
        answer.body
    );
    app.worker.drain().await.unwrap();
    let reply = answered(app, &response_id).unwrap_or_else(|| panic!("no answer to `/feedback {text}`"));
    assert_eq!(reply["response_type"], "ephemeral");
    reply
}

/// What was posted to the response URL `response_id`, if anything.
pub fn answered(app: &TestApp, response_id: &str) -> Option<Value> {
    app.fake
        .calls_to("response_url")
        .into_iter()
        .rev()
        .find(|call| call.params["response_id"] == response_id)
        .map(|call| call.params)
}

/// Clicks a button with `action_id` and `value` as `user`; returns what was answered through
/// the payload's response URL (None when the payload has none or nothing was answered).
pub async fn click(
    app: &TestApp,
    user: &str,
    action_id: &str,
    value: &str,
    with_response_url: bool,
) -> Option<Value> {
    let response_id = uuid::Uuid::new_v4().simple().to_string();
    let mut payload = json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "circle"},
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0CIRCLET",
        "trigger_id": uuid::Uuid::new_v4().to_string(),
        "container": {"type": "message", "message_ts": "1700009999.000100", "channel_id": "C0OPS", "is_ephemeral": false},
        "channel": {"id": "C0OPS", "name": "product"},
        "actions": [{
            "action_id": action_id, "block_id": "triage", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Shipped"}, "action_ts": "1700009999.123456",
        }],
    });
    if with_response_url {
        payload["response_url"] = json!(app.fake.response_url(&response_id));
    }
    let answer = app.sender.interaction(&payload).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.worker.drain().await.unwrap();
    answered(app, &response_id)
}
