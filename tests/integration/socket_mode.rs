//! Socket Mode (ARCHITECTURE §11): envelopes from a fake Socket Mode server take the HTTP path's
//! intake, are stored before their ack, are acknowledged once however often Slack redelivers
//! them, and connections are replaced when Slack asks, when they close and when Slack stops
//! answering pings.

use std::time::{Duration, Instant};

use circlet::inbox::{InboxKind, InboxState};
use circlet_testkit::fake_slack::{DEFAULT_TEAM_ID, Fault};
use circlet_testkit::fake_socket_mode::{
    Ack, DisconnectReason, FakeSocketMode, envelope_id, events_api, interactive, redelivery, slash_commands,
};
use serde_json::{Value, json};

use crate::helpers::{Backend, SECRET, TestApp, TestDb, samples};
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(10);

fn reaction_event(event_id: &str) -> Value {
    let mut envelope = samples::json("events", "reaction_added__boltpy.json");
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!(DEFAULT_TEAM_ID);
    envelope
}

async fn socket_app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db).socket_mode().start().await;
    let open = socket(&app).wait_for_open_connections(2, WAIT).await;
    assert_eq!(
        open, 2,
        "the app opens CIRCLET_SOCKET_CONNECTIONS (default 2) connections"
    );
    app
}

fn socket(app: &TestApp) -> &FakeSocketMode {
    app.socket.as_ref().expect("a Socket Mode app")
}

