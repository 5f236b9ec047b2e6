//! Ingest benchmark: durable ingest against a verify-only baseline, acknowledgement latency at a
//! fixed open-loop rate, and how fast workers drain a burst.
//!
//!     cargo bench --bench ingest                 # SQLite and PostgreSQL (if reachable)
//!     cargo bench --bench ingest -- --quick      # fewer events, for a smoke run
//!     cargo bench --bench ingest -- --only sqlite   # or postgres
//!
//! Every server runs in this process on 127.0.0.1, as does the load generator, which sends
//! pre-signed unique `reaction_added` events (~650 bytes) over HTTP/1.1 keep-alive connections.
//! The machine is noisy: each figure is the median of several rounds, and the ratio is taken
//! within one round.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use circlet::app::App;
use circlet::clock::{Clock, SystemClock};
use circlet::config::{Config, Secret};
use circlet::inbox::{DrainStep, HandlerError, HandlerRegistry, InboxHandler, InboxKind, Job, Worker};
use circlet::ingress::body::read_capped;
use circlet::ingress::signature::{SignatureVerifier, sign};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sqlx::Connection;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-signing-secret";
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

struct Options {
    only: Option<String>,
    events: usize,
    connections: usize,
    rounds: usize,
    open_loop_secs: u64,
    burst: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let connections = args
        .iter()
        .position(|a| a == "--connections")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    if args.iter().any(|a| a == "--quick") {
        Options {
            only,
            events: 5_000,
            connections,
            rounds: 1,
            open_loop_secs: 3,
            burst: 5_000,
        }
    } else {
        Options {
            only,
            events: 40_000,
            connections,
            rounds: 3,
            open_loop_secs: 10,
            burst: 20_000,
        }
    }
}

/// Pre-signed request bodies with their signature headers.
struct Signed {
    body: Bytes,
    timestamp: String,
    signature: String,
}

/// Slack's event ids do not arrive in key order; scattering the bench's ids the same way makes
/// each commit touch the inbox's unique index where real traffic does, not only at its end.
/// Multiplying by 3^18 permutes 0..10^9 (it shares no factor with 10^9), so ids stay unique.
fn scattered(i: usize) -> u64 {
    (i as u64 * 387_420_489) % 1_000_000_000
}

fn presign(prefix: &str, n: usize) -> Vec<Signed> {
    let secret = Secret::new(SECRET);
    let now = SystemClock.now_secs();
    (0..n)
        .map(|i| {
            let body = serde_json::json!({
                "token": "verification_token", "team_id": "T0BENCH", "enterprise_id": "E111", "api_app_id": "A111",
                "event": {"type": "reaction_added", "user": "U0BENCHUSER", "reaction": "bulb", "item_user": "U0AUTHOR",
                          "item": {"type": "message", "channel": "C0BENCHCIRCLE", "ts": format!("1763900000.{i:06}")},
                          "event_ts": "1763900100.000800"},
                "type": "event_callback", "event_id": format!("Ev{prefix}{:09}", scattered(i)), "event_time": 1_763_900_100,
                "authed_users": ["U0BENCHBOT"],
                "authorizations": [{"enterprise_id": null, "team_id": "T0BENCH", "user_id": "U0BENCHBOT", "is_bot": true, "is_enterprise_install": false}],
                "is_ext_shared_channel": false, "event_context": "4-eyJldCI6InJlYWN0aW9uX2FkZGVkIiwidGlkIjoiVDBCRU5DSCJ9"
            })
            .to_string();
            let signature = sign(&secret, now, body.as_bytes());
            Signed { body: Bytes::from(body), timestamp: now.to_string(), signature }
        })
        .collect()
}

/// A client connection that sends one request at a time.
struct Connection1 {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection1 {
    async fn open(addr: SocketAddr) -> Connection1 {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Connection1 { sender }
    }

