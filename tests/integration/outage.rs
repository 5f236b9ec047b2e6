//! Slack outages: with the fake Slack answering 429 with Retry-After, 500, too slowly and
//! `ok:false` for a sustained period, nothing is lost and nothing is posted twice once it
//! recovers; rows that ran out of attempts are listed and re-queued with the real CLI.
//!
//! `CIRCLET_OUTAGE_SECS` (default 4) sets the outage length and `CIRCLET_OUTAGE_BACKOFF=serve`
//! uses `circlet serve`'s retry schedule instead of the tests' quick one; docs/RELIABILITY.md
//! records a 60 s run measured that way.

use std::process::Command;
use std::time::{Duration, Instant};

use circlet::inbox::{Backoff, InboxState, WorkerSettings};
use circlet_testkit::fake_slack::Fault;

use crate::helpers::circle::{BOT, CIRCLE, TEAM, message, reaction, send};
use crate::helpers::{TestApp, TestDb};

/// Insights captured before the outage, shipped during it.
const SHIPPED: usize = 10;
/// Messages captured during the outage (their acknowledgements wait for Slack).
const DURING: usize = 20;

fn ts(i: usize) -> String {
    format!("{}.000100", 1_700_000_000 + i)
}

async fn app(settings: WorkerSettings) -> TestApp {
    let app = TestApp::builder(TestDb::sqlite())
        .background_workers()
        .worker_settings(settings)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    crate::helpers::circle::make_circle(&app, CIRCLE).await;
    // Slack has the circle's messages (a retried reply looks for itself in their threads).
    for i in 0..SHIPPED + DURING {
        app.fake.seed_message(
            CIRCLE,
            serde_json::json!({"ts": ts(i), "user": "U0MAYA", "text": format!("Message {i}")}),
        );
    }
    // serve learns this at start, before an outage can begin.
    app.bot_identity().await;
    app
}

