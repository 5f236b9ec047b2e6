//! Long exports through the HTTP API (issue 21, items 3 and 5): a client that reads slowly holds
//! no database connection, so readiness and Slack's acknowledgements do not depend on how many
//! exports are open; a revoked token ends its stream; a client that stops reading is cut off;
//! at most `EXPORT_STREAMS` run at once, the next is told to come back (429, Retry-After).

use std::time::Duration;

use circlet::api::EXPORT_STREAMS;
use circlet::clock::{Clock, SystemClock};
use circlet::server::ServerSettings;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::insights::seed_insights;
use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb, eventually, samples};
use crate::on_both_backends;

const TEAM: &str = "T0CIRCLE";
const INSIGHTS: i64 = 10_000;
/// Texts this long make the export ~20 MB: far more than the sockets between server and client
/// can hold, so a client that stops reading leaves the server waiting on it.
const TEXT_BYTES: usize = 2_000;

async fn seeded_app(db: TestDb, settings: ServerSettings) -> (TestApp, String) {
    let app = TestApp::builder(db).server_settings(settings).start().await;
    seed_insights(&app.db, TEAM, INSIGHTS, TEXT_BYTES).await;
    let token = app.api_token("looker", None).await;
    (app, token)
}

/// A client that asks for the export, reads the answer's head and then nothing more. Returns
/// the connection (to keep it open) and the status.
async fn stalled_export(app: &TestApp, token: &str) -> (TcpStream, u16) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    let address = app.base_url.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /api/v1/insights HTTP/1.1\r\nHost: circlet\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    (stream, status)
}

fn reaction_event(event_id: &str) -> serde_json::Value {
    let mut envelope = samples::json("events", "reaction_added__boltpy.json");
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!(circlet_testkit::fake_slack::DEFAULT_TEAM_ID);
    envelope
}

on_both_backends! {
    async fn slow_export_readers_leave_readiness_and_acknowledgements_alone(db: TestDb) {
        let (app, token) = seeded_app(db, ServerSettings::default()).await;
        // More readers than SQLite's read pool (4) and PostgreSQL's whole pool (10).
        let mut readers = Vec::new();
        for _ in 0..10 {
            readers.push(stalled_export(&app, &token).await);
        }
        let streaming = readers.iter().filter(|(_, status)| *status == 200).count();
        assert_eq!(streaming, EXPORT_STREAMS, "the others are told to come back later");
        // Let the streams fill every buffer between them and their readers.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        let answer = app.sender.event(&reaction_event("Ev0SLOWREAD")).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        drop(readers);
    }
}

on_both_backends! {
    async fn a_revoked_token_ends_an_open_export_stream(db: TestDb) {
        let (app, token) = seeded_app(db, ServerSettings::default()).await;
        let mut response = app
            .http
            .get(format!("{}/api/v1/insights", app.base_url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut received = response.chunk().await.unwrap().expect("a first chunk").to_vec();

        app.store.tokens().revoke_token("looker", SystemClock.now_millis()).await.unwrap();
        let ended = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => received.extend_from_slice(&chunk),
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        let rows = received.windows(2).filter(|pair| pair == b"\r\n").count() - 1;
        assert!(ended.is_err(), "the response is cut short, not ended as if complete ({rows} rows)");
        assert!(rows < INSIGHTS as usize, "the stream stopped at a page after the revocation");
    }
}

#[tokio::test]
async fn the_export_beyond_the_limit_is_answered_429_until_a_stream_ends() {
    let (app, token) = seeded_app(TestDb::sqlite(), ServerSettings::default()).await;
    let mut readers = Vec::new();
    for _ in 0..EXPORT_STREAMS {
        let (stream, status) = stalled_export(&app, &token).await;
        assert_eq!(status, 200);
        readers.push(stream);
    }
    let url = format!("{}/api/v1/insights", app.base_url);
    let refused = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("try again"), "{body}");
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml")).unwrap();
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(&spec).unwrap();
    assert!(
        spec["paths"]["/api/v1/insights"]["get"]["responses"]["429"].is_mapping(),
        "429 is documented"
    );

    // A reader that leaves gives its slot back.
    drop(readers.pop());
    eventually(Duration::from_secs(10), || async {
        app.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
}

#[tokio::test]
async fn a_client_that_stops_reading_an_export_is_cut_off_and_frees_its_slot() {
    let (app, token) = seeded_app(
        TestDb::sqlite(),
        ServerSettings {
            write_stall: Duration::from_millis(300),
            ..ServerSettings::default()
        },
    )
    .await;
    let mut readers = Vec::new();
    for _ in 0..EXPORT_STREAMS {
        readers.push(stalled_export(&app, &token).await);
    }
    eventually(Duration::from_secs(10), || async {
        let metrics = app.metrics().await;
        sample(
            &metrics,
            "circlet_http_connections_cut_total{listener=\"public\",reason=\"write_stall\"}",
        ) == Some(EXPORT_STREAMS as u64)
    })
    .await;
    let again = stalled_export(&app, &token).await;
    assert_eq!(again.1, 200, "the stalled streams' slots are free again");
}
