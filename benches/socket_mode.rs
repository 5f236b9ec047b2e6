//! Socket Mode benchmark (issue 24): events/s acknowledged over Socket Mode against the HTTP
//! path's closed loop in the same round, and acknowledgement latency at 500 envelopes/s.
//!
//!     cargo bench --bench socket_mode                 # SQLite and PostgreSQL (if reachable)
//!     cargo bench --bench socket_mode -- --quick      # fewer events, one round
//!     cargo bench --bench socket_mode -- --only sqlite   # or postgres
//!     cargo bench --bench socket_mode -- --in-flight 16   # 2 × 16 envelopes at once, as HTTP's 32
//!     CIRCLET_BENCH_PROFILE=1 …                        # only Socket Mode rounds, for a profiler
//!
//! Two apps run in this process, each on a database of its own: one receives Slack's deliveries
//! over Socket Mode (an app-level token, no signing secret, the default two connections to the
//! test kit's fake Socket Mode server on 127.0.0.1), the other over HTTP (a signing secret, the
//! ingest bench's closed loop of 32 keep-alive connections). Both take the same unique
//! `reaction_added` events (~650 bytes, ids ordered as Slack's); over Socket Mode each is wrapped
//! in an `events_api` envelope. A Socket Mode round hands the fake all its envelopes at once, as
//! fast as it takes them; the client stores at most 256 at once per connection (serve's
//! `in_flight`; `--in-flight 16` matches the HTTP loop's 32 requests at once) and stops reading
//! beyond that, so the round measures the rate it acknowledges at, sustained:
//! envelopes acknowledged over the time from the first send to the last ack (the fake's
//! `Ack.at`). The two paths alternate which goes first; the ratio is taken within a round and
//! the median of the rounds reported (the machine is noisy).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use circlet::app::App;
use circlet::socket::SocketSettings;
use circlet::store::SharedStore;
use circlet_testkit::FakeSlack;
use circlet_testkit::fake_socket_mode::{Ack, FakeSocketMode, envelope_id, events_api};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

mod load;

use load::{
    EventIds, POSTGRES_ADMIN_URL, closed_loop, drop_postgres, fresh_postgres, mean_batch, noop_app,
    open_loop, percentile, presign, process_cpu, settle, socket_app,
};

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-signing-secret";
/// The ingest bench's closed loop.
const HTTP_CONNECTIONS: usize = 32;
const OPEN_LOOP_RATE: u64 = 500;
/// Longer than any round takes: past it the bench stops with what it has.
const ACK_WAIT: Duration = Duration::from_secs(300);

struct Options {
    only: Option<String>,
    /// Envelopes each connection stores at once (`SocketSettings::in_flight`; serve's by default).
    in_flight: usize,
    events: usize,
    rounds: usize,
    open_loop_secs: u64,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let in_flight = args
        .iter()
        .position(|a| a == "--in-flight")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(SocketSettings::default().in_flight);
    let quick = args.iter().any(|a| a == "--quick");
    Options {
        only,
        in_flight,
        events: if quick { 5_000 } else { 40_000 },
        rounds: if quick { 1 } else { 3 },
        open_loop_secs: if quick { 3 } else { 10 },
    }
}

/// `n` unique events as the HTTP loop sends them, each in an `events_api` envelope.
fn envelopes(prefix: &str, n: usize) -> Vec<Value> {
    presign(SECRET, prefix, n, EventIds::SlackOrder)
        .iter()
        .map(|signed| events_api(serde_json::from_slice(&signed.body).expect("event JSON")))
        .collect()
}

/// Waits until the fake has recorded `count` acks in all, then returns this round's: those
/// after the first `before`.
async fn acks_after(socket: &FakeSocketMode, before: usize, count: usize) -> Vec<Ack> {
    let deadline = Instant::now() + ACK_WAIT;
    // Polled rather than awaited with `wait_for_acks`, which wakes on every ack and copies all
    // of them each time it returns: the acks' own timestamps say when they came.
    while socket.ack_count() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut acks = socket.acks();
    assert_eq!(acks.len(), count, "every envelope acknowledged, once");
    acks.drain(..before);
    acks
}

struct SocketRun {
    events_per_sec: f64,
    cpu_per_event: Duration,
    /// How long handing all envelopes to the fake took.
    sent_in: Duration,
    /// Acks per connection, in connection order.
    per_connection: Vec<usize>,
}

