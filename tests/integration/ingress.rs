//! The request boundary: signatures, size caps, content types, persistence before the 200,
//! deduplication of Slack's retries, and the answers for every kind of bad input.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use circlet::inbox::{HandlerError, HandlerRegistry, InboxHandler, InboxKind, InboxState, Job};
use circlet::slack::SlackApi;
use circlet_testkit::sender::{FORM, JSON};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, samples};
use crate::on_both_backends;

fn reaction_event(event_id: &str) -> Value {
    let mut envelope = samples::json("events", "reaction_added__boltpy.json");
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!(circlet_testkit::fake_slack::DEFAULT_TEAM_ID);
    envelope
}

async fn inbox_len(app: &TestApp) -> usize {
    app.store.list_inbox(None, 10_000).await.unwrap().len()
}

on_both_backends! {
    async fn a_signed_event_is_stored_before_the_200_and_a_retry_stores_nothing_new(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let envelope = reaction_event("Ev0STORED1");

        let answer = app.sender.event(&envelope).await.unwrap();
        assert_eq!(answer.status, 200);
        // Checked right after the answer: the row was committed before Slack heard 200.
        let row = app.store.find_inbox_by_event_id("Ev0STORED1").await.unwrap().expect("stored");
        assert_eq!(row.team_id, circlet_testkit::fake_slack::DEFAULT_TEAM_ID);
        assert_eq!(row.kind, InboxKind::Event);
        assert_eq!(row.event_type, "reaction_added");
        assert_eq!(row.state, InboxState::Pending);
        assert_eq!(row.attempts, 0);
        assert_eq!(serde_json::from_str::<Value>(&row.payload).unwrap(), envelope);

        for retry in 1..=3 {
            let again = app.sender.event_retry(&envelope, retry).await.unwrap();
            assert_eq!(again.status, 200, "retry {retry}");
        }
        assert_eq!(inbox_len(&app).await, 1);
        assert!(app.metrics().await.contains("circlet_inbox_writes_total{reason=\"duplicate\"} 3"));
    }
}

on_both_backends! {
    async fn concurrent_duplicates_are_stored_once(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let envelope = reaction_event("Ev0RACE");
        let sends = (0..20).map(|_| app.sender.event(&envelope));
        for answer in futures_util::future::join_all(sends).await {
            assert_eq!(answer.unwrap().status, 200);
        }
        assert_eq!(inbox_len(&app).await, 1);
    }
}

on_both_backends! {
    async fn the_database_going_down_answers_503_so_slack_retries(db: TestDb) {
        let app = TestApp::spawn(db).await;
        assert_eq!(app.get("/readyz").await.0, 200);
        match app.db.backend {
            Backend::Postgres => app.db.take_down_postgres().await,
            Backend::Sqlite => app.store.close().await,
        }
        let answer = app.sender.event(&reaction_event("Ev0DOWN")).await.unwrap();
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(app.get("/readyz").await.0, 503);
    }
}

#[tokio::test]
async fn url_verification_answers_the_challenge() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    for file in ["url_verification__boltpy.json", "url_verification__netstd.json"] {
        let envelope = samples::json("events", file);
        let answer = app.sender.event(&envelope).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["challenge"], envelope["challenge"]);
    }
    assert_eq!(inbox_len(&app).await, 0);
}

#[tokio::test]
async fn every_sample_event_from_slack_is_acknowledged_and_subscribed_ones_are_stored() {
    // The samples come from several workspaces; without a bot token every one is accepted.
    let app = TestApp::builder(TestDb::sqlite())
        .without_bot_token()
        .start()
        .await;
    let mut stored = 0;
    for (name, text) in samples::all("events", "json") {
        if name.contains("_inner") {
            continue; // inner-only fixtures are not request bodies
        }
        let answer = app
            .sender
            .post("/slack/events", JSON, text.clone().into_bytes(), &[])
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        let value: Value = serde_json::from_str(&text).unwrap();
        let event_type = value["event"]["type"].as_str().unwrap_or_default();
        if value["type"] == "event_callback" && circlet::ingress::SUBSCRIBED_EVENTS.contains(&event_type) {
            let id = value["event_id"].as_str().unwrap();
            assert!(
                app.store.find_inbox_by_event_id(id).await.unwrap().is_some(),
                "{name} not stored"
            );
            stored += 1;
        }
    }
    assert!(stored >= 20, "only {stored} samples were stored");
}

#[tokio::test]
async fn an_unknown_but_well_formed_event_type_is_acknowledged_and_ignored() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let mut envelope = reaction_event("Ev0UNKNOWN");
    envelope["event"]["type"] = json!("some_future_event");
    assert_eq!(app.sender.event(&envelope).await.unwrap().status, 200);
    let rate_limited = samples::json("events", "app_rate_limited__netstd.json");
    assert_eq!(app.sender.event(&rate_limited).await.unwrap().status, 200);
    assert_eq!(inbox_len(&app).await, 0);
}

