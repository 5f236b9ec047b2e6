//! Slow and idle clients on real sockets (issue 21, item 4): headers, bodies and idle keep-alive
//! connections have deadlines, open connections are capped, and shutdown does not wait on a
//! client that never finishes.

use std::time::Duration;

use circlet::server::ServerSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb};

const SHORT: Duration = Duration::from_millis(300);

/// Long enough that only a missing deadline makes a test wait for it.
const HANG: Duration = Duration::from_secs(15);

async fn app_with(settings: ServerSettings) -> TestApp {
    TestApp::builder(TestDb::sqlite())
        .server_settings(settings)
        .start()
        .await
}

/// A request whose headers never end, and one whose body stops after a few bytes.
const UNFINISHED_HEADERS: &[u8] = b"POST /slack/events HTTP/1.1\r\nHost: circlet\r\nContent-Type: appl";
const UNFINISHED_BODY: &[u8] = b"POST /slack/events HTTP/1.1\r\nHost: circlet\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// A connection that has sent `bytes`.
async fn sending(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(app).await;
    stream.write_all(bytes).await.expect("send");
    stream
}

/// Everything the server sends until it closes the connection.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(HANG, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("the server closes the connection");
    String::from_utf8_lossy(&received).into_owned()
}

fn cuts(metrics: &str, reason: &str) -> u64 {
    sample(
        metrics,
        &format!("circlet_http_connections_cut_total{{listener=\"public\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(0)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = app_with(ServerSettings {
        header_read: SHORT,
        ..ServerSettings::default()
    })
    .await;
    let mut slow = sending(&app, UNFINISHED_HEADERS).await;
    until_closed(&mut slow).await;
    assert_eq!(cuts(&app.metrics().await, "header_timeout"), 1);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let app = app_with(ServerSettings {
        body_read: SHORT,
        ..ServerSettings::default()
    })
    .await;
    let mut slow = sending(&app, UNFINISHED_BODY).await;
    let answer = until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_connection_on_which_nothing_moves_is_closed_after_the_idle_time() {
    let app = app_with(ServerSettings {
        idle: SHORT,
        ..ServerSettings::default()
    })
    .await;
    let mut slow = sending(&app, UNFINISHED_BODY).await;
    until_closed(&mut slow).await;
    assert_eq!(cuts(&app.metrics().await, "idle"), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app_with(ServerSettings {
        header_read: SHORT,
        ..ServerSettings::default()
    })
    .await;
    let mut client = sending(&app, b"GET /healthz HTTP/1.1\r\nHost: circlet\r\n\r\n").await;
    let answer = until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "answered first: {answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn open_connections_are_capped_and_the_next_client_waits_for_a_free_one() {
    let app = TestApp::builder(TestDb::sqlite())
        .server_settings(ServerSettings {
            max_connections: 2,
            ..ServerSettings::default()
        })
        .env("CIRCLET_OPS_BIND", "127.0.0.1:0")
        .start()
        .await;
    let held = [connect(&app).await, connect(&app).await];
    let request = b"GET /api/v1/insights HTTP/1.1\r\nHost: circlet\r\nConnection: close\r\n\r\n";
    let mut third = sending(&app, request).await;
    tokio::time::sleep(SHORT).await;
    let open = sample(
        &app.metrics().await,
        "circlet_http_connections{listener=\"public\"}",
    );
    assert_eq!(open, Some(2), "the third client is not accepted");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(SHORT, third.read(&mut buf)).await;
    assert!(early.is_err(), "no answer while both slots are taken");

    drop(held);
    let answer = until_closed(&mut third).await;
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "answered once a slot is free: {answer}"
    );
}

#[tokio::test]
async fn shutdown_finishes_while_a_slow_client_is_connected() {
    let mut app = app_with(ServerSettings {
        shutdown_grace: SHORT,
        ..ServerSettings::default()
    })
    .await;
    let mut slow = sending(&app, UNFINISHED_HEADERS).await;
    // Give the server the moment it needs to read what was sent.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(HANG, app.stop())
        .await
        .expect("shutdown does not wait for the slow client");
    until_closed(&mut slow).await;
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_begins_is_answered() {
    let mut app = app_with(ServerSettings {
        shutdown_grace: HANG,
        ..ServerSettings::default()
    })
    .await;
    let body = b"ssl_check=1&token=x";
    let head = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: circlet\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut client = sending(&app, head.as_bytes()).await;
    client.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(async move {
        app.stop().await;
        app
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    client.write_all(&body[5..]).await.unwrap();
    let answer = until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(HANG, stopping)
        .await
        .expect("then shutdown finishes")
        .unwrap();
}
