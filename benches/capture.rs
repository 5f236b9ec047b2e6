//! Capture benchmark: how fast workers turn a burst of queued reaction events into insights.
//!
//!     cargo bench --bench capture               # 10,000 reactions, 3 rounds, SQLite
//!     cargo bench --bench capture -- --quick    # 2,000 reactions, 1 round
//!
//! Each round starts from a fresh SQLite file (WAL, synchronous=FULL) with one circle whose
//! 2,000 recent messages are in the message cache (as `message` events would have left them),
//! queues the burst straight into the inbox (ingest has its own benchmark), then runs two
//! workers (`circlet serve`'s default) with the real handlers until the inbox is empty. The burst
//! is what a busy circle sends: per message one or two tag reactions (:bulb:, :bug:, :heart:…)
//! and the rest :+1: votes from different members. Timed until the inbox is empty, follow-up
//! tasks included. The first series times capture itself (the acknowledgement tasks are
//! queued, claimed and settled but call nothing); the second adds the 2,000 `reactions.add`
//! acknowledgements sent to a local fake Slack. The third asks what a burst does to the
//! acknowledgement of new events: a larger burst is captured while signed events arrive over
//! HTTP at 500/s (open loop), and their acknowledgement latency is reported.

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load;

use std::sync::Arc;
use std::time::{Duration, Instant};

use circlet::app::{App, default_handlers};
use circlet::clock::{Clock, SystemClock};
use circlet::config::Config;
use circlet::domain::capture::ACK_TASK;
use circlet::ids::{ChannelId, TeamId, UserId};
use circlet::inbox::{HandlerError, InboxHandler, InboxKind, Job, NewInboxItem};
use circlet::store::{CachedMessage, CircleChange};
use circlet_testkit::fake_slack::FakeSlack;
use load::{EventIds, Run, open_loop, presign};
use serde_json::json;

const SECRET: &str = "bench";
const TEAM: &str = "T0BENCH";
const CIRCLE: &str = "C0BENCH";
const MESSAGES: usize = 2_000;
const TAG_EMOJI: &[&str] = &["bulb", "bug", "heart", "confused", "memo"];

fn reaction_event(i: usize, now_secs: i64) -> NewInboxItem {
    let message = i % MESSAGES;
    let nth = i / MESSAGES; // 0, 1, 2… th reaction on this message
    let emoji = if nth < 2 {
        TAG_EMOJI[(message + nth) % TAG_EMOJI.len()]
    } else {
        "+1"
    };
    let event_id = format!("EvBench{i:08}");
    let payload = json!({
        "token": "bench", "team_id": TEAM, "api_app_id": "A0BENCH", "type": "event_callback",
        "event_id": event_id, "event_time": now_secs,
        "event": {
            "type": "reaction_added", "user": format!("U{:05}", nth * 7 + message % 50),
            "reaction": emoji, "item_user": format!("U{:05}", message % 50 + 1000),
            "item": {"type": "message", "channel": CIRCLE, "ts": message_ts(message)},
            "event_ts": format!("{now_secs}.{i:06}"),
        }
    });
    NewInboxItem {
        team_id: TEAM.to_owned(),
        event_id,
        kind: InboxKind::Event,
        event_type: "reaction_added".to_owned(),
        payload: payload.to_string(),
        received_at: SystemClock.now_millis(),
    }
}

fn message_ts(message: usize) -> String {
    format!("1700000000.{message:06}")
}

struct Round {
    secs: f64,
    insights: i64,
    /// Acknowledgements of the events sent while the burst was captured, when asked for.
    probe: Option<Run>,
}

/// Signed events sent over HTTP at this rate, for this long, while a burst is captured. They
/// come from the load generator's workspace but another channel, so capture stores and skips
/// them.
const PROBE_RATE: u64 = 500;

/// Stands in for the acknowledgement task when only capture is timed.
struct SkipAck;

