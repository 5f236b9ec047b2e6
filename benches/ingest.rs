//! Ingest benchmark: durable ingest against a verify-only baseline, acknowledgement latency at a
//! fixed open-loop rate, and how fast workers drain a burst.
//!
//!     cargo bench --bench ingest                 # SQLite and PostgreSQL (if reachable)
//!     cargo bench --bench ingest -- --quick      # fewer events, for a smoke run
//!     cargo bench --bench ingest -- --only sqlite   # or postgres
//!     cargo bench --bench ingest -- --scattered-ids # event ids in no order: the index's worst case
//!
//! Every server runs in this process on 127.0.0.1, as does the load generator, which sends
//! pre-signed unique `reaction_added` events (~650 bytes) over HTTP/1.1 keep-alive connections,
//! with ids ordered as Slack's are (`load::EventIds`). The machine is noisy: each figure is the
//! median of several rounds, and the ratio is taken within one round. Each run also measures
//! what the disk takes (fsync'd 64 KiB writes) and what the durable rounds wrote per event, so a
//! run shows when the disk's bandwidth, not the code, sets the durable rate. The open loops
//! start once the disk has caught up with the rounds before them (`settle`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use circlet::app::App;
use circlet::clock::SystemClock;
use circlet::inbox::InboxKind;
use circlet::ingress::body::read_capped;
use circlet::ingress::signature::SignatureVerifier;
use circlet::secret::Secret;
use circlet::server::ServerSettings;
use tokio_util::sync::CancellationToken;

/// The allocator `circlet serve` runs with (src/main.rs).
mod load;