#[tokio::test]
async fn bad_missing_and_stale_signatures_answer_401_and_store_nothing() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let body = reaction_event("Ev0FORGED").to_string().into_bytes();
    // Timestamps are whole seconds: 2 s past the window keeps a case outside it even when the
    // second turns between signing and checking.
    let signed_at = |offset: i64| {
        app.sender
            .signed_headers(chrono::Utc::now().timestamp() + offset, &body)
    };
    let forged = || {
        let mut headers = app
            .sender
            .signed_headers(chrono::Utc::now().timestamp(), b"another body");
        headers.remove("content-type");
        headers
    };
    for path in ["/slack/events", "/slack/commands", "/slack/interactions"] {
        let cases = [
            ("wrong signature", forged()),
            ("no headers", Default::default()),
            ("5 minutes and 2 s old", signed_at(-302)),
            ("5 minutes and 2 s in the future", signed_at(302)),
        ];
        for (what, headers) in cases {
            let answer = app
                .sender
                .post_with(path, JSON, body.clone(), headers, &[])
                .await
                .unwrap();
            assert_eq!(answer.status, 401, "{what} on {path}");
            assert!(
                !answer.body.contains("v0="),
                "the answer must not leak a signature"
            );
        }
    }
    let now = chrono::Utc::now().timestamp();
    let within_window = app.sender.signed_headers(now - 200, &body);
    let answer = app
        .sender
        .post_with("/slack/events", JSON, body, within_window, &[])
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(inbox_len(&app).await, 1);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("circlet_signature_failures_total{reason=\"mismatch\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("circlet_signature_failures_total{reason=\"missing\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("circlet_signature_failures_total{reason=\"expired\"} 6"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_answers_413_declared_or_chunked() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let headers = app.sender.signed_headers(chrono::Utc::now().timestamp(), &big);
    let declared = app
        .sender
        .post_with("/slack/events", JSON, big.clone(), headers.clone(), &[])
        .await
        .unwrap();
    assert_eq!(declared.status, 413);

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let response = app
        .http
        .post(format!("{}/slack/events", app.base_url))
        .headers(headers)
        .header("content-type", JSON)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let just_under =
        serde_json::to_vec(&json!({"type": "event_callback", "pad": "a".repeat(1024 * 1000)})).unwrap();
    let ok = app
        .sender
        .post("/slack/events", JSON, just_under, &[])
        .await
        .unwrap();
    assert_eq!(
        ok.status, 400,
        "a signed body under the cap is read and judged on its content"
    );
}

#[tokio::test]
async fn signed_but_malformed_bodies_answer_400() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let cases: [(&str, &str, &[u8]); 7] = [
        ("/slack/events", JSON, b"{not json"),
        (
            "/slack/events",
            JSON,
            br#"{"type":"event_callback","team_id":"T1","event":{"type":"message"}}"#,
        ),
        ("/slack/events", JSON, br#"{"type":"url_verification"}"#),
        ("/slack/events", JSON, b"[1,2,3]"),
        ("/slack/interactions", FORM, b"payload=%7Bnot-json"),
        ("/slack/interactions", FORM, b"nopayload=1"),
        ("/slack/commands", FORM, b"text=hello"),
    ];
    for (path, content_type, body) in cases {
        let answer = app
            .sender
            .post(path, content_type, body.to_vec(), &[])
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            400,
            "{path} {:?}: {}",
            String::from_utf8_lossy(body),
            answer.body
        );
        assert!(!answer.body.is_empty(), "a 400 says what is wrong");
    }
    assert_eq!(inbox_len(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_content_type_answers_415() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let event = reaction_event("Ev0CT").to_string().into_bytes();
    let answer = app
        .sender
        .post("/slack/events", "text/plain", event.clone(), &[])
        .await
        .unwrap();
    assert_eq!(answer.status, 415);
    let answer = app
        .sender
        .post("/slack/commands", JSON, event.clone(), &[])
        .await
        .unwrap();
    assert_eq!(answer.status, 415);
    let answer = app
        .sender
        .post("/slack/interactions", JSON, event, &[])
        .await
        .unwrap();
    assert_eq!(answer.status, 415);
    assert_eq!(inbox_len(&app).await, 0);
}

#[tokio::test]
async fn slacks_unsigned_ssl_check_is_answered_200() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let body = samples::read("commands", "ssl_check__boltpy.txt");
    let answer = app
        .sender
        .post_with(
            "/slack/commands",
            FORM,
            body.into_bytes(),
            Default::default(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(inbox_len(&app).await, 0);
}

#[tokio::test]
async fn feedback_help_and_unknown_subcommands_are_answered_inline_and_ephemeral() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let form = |text: &'static str| {
        vec![
            ("team_id", "T0CIRCLE"),
            ("channel_id", "C0BEAUTY"),
            ("user_id", "U0MAYA"),
            ("command", "/feedback"),
            ("text", text),
            ("response_url", "http://127.0.0.1:9/never"),
            ("trigger_id", "1.2.3"),
        ]
    };
    for text in ["", "help", "HELP me"] {
        let answer = app.sender.command(&form(text)).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["response_type"], "ephemeral");
        assert!(
            answer.json()["text"].as_str().unwrap().contains("/feedback help"),
            "{text:?}"
        );
    }
    let unknown = app.sender.command(&form("frobnicate 5")).await.unwrap();
    let text = unknown.json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("I don't know `frobnicate`"), "{text}");
    assert_eq!(unknown.json()["response_type"], "ephemeral");
    assert_eq!(inbox_len(&app).await, 0);

    let sample = samples::read("commands", "slash_command_docs_weather__java.txt");
    let answer = app
        .sender
        .post("/slack/commands", FORM, sample.into_bytes(), &[])
        .await
        .unwrap();
    assert_eq!(
        answer.status, 200,
        "Slack's documented command body: {}",
        answer.body
    );
}

