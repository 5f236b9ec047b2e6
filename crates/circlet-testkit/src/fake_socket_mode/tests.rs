use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::*;
use crate::{FakeSlack, Fault};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure something does not arrive.
const QUIET: Duration = Duration::from_millis(300);

async fn connect(fake: &FakeSocketMode) -> TestResult<Client> {
    let (client, _) = tokio_tungstenite::connect_async(fake.connection_url()).await?;
    Ok(client)
}

/// Connects and reads the `hello`.
async fn connect_greeted(fake: &FakeSocketMode) -> TestResult<(Client, Value)> {
    let mut client = connect(fake).await?;
    let hello = next_json(&mut client).await?;
    Ok((client, hello))
}

/// The next message, whatever it is, within [`WAIT`].
async fn next_message(client: &mut Client) -> TestResult<Message> {
    let message = tokio::time::timeout(WAIT, client.next()).await?;
    Ok(message.ok_or("stream ended")??)
}

/// The next text frame as JSON, skipping pongs.
async fn next_json(client: &mut Client) -> TestResult<Value> {
    loop {
        match next_message(client).await? {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Pong(_) => continue,
            other => return Err(format!("expected a text frame, got {other:?}").into()),
        }
    }
}

/// Whether a message arrives within [`QUIET`] (the stream ending counts as none).
async fn anything_within_quiet(client: &mut Client) -> bool {
    matches!(tokio::time::timeout(QUIET, client.next()).await, Ok(Some(Ok(_))))
}

async fn send_json(client: &mut Client, frame: Value) -> TestResult {
    Ok(client.send(Message::text(frame.to_string())).await?)
}

#[tokio::test]
async fn each_connection_is_greeted_with_hello_and_counted() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    assert!(fake.base_url().starts_with("ws://127.0.0.1:"));
    let (_first, hello) = connect_greeted(&fake).await?;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert_eq!(hello["connection_info"]["app_id"], APP_ID);
    assert_eq!(hello["debug_info"]["host"], "applink-fake-0");
    assert_eq!(hello["debug_info"]["approximate_connection_time"], 18_060);
    let (_second, hello) = connect_greeted(&fake).await?;
    assert_eq!(hello["num_connections"], 2);
    assert_eq!((fake.connects(), fake.open_connections()), (2, 2));
    assert_eq!(fake.open_connection_indexes(), vec![0, 1]);
    Ok(())
}

#[tokio::test]
async fn a_ticket_opens_one_connection_only() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let url = fake.connection_url();
    let (_client, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let again = tokio_tungstenite::connect_async(url.as_str()).await;
    match again {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => return Err(format!("a used ticket was not refused: {other:?}").into()),
    }
    let unknown = format!("{}/link/?ticket=999", fake.base_url());
    assert!(tokio_tungstenite::connect_async(unknown).await.is_err());
    let no_ticket = format!("{}/link/", fake.base_url());
    assert!(tokio_tungstenite::connect_async(no_ticket).await.is_err());
    assert_eq!((fake.connects(), fake.refused_connects()), (1, 3));
    assert_ne!(fake.connection_url(), url, "each URL has a fresh ticket");
    Ok(())
}

#[tokio::test]
async fn send_delivers_each_envelope_to_one_connection_in_turn() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    assert_eq!(fake.send(events_api(json!({"n": 0}))), Err(NoConnection));
    let (mut first, _) = connect_greeted(&fake).await?;
    let (mut second, _) = connect_greeted(&fake).await?;
    let mut delivered_to = Vec::new();
    for n in 0..4 {
        delivered_to.push(fake.send(events_api(json!({"n": n})))?);
    }
    assert_eq!(delivered_to, vec![0, 1, 0, 1]);
    for (client, expected) in [(&mut first, [0, 2]), (&mut second, [1, 3])] {
        for n in expected {
            let envelope = next_json(client).await?;
            assert_eq!(
                (envelope["type"].as_str(), &envelope["payload"]["n"]),
                (Some("events_api"), &json!(n))
            );
        }
        assert!(
            !anything_within_quiet(client).await,
            "no fan-out: each envelope once"
        );
    }
    fake.send_to(1, json!({"type": "hello", "again": true}))?;
    assert_eq!(next_json(&mut second).await?["again"], true);
    assert_eq!(fake.send_to(7, json!({})), Err(NoConnection));
    Ok(())
}

