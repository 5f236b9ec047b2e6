//! Nothing acknowledged is lost: `circlet serve` as a child process, killed with SIGKILL in the
//! middle of a stream of signed events, then restarted on the same database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use circlet::config::Secret;
use circlet::demo::SignedSender;
use circlet::inbox::InboxState;
use serde_json::json;

use crate::helpers::{SECRET, TestDb};
use crate::on_both_backends;

struct Serve {
    child: Child,
    base_url: String,
}

impl Serve {
    fn start(db: &TestDb) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_circlet"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("DATABASE_URL", &db.url)
            .env("CIRCLET_BIND", "127.0.0.1:0")
            .env("CIRCLET_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("CIRCLET_INBOX_LEASE_SECS", "2")
            .env("SLACK_API_URL", "http://127.0.0.1:9/api")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circlet serve");
        let stderr = child.stderr.take().expect("stderr");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if record["message"] == "listening"
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(record["address"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its address");
        Serve {
            child,
            base_url: format!("http://{address}"),
        }
    }

    fn sender(&self) -> SignedSender {
        SignedSender::new(self.base_url.clone(), Secret::new(SECRET))
    }

    fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
        let mut first = Serve::start(&db);
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

        let mut second = Serve::start(&db);
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
    let mut serve = Serve::start(&db);
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
