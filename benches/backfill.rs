//! Backfill benchmark (issue 25): how fast one circle's missed history is applied, and whether
//! the memory a sweep takes grows with the history's size.
//!
//!     cargo bench --bench backfill                  # 2,500 / 10,000 / 40,000 / 80,000 messages, 3 rounds, SQLite and PostgreSQL
//!     cargo bench --bench backfill -- --quick       # 1,000 / 2,000 messages, 1 round
//!     cargo bench --bench backfill -- --only sqlite # or postgres
//!     cargo bench --bench backfill -- --sizes 2500,10000
//!
//! Each measurement runs in a child process of its own (this binary again, `--child`), so its
//! peak RSS is its own. The child starts a fake Slack on 127.0.0.1 answering at once, seeds one
//! circle's history with `n` messages from the last two days that Circlet never saw (an outage
//! as long as the history), builds the app on a fresh database with pacing off
//! (`AppBuilder::backfill_pace(Duration::ZERO)`), and times one sweep of the circle: reading
//! `conversations.history` page by page, `conversations.replies` for each thread, and applying
//! every page in one transaction through capture. The history is what a busy circle holds: one
//! message in ten tagged :bulb: or :bug: by a member (captured), one in twenty voted :+1: by
//! two others, one in twenty-five with a reply in its thread. The acknowledgement tasks the
//! captures queue are drained afterwards, and timed apart.
//!
//! Memory: the fake Slack runs in a process of its own (this binary, `--fake-slack`), so the
//! child's RSS is Circlet's alone. Before the sweep the child resets its peak RSS
//! (`/proc/self/clear_refs`, 5) and notes its RSS; the peak during the sweep minus that is what
//! the sweep took.

use std::time::{Duration, Instant};

use circlet::app::App;
use circlet::clock::{Clock, SystemClock};
use circlet::config::Config;
use circlet::domain::backfill::SweepRequest;
use circlet::ids::{ChannelId, TeamId};
use circlet::store::CircleChange;
use circlet_testkit::fake_slack::FakeSlack;
use serde_json::{Value, json};

mod load;

use load::{drop_postgres, fresh_postgres};

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEAM: &str = "T0BENCH";
const CIRCLE: &str = "C0BENCH";
const AUTHORS: usize = 60;

struct Options {
    only: Option<String>,
    sizes: Vec<usize>,
    rounds: usize,
}

fn options(args: &[String]) -> Options {
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map(|sizes| sizes.split(',').filter_map(|n| n.parse().ok()).collect());
    Options {
        only,
        sizes: sizes.unwrap_or_else(|| {
            if quick {
                vec![1_000, 2_000]
            } else {
                vec![2_500, 10_000, 40_000, 80_000]
            }
        }),
        rounds: if quick { 1 } else { 3 },
    }
}

/// What one child measured.
#[derive(serde::Serialize, serde::Deserialize)]
struct Measured {
    messages: usize,
    sweep_secs: f64,
    drain_secs: f64,
    applied: u64,
    replies: u64,
    captured_tags: u64,
    votes: u64,
    rss_before_kib: u64,
    rss_peak_kib: u64,
}

fn author(i: usize) -> String {
    format!("U{:05}", 1000 + i % AUTHORS)
}

/// Message `i` of `n`, `i` = 0 the oldest, all within the last two days.
fn history_message(i: usize, n: usize, now_secs: i64) -> Value {
    let span_micros: i64 = 2 * 24 * 3600 * 1_000_000;
    let at = now_secs * 1_000_000 - span_micros + (i as i64) * (span_micros / n as i64);
    let ts = format!("{}.{:06}", at / 1_000_000, at % 1_000_000);
    let mut message = json!({
        "type": "message", "user": author(i), "team": TEAM, "ts": ts,
        "text": format!("Feedback {i}: the serum pump could be smoother, and the refill packs are hard to open"),
    });
    let mut reactions = Vec::new();
    if i.is_multiple_of(10) {
        let emoji = if i.is_multiple_of(20) { "bulb" } else { "bug" };
        reactions.push(json!({"name": emoji, "users": [author(i + 7)], "count": 1}));
    }
    if i % 20 == 5 {
        reactions.push(json!({"name": "+1", "users": [author(i + 11), author(i + 13)], "count": 2}));
    }
    if !reactions.is_empty() {
        message["reactions"] = Value::Array(reactions);
    }
    message
}

fn reply_to(parent: &Value, i: usize) -> Value {
    let parent_ts = parent["ts"].as_str().unwrap_or_default();
    let (secs, micros) = parent_ts.split_once('.').unwrap_or((parent_ts, "0"));
    let ts = format!("{}.{micros}", secs.parse::<i64>().unwrap_or(0) + 1);
    json!({"type": "message", "user": author(i + 3), "team": TEAM, "ts": ts, "thread_ts": parent_ts,
        "text": format!("Same here, reply {i}")})
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Serves one circle's history of `messages` from a fake Slack in this process, prints its URL,
/// and serves until its parent closes stdin.
async fn fake_slack_process(messages: usize) {
    let fake = FakeSlack::start().await.expect("fake Slack");
    fake.set_team(TEAM);
    let now_secs = SystemClock.now_secs();
    for i in 0..messages {
        let message = history_message(i, messages, now_secs);
        if i % 25 == 3 {
            fake.seed_message(CIRCLE, reply_to(&message, i));
        }
        fake.seed_message(CIRCLE, message);
    }
    println!("{}", fake.api_url());
    let mut stdin = tokio::io::stdin();
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdin, &mut rest).await;
}