/// Hands the fake every envelope as fast as it takes them; the rate at which they are acked.
async fn socket_burst(socket: &FakeSocketMode, envelopes: Vec<Value>) -> SocketRun {
    let n = envelopes.len();
    let before = socket.ack_count();
    let cpu_before = process_cpu();
    let started = Instant::now();
    for (i, envelope) in envelopes.into_iter().enumerate() {
        socket.send(envelope).expect("an open Socket Mode connection");
        // Lets the fake's connection tasks start writing while the rest is queued.
        if i % 64 == 63 {
            tokio::task::yield_now().await;
        }
    }
    let sent_in = started.elapsed();
    let acks = acks_after(socket, before, before + n).await;
    let cpu = process_cpu().saturating_sub(cpu_before);
    let last = acks.iter().map(|ack| ack.at).max().expect("acks");
    let mut per_connection = Vec::new();
    for ack in &acks {
        if per_connection.len() <= ack.connection {
            per_connection.resize(ack.connection + 1, 0);
        }
        per_connection[ack.connection] += 1;
    }
    per_connection.retain(|&count| count > 0);
    SocketRun {
        events_per_sec: n as f64 / last.duration_since(started).as_secs_f64(),
        cpu_per_event: cpu / n.max(1) as u32,
        sent_in,
        per_connection,
    }
}

/// Acknowledgement latencies (sorted) of envelopes sent at `rate` per second for `secs`, each
/// counted from its scheduled send time: the fake's `send` only queues, so that is when it went
/// out unless this task fell behind, and then the delay counts too (no coordinated omission).
async fn socket_open_loop(socket: &FakeSocketMode, rate: u64, secs: u64) -> Vec<Duration> {
    let total = (rate * secs) as usize;
    let envelopes = envelopes("open", total);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let before = socket.ack_count();
    let mut scheduled_at = HashMap::with_capacity(total);
    let started = Instant::now() + Duration::from_millis(100);
    for (i, envelope) in envelopes.into_iter().enumerate() {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        scheduled_at.insert(envelope_id(&envelope).to_owned(), scheduled);
        socket.send(envelope).expect("an open Socket Mode connection");
    }
    let acks = acks_after(socket, before, before + total).await;
    let mut latencies: Vec<Duration> = acks
        .iter()
        .map(|ack| ack.at.saturating_duration_since(scheduled_at[&ack.envelope_id]))
        .collect();
    latencies.sort_unstable();
    latencies
}

/// An app running on its own task until `shutdown` is cancelled.
struct Served {
    store: SharedStore,
    metrics: circlet::metrics::Metrics,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), circlet::AppError>>,
}

fn serve(app: App) -> Served {
    Served {
        store: app.store(),
        metrics: app.services().metrics.clone(),
        shutdown: app.shutdown_token(),
        task: tokio::spawn(app.run_until_stopped()),
    }
}

