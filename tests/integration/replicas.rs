//! Two `circlet serve` replicas (the real binary) on one PostgreSQL database, fed 10,000 signed
//! events split between them, with Slack's duplicate deliveries and retries, and one replica
//! killed with SIGKILL mid-run: every event is processed once, no insight or vote is doubled,
//! and every shipped insight gets exactly one reply in its thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use circlet::inbox::InboxState;
use circlet::store::{CircleChange, MessageRef, SharedStore};
use circlet_testkit::fake_slack::FakeSlack;
use circlet_testkit::sender::{Answer, SignedSender};
use serde_json::{Value, json};

use crate::helpers::TestDb;
use crate::helpers::circle::{BOT, CIRCLE, TEAM, message, reaction};
use crate::helpers::serve::Serve;

/// Messages in the circle; each brings five events (the message, a :bulb:, three votes).
const MESSAGES: usize = 2000;
const VOTERS: [&str; 3] = ["U0VOTE1", "U0VOTE2", "U0VOTE3"];
/// Insights shipped in the second half, each replied to in its thread once.
const SHIPPED: usize = 200;
/// Keep-alive connections per replica.
const LANES: usize = 12;

fn ts(i: usize) -> String {
    format!("{}.000100", 1_700_000_000 + i)
}

fn events_of(i: usize) -> Vec<Value> {
    let author = format!("U0AUTH{}", i % 40);
    let mut events = vec![
        message(&author, CIRCLE, &ts(i), &format!("Idea number {i}"), None),
        reaction(true, "U0LEA", "bulb", CIRCLE, &ts(i), &author, 1),
    ];
    for (n, voter) in VOTERS.iter().enumerate() {
        events.push(reaction(true, voter, "+1", CIRCLE, &ts(i), &author, 2 + n as u32));
    }
    events
}

/// What one lane sends: an event, a Slack retry of an event, or `/feedback status N shipped`.
#[derive(Clone)]
enum Delivery {
    Event(Value),
    Retry(Value),
    Ship(i64),
}

struct Replicas {
    senders: [Arc<SignedSender>; 2],
    response_base: String,
}

impl Replicas {
    /// Sends on replica `to`; when it cannot answer (killed), Slack's retry reaches the other.
    async fn deliver(&self, to: usize, delivery: &Delivery) -> Answer {
        for (attempt, replica) in [to, 1 - to].into_iter().enumerate() {
            let sender = &self.senders[replica];
            let answer = match delivery {
                Delivery::Event(event) if attempt == 0 => sender.event(event).await,
                Delivery::Event(event) | Delivery::Retry(event) => sender.event_retry(event, 1).await,
                Delivery::Ship(number) => {
                    let url = format!("{}/response/ship{number}", self.response_base);
                    let text = format!("status #{number} shipped");
                    sender
                        .command(&[
                            ("team_id", TEAM),
                            ("user_id", "U0PM"),
                            ("command", "/feedback"),
                            ("text", &text),
                            ("response_url", &url),
                            ("trigger_id", &format!("ship{number}")),
                        ])
                        .await
                }
            };
            if let Ok(answer) = answer
                && answer.status == 200
            {
                return answer;
            }
        }
        panic!("neither replica acknowledged a delivery");
    }