#[async_trait::async_trait]
impl InboxHandler for SkipAck {
    async fn handle(&self, _job: &Job) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// One burst from a fresh database. Without `acks`, the acknowledgement tasks are still queued,
/// claimed and settled, but send nothing to Slack: that isolates capture itself.
async fn round(events: usize, acks: bool, probe: Option<Duration>) -> Round {
    let fake = FakeSlack::start().await.expect("fake Slack");
    // The bot token belongs to the bench's workspace; Circlet ignores any other.
    fake.set_team(TEAM);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("capture.db").display());
    let env = [
        ("SLACK_SIGNING_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_owned()),
        ("SLACK_API_URL", fake.api_url()),
        ("DATABASE_URL", database_url),
        ("CIRCLET_BIND", "127.0.0.1:0".to_owned()),
    ];
    let config = Config::from_sources(None, |key| {
        env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    })
    .expect("config");
    let app = App::builder(config)
        .without_background_workers()
        .handlers(move |services| {
            let mut registry = default_handlers(services);
            if !acks {
                registry.register(InboxKind::Task, ACK_TASK, Arc::new(SkipAck));
            }
            registry
        })
        .build()
        .await
        .expect("app");
    let (store, worker, addr) = (app.store(), app.worker(), app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let (team, channel) = (
        TeamId::parse(TEAM).expect("team"),
        ChannelId::parse(CIRCLE).expect("channel"),
    );
    let circle = CircleChange {
        team_id: &team,
        channel_id: &channel,
        active: true,
        changed_by: None,
        at: 0,
    };
    store.set_circle(&circle).await.expect("circle");
    let mut tx = store.begin().await.expect("tx");
    for message in 0..MESSAGES {
        let cached = CachedMessage {
            team_id: team.clone(),
            channel_id: channel.clone(),
            ts: message_ts(message),
            user_id: Some(UserId::parse(format!("U{:05}", message % 50 + 1000)).expect("user")),
            text: format!("Feedback number {message}: the serum pump could be smoother"),
            thread_ts: None,
            user_team_id: None,
        };
        tx.put_message(&cached, SystemClock.now_millis())
            .await
            .expect("cache");
    }
    tx.commit().await.expect("commit");
    let now_secs = SystemClock.now_secs();
    let burst: Vec<NewInboxItem> = (0..events).map(|i| reaction_event(i, now_secs)).collect();
    for chunk in burst.chunks(500) {
        store.insert_inbox(chunk).await.expect("queue");
    }

    let started = Instant::now();
    let capture = async {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let worker = worker.clone();
                tokio::spawn(async move { worker.drain().await.expect("drain") })
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker");
        }
        started.elapsed()
    };
    let (total, probe) = match probe {
        None => (capture.await, None),
        Some(length) => {
            let requests = (PROBE_RATE * length.as_secs()) as usize;
            let sent = Arc::new(presign(SECRET, "probe", requests, EventIds::SlackOrder));
            let (total, acks) = tokio::join!(capture, open_loop(addr, sent, PROBE_RATE, length.as_secs()));
            (total, Some(acks))
        }
    };
    worker.drain().await.expect("final drain");

    let counts = store.inbox_counts().await.expect("counts");
    assert_eq!(counts.dead, 0, "no row may fail");
    assert_eq!(counts.unfinished(), 0);
    let mut tx = store.begin().await.expect("tx");
    let insights: i64 = tx
        .insight_counts(&team)
        .await
        .expect("counts")
        .iter()
        .map(|count| count.insights)
        .sum();
    drop(tx);
    let expected_acks = if acks { MESSAGES.min(events) } else { 0 };
    assert_eq!(
        fake.calls_to("reactions.add").len(),
        expected_acks,
        "one ack per message"
    );
    shutdown.cancel();
    server.await.expect("server").expect("serve");
    Round {
        secs: total.as_secs_f64(),
        insights,
        probe,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    circlet::telemetry::install_crypto_provider();
    let quick = std::env::args().any(|a| a == "--quick");
    let (events, rounds) = if quick { (2_000, 1) } else { (10_000, 3) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "Capture: {events} queued reaction events on {MESSAGES} cached circle messages, 2 workers, SQLite"
        );
        for (acks, what) in [
            (false, "into insights"),
            (true, "including the acknowledgement reactions sent to Slack"),
        ] {
            let mut rates = Vec::new();
            for n in 1..=rounds {
                let result = round(events, acks, None).await;
                let rate = events as f64 / result.secs;
                println!(
                    "  {what}, round {n}: {:.2} s, {rate:.0} ev/s, {} insights",
                    result.secs, result.insights
                );
                rates.push(rate);
            }
            println!(
                "median {what}: {:.0} ev/s (target ≥ 5,000 ev/s into insights)",
                median(rates)
            );
        }
        let (burst, length) = if quick { (10_000, 1) } else { (40_000, 2) };
        let mut p99s = Vec::new();
        for n in 1..=rounds {
            let result = round(burst, false, Some(Duration::from_secs(length))).await;
            let acks = result.probe.expect("probe");
            println!(
                "  acknowledgements at {PROBE_RATE}/s during a {burst}-event capture burst, round {n}: \
                 p50 {:.2} ms, p99 {:.2} ms (burst captured in {:.2} s)",
                acks.p50.as_secs_f64() * 1e3,
                acks.p99.as_secs_f64() * 1e3,
                result.secs
            );
            p99s.push(acks.p99.as_secs_f64() * 1e3);
        }
        println!(
            "median p99 of acknowledgements during a capture burst: {:.2} ms (target ≤ 5 ms at 500 ev/s)",
            median(p99s)
        );
    });
}