    async fn send(&mut self, signed: &Signed) -> u16 {
        let request = hyper::Request::post("/slack/events")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", &signed.timestamp)
            .header("x-slack-signature", &signed.signature)
            .body(Full::new(signed.body.clone()))
            .expect("request");
        self.sender.ready().await.expect("ready");
        let response = self.sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        status
    }
}

struct Run {
    events_per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time of this whole process (servers and load generator) per event: unlike the
    /// rates, it barely moves when other work shares the machine.
    cpu_per_event: Duration,
}

/// User plus system CPU time of this process so far (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) close with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the stat line, in clock ticks (100 per second).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Closed loop: every connection sends its share back to back.
async fn closed_loop(addr: SocketAddr, events: Arc<Vec<Signed>>, connections: usize) -> Run {
    let cpu_before = process_cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|lane| {
            let events = events.clone();
            tokio::spawn(async move {
                let mut connection = Connection1::open(addr).await;
                let mut latencies = Vec::with_capacity(events.len() / connections + 1);
                for signed in events.iter().skip(lane).step_by(connections) {
                    let sent = Instant::now();
                    let status = connection.send(signed).await;
                    assert_eq!(status, 200, "bench request refused");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(events.len());
    for task in tasks {
        latencies.extend(task.await.expect("lane"));
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    latencies.sort_unstable();
    Run {
        events_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        cpu_per_event: cpu / latencies.len().max(1) as u32,
    }
}

/// Open loop: requests start on a fixed schedule whatever the server does; latency counts from
/// the scheduled start, so a stall shows up instead of hiding (no coordinated omission).
async fn open_loop(addr: SocketAddr, events: Arc<Vec<Signed>>, rate: u64, secs: u64) -> Run {
    let lanes = 16usize;
    let total = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now() + Duration::from_millis(100);
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            let events = events.clone();
            tokio::spawn(async move {
                let mut connection = Connection1::open(addr).await;
                let mut latencies = Vec::new();
                for i in (lane..total).step_by(lanes) {
                    let scheduled = started + interval * i as u32;
                    tokio::time::sleep_until(scheduled.into()).await;
                    let status = connection.send(&events[i % events.len()]).await;
                    assert_eq!(status, 200);
                    latencies.push(scheduled.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("lane"));
    }
    latencies.sort_unstable();
    Run {
        events_per_sec: latencies.len() as f64 / secs as f64,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        cpu_per_event: Duration::ZERO,
    }
}

/// The baseline: read the body under the same cap, verify the HMAC, answer 200. No parsing, no
/// storage.
async fn start_verify_only() -> SocketAddr {
    let verifier = Arc::new(SignatureVerifier::new(Secret::new(SECRET), Arc::new(SystemClock)));
    async fn verify_only(
        State(verifier): State<Arc<SignatureVerifier>>,
        headers: HeaderMap,
        body: Body,
    ) -> StatusCode {
        match read_capped(&headers, body).await {
            Ok(bytes) if verifier.verify(&headers, &bytes).is_ok() => StatusCode::OK,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
    let router = Router::new()
        .route("/slack/events", post(verify_only))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

struct NoOp;

#[async_trait]
impl InboxHandler for NoOp {
    async fn handle(&self, _job: &Job) -> Result<(), HandlerError> {
        Ok(())
    }
}

async fn start_circlet(database_url: &str) -> (App, SocketAddr) {
    let url = database_url.to_owned();
    let config = Config::from_sources(None, |key| match key {
        "SLACK_SIGNING_SECRET" => Some(SECRET.into()),
        "DATABASE_URL" => Some(url.clone()),
        "CIRCLET_BIND" => Some("127.0.0.1:0".into()),
        "SLACK_API_URL" => Some("http://127.0.0.1:9/api".into()),
        _ => None,
    })
    .expect("config");
    let app = App::builder(config)
        .without_background_workers()
        .handlers(|_| HandlerRegistry::new().with(InboxKind::Event, "reaction_added", Arc::new(NoOp)))
        .build()
        .await
        .expect("app");
    let addr = app.local_addr();
    (app, addr)
}

/// A worker taking rows as they arrive until `stop`, looking again 1 ms after it finds none
/// (serve's workers are woken by each stored batch instead).
async fn drain_until(worker: Worker, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match worker.try_run_next().await.expect("worker") {
            DrainStep::Worked(_) => {}
            DrainStep::Empty => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Mean of the writer's batch-size histogram, from the metrics text.
fn mean_batch(metrics: &str) -> f64 {
    let value = |name: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    value("circlet_ingest_batch_rows_sum") / value("circlet_ingest_batch_rows_count").max(1.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The store alone: how long one group commit of `rows` events takes through the inbox
/// writer's appender, without HTTP. (SQLite's appender blocks this task for the commit; nothing
/// else runs meanwhile.)
async fn store_commit_latency(store: &circlet::store::SharedStore, rows: usize) -> Duration {
    let mut appender = store.inbox_appender().await.expect("appender");
    let mut took = Vec::new();
    for round in 0..200 {
        let items: Vec<_> = (0..rows)
            .map(|i| circlet::inbox::NewInboxItem {
                team_id: "T0BENCH".into(),
                event_id: format!("EvStore{rows}x{round}x{i}"),
                kind: InboxKind::Event,
                event_type: "reaction_added".into(),
                payload: String::from_utf8_lossy(&presign("x", 1)[0].body).into_owned(),
                received_at: 1,
            })
            .collect();
        let started = Instant::now();
        appender.append(&items).await.expect("append");
        took.push(started.elapsed());
        appender.upkeep().await.expect("upkeep");
    }
    took.sort_unstable();
    percentile(&took, 0.5)
}

async fn bench_backend(name: &str, database_url: &str, options: &Options, baseline: SocketAddr) {
    println!("\n## {name}\n");
    let (app, addr) = start_circlet(database_url).await;
    let metrics = app.services().metrics.clone();
    let store = app.store();
    for rows in [1, 32, 128] {
        println!(
            "store alone: commit of {rows} rows p50 {}",
            ms(store_commit_latency(&store, rows).await)
        );
    }
    let worker = app.worker();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    // Warm both servers (connections, statement caches, page cache).
    closed_loop(baseline, Arc::new(presign("warmb", 2_000)), options.connections).await;
    closed_loop(addr, Arc::new(presign("warmc", 2_000)), options.connections).await;

    let mut ratios = Vec::new();
    let mut durable_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    let mut cpu_base = Vec::new();
    let mut cpu_durable = Vec::new();
    println!(
        "| round | verify-only ev/s | p50 / p99 | durable ev/s | p50 / p99 | ratio | CPU µs/event verify-only / durable |"
    );
    println!("|---|---|---|---|---|---|---|");
    for round in 0..options.rounds {
        if std::env::var("CIRCLET_BENCH_PROFILE").is_ok() {
            // For a profiler: only the durable path, long enough to sample.
            closed_loop(
                addr,
                Arc::new(presign(&format!("p{round}"), options.events * 4)),
                options.connections,
            )
            .await;
            continue;
        }
        let base = closed_loop(
            baseline,
            Arc::new(presign(&format!("b{round}"), options.events)),
            options.connections,
        )
        .await;
        let durable = closed_loop(
            addr,
            Arc::new(presign(&format!("d{round}"), options.events)),
            options.connections,
        )
        .await;
        let ratio = durable.events_per_sec / base.events_per_sec;
        println!(
            "| {} | {:.0} | {} / {} | {:.0} | {} / {} | {:.2} | {:.1} / {:.1} |",
            round + 1,
            base.events_per_sec,
            ms(base.p50),
            ms(base.p99),
            durable.events_per_sec,
            ms(durable.p50),
            ms(durable.p99),
            ratio,
            base.cpu_per_event.as_secs_f64() * 1e6,
            durable.cpu_per_event.as_secs_f64() * 1e6,
        );
        cpu_base.push(base.cpu_per_event.as_secs_f64() * 1e6);
        cpu_durable.push(durable.cpu_per_event.as_secs_f64() * 1e6);
        ratios.push(ratio);
        durable_rates.push(durable.events_per_sec);
        baseline_rates.push(base.events_per_sec);
    }
    println!(
        "\nmedian: verify-only {:.0} ev/s, durable {:.0} ev/s, ratio {:.2} ({} connections, {} events per round)",
        median(baseline_rates),
        median(durable_rates),
        median(ratios),
        options.connections,
        options.events
    );

    println!(
        "median CPU per event (whole process): verify-only {:.1} µs, durable {:.1} µs",
        median(cpu_base),
        median(cpu_durable)
    );
    println!("mean rows per group commit: {:.1}", mean_batch(&metrics.render()));

    let open = open_loop(addr, Arc::new(presign("open", 1000)), 500, options.open_loop_secs).await;
    println!(
        "open loop 500 ev/s for {} s: p50 {}, p99 {} (acknowledgement latency, durable)",
        options.open_loop_secs,
        ms(open.p50),
        ms(open.p99)
    );

    // The same load while two workers (serve's default) take the rows as they come: their
    // claims and settles are writes too, and wait for the same write turn as the inbox writer.
    worker.drain().await.expect("drain");
    let stop = CancellationToken::new();
    let drainers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(drain_until(worker.clone(), stop.clone())))
        .collect();
    let busy = open_loop(addr, Arc::new(presign("busy", 1000)), 500, options.open_loop_secs).await;
    stop.cancel();
    for drainer in drainers {
        drainer.await.expect("drainer");
    }
    println!(
        "open loop 500 ev/s for {} s with two workers draining alongside: p50 {}, p99 {}",
        options.open_loop_secs,
        ms(busy.p50),
        ms(busy.p99)
    );

    // Drain: clear what the load left, queue a fresh burst, then time two workers (serve's
    // default) finishing it.
    worker.drain().await.expect("drain");
    closed_loop(
        addr,
        Arc::new(presign("burst", options.burst)),
        options.connections,
    )
    .await;
    let pending = store.inbox_counts().await.expect("counts").pending;
    let started = Instant::now();
    let (a, b) = tokio::join!(worker.drain(), worker.drain());
    let drained = a.expect("drain") + b.expect("drain");
    let elapsed = started.elapsed();
    println!(
        "inbox drain: {drained} of {pending} queued events in {:.2} s = {:.0} events/s (2 workers, no-op handler)",
        elapsed.as_secs_f64(),
        drained as f64 / elapsed.as_secs_f64()
    );
    shutdown.cancel();
    let _ = server.await;
}

async fn fresh_postgres() -> Option<(String, String)> {
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await.ok()?;
    let name = format!("circlet_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .ok()?;
    let url = match std::env::var("CIRCLET_BENCH_PG_SOCKET") {
        Ok(dir) => format!("postgres://postgres@localhost/{name}?host={dir}"),
        Err(_) => format!(
            "postgres://postgres@127.0.0.1:5432/{name}{}",
            std::env::var("CIRCLET_BENCH_PG_PARAMS").unwrap_or_default()
        ),
    };
    Some((name, url))
}

async fn drop_postgres(name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

fn main() {
    circlet::telemetry::install_crypto_provider();
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let baseline = start_verify_only().await;
        // CIRCLET_BENCH_SQLITE_DIR=/dev/shm separates the cost of the disk from the rest.
        let dir = match std::env::var("CIRCLET_BENCH_SQLITE_DIR") {
            Ok(parent) => tempfile::tempdir_in(parent).expect("temp dir"),
            Err(_) => tempfile::tempdir().expect("temp dir"),
        };
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        if options.only.as_deref() != Some("postgres") {
            bench_backend("SQLite (WAL, synchronous=FULL)", &sqlite, &options, baseline).await;
        }
        if options.only.as_deref() == Some("sqlite") {
            return;
        }
        match fresh_postgres().await {
            Some((name, url)) => {
                bench_backend("PostgreSQL", &url, &options, baseline).await;
                drop_postgres(&name).await;
            }
            None => println!("\nPostgreSQL not reachable at {POSTGRES_ADMIN_URL}; skipped"),
        }
    });
}
