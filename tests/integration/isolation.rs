//! Workspace isolation through the real signed endpoints: Circlet serves the workspace its bot
//! token belongs to (auth.test), and requests or stored rows for any other are ignored without
//! reading or writing anything of the installed workspace.

use circlet::inbox::{InboxKind, NewInboxItem};
use serde_json::{Value, json};

use crate::helpers::circle::{CIRCLE, TEAM, captured, feedback_in, make_circle, message, reaction, send};
use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const OTHER: &str = "T0OTHER";
const IDEA: &str = "1700000000.000100";

async fn installed_app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    // What serve does at start: learn the installed workspace before requests arrive.
    let identity = app.bot_identity().await;
    assert_eq!(identity.team_id, TEAM);
    app
}

fn from(team: &str, mut event: Value) -> Value {
    event["team_id"] = json!(team);
    event
}

fn shortcut(team: &str) -> Value {
    json!({
        "type": "message_action", "callback_id": "capture_feedback", "trigger_id": format!("trig-{team}"),
        "team": {"id": team, "domain": "elsewhere"}, "user": {"id": "U0PM", "team_id": team},
        "channel": {"id": CIRCLE}, "message": {"ts": IDEA, "text": "Travel size?", "user": "U0MAYA"},
        "response_url": "http://127.0.0.1:9/never",
    })
}

fn foreign_count(metrics: &str, stopped_at: &str) -> u64 {
    sample(
        metrics,
        &format!("circlet_foreign_team_total{{reason=\"{stopped_at}\"}}"),
    )
    .unwrap_or(0)
}

on_both_backends! {
    async fn another_workspaces_events_commands_and_interactions_are_ignored(db: TestDb) {
        let app = installed_app(db).await;
        let post = message("U0MAYA", CIRCLE, IDEA, "Travel size?", None);
        let bulb = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1);
        // The same channel and message ids, but signed requests from another workspace.
        let mut foreign_post = from(OTHER, post.clone());
        foreign_post["event_id"] = json!("EvForeignPost");
        let mut foreign_bulb = from(OTHER, bulb.clone());
        foreign_bulb["event_id"] = json!("EvForeignBulb");
        send(&app, &[foreign_post, foreign_bulb]).await;

        let refused = app.sender.command(&[
            ("team_id", OTHER), ("user_id", "U0PM"), ("command", "/feedback"), ("text", "circle list"),
            ("response_url", "http://127.0.0.1:9/never"), ("trigger_id", "trig-cmd"),
        ]).await.unwrap();
        assert_eq!(refused.status, 200);
        assert_eq!(refused.json()["response_type"], "ephemeral");
        assert!(refused.json()["text"].as_str().unwrap().contains("not installed in this workspace"), "{}", refused.body);

        let action = app.sender.interaction(&shortcut(OTHER)).await.unwrap();
        assert_eq!((action.status, action.body.as_str()), (200, ""));

        // Nothing was stored for them, so no worker reads anything on their behalf.
        assert!(app.store.list_inbox(None, 100).await.unwrap().is_empty(), "a foreign request was stored");
        app.worker.drain().await.unwrap();
        assert!(captured(&app, CIRCLE, IDEA).await.is_none());
        for method in ["reactions.add", "conversations.history", "views.open", "response_url"] {
            assert!(app.fake.calls_to(method).is_empty(), "{method} was called for another workspace");
        }
        let metrics = app.metrics().await;
        assert_eq!(
            (foreign_count(&metrics, "events"), foreign_count(&metrics, "commands"), foreign_count(&metrics, "interactions")),
            (2, 1, 1),
            "{metrics}"
        );

        // The installed workspace's own requests still work: the same events capture.
        send(&app, &[post, bulb]).await;
        app.worker.drain().await.unwrap();
        assert_eq!(captured(&app, CIRCLE, IDEA).await.expect("captured").tags, ["idea"]);
        let answer = feedback_in(&app, TEAM, "U0PM", "circle list").await;
        assert!(answer.contains(CIRCLE), "{answer}");
    }
}

#[tokio::test]
async fn a_foreign_row_stored_before_the_workspace_was_known_is_dropped_unread() {
    let app = installed_app(TestDb::sqlite()).await;
    // As if ingress stored these before auth.test had answered: one row per kind.
    let post = from(OTHER, message("U0MAYA", CIRCLE, IDEA, "Travel size?", None));
    let bulb = from(OTHER, reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1));
    let command = serde_urlencoded::to_string([
        ("team_id", OTHER),
        ("user_id", "U0PM"),
        ("command", "/feedback"),
        ("text", "circle add C0STOLEN"),
        ("response_url", "http://127.0.0.1:9/never"),
    ])
    .unwrap();
    let rows = [
        (InboxKind::Event, "message", post.to_string()),
        (InboxKind::Event, "reaction_added", bulb.to_string()),
        (InboxKind::Command, "circle", command),
        (
            InboxKind::Interaction,
            "message_action",
            shortcut(OTHER).to_string(),
        ),
    ];
    let items: Vec<NewInboxItem> = rows
        .into_iter()
        .enumerate()
        .map(|(n, (kind, event_type, payload))| NewInboxItem {
            team_id: OTHER.into(),
            event_id: format!("EvEarly{n}"),
            kind,
            event_type: event_type.into(),
            payload,
            received_at: 1,
        })
        .collect();
    app.store.insert_inbox(&items).await.unwrap();

    assert_eq!(app.worker.drain().await.unwrap(), 4);
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!((counts.done, counts.dead, counts.pending), (4, 0, 0));
    let mut tx = app.store.begin().await.unwrap();
    for team in [TEAM, OTHER] {
        let at = circlet::store::MessageRef {
            team_id: crate::helpers::ids::team(team),
            channel_id: crate::helpers::ids::channel(CIRCLE),
            ts: IDEA,
        };
        assert!(tx.insight_by_message(at).await.unwrap().is_none(), "{team}");
        assert!(tx.message(at).await.unwrap().is_none(), "{team}: message cached");
    }
    drop(tx);
    assert!(
        !app.store
            .is_circle(
                crate::helpers::ids::team(OTHER),
                crate::helpers::ids::channel("C0STOLEN")
            )
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .is_circle(
                crate::helpers::ids::team(TEAM),
                crate::helpers::ids::channel("C0STOLEN")
            )
            .await
            .unwrap()
    );
    for method in ["reactions.add", "views.open", "response_url", "users.info"] {
        assert!(
            app.fake.calls_to(method).is_empty(),
            "{method} was called for another workspace"
        );
    }
    assert_eq!(foreign_count(&app.metrics().await, "inbox"), 4);
}