impl Served {
    async fn stored(&self) -> u64 {
        self.store.inbox_counts().await.expect("inbox counts").pending
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn bench_backend(name: &str, socket_url: &str, http_url: &str, options: &Options) {
    println!("\n## {name}\n");
    let slack = FakeSlack::start().await.expect("fake Slack");
    let socket = FakeSocketMode::start().await.expect("fake Socket Mode");
    slack.serve_socket_mode(&socket);
    let settings = SocketSettings {
        in_flight: options.in_flight,
        ..SocketSettings::default()
    };
    let over_socket = serve(socket_app(socket_url, &slack.api_url(), settings).await);
    let http_app = noop_app(SECRET, http_url, &[]).await;
    let http_addr = http_app.local_addr();
    let over_http = serve(http_app);
    let open = socket.wait_for_open_connections(2, Duration::from_secs(10)).await;
    assert_eq!(open, 2, "the default two Socket Mode connections");

    // Warm both (connections, statement caches, page cache).
    closed_loop(
        http_addr,
        Arc::new(presign(SECRET, "warmh", 2_000, EventIds::SlackOrder)),
        HTTP_CONNECTIONS,
    )
    .await;
    socket_burst(&socket, envelopes("warms", 2_000)).await;
    let mut sent_over_socket = 2_000;

    let (mut http_rates, mut socket_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut http_cpu, mut socket_cpu) = (Vec::new(), Vec::new());
    println!(
        "| round | first | HTTP ev/s | p50 / p99 | Socket Mode ev/s | handed to the fake in | acks per connection | ratio | CPU µs/event HTTP / Socket Mode |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for round in 0..options.rounds {
        if std::env::var("CIRCLET_BENCH_PROFILE").is_ok() {
            // For a profiler: only the Socket Mode path, long enough to sample. The envelopes
            // are built first and the sending announced on stderr, so a profile can leave the
            // building out.
            let envelopes = envelopes(&format!("p{round}"), options.events * 4);
            eprintln!("profile: sending");
            let over = socket_burst(&socket, envelopes).await;
            eprintln!("profile: {:.0} envelopes/s", over.events_per_sec);
            sent_over_socket += options.events as u64 * 4;
            continue;
        }
        let http_events = Arc::new(presign(
            SECRET,
            &format!("h{round}"),
            options.events,
            EventIds::SlackOrder,
        ));
        let socket_envelopes = envelopes(&format!("s{round}"), options.events);
        // Alternating which goes first: a path that follows the other also meets its write-back.
        let socket_first = round % 2 == 1;
        let (http, over) = if socket_first {
            let over = socket_burst(&socket, socket_envelopes).await;
            (closed_loop(http_addr, http_events, HTTP_CONNECTIONS).await, over)
        } else {
            let http = closed_loop(http_addr, http_events, HTTP_CONNECTIONS).await;
            (http, socket_burst(&socket, socket_envelopes).await)
        };
        sent_over_socket += options.events as u64;
        assert_eq!(
            over_socket.stored().await,
            sent_over_socket,
            "every acknowledged envelope is in the inbox"
        );
        let ratio = over.events_per_sec / http.events_per_sec;
        println!(
            "| {} | {} | {:.0} | {} / {} | {:.0} | {} | {:?} | {:.2} | {:.1} / {:.1} |",
            round + 1,
            if socket_first { "Socket Mode" } else { "HTTP" },
            http.events_per_sec,
            ms(http.p50),
            ms(http.p99),
            over.events_per_sec,
            ms(over.sent_in),
            over.per_connection,
            ratio,
            micros(http.cpu_per_event),
            micros(over.cpu_per_event),
        );
        http_rates.push(http.events_per_sec);
        socket_rates.push(over.events_per_sec);
        ratios.push(ratio);
        http_cpu.push(micros(http.cpu_per_event));
        socket_cpu.push(micros(over.cpu_per_event));
    }
    println!(
        "\nmedian: HTTP {:.0} ev/s ({HTTP_CONNECTIONS} connections), Socket Mode {:.0} ev/s (2 connections, \
         {} in flight each), ratio {:.2} (target ≥ 0.5); {} events per round",
        median(http_rates),
        median(socket_rates),
        options.in_flight,
        median(ratios),
        options.events
    );
    println!(
        "median CPU per event (whole process): HTTP {:.1} µs, Socket Mode {:.1} µs",
        median(http_cpu),
        median(socket_cpu)
    );
    println!(
        "mean rows per group commit: HTTP {:.1}, Socket Mode {:.1}",
        mean_batch(&over_http.metrics.render()),
        mean_batch(&over_socket.metrics.render())
    );

    settle(socket_url).await;
    let latencies = socket_open_loop(&socket, OPEN_LOOP_RATE, options.open_loop_secs).await;
    println!(
        "Socket Mode open loop {OPEN_LOOP_RATE} envelopes/s for {} s: ack p50 {}, p99 {}, slowest {} \
         (scheduled send to the fake's receipt of the ack)",
        options.open_loop_secs,
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    settle(http_url).await;
    let total = (OPEN_LOOP_RATE * options.open_loop_secs) as usize;
    let http_open = open_loop(
        http_addr,
        Arc::new(presign(SECRET, "open", total, EventIds::SlackOrder)),
        OPEN_LOOP_RATE,
        options.open_loop_secs,
    )
    .await;
    println!(
        "HTTP open loop {OPEN_LOOP_RATE} events/s for {} s: p50 {}, p99 {}, slowest {} (for comparison)",
        options.open_loop_secs,
        ms(http_open.p50),
        ms(http_open.p99),
        ms(http_open.max),
    );
    over_socket.stop().await;
    over_http.stop().await;
}

fn main() {
    circlet::telemetry::install_crypto_provider();
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        if options.only.as_deref() != Some("postgres") {
            bench_backend(
                "SQLite (WAL, synchronous=FULL)",
                &sqlite("socket.db"),
                &sqlite("http.db"),
                &options,
            )
            .await;
        }
        if options.only.as_deref() == Some("sqlite") {
            return;
        }
        match (fresh_postgres().await, fresh_postgres().await) {
            (Some((socket_db, socket_url)), Some((http_db, http_url))) => {
                bench_backend("PostgreSQL", &socket_url, &http_url, &options).await;
                drop_postgres(&socket_db).await;
                drop_postgres(&http_db).await;
            }
            (socket_db, http_db) => {
                for (name, _) in [socket_db, http_db].into_iter().flatten() {
                    drop_postgres(&name).await;
                }
                println!("\nPostgreSQL not reachable at {POSTGRES_ADMIN_URL}; skipped");
            }
        }
    });
}