    /// Sends everything, item `k` to replica `k % 2` over [`LANES`] connections each; every
    /// tenth event is delivered again to the other replica as Slack's retry. Counts answers.
    async fn send_all(self: &Arc<Self>, deliveries: Vec<Delivery>, acked: Arc<AtomicUsize>) {
        let mut plan: Vec<(usize, Delivery)> = Vec::new();
        for (k, delivery) in deliveries.into_iter().enumerate() {
            let duplicate = match &delivery {
                Delivery::Event(event) if k % 10 == 0 => Some(Delivery::Retry(event.clone())),
                _ => None,
            };
            plan.push((k % 2, delivery));
            if let Some(duplicate) = duplicate {
                plan.push((1 - k % 2, duplicate));
            }
        }
        let plan = Arc::new(plan);
        let mut lanes = Vec::new();
        for lane in 0..2 * LANES {
            let (replicas, plan, acked) = (self.clone(), plan.clone(), acked.clone());
            lanes.push(tokio::spawn(async move {
                for (to, delivery) in plan.iter().skip(lane).step_by(2 * LANES) {
                    replicas.deliver(*to, delivery).await;
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for lane in lanes {
            lane.await.expect("lane");
        }
    }
}

/// Waits until every inbox row is done; panics on a dead row or after `limit`.
async fn wait_until_done(store: &SharedStore, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let counts = store.inbox_counts().await.unwrap();
        assert_eq!(
            counts.dead,
            0,
            "a row died: {:?}",
            store.list_inbox(Some(InboxState::Dead), 5).await
        );
        if counts.unfinished() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "still unfinished: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_process_every_event_once_and_survive_a_kill_9() {
    let db = TestDb::postgres().await;
    let fake = FakeSlack::start().await.unwrap();
    let store = db.store().await;
    let circle = CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(CIRCLE),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0PM")),
        at: 0,
    };
    store.set_circle(&circle).await.unwrap();
    for i in 0..MESSAGES {
        // Slack has every message, for a reaction processed before its message event.
        let author = format!("U0AUTH{}", i % 40);
        fake.seed_message(
            CIRCLE,
            json!({"ts": ts(i), "user": author, "text": format!("Idea number {i}")}),
        );
    }
    let api_url = fake.api_url();
    let env = [
        ("SLACK_BOT_TOKEN", "xoxb-replicas"),
        ("SLACK_API_URL", api_url.as_str()),
        ("CIRCLET_PRODUCT_USERS", "U0PM"),
        // Both replicas find the week due at start: its digest and recap go out once.
        ("CIRCLET_DIGEST_CHANNEL", "C0PRODUCT"),
        // A killed replica's claims lapse after a second, so the survivor takes them over fast.
        ("CIRCLET_INBOX_LEASE_SECS", "1"),
        ("RUST_LOG", "warn,circlet::app=info"),
    ];
    let mut first = Serve::start(&db.url, &env);
    let second = Serve::start(&db.url, &env);
    let replicas = Arc::new(Replicas {
        senders: [Arc::new(first.sender()), Arc::new(second.sender())],
        response_base: fake.base_url(),
    });
    let acked = Arc::new(AtomicUsize::new(0));

    // First half: both replicas up.
    let started = Instant::now();
    let half: Vec<Delivery> = (0..MESSAGES / 2)
        .flat_map(events_of)
        .map(Delivery::Event)
        .collect();
    let first_half = half.len();
    replicas.send_all(half, acked.clone()).await;
    let sent_half = started.elapsed();
    wait_until_done(&store, Duration::from_secs(120)).await;
    let both_up = started.elapsed();

    // Ship the first SHIPPED insights while the second half streams in; kill one replica mid-way.
    let mut numbers: HashMap<i64, usize> = HashMap::new();
    {
        let mut tx = store.begin().await.unwrap();
        for i in 0..MESSAGES / 2 {
            let at = MessageRef {
                team_id: crate::helpers::ids::team(TEAM),
                channel_id: crate::helpers::ids::channel(CIRCLE),
                ts: &ts(i),
            };
            let insight = tx
                .insight_by_message(at)
                .await
                .unwrap()
                .expect("captured in the first half");
            numbers.insert(insight.number, i);
        }
    }
    let mut second_half: Vec<Delivery> = (MESSAGES / 2..MESSAGES)
        .flat_map(events_of)
        .map(Delivery::Event)
        .collect();
    let second_events = second_half.len();
    for n in 0..SHIPPED {
        second_half.insert(n * 20, Delivery::Ship(n as i64 + 1));
    }
    let acked_before = acked.load(Ordering::SeqCst);
    let stream = tokio::spawn({
        let (replicas, acked) = (replicas.clone(), acked.clone());
        async move { replicas.send_all(second_half, acked).await }
    });
    while acked.load(Ordering::SeqCst) < acked_before + second_events / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let running_at_kill = store.inbox_counts().await.unwrap().running;
    first.kill_hard();
    let killed_at = Instant::now();
    stream.await.unwrap();
    wait_until_done(&store, Duration::from_secs(120)).await;
    let total = started.elapsed();
    let after_kill = killed_at.elapsed();

    // Every event stored once and processed.
    let rows = store.list_inbox(None, 100_000).await.unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|row| row.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "an event was stored twice");
    let events = rows.iter().filter(|row| row.event_id.starts_with("Ev")).count();
    assert_eq!(events, 5 * MESSAGES, "every event stored");
    assert!(rows.iter().all(|row| row.state == InboxState::Done));
    let retaken = rows.iter().filter(|row| row.attempts > 1).count();

    // One insight per message, its :bulb: tag and its three votes, none doubled.
    let mut tx = store.begin().await.unwrap();
    let counts = tx.insight_counts(crate::helpers::ids::team(TEAM)).await.unwrap();
    let counts: Vec<(&str, i64)> = counts
        .iter()
        .map(|c| (c.channel_id.as_str(), c.insights))
        .collect();
    assert_eq!(counts, vec![(CIRCLE, MESSAGES as i64)]);
    for i in 0..MESSAGES {
        let at = MessageRef {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel(CIRCLE),
            ts: &ts(i),
        };
        let insight = tx.insight_by_message(at).await.unwrap().expect("captured");
        assert_eq!(
            tx.voters(insight.id).await.unwrap().len(),
            VOTERS.len(),
            "votes of message {i}"
        );
        assert_eq!(tx.tags(insight.id).await.unwrap(), ["idea"]);
    }
    drop(tx);

    // The week's digest and the circle's recap, once each, however many replicas claimed.
    let keys = |channel: &str| -> Vec<String> {
        fake.messages(channel)
            .iter()
            .filter(|m| m["thread_ts"].is_null())
            .filter_map(|m| m["metadata"]["event_payload"]["key"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(keys("C0PRODUCT").len(), 1, "one digest: {:?}", keys("C0PRODUCT"));
    let recaps = keys(CIRCLE);
    assert_eq!(
        recaps.iter().filter(|k| k.starts_with("recap:")).count(),
        1,
        "one recap: {recaps:?}"
    );

    // Exactly one close-the-loop reply in each shipped insight's thread, none elsewhere.
    let mut replies: HashMap<String, usize> = HashMap::new();
    for posted in fake.messages(CIRCLE) {
        if posted["user"] == BOT
            && let Some(thread) = posted["thread_ts"].as_str()
        {
            *replies.entry(thread.to_owned()).or_default() += 1;
        }
    }
    let expected: HashMap<String, usize> = (1..=SHIPPED as i64).map(|n| (ts(numbers[&n]), 1)).collect();
    assert_eq!(replies, expected, "thread replies per thread");
    let answered = fake.calls_to("response_url");
    for n in 1..=SHIPPED {
        let id = format!("ship{n}");
        assert!(
            answered.iter().any(|call| call.params["response_id"] == id),
            "/feedback status #{n} unanswered"
        );
    }
    store.close().await;

    let sent = acked.load(Ordering::SeqCst);
    eprintln!(
        "replicas: first half acknowledged in {:.2} s; {first_half} events with both replicas in {:.2} s ({:.0} events/s processed); \
         {sent} deliveries in all ({} events, {SHIPPED} commands, retries and duplicates) in {:.2} s \
         ({:.0} events/s); after the kill -9 ({running_at_kill} rows running at that moment) the survivor \
         finished in {:.2} s; {retaken} rows ran more than once",
        sent_half.as_secs_f64(),
        both_up.as_secs_f64(),
        first_half as f64 / both_up.as_secs_f64(),
        5 * MESSAGES,
        total.as_secs_f64(),
        (5 * MESSAGES) as f64 / total.as_secs_f64(),
        after_kill.as_secs_f64(),
    );
}