async fn wait_until(app: &TestApp, limit: Duration, done: impl Fn(&circlet::inbox::InboxCounts) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let counts = app.store.inbox_counts().await.unwrap();
        if done(&counts) {
            return;
        }
        assert!(Instant::now() < deadline, "inbox still {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ship(app: &TestApp, number: usize) {
    let url = app.fake.response_url(&format!("ship{number}"));
    let answer = app
        .sender
        .command(&[
            ("team_id", TEAM),
            ("user_id", "U0PM"),
            ("command", "/feedback"),
            ("text", &format!("status {number} shipped")),
            ("response_url", &url),
            ("trigger_id", &format!("ship{number}")),
        ])
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
}

/// Bot replies per thread in the circle.
fn replies(app: &TestApp) -> std::collections::HashMap<String, usize> {
    let mut replies = std::collections::HashMap::new();
    for posted in app.fake.messages(CIRCLE) {
        if posted["user"] == BOT
            && let Some(thread) = posted["thread_ts"].as_str()
        {
            *replies.entry(thread.to_owned()).or_insert(0) += 1;
        }
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_outage_loses_nothing_and_posts_nothing_twice() {
    let outage = Duration::from_secs(
        std::env::var("CIRCLET_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4),
    );
    let backoff = match std::env::var("CIRCLET_OUTAGE_BACKOFF").as_deref() {
        Ok("serve") => WorkerSettings::default().backoff,
        _ => Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
    };
    let settings = WorkerSettings {
        backoff,
        max_attempts: 100,
        ..TestApp::quick_worker_settings()
    };
    let app = app(settings).await;
    let before: Vec<_> = (0..SHIPPED)
        .flat_map(|i| {
            [
                message("U0MAYA", CIRCLE, &ts(i), &format!("Before {i}"), None),
                reaction(true, "U0LEA", "bulb", CIRCLE, &ts(i), "U0MAYA", 1),
            ]
        })
        .collect();
    send(&app, &before).await;
    wait_until(&app, Duration::from_secs(20), |c| c.unfinished() == 0).await;

    // Slack goes down: every call gets one of the four failures in turn, until it recovers.
    let faults = [
        Fault::RateLimited { retry_after_secs: 1 },
        Fault::ServerError,
        // Performed, then answered after the client's 500 ms limit: a post that looks failed.
        Fault::Slow(Duration::from_millis(700)),
        Fault::SlackError("internal_error".into()),
    ];
    for _ in 0..5000 {
        for fault in &faults {
            app.fake.inject("*", fault.clone(), 1);
        }
    }
    let outage_started = Instant::now();
    for number in 1..=SHIPPED {
        ship(&app, number).await;
    }
    let during: Vec<_> = (SHIPPED..SHIPPED + DURING)
        .flat_map(|i| {
            [
                message("U0MAYA", CIRCLE, &ts(i), &format!("During {i}"), None),
                reaction(true, "U0LEA", "bug", CIRCLE, &ts(i), "U0MAYA", 2),
            ]
        })
        .collect();
    send(&app, &during).await;
    tokio::time::sleep(outage.saturating_sub(outage_started.elapsed())).await;
    let failed_calls = app.fake.calls().iter().filter(|c| c.http_status != 200).count();
    app.fake.clear_faults();
    let recovered = Instant::now();
    wait_until(&app, Duration::from_secs(180), |c| c.unfinished() == 0).await;
    let recovery = recovered.elapsed();

    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(
        counts.dead,
        0,
        "{:?}",
        app.store.list_inbox(Some(InboxState::Dead), 5).await
    );
    // Each shipped insight has its one reply, though some posts were performed and timed out.
    let expected: std::collections::HashMap<String, usize> = (0..SHIPPED).map(|i| (ts(i), 1)).collect();
    assert_eq!(replies(&app), expected);
    // Every capture made during the outage was acknowledged, and every command answered.
    let acked: std::collections::HashSet<String> = app
        .fake
        .calls_to("reactions.add")
        .into_iter()
        .filter(|c| c.http_status == 200)
        .filter_map(|c| c.params["timestamp"].as_str().map(str::to_owned))
        .collect();
    for i in 0..SHIPPED + DURING {
        assert!(acked.contains(&ts(i)), "message {i} not acknowledged");
    }
    let answered = app.fake.calls_to("response_url");
    for number in 1..=SHIPPED {
        let id = format!("ship{number}");
        assert!(
            answered
                .iter()
                .any(|c| c.params["response_id"] == id && c.http_status == 200),
            "/feedback status {number} unanswered"
        );
    }
    let metrics = app.metrics().await;
    assert!(metrics.contains("result=\"rate_limited\""), "{metrics}");
    eprintln!(
        "outage: {:.1} s, {failed_calls} failed Slack calls; recovered {:.2} s after Slack came back",
        outage.as_secs_f64(),
        recovery.as_secs_f64()
    );
}

fn cli(db_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_circlet"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", db_url)
        .output()
        .expect("run circlet");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_died_in_an_outage_are_listed_requeued_and_post_once() {
    let app = app(WorkerSettings {
        max_attempts: 2,
        ..TestApp::quick_worker_settings()
    })
    .await;
    send(
        &app,
        &[
            message("U0MAYA", CIRCLE, &ts(0), "Refills?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, &ts(0), "U0MAYA", 1),
        ],
    )
    .await;
    wait_until(&app, Duration::from_secs(20), |c| c.unfinished() == 0).await;

    // The reply is posted but its answer comes too late; then Slack fails everything.
    app.fake
        .inject("chat.postMessage", Fault::Slow(Duration::from_millis(700)), 1);
    app.fake.inject("*", Fault::ServerError, 100_000);
    ship(&app, 1).await;
    wait_until(&app, Duration::from_secs(20), |c| {
        c.dead >= 2 && c.unfinished() == 0
    })
    .await;
    assert_eq!(replies(&app).get(&ts(0)), Some(&1), "the slow post went through");

    let listed = cli(&app.db.url, &["inbox", "list", "--dead"]);
    assert!(
        listed.contains("close_loop") && listed.contains("status"),
        "{listed}"
    );
    assert!(listed.contains("HTTP 500"), "{listed}");

    app.fake.clear_faults();
    let retried = cli(&app.db.url, &["inbox", "retry", "--all"]);
    assert!(retried.contains("re-queued 2"), "{retried}");
    wait_until(&app, Duration::from_secs(20), |c| {
        c.unfinished() == 0 && c.dead == 0
    })
    .await;
    assert_eq!(
        replies(&app).get(&ts(0)),
        Some(&1),
        "a re-queued reply must look for the post an earlier attempt made"
    );
    let answered = app.fake.calls_to("response_url");
    assert!(
        answered
            .iter()
            .any(|c| c.params["response_id"] == "ship1" && c.http_status == 200)
    );
}