/// Answers a deferred `/feedback echo …` through its response_url, as a slow command would.
struct EchoCommand {
    slack: SlackApi,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl InboxHandler for EchoCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let form: std::collections::HashMap<String, String> = serde_urlencoded::from_str(&job.row.payload)
            .map_err(|e| HandlerError::permanent(e.to_string()))?;
        let text = format!("echo: {}", form["text"]);
        self.slack
            .respond(
                &form["response_url"],
                &json!({"text": text, "replace_original": true}),
            )
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_slow_subcommand_is_acknowledged_at_once_and_answered_through_response_url() {
    let runs = Arc::new(AtomicUsize::new(0));
    let handler_runs = runs.clone();
    let app = TestApp::builder(TestDb::sqlite())
        .handlers(move |services| {
            HandlerRegistry::new().with(
                InboxKind::Command,
                "echo",
                Arc::new(EchoCommand {
                    slack: services.slack.clone(),
                    runs: handler_runs,
                }),
            )
        })
        .start()
        .await;
    let response_url = app.fake.response_url("cmd-1");
    let answer = app
        .sender
        .command(&[
            ("team_id", "T0CIRCLE"),
            ("user_id", "U0MAYA"),
            ("command", "/feedback"),
            ("text", "echo hello circle"),
            ("response_url", response_url.as_str()),
            ("trigger_id", "trig-echo-1"),
        ])
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["response_type"], "ephemeral");
    assert!(answer.json()["text"].as_str().unwrap().contains("Working on it"));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "nothing slow ran on the request path"
    );

    let row = app
        .store
        .find_inbox_by_event_id("command:trig-echo-1")
        .await
        .unwrap()
        .expect("queued");
    assert_eq!((row.kind, row.event_type.as_str()), (InboxKind::Command, "echo"));
    assert_eq!(app.worker.drain().await.unwrap(), 1);
    let calls = app.fake.calls_to("response_url");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].params["text"], "echo: echo hello circle");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn interactions_are_stored_by_type_and_acknowledged_empty() {
    // The samples come from several workspaces; without a bot token every one is accepted.
    let app = TestApp::builder(TestDb::sqlite())
        .without_bot_token()
        .start()
        .await;
    let mut stored = 0;
    for (name, text) in samples::all("interactivity", "json") {
        let payload: Value = serde_json::from_str(&text).unwrap();
        let answer = app.sender.interaction(&payload).await.unwrap();
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        let kind = payload["type"].as_str().unwrap_or_default();
        if kind == "block_suggestion" {
            assert_eq!(answer.json()["options"], json!([]), "{name}");
        } else if circlet::ingress::HANDLED_INTERACTIONS.contains(&kind) && !name.contains("java-shape") {
            assert!(answer.body.is_empty(), "{name}: an empty 200 acknowledges");
            stored += 1;
        }
    }
    let rows = app.store.list_inbox(None, 1000).await.unwrap();
    assert!(stored >= 5, "only {stored} interaction samples");
    assert!(rows.iter().all(|row| row.kind == InboxKind::Interaction));
    assert!(rows.iter().any(|row| row.event_type == "message_action"));
    assert!(rows.iter().any(|row| row.event_type == "view_submission"));
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    assert_eq!(app.get("/healthz").await, (200, "ok".to_owned()));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"database\":\"ok\""), "{body}");

    app.sender.event(&reaction_event("Ev0M1")).await.unwrap();
    app.sender.event(&reaction_event("Ev0M2")).await.unwrap();
    let metrics = app.metrics().await;
    for expected in [
        "circlet_http_requests_total{route=\"/slack/events\",status=\"200\"} 2",
        "circlet_inbox_depth{state=\"pending\"} 2",
        "circlet_inbox_writes_total{reason=\"stored\"} 2",
        "# TYPE circlet_ingest_batch_rows histogram",
    ] {
        assert!(metrics.contains(expected), "missing {expected:?} in\n{metrics}");
    }
    app.worker.drain().await.unwrap();
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("circlet_inbox_depth{state=\"done\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("circlet_inbox_processed_total{event_type=\"reaction_added\",outcome=\"done\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("circlet_http_requests_total{route=\"/metrics\",status=\"200\"} 1"));
}