#[tokio::test]
async fn acks_are_recorded_with_their_payload_and_other_frames_apart() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut client, _) = connect_greeted(&fake).await?;
    let command = slash_commands(&[("command", "/feedback"), ("text", "help")]);
    fake.send(command.clone())?;
    let received = next_json(&mut client).await?;
    assert_eq!(received, command);
    let id = envelope_id(&received);
    send_json(
        &mut client,
        json!({"envelope_id": id, "payload": {"text": "Usage"}}),
    )
    .await?;
    send_json(&mut client, json!({"envelope_id": "e-2"})).await?;
    send_json(&mut client, json!({"type": "not-an-ack"})).await?;
    client.send(Message::text("plain words")).await?;

    let acks = fake.wait_for_acks(2, WAIT).await;
    assert_eq!(acks.len(), 2);
    assert_eq!((acks[0].connection, acks[0].envelope_id.as_str()), (0, id));
    assert_eq!(acks[0].payload, Some(json!({"text": "Usage"})));
    assert_eq!((acks[1].envelope_id.as_str(), &acks[1].payload), ("e-2", &None));
    assert!(acks[0].at <= acks[1].at);
    let deadline = Instant::now() + WAIT;
    while fake.client_frames().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let frames: Vec<Value> = fake.client_frames().into_iter().map(|f| f.frame).collect();
    assert_eq!(frames, vec![json!({"type": "not-an-ack"}), json!("plain words")]);
    assert_eq!(fake.ack_count(), 2);
    Ok(())
}

#[tokio::test]
async fn disconnect_warns_then_closes_after_the_grace_period() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut old, _) = connect_greeted(&fake).await?;
    let (mut other, _) = connect_greeted(&fake).await?;
    let grace = Duration::from_millis(400);
    let warned_at = Instant::now();
    fake.disconnect(0, DisconnectReason::Warning, grace)?;
    let frame = next_json(&mut old).await?;
    assert_eq!(
        (frame["type"].as_str(), frame["reason"].as_str()),
        (Some("disconnect"), Some("warning"))
    );
    assert_eq!(frame["debug_info"]["host"], "applink-fake-0");

    // While it drains, envelopes go to the other connection only.
    assert_eq!(
        (
            fake.send(events_api(json!({})))?,
            fake.send(events_api(json!({})))?
        ),
        (1, 1)
    );
    next_json(&mut other).await?;
    assert!(matches!(next_message(&mut old).await?, Message::Close(_)));
    assert!(warned_at.elapsed() >= grace, "closed only after the grace period");
    assert!(fake.wait_for_close(0, WAIT).await);
    assert_eq!(fake.open_connection_indexes(), vec![1]);
    assert_eq!(
        fake.disconnect(0, DisconnectReason::Warning, grace),
        Err(NoConnection)
    );
    Ok(())
}

#[tokio::test]
async fn a_client_that_leaves_after_disconnect_is_not_waited_for() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut client, _) = connect_greeted(&fake).await?;
    fake.disconnect(0, DisconnectReason::RefreshRequested, Duration::from_secs(60))?;
    assert_eq!(next_json(&mut client).await?["reason"], "refresh_requested");
    assert_eq!(fake.send(events_api(json!({}))), Err(NoConnection));
    client.close(None).await?;
    assert!(fake.wait_for_close(0, WAIT).await);
    Ok(())
}

#[tokio::test]
async fn drop_connection_cuts_the_stream_without_a_close_frame() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut client, _) = connect_greeted(&fake).await?;
    fake.drop_connection(0)?;
    match tokio::time::timeout(WAIT, client.next()).await? {
        None | Some(Err(_)) => {}
        Some(Ok(message)) => return Err(format!("expected a cut, got {message:?}").into()),
    }
    assert_eq!(fake.wait_for_open_connections(0, WAIT).await, 0);
    assert_eq!(fake.drop_connection(0), Err(NoConnection));
    Ok(())
}

#[tokio::test]
async fn pings_are_answered_until_told_otherwise() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut client, _) = connect_greeted(&fake).await?;
    client.send(Message::Ping(b"one".to_vec().into())).await?;
    assert_eq!(
        next_message(&mut client).await?,
        Message::Pong(b"one".to_vec().into())
    );

    fake.stop_answering_pings(0)?;
    client.send(Message::Ping(b"two".to_vec().into())).await?;
    assert!(
        !anything_within_quiet(&mut client).await,
        "no pong once pings go unanswered"
    );
    // The connection still carries envelopes both ways.
    let envelope = interactive(json!({"type": "block_actions"}), false);
    fake.send(envelope.clone())?;
    assert_eq!(next_json(&mut client).await?, envelope);
    send_json(&mut client, json!({"envelope_id": envelope_id(&envelope)})).await?;
    assert_eq!(fake.wait_for_acks(1, WAIT).await.len(), 1);
    assert_eq!(fake.pings_from(0), 2);
    Ok(())
}

