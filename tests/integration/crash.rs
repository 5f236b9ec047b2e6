//! Nothing acknowledged is lost: `circlet serve` as a child process, killed with SIGKILL in the
//! middle of a stream of signed events (or of Socket Mode envelopes), then restarted on the same
//! database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlet::inbox::InboxState;
use circlet_testkit::sender::SignedSender;
use serde_json::json;

use crate::helpers::TestDb;
use crate::helpers::serve::Serve;
use crate::on_both_backends;

fn event(n: usize) -> serde_json::Value {
    json!({
        "token": "x", "team_id": "T0CRASH", "api_app_id": "A1", "type": "event_callback",
        "event_id": format!("Ev{n:07}"), "event_time": 1_763_900_000,
        "event": {"type": "reaction_added", "user": "U1", "reaction": "bulb", "item_user": "U2",
                  "item": {"type": "message", "channel": "C1", "ts": format!("1763900000.{n:06}")},
                  "event_ts": "1763900000.000001"},
    })
}

/// Sends the numbered events over `connections` keep-alive connections; returns those answered
/// 2xx. Each connection stops at its first failure (the server is gone).
async fn send_all(sender: Arc<SignedSender>, numbers: Vec<usize>, connections: usize) -> Vec<usize> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let numbers = Arc::new(numbers);
    let mut tasks = Vec::new();
    for lane in 0..connections {
        let (sender, acked, numbers) = (sender.clone(), acked.clone(), numbers.clone());
        tasks.push(tokio::spawn(async move {
            for &n in numbers.iter().skip(lane).step_by(connections) {
                match sender.event(&event(n)).await {
                    Ok(answer) if answer.status == 200 => acked.lock().unwrap().push(n),
                    _ => break,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_unstable();
    acked
}

async fn wait_until_processed(db: &TestDb, acked: &[usize]) {
    let store = db.store().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut missing = Vec::new();
        let mut unfinished = 0;
        for n in acked {
            match store.find_inbox_by_event_id(&format!("Ev{n:07}")).await.unwrap() {
                None => missing.push(*n),
                Some(row) if row.state != InboxState::Done => unfinished += 1,
                Some(_) => {}
            }
        }
        assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
        if unfinished == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unfinished} acknowledged events still unprocessed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = store.list_inbox(None, 100_000).await.unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|row| row.event_id.as_str()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "an event was stored twice");
    store.close().await;
}

on_both_backends! {
    async fn a_kill_9_mid_stream_loses_no_acknowledged_event(db: TestDb) {
        let mut first = Serve::start(&db.url, &[]);
        let sender = Arc::new(first.sender());
        let stream = tokio::spawn(send_all(sender, (0..4000).collect(), 16));
        // Kill once a good part of the stream has been acknowledged.
        let store = db.store().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while store.list_inbox(None, 100_000).await.unwrap().len() < 1500 {
            assert!(Instant::now() < deadline, "ingest too slow");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
        first.kill_hard();
        let mut acked = stream.await.unwrap();
        assert!(acked.len() >= 1500 && acked.len() < 4000, "killed mid-stream: {} acked", acked.len());

        let mut second = Serve::start(&db.url, &[]);
        // Slack retries what never got a 2xx; some retries of stored ones are thrown in too, and
        // must store nothing new.
        let retries: Vec<usize> = (0..4000).filter(|n| acked.binary_search(n).is_err() || n % 10 == 0).collect();
        let rest = send_all(Arc::new(second.sender()), retries, 8).await;
        acked.extend(rest);
        acked.sort_unstable();
        acked.dedup();
        assert_eq!(acked.len(), 4000, "after the restart every event is acknowledged");
        wait_until_processed(&db, &acked).await;
        let status = second.terminate();
        assert!(status.success(), "graceful stop after SIGTERM: {status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_stops_cleanly_and_keeps_every_acknowledged_event() {
    let db = TestDb::sqlite();
    let mut serve = Serve::start(&db.url, &[]);
    let stream = tokio::spawn(send_all(Arc::new(serve.sender()), (0..3000).collect(), 8));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
    let acked = stream.await.unwrap();
    assert!(!acked.is_empty());
    let store = db.store().await;
    for n in &acked {
        assert!(
            store
                .find_inbox_by_event_id(&format!("Ev{n:07}"))
                .await
                .unwrap()
                .is_some(),
            "Ev{n:07} lost"
        );
    }
    store.close().await;
}

/// Sends each numbered event as a Socket Mode envelope (a redelivery for one sent before);
/// returns how many could be handed to a connection.
fn deliver_envelopes(
    socket: &circlet_testkit::FakeSocketMode,
    envelopes: &mut std::collections::BTreeMap<usize, serde_json::Value>,
    numbers: impl IntoIterator<Item = usize>,
) -> usize {
    use circlet_testkit::fake_socket_mode::{events_api, redelivery};
    let mut delivered = 0;
    for n in numbers {
        let envelope = match envelopes.get(&n) {
            Some(sent) => redelivery(sent, "timeout"),
            None => events_api(event(n)),
        };
        if socket.send(envelope.clone()).is_err() {
            break;
        }
        envelopes.insert(n, envelope);
        delivered += 1;
    }
    delivered
}

/// The events whose envelopes (any delivery of them) were acknowledged.
fn acknowledged_events(
    socket: &circlet_testkit::FakeSocketMode,
    all_deliveries: &std::collections::HashMap<String, usize>,
) -> Vec<usize> {
    let mut acked: Vec<usize> = socket
        .acks()
        .iter()
        .filter_map(|ack| all_deliveries.get(&ack.envelope_id).copied())
        .collect();
    acked.sort_unstable();
    acked.dedup();
    acked
}

on_both_backends! {
    async fn a_kill_9_mid_socket_burst_loses_no_acknowledged_envelope(db: TestDb) {
        use std::collections::{BTreeMap, HashMap};
        const EVENTS: usize = 2500;
        let fake = circlet_testkit::FakeSlack::start().await.unwrap();
        let socket = circlet_testkit::FakeSocketMode::start().await.unwrap();
        fake.serve_socket_mode(&socket);
        let api_url = fake.api_url();
        let env = [
            ("SLACK_APP_TOKEN", crate::helpers::APP_TOKEN),
            ("SLACK_SIGNING_SECRET", ""),
            ("SLACK_API_URL", api_url.as_str()),
        ];
        let mut first = Serve::start(&db.url, &env);
        assert_eq!(socket.wait_for_open_connections(2, Duration::from_secs(20)).await, 2, "{}", first.logs());
        let mut envelopes = BTreeMap::new();
        let mut deliveries = HashMap::new();
        // Kill once a good part of the burst has been acknowledged, right after sending its
        // tail: on a loaded machine this task may wake only after the server acknowledged all
        // it had been sent, and the kill must still land with envelopes in flight.
        const TAIL: usize = 700;
        let mut sent = deliver_envelopes(&socket, &mut envelopes, 0..EVENTS - TAIL);
        socket.wait_for_acks(800, Duration::from_secs(60)).await;
        let old_connections = socket.open_connection_indexes();
        sent += deliver_envelopes(&socket, &mut envelopes, EVENTS - TAIL..EVENTS);
        first.kill_hard();
        for (n, envelope) in &envelopes {
            deliveries.insert(circlet_testkit::fake_socket_mode::envelope_id(envelope).to_owned(), *n);
        }
        // Slack notices the dead connections before the new process connects.
        for connection in old_connections {
            assert!(socket.wait_for_close(connection, Duration::from_secs(20)).await, "connection {connection} still open");
        }
        let acked_before = acknowledged_events(&socket, &deliveries);
        assert!(
            acked_before.len() >= 800 && acked_before.len() < sent,
            "killed mid-burst: {} of {sent} acked",
            acked_before.len()
        );
        let store = db.store().await;
        for n in &acked_before {
            assert!(
                store.find_inbox_by_event_id(&format!("Ev{n:07}")).await.unwrap().is_some(),
                "Ev{n:07} was acknowledged but is not stored"
            );
        }
        store.close().await;

        let mut second = Serve::start(&db.url, &env);
        assert_eq!(socket.wait_for_open_connections(2, Duration::from_secs(20)).await, 2, "{}", second.logs());
        // Slack redelivers what got no ack (and sends what it had not sent yet); some acked
        // ones come again too, and must store nothing new.
        let again: Vec<usize> = (0..EVENTS)
            .filter(|n| acked_before.binary_search(n).is_err() || n % 10 == 0)
            .collect();
        let acks_before = socket.ack_count();
        assert_eq!(deliver_envelopes(&socket, &mut envelopes, again.iter().copied()), again.len());
        for n in &again {
            deliveries.insert(circlet_testkit::fake_socket_mode::envelope_id(&envelopes[n]).to_owned(), *n);
        }
        socket.wait_for_acks(acks_before + again.len(), Duration::from_secs(60)).await;
        let acked = acknowledged_events(&socket, &deliveries);
        assert_eq!(acked.len(), EVENTS, "after the restart every event is acknowledged");
        wait_until_processed(&db, &acked).await;
        let status = second.terminate();
        assert!(status.success(), "graceful stop after SIGTERM: {status:?}");
    }
}