/// A fake Slack in a process of its own, so that its copy of the history is not in the
/// measured process's RSS: the child and its API URL.
fn spawn_fake_slack(messages: usize) -> (std::process::Child, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut fake = std::process::Command::new(exe)
        .args(["--fake-slack", &messages.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fake Slack process");
    let stdout = fake.stdout.take().expect("fake's stdout");
    let mut url = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut url).expect("fake's URL");
    (fake, url.trim().to_owned())
}

async fn child(messages: usize, backend: &str) -> Measured {
    let (mut fake, api_url) = spawn_fake_slack(messages);
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, postgres) = match backend {
        "postgres" => {
            let (name, url) = fresh_postgres().await.expect("PostgreSQL on 127.0.0.1:5432");
            (url, Some(name))
        }
        _ => (
            format!("sqlite://{}", dir.path().join("backfill.db").display()),
            None,
        ),
    };
    let env = [
        ("SLACK_SIGNING_SECRET", "bench".to_owned()),
        ("SLACK_BOT_TOKEN", "xoxb-bench".to_owned()),
        ("SLACK_API_URL", api_url),
        ("DATABASE_URL", database_url),
        ("CIRCLET_BIND", "127.0.0.1:0".to_owned()),
        ("CIRCLET_SWEEP_MINUTES", "0".to_owned()),
    ];
    let config = Config::from_sources(None, |key| {
        env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    })
    .expect("config");
    let app = App::builder(config)
        .without_background_workers()
        .backfill_pace(Duration::ZERO)
        .build()
        .await
        .expect("app");
    let (team, channel) = (
        TeamId::parse(TEAM).expect("team"),
        ChannelId::parse(CIRCLE).expect("channel"),
    );
    app.store()
        .set_circle(&CircleChange {
            team_id: &team,
            channel_id: &channel,
            active: true,
            changed_by: None,
            at: 0,
        })
        .await
        .expect("circle");
    let request = SweepRequest {
        team: team.clone(),
        channel: None,
        since: None,
    };
    let backfill = app.services().backfill.clone();
    let worker = app.worker();

    // Peak RSS from here on is the sweep's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before_kib = rss_kib("VmRSS:");
    let started = Instant::now();
    let recovered = backfill.sweep(&request, &|_, _| {}).await.expect("sweep");
    let sweep_secs = started.elapsed().as_secs_f64();
    let rss_peak_kib = rss_kib("VmHWM:");
    let started = Instant::now();
    worker.drain().await.expect("drain");
    let drain_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        recovered.messages as usize, messages,
        "every message applied: {recovered:?}"
    );
    drop(app);
    drop(fake.stdin.take());
    let _ = fake.wait();
    if let Some(name) = postgres {
        drop_postgres(&name).await;
    }
    Measured {
        messages,
        sweep_secs,
        drain_secs,
        applied: recovered.messages,
        replies: recovered.replies,
        captured_tags: recovered.reactions,
        votes: recovered.votes,
        rss_before_kib,
        rss_peak_kib,
    }
}

fn run_child(messages: usize, backend: &str) -> Measured {
    let exe = std::env::current_exe().expect("own path");
    let output = std::process::Command::new(exe)
        .args(["--child", &messages.to_string(), backend])
        .output()
        .expect("child");
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .expect("a result line");
    serde_json::from_str(line).expect("result JSON")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--fake-slack") {
        let messages: usize = args[at + 1].parse().expect("size");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(fake_slack_process(messages));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let messages: usize = args[at + 1].parse().expect("size");
        let backend = args[at + 2].clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let measured = runtime.block_on(child(messages, &backend));
        println!("{}", serde_json::to_string(&measured).expect("JSON"));
        return;
    }
    let options = options(&args);
    for backend in ["sqlite", "postgres"] {
        if options.only.as_deref().is_some_and(|only| only != backend) {
            continue;
        }
        println!(
            "\n{backend}: one circle's history swept, pacing off (median of {} rounds)",
            options.rounds
        );
        println!(
            "{:>9} {:>12} {:>10} {:>9} {:>8} {:>8} {:>8} {:>15} {:>10}",
            "messages",
            "messages/s",
            "sweep s",
            "drain s",
            "replies",
            "tags",
            "votes",
            "sweep took MiB",
            "peak MiB"
        );
        for &size in &options.sizes {
            let runs: Vec<Measured> = (0..options.rounds).map(|_| run_child(size, backend)).collect();
            let rate = median(runs.iter().map(|m| m.messages as f64 / m.sweep_secs).collect());
            let sweep = median(runs.iter().map(|m| m.sweep_secs).collect());
            let drain = median(runs.iter().map(|m| m.drain_secs).collect());
            let grew = median(
                runs.iter()
                    .map(|m| m.rss_peak_kib.saturating_sub(m.rss_before_kib) as f64 / 1024.0)
                    .collect(),
            );
            let peak = median(runs.iter().map(|m| m.rss_peak_kib as f64 / 1024.0).collect());
            let first = &runs[0];
            println!(
                "{:>9} {:>12.0} {:>10.2} {:>9.2} {:>8} {:>8} {:>8} {:>15.1} {:>10.1}",
                size, rate, sweep, drain, first.replies, first.captured_tags, first.votes, grew, peak
            );
            assert_eq!(first.applied as usize, size);
        }
    }
}