use load::{
    EventIds, POSTGRES_ADMIN_URL, closed_loop, drop_postgres, fresh_postgres, fsynced_write_rate, mean_batch,
    noop_app, open_loop, percentile, presign, settle,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-signing-secret";

struct Options {
    only: Option<String>,
    ids: EventIds,
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
    let ids = EventIds::from_args(&args);
    if args.iter().any(|a| a == "--quick") {
        Options {
            only,
            ids,
            events: 5_000,
            connections,
            rounds: 1,
            open_loop_secs: 3,
            burst: 5_000,
        }
    } else {
        Options {
            only,
            ids,
            events: 40_000,
            connections,
            rounds: 3,
            open_loop_secs: 10,
            burst: 20_000,
        }
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
        match read_capped(&headers, body, ServerSettings::default().body_read).await {
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

async fn start_circlet(database_url: &str) -> (App, SocketAddr) {
    let app = noop_app(SECRET, database_url, &[]).await;
    let addr = app.local_addr();
    (app, addr)
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
                payload: String::from_utf8_lossy(&presign(SECRET, "x", 1, EventIds::SlackOrder)[0].body)
                    .into_owned(),
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

async fn bench_backend(
    name: &str,
    database_url: &str,
    options: &Options,
    baseline: SocketAddr,
    disk_rate: f64,
) {
    println!("\n## {name}\n");
    println!("event ids: {:?}", options.ids);
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
    let stored = app.stored_signal();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    // Warm both servers (connections, statement caches, page cache).
    closed_loop(
        baseline,
        Arc::new(presign(SECRET, "warmb", 2_000, options.ids)),
        options.connections,
    )
    .await;
    closed_loop(
        addr,
        Arc::new(presign(SECRET, "warmc", 2_000, options.ids)),
        options.connections,
    )
    .await;

    let mut ratios = Vec::new();
    let mut durable_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    let mut cpu_base = Vec::new();
    let mut cpu_durable = Vec::new();
    let mut written_per_event = Vec::new();
    let mut written_per_sec = Vec::new();
    println!(
        "| round | verify-only ev/s | p50 / p99 | durable ev/s | p50 / p99 | ratio | CPU µs/event verify-only / durable | disk KiB/event durable |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for round in 0..options.rounds {
        if std::env::var("CIRCLET_BENCH_PROFILE").is_ok() {
            // For a profiler: only the durable path, long enough to sample. The events are
            // signed first and the sending announced on stderr, so a profile can leave the
            // signing out.
            let events = Arc::new(presign(
                SECRET,
                &format!("p{round}"),
                options.events * 4,
                options.ids,
            ));
            eprintln!("profile: sending");
            closed_loop(addr, events, options.connections).await;
            continue;
        }
        let base = closed_loop(
            baseline,
            Arc::new(presign(SECRET, &format!("b{round}"), options.events, options.ids)),
            options.connections,
        )
        .await;
        let durable = closed_loop(
            addr,
            Arc::new(presign(SECRET, &format!("d{round}"), options.events, options.ids)),
            options.connections,
        )
        .await;
        let ratio = durable.events_per_sec / base.events_per_sec;
        println!(
            "| {} | {:.0} | {} / {} | {:.0} | {} / {} | {:.2} | {:.1} / {:.1} | {:.1} |",
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
            durable.disk_bytes_per_event / 1024.0,
        );
        written_per_event.push(durable.disk_bytes_per_event);
        written_per_sec.push(durable.disk_bytes_per_sec);
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
    // The durable rate the disk allows: its own rate for commit-like writes over what each
    // event made it write (the WAL, checkpoints, and the server's own files for PostgreSQL).
    let (per_event, per_sec) = (median(written_per_event), median(written_per_sec));
    if per_event > 0.0 {
        println!(
            "disk: durable rounds wrote {:.1} KiB/event at {:.0} MB/s; the disk takes {:.0} MB/s of fsync'd 64 KiB writes, \
             so it allows about {:.0} ev/s at this size",
            per_event / 1024.0,
            per_sec / 1e6,
            disk_rate / 1e6,
            disk_rate / per_event
        );
    }

    let open_loop_500 = |prefix| {
        open_loop(
            addr,
            Arc::new(presign(SECRET, prefix, 1000, options.ids)),
            500,
            options.open_loop_secs,
        )
    };
    settle(database_url).await;
    let open = open_loop_500("open").await;
    println!(
        "open loop 500 ev/s for {} s: p50 {}, p99 {}, slowest {} (acknowledgement latency, durable); disks wrote {:.1} MB/s",
        options.open_loop_secs,
        ms(open.p50),
        ms(open.p99),
        ms(open.max),
        open.disk_bytes_per_sec / 1e6
    );

    // The same load while two workers (serve's default) take the rows as they come, woken by
    // each commit as serve's are: their claims and settles are writes too, and on SQLite wait
    // for the same write turn as the inbox writer.
    worker.drain().await.expect("drain");
    settle(database_url).await;
    let stop = CancellationToken::new();
    let drainers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(worker.clone().run(stored.clone(), stop.clone())))
        .collect();
    let busy = open_loop_500("busy").await;
    stop.cancel();
    for drainer in drainers {
        drainer.await.expect("drainer");
    }
    println!(
        "open loop 500 ev/s for {} s with two workers draining alongside: p50 {}, p99 {}, slowest {}; disks wrote {:.1} MB/s",
        options.open_loop_secs,
        ms(busy.p50),
        ms(busy.p99),
        ms(busy.max),
        busy.disk_bytes_per_sec / 1e6
    );

    // Drain: clear what the load left, queue a fresh burst, then time two workers (serve's
    // default) finishing it.
    worker.drain().await.expect("drain");
    closed_loop(
        addr,
        Arc::new(presign(SECRET, "burst", options.burst, options.ids)),
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
        // Measured where the SQLite file lives; on this machine PostgreSQL's data directory is on
        // the same disk.
        let disk_rate = fsynced_write_rate(dir.path());
        if options.only.as_deref() != Some("postgres") {
            bench_backend(
                "SQLite (WAL, synchronous=FULL)",
                &sqlite,
                &options,
                baseline,
                disk_rate,
            )
            .await;
        }
        if options.only.as_deref() == Some("sqlite") {
            return;
        }
        match fresh_postgres().await {
            Some((name, url)) => {
                bench_backend("PostgreSQL", &url, &options, baseline, disk_rate).await;
                drop_postgres(&name).await;
            }
            None => println!("\nPostgreSQL not reachable at {POSTGRES_ADMIN_URL}; skipped"),
        }
    });
}