#[tokio::test]
async fn dropping_the_fake_closes_its_connections() -> TestResult {
    let fake = FakeSocketMode::start().await?;
    let (mut client, _) = connect_greeted(&fake).await?;
    drop(fake);
    match tokio::time::timeout(WAIT, client.next()).await? {
        None | Some(Err(_)) => Ok(()),
        Some(Ok(message)) => Err(format!("expected the stream to end, got {message:?}").into()),
    }
}

#[test]
fn envelopes_are_built_as_slack_sends_them() {
    let event = events_api(json!({"type": "event_callback", "event_id": "Ev1"}));
    assert_eq!(event["type"], "events_api");
    assert_eq!(event["accepts_response_payload"], false);
    assert_eq!(
        (&event["retry_attempt"], &event["retry_reason"]),
        (&json!(0), &json!(""))
    );
    assert_eq!(event["payload"]["event_id"], "Ev1");
    assert_eq!(envelope_id(&event).len(), 36, "a UUID");
    assert_ne!(envelope_id(&event), envelope_id(&events_api(json!({}))));

    let modal = interactive(json!({"type": "view_submission"}), true);
    assert_eq!(
        (&modal["type"], &modal["accepts_response_payload"]),
        (&json!("interactive"), &json!(true))
    );
    let command = slash_commands(&[("command", "/feedback"), ("text", "report 7d")]);
    assert_eq!(
        command["payload"],
        json!({"command": "/feedback", "text": "report 7d"})
    );
    assert_eq!(
        (&command["type"], &command["accepts_response_payload"]),
        (&json!("slash_commands"), &json!(true))
    );

    let again = redelivery(&event, "timeout");
    assert_ne!(envelope_id(&again), envelope_id(&event));
    assert_eq!(
        (&again["retry_attempt"], &again["retry_reason"]),
        (&json!(1), &json!("timeout"))
    );
    assert_eq!(
        (&again["payload"], &again["type"]),
        (&event["payload"], &event["type"])
    );
    assert_eq!(redelivery(&again, "timeout")["retry_attempt"], 2);
}

/// reqwest is built with `rustls-no-provider`, so a process-wide crypto provider must exist first.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn open_connection(
    slack: &FakeSlack,
    bearer: Option<&str>,
    form: &[(&str, &str)],
) -> TestResult<(u16, Value)> {
    let mut request = http().post(format!("{}/apps.connections.open", slack.api_url()));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form)?)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::String(body))))
}

#[tokio::test]
async fn apps_connections_open_wants_an_app_token_in_the_header() -> TestResult {
    let slack = FakeSlack::start().await?;
    let fake = FakeSocketMode::start().await?;
    let not_served = open_connection(&slack, Some("xapp-1-A"), &[]).await?;
    assert_eq!(not_served.1, json!({"ok": false, "error": "invalid_auth"}));

    slack.serve_socket_mode(&fake);
    let bot_token = open_connection(&slack, Some("xoxb-1"), &[]).await?;
    assert_eq!(
        bot_token.1,
        json!({"ok": false, "error": "not_allowed_token_type"})
    );
    let as_param = open_connection(&slack, None, &[("token", "xapp-1-A")]).await?;
    assert_eq!(as_param.1, json!({"ok": false, "error": "not_authed"}));

    let (_, first) = open_connection(&slack, Some("xapp-1-A"), &[]).await?;
    let (_, second) = open_connection(&slack, Some("xapp-1-A"), &[]).await?;
    assert_eq!(first["ok"], true);
    let url = first["url"].as_str().ok_or("url")?;
    assert!(url.starts_with(&format!("{}/link/?ticket=", fake.base_url())));
    assert_ne!(first["url"], second["url"]);
    let (mut client, _) = tokio_tungstenite::connect_async(url).await?;
    assert_eq!(next_json(&mut client).await?["type"], "hello");

    let calls = slack.calls_to("apps.connections.open");
    assert_eq!(calls.len(), 5);
    assert_eq!(calls[4].token.as_deref(), Some("xapp-1-A"));
    Ok(())
}

#[tokio::test]
async fn apps_connections_open_suffers_injected_faults() -> TestResult {
    let slack = FakeSlack::start().await?;
    let fake = FakeSocketMode::start().await?;
    slack.serve_socket_mode(&fake);
    slack.inject(
        "apps.connections.open",
        Fault::RateLimited { retry_after_secs: 3 },
        1,
    );
    slack.inject("apps.connections.open", Fault::ServerError, 1);
    assert_eq!(open_connection(&slack, Some("xapp-1"), &[]).await?.0, 429);
    assert_eq!(open_connection(&slack, Some("xapp-1"), &[]).await?.0, 500);
    let (status, recovered) = open_connection(&slack, Some("xapp-1"), &[]).await?;
    assert_eq!((status, &recovered["ok"]), (200, &json!(true)));
    Ok(())
}