/// The ack of `envelope`, waiting up to `limit` for it.
async fn ack_of(socket: &FakeSocketMode, envelope: &Value, limit: Duration) -> Option<Ack> {
    let id = envelope_id(envelope);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(ack) = socket.acks().into_iter().find(|ack| ack.envelope_id == id) {
            return Some(ack);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn inbox_len(app: &TestApp) -> usize {
    app.store.list_inbox(None, 100_000).await.unwrap().len()
}

on_both_backends! {
    async fn an_envelope_is_stored_before_its_ack_and_a_redelivery_is_stored_once(db: TestDb) {
        let app = socket_app(db).await;
        let socket = socket(&app);
        let event = reaction_event("Ev0SOCKET1");
        let envelope = events_api(event.clone());
        let first = socket.send(envelope.clone()).unwrap();
        let ack = ack_of(socket, &envelope, WAIT).await.expect("acked");
        assert_eq!(ack.payload, None, "an event's ack carries nothing");
        assert_eq!(ack.connection, first);
        // Checked right after the ack: the row was committed before Slack heard of it.
        let row = app.store.find_inbox_by_event_id("Ev0SOCKET1").await.unwrap().expect("stored");
        assert_eq!((row.kind, row.state), (InboxKind::Event, InboxState::Pending));
        assert_eq!(row.team_id, DEFAULT_TEAM_ID);
        assert_eq!(serde_json::from_str::<Value>(&row.payload).unwrap(), event);

        // Slack redelivers on the other connection, under a new envelope id.
        let again = redelivery(&envelope, "timeout");
        let other = socket.open_connection_indexes().into_iter().find(|c| *c != first).unwrap();
        socket.send_to(other, again.clone()).unwrap();
        let second = ack_of(socket, &again, WAIT).await.expect("the redelivery is acked too");
        assert_eq!(second.connection, other);
        assert_eq!(inbox_len(&app).await, 1, "stored once");

        let metrics = app.metrics().await;
        assert!(metrics.contains("circlet_socket_connections 2"), "{metrics}");
        assert!(
            metrics.contains(r#"circlet_socket_envelopes_total{envelope_type="events_api",outcome="acked"} 2"#),
            "{metrics}"
        );
        assert!(metrics.contains(r#"circlet_inbox_writes_total{reason="duplicate"} 1"#), "{metrics}");
        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["socket_connections"], 2);
    }
}

on_both_backends! {
    async fn an_envelope_that_cannot_be_stored_is_not_acknowledged(db: TestDb) {
        let app = socket_app(db).await;
        let socket = socket(&app);
        match app.db.backend {
            Backend::Postgres => app.db.take_down_postgres().await,
            Backend::Sqlite => app.store.close().await,
        }
        let envelope = events_api(reaction_event("Ev0SOCKDOWN"));
        socket.send(envelope.clone()).unwrap();
        assert!(
            ack_of(socket, &envelope, Duration::from_secs(2)).await.is_none(),
            "no ack: Slack redelivers it"
        );
        let metrics = app.metrics().await;
        assert!(
            metrics.contains(r#"circlet_socket_envelopes_total{envelope_type="events_api",outcome="unstored"} 1"#),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_envelope_is_acknowledged_so_slack_stops_redelivering_it() {
    let app = socket_app(TestDb::sqlite()).await;
    let socket = socket(&app);
    let broken = events_api(json!({"type": "event_callback", "team_id": DEFAULT_TEAM_ID}));
    socket.send(broken.clone()).unwrap();
    assert!(ack_of(socket, &broken, WAIT).await.is_some());
    // Frames Circlet does not know are ignored; the connection carries on.
    socket
        .send(json!({"type": "something_new", "envelope_id": "x"}))
        .unwrap();
    socket.send(json!("not an object")).unwrap();
    let fine = events_api(reaction_event("Ev0AFTER"));
    socket.send(fine.clone()).unwrap();
    socket.send(fine.clone()).unwrap();
    assert!(ack_of(socket, &fine, WAIT).await.is_some());
    assert_eq!(inbox_len(&app).await, 1);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains(r#"circlet_socket_envelopes_total{envelope_type="events_api",outcome="malformed"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_slash_command_answers_in_its_ack_and_is_queued_as_the_form_http_would_post() {
    let app = socket_app(TestDb::sqlite()).await;
    let socket = socket(&app);
    let fields = |text: &'static str, trigger: &'static str| {
        slash_commands(&[
            ("team_id", DEFAULT_TEAM_ID),
            ("user_id", "U0PM"),
            ("channel_id", "C0CIRCLE"),
            ("command", "/feedback"),
            ("text", text),
            ("trigger_id", trigger),
            ("response_url", "http://127.0.0.1:9/response"),
        ])
    };
    let help = fields("help", "13345224609.738474920.8088930838d88f008e0");
    socket.send(help.clone()).unwrap();
    let answer = ack_of(socket, &help, WAIT)
        .await
        .expect("acked")
        .payload
        .expect("an answer");
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"].as_str().unwrap().contains("/feedback report"),
        "{answer}"
    );
    assert_eq!(inbox_len(&app).await, 0, "help is answered at once");

    let report = fields("report", "13345224609.738474920.8088930838d88f008e1");
    socket.send(report.clone()).unwrap();
    let answer = ack_of(socket, &report, WAIT)
        .await
        .expect("acked")
        .payload
        .expect("an answer");
    assert!(
        answer["text"].as_str().unwrap().contains("Working on it"),
        "{answer}"
    );
    let rows = app.store.list_inbox(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].kind, rows[0].event_type.as_str()),
        (InboxKind::Command, "report")
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&rows[0].payload).unwrap();
    assert!(form.contains(&("command".into(), "/feedback".into())), "{form:?}");
    assert!(form.contains(&("text".into(), "report".into())), "{form:?}");
    // Redelivered, the same command is queued once.
    let again = redelivery(&report, "timeout");
    socket.send(again.clone()).unwrap();
    assert!(ack_of(socket, &again, WAIT).await.is_some());
    assert_eq!(inbox_len(&app).await, 1);
}

#[tokio::test]
async fn a_modal_refused_inline_answers_in_its_ack_and_stores_nothing() {
    let app = TestApp::builder(TestDb::sqlite()).socket_mode().start().await;
    let socket = socket(&app);
    assert_eq!(socket.wait_for_open_connections(2, WAIT).await, 2);
    crate::helpers::circle::make_circle(&app, "C0CIRCLE").await;
    let shortcut = interactive(
        json!({
            "type": "message_action", "callback_id": "capture_feedback", "trigger_id": "1.2.socket",
            "action_ts": "1763900300.000001",
            "team": {"id": DEFAULT_TEAM_ID, "domain": "circle"}, "user": {"id": "U0CM", "team_id": DEFAULT_TEAM_ID},
            "channel": {"id": "C0CIRCLE", "name": "beauty-insiders"},
            "message_ts": "1763900200.000100",
            "message": {"type": "message", "user": "U0PRIYA", "ts": "1763900200.000100", "text": "The pump jams"},
            "response_url": app.fake.response_url("1.2.socket"),
        }),
        false,
    );
    socket.send(shortcut.clone()).unwrap();
    assert_eq!(
        ack_of(socket, &shortcut, WAIT).await.expect("acked").payload,
        None
    );
    app.worker.drain().await.unwrap();
    let opened = app.fake.calls_to("views.open");
    let view: Value = match &opened.last().expect("the form opened").params["view"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        view => view.clone(),
    };
    let rows = inbox_len(&app).await;

    let empty = interactive(
        json!({
            "type": "view_submission", "trigger_id": "1.3.socket",
            "team": {"id": DEFAULT_TEAM_ID, "domain": "circle"},
            "user": {"id": "U0CM", "team_id": DEFAULT_TEAM_ID},
            "view": {
                "id": "V0FORM", "team_id": DEFAULT_TEAM_ID, "type": "modal",
                "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                "blocks": view["blocks"],
                "state": {"values": {"text": {"input": {"type": "plain_text_input", "value": "  "}}}},
            },
        }),
        true,
    );
    socket.send(empty.clone()).unwrap();
    let answer = ack_of(socket, &empty, WAIT)
        .await
        .expect("acked")
        .payload
        .expect("inline errors");
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(
        answer["errors"]["text"]
            .as_str()
            .unwrap()
            .contains("can't be empty"),
        "{answer}"
    );
    assert_eq!(inbox_len(&app).await, rows, "a refused form is not stored");
}

#[tokio::test]
async fn without_a_signing_secret_the_http_slack_routes_are_not_served() {
    let app = socket_app(TestDb::sqlite()).await;
    let answer = app.sender.event(&reaction_event("Ev0HTTP")).await.unwrap();
    assert_eq!(answer.status, 404);
    assert_eq!(app.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn with_a_signing_secret_http_keeps_working_beside_the_sockets() {
    let app = TestApp::builder(TestDb::sqlite())
        .socket_mode()
        .env("SLACK_SIGNING_SECRET", SECRET)
        .start()
        .await;
    let socket = socket(&app);
    assert_eq!(socket.wait_for_open_connections(2, WAIT).await, 2);
    assert_eq!(
        app.sender.event(&reaction_event("Ev0BOTH")).await.unwrap().status,
        200
    );
    let envelope = events_api(reaction_event("Ev0BOTH"));
    socket.send(envelope.clone()).unwrap();
    assert!(ack_of(socket, &envelope, WAIT).await.is_some());
    assert_eq!(
        inbox_len(&app).await,
        1,
        "the same event over both paths is stored once"
    );
}

#[tokio::test]
async fn slack_refreshing_a_connection_gets_its_replacement_open_before_it_closes() {
    for reason in [DisconnectReason::RefreshRequested, DisconnectReason::Warning] {
        let app = socket_app(TestDb::sqlite()).await;
        let socket = socket(&app);
        let [old, _] = socket.open_connection_indexes()[..] else {
            panic!("two connections")
        };
        socket.disconnect(old, reason, Duration::from_secs(8)).unwrap();
        // Circlet closes the old one itself once the new one said hello, long before Slack would.
        assert!(
            socket.wait_for_close(old, Duration::from_secs(5)).await,
            "{reason:?}: old closed"
        );
        assert_eq!(socket.connects(), 3, "{reason:?}: one replacement");
        assert_eq!(
            socket.open_connections(),
            2,
            "{reason:?}: never fewer than before"
        );
        assert_eq!(app.fake.calls_to("apps.connections.open").len(), 3);
        let metrics = app.metrics().await;
        let label = format!(
            r#"circlet_socket_reconnects_total{{reason="{}"}} 1"#,
            reason.as_str()
        );
        assert!(metrics.contains(&label), "{metrics}");
    }
}

#[tokio::test]
async fn a_cut_or_silent_connection_is_replaced() {
    let app = socket_app(TestDb::sqlite()).await;
    let socket = socket(&app);
    let [first, second] = socket.open_connection_indexes()[..] else {
        panic!("two connections")
    };
    socket.drop_connection(first).unwrap();
    assert_eq!(
        socket.wait_for_connects(3, WAIT).await,
        3,
        "reconnected after a cut"
    );
    assert_eq!(socket.wait_for_open_connections(2, WAIT).await, 2);

    socket.stop_answering_pings(second).unwrap();
    assert!(
        socket.wait_for_close(second, WAIT).await,
        "a connection whose pings go unanswered is closed"
    );
    assert_eq!(socket.wait_for_connects(4, WAIT).await, 4);
    assert_eq!(socket.wait_for_open_connections(2, WAIT).await, 2);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"circlet_socket_reconnects_total{reason="closed"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"circlet_socket_reconnects_total{reason="missed_pong"} 1"#),
        "{metrics}"
    );
    let envelope = events_api(reaction_event("Ev0STILL"));
    socket.send(envelope.clone()).unwrap();
    assert!(ack_of(socket, &envelope, WAIT).await.is_some());
}

#[tokio::test]
async fn readiness_waits_for_a_connection_and_failures_to_open_back_off() {
    let app = TestApp::builder(TestDb::sqlite())
        .socket_mode()
        .env("CIRCLET_SOCKET_CONNECTIONS", "1")
        .fault_from_start("apps.connections.open", Fault::ServerError, 3)
        .fault_from_start(
            "apps.connections.open",
            Fault::RateLimited { retry_after_secs: 1 },
            1,
        )
        .start()
        .await;
    let socket = socket(&app);
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["socket_mode"],
        "no connection open"
    );
    assert_eq!(socket.wait_for_open_connections(1, WAIT).await, 1);
    assert_eq!(app.get("/readyz").await.0, 200);
    let calls = app.fake.calls_to("apps.connections.open");
    assert_eq!(calls.len(), 5, "three failures, one rate limit, then a URL");
    let waited = calls[4].at.duration_since(calls[3].at);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After is honoured: {waited:?}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"circlet_socket_reconnects_total{reason="open_failed"} 4"#),
        "{metrics}"
    );
    assert!(metrics.contains("circlet_socket_connections 1"), "{metrics}");
    // The app-level token went in the header, never in the body.
    assert_eq!(calls[4].token.as_deref(), Some(crate::helpers::APP_TOKEN));
}

on_both_backends! {
    async fn a_connection_cut_mid_burst_loses_nothing(db: TestDb) {
        let app = socket_app(db).await;
        let socket = socket(&app);
        let envelopes: Vec<Value> = (0..600).map(|n| events_api(reaction_event(&format!("Ev{n:07}")))).collect();
        for (n, envelope) in envelopes.iter().enumerate() {
            if n == 300 {
                let open = socket.open_connection_indexes();
                socket.drop_connection(open[0]).unwrap();
            }
            // A delivery to the connection just cut is lost on the wire: Slack sees no ack.
            let _ = socket.send(envelope.clone());
        }
        // What got no ack, Slack delivers again, on whichever connection is open.
        assert_eq!(socket.wait_for_open_connections(2, WAIT).await, 2);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let acked: std::collections::HashSet<String> = socket.acks().into_iter().map(|a| a.envelope_id).collect();
        for envelope in envelopes.iter().filter(|e| !acked.contains(envelope_id(e))) {
            socket.send(redelivery(envelope, "timeout")).unwrap();
        }
        let total = acked.len() + envelopes.iter().filter(|e| !acked.contains(envelope_id(e))).count();
        assert_eq!(socket.wait_for_acks(total, WAIT).await.len(), total);
        let rows = app.store.list_inbox(None, 100_000).await.unwrap();
        let mut ids: Vec<&str> = rows.iter().map(|row| row.event_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((rows.len(), ids.len()), (600, 600), "every event stored, once");
    }
}
