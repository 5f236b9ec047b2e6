//! Siege (issue 21's figure): Slack's acknowledgements and readiness while unauthenticated,
//! slow and stalled clients press on `circlet serve`.
//!
//!     cargo bench --bench siege                          # SQLite, then PostgreSQL, 30 s each
//!     cargo bench --bench siege -- --only sqlite --secs 60
//!     cargo bench --bench siege -- --without probes,bogus,readers,stalled   # any of them, to see what each costs
//!
//! `circlet serve` (the binary Cargo built with this bench, or the one `CIRCLET_SIEGE_SERVE`
//! names, e.g. an earlier build to compare with; default settings) runs as a child
//! process on a fresh database holding 10,000 insights of ~1 KB (an ~11 MB export), with a fake
//! Slack in this process. Against it, from this process, on 127.0.0.1:
//! - 48 clients loop on `/metrics` and `/readyz` (24 each, keep-alive, back to back);
//! - 16 clients loop on the export API, each request with a new bogus token;
//! - 6 clients read the export API one byte per second (the status line at once), coming back
//!   after `Retry-After` when refused and when cut off;
//! - 300 connections stall mid-request (150 in their headers, 150 in their bodies) and reconnect
//!   whenever the server closes them;
//! - once those run (5 s), signed `reaction_added` events at 250/s in an open loop over 16
//!   connections (`load::open_loop_counting`).
//!
//! Reported: the events' answers and latency from their scheduled start, `/readyz`'s and
//! `/metrics`'s answers and latency, what the other clients got, and how long `serve` took to
//! stop after SIGTERM with the stalled connections still open. Latencies count only while the
//! events are sent.

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use circlet::clock::{Clock, SystemClock};
use circlet::domain::tokens;
use circlet::store;
use circlet_testkit::fake_slack::FakeSlack;
use load::{Connection1, EventIds, open_loop_counting, percentile, presign};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bench-signing-secret";
/// The load generator's workspace (`load::presign`), which the fake Slack says the bot is in.
const TEAM: &str = "T0BENCH";
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const PROBERS: usize = 48;
const BOGUS_TOKEN_CLIENTS: usize = 16;
const SLOW_READERS: usize = 6;
const STALLED: usize = 300;
const EVENTS_PER_SEC: u64 = 250;
const INSIGHTS: i64 = 10_000;
const TEXT_BYTES: usize = 1_000;
const WARM_UP: Duration = Duration::from_secs(5);

struct Options {
    only: Option<String>,
    secs: u64,
    /// Client groups left out: `probes`, `bogus`, `readers`, `stalled`.
    without: Vec<String>,
}

impl Options {
    /// `count`, or none when `group` is left out.
    fn clients(&self, group: &str, count: usize) -> usize {
        if self.without.iter().any(|g| g == group) {
            0
        } else {
            count
        }
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    Options {
        only: value("--only"),
        secs: value("--secs").and_then(|s| s.parse().ok()).unwrap_or(30),
        without: value("--without")
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

#[tokio::main]
async fn main() {
    circlet::telemetry::install_crypto_provider();
    let options = options();
    println!(
        "siege: {} probers, {} bogus-token clients, {} export readers at 1 byte/s, \
         {} stalled connections; signed events at {EVENTS_PER_SEC}/s for {} s",
        options.clients("probes", PROBERS),
        options.clients("bogus", BOGUS_TOKEN_CLIENTS),
        options.clients("readers", SLOW_READERS),
        options.clients("stalled", STALLED),
        options.secs
    );
    for backend in ["sqlite", "postgres"] {
        if options.only.as_deref().is_some_and(|only| only != backend) {
            continue;
        }
        siege(backend, &options).await;
    }
}

async fn siege(backend: &'static str, options: &Options) {
    let secs = options.secs;
    let fake = FakeSlack::start().await.expect("fake Slack");
    fake.set_team(TEAM);
    let database = Database::create(backend).await;
    let token = prepare(&database.url).await;
    let mut serve = Serve::start(&database.url, &fake.api_url());
    let addr = serve.addr;

    let stop = CancellationToken::new();
    let measuring = Arc::new(AtomicBool::new(false));
    let mut probers = Vec::new();
    for i in 0..options.clients("probes", PROBERS) {
        let path = if i % 2 == 0 { "/readyz" } else { "/metrics" };
        probers.push(tokio::spawn(loop_on(
            addr,
            path,
            Auth::None,
            stop.clone(),
            measuring.clone(),
        )));
    }
    let mut bogus = Vec::new();
    for _ in 0..options.clients("bogus", BOGUS_TOKEN_CLIENTS) {
        let auth = Auth::Bogus;
        bogus.push(tokio::spawn(loop_on(
            addr,
            "/api/v1/insights",
            auth,
            stop.clone(),
            measuring.clone(),
        )));
    }
    let readers: Vec<_> = (0..options.clients("readers", SLOW_READERS))
        .map(|_| tokio::spawn(read_slowly(addr, token.clone(), stop.clone())))
        .collect();
    let stalled: Vec<_> = (0..options.clients("stalled", STALLED))
        .map(|i| tokio::spawn(stall(addr, i % 2 == 0, stop.clone())))
        .collect();
    tokio::time::sleep(WARM_UP).await;

    measuring.store(true, Ordering::Relaxed);
    let events = Arc::new(presign(
        SECRET,
        backend,
        (EVENTS_PER_SEC * secs) as usize,
        EventIds::SlackOrder,
    ));
    let counted = open_loop_counting(addr, events, EVENTS_PER_SEC, secs).await;
    let (events, refused) = (&counted.run, counted.refused);
    measuring.store(false, Ordering::Relaxed);
    let metrics = scrape(addr).await;

    // Shut down with the stalled connections and readers still there.
    let stopping = Instant::now();
    let stopped = serve.terminate();
    let shutdown = stopping.elapsed();
    stop.cancel();

    let readyz = Probes::merge(&mut probers, 0).await;
    let metrics_probes = Probes::merge(&mut probers, 1).await;
    let bogus = Probes::merge(&mut bogus, 0).await;
    let mut reading = Reading::default();
    for reader in readers {
        reading.add(reader.await.expect("reader"));
    }
    let mut stalls = Stalls::default();
    for staller in stalled {
        stalls.add(staller.await.expect("stalled client"));
    }

    let total = (EVENTS_PER_SEC * secs) as usize;
    let ok = |met: bool| if met { "✓" } else { "✗" };
    println!("\n{backend}:");
    println!(
        "  events            : {total} sent, {} answered 2xx {}; p50 {:.1} ms, p99 {:.1} ms {}, max {:.1} ms {}",
        total - refused,
        ok(refused == 0),
        ms(events.p50),
        ms(events.p99),
        ok(events.p99 <= Duration::from_millis(50)),
        ms(events.max),
        ok(events.max < Duration::from_secs(1)),
    );
    let slow_seconds: Vec<String> = counted
        .slowest_by_second
        .iter()
        .enumerate()
        .filter(|(_, slowest)| **slowest > Duration::from_millis(50))
        .map(|(second, slowest)| format!("{:.0} ms at {second} s", ms(*slowest)))
        .collect();
    if !slow_seconds.is_empty() {
        println!("  events over 50 ms : {}", slow_seconds.join(", "));
    }
    println!(
        "  /readyz           : {} {}",
        readyz.describe(secs),
        ok(readyz.only(200) && readyz.max() <= Duration::from_millis(100))
    );

    println!("  /metrics          : {}", metrics_probes.describe(secs));
    println!("  bogus tokens      : {}", bogus.describe(secs));
    println!(
        "  export at 1 B/s   : {} streams answered 200, {} answered 429 (came back after Retry-After), {} reached the end of what the server sent before it cut them, {} bytes read",
        reading.streams, reading.refused, reading.cut, reading.bytes
    );
    println!(
        "  stalled requests  : {} connections over the run; the server closed {} stalled in their headers and answered 408 to {} stalled in their bodies",
        stalls.connections, stalls.closed, stalls.timed_out
    );
    println!(
        "  server            : {} database reads for /readyz and /metrics; connections cut: {}",
        sample(&metrics, "circlet_ops_refreshes_total").unwrap_or(0),
        cuts(&metrics)
    );
    if stopped {
        println!(
            "  shutdown          : serve stopped {:.2} s after SIGTERM with the stalled connections open",
            shutdown.as_secs_f64()
        );
    } else {
        println!("  shutdown          : serve had not stopped 60 s after SIGTERM (killed)");
    }
    database.drop().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Migrates, seeds the insights and issues the export API's token.
async fn prepare(url: &str) -> String {
    let store = store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let filler = "feedback ".repeat(TEXT_BYTES / 9);
    let seed = [
        format!(
            "INSERT INTO insights (team_id, number, channel_id, message_ts, author_id, text, source, status, \
             created_at, updated_at, tags, vote_count, reply_count) \
             SELECT '{TEAM}', i, 'C0CIRCLE', '1700000000.' || i, 'U0AUTHOR', 'Insight ' || i || ': {filler}', \
             'reaction', 'new', i, i, 'idea', 0, 0 \
             FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {INSIGHTS}) \
                   SELECT i FROM s) AS seq"
        ),
        format!("INSERT INTO insight_numbers (team_id, last_number) VALUES ('{TEAM}', {INSIGHTS})"),
    ];
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        for sql in &seed {
            sqlx::query(sql).execute(&mut conn).await.expect("seed");
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
        for sql in &seed {
            sqlx::query(sql).execute(&mut conn).await.expect("seed");
        }
    }
    let token = tokens::issue(store.tokens().as_ref(), "siege", None, SystemClock.now_millis())
        .await
        .expect("token")
        .token;
    store.close().await;
    token
}

/// A fresh database, removed afterwards.
struct Database {
    url: String,
    postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Database {
    async fn create(backend: &str) -> Database {
        if backend == "sqlite" {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("siege.db").display());
            return Database {
                url,
                postgres: None,
                _dir: Some(dir),
            };
        }
        let name = format!("circlet_siege_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .expect("drop");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create");
        Database {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            postgres: Some(name),
            _dir: None,
        }
    }

    async fn drop(self) {
        if let Some(name) = &self.postgres
            && let Ok(mut admin) = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
}

/// `circlet serve` as a child process, found by its "listening" log line.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(database_url: &str, slack_api_url: &str) -> Serve {
        let binary =
            std::env::var("CIRCLET_SIEGE_SERVE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_circlet").to_owned());
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs([
                ("SLACK_SIGNING_SECRET", SECRET),
                ("SLACK_BOT_TOKEN", "xoxb-siege"),
                ("SLACK_API_URL", slack_api_url),
                ("DATABASE_URL", database_url),
                ("CIRCLET_BIND", "127.0.0.1:0"),
                ("CIRCLET_LOG_FORMAT", "json"),
                ("RUST_LOG", "info"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn circlet serve");
        let stderr = child.stderr.take().expect("stderr");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Read to the end, so the child never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                    && record["message"] == "listening"
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(record["address"].as_str().unwrap_or_default().to_owned());
                } else if line.contains("\"level\":\"ERROR\"") {
                    eprintln!("serve: {line}");
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(60))
            .expect("serve logs its address");
        Serve {
            child,
            addr: address.parse().expect("an address"),
        }
    }

    /// SIGTERM, then waits up to a minute for the process to end; whether it did.
    fn terminate(&mut self) -> bool {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("wait").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    /// A new random token each request, shaped as Circlet's.
    Bogus,
}

/// What a looping client saw while the events were sent: latency and status of each answer
/// (status 0: the connection failed).
#[derive(Default)]
struct Probes {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
}

impl Probes {
    /// Merges the results of every `step`-th task from `offset`, awaiting them.
    async fn merge(tasks: &mut [tokio::task::JoinHandle<Probes>], offset: usize) -> Probes {
        let mut all = Probes::default();
        for task in tasks.iter_mut().skip(offset).step_by(2) {
            let probes = task.await.expect("prober");
            all.latencies.extend(probes.latencies);
            for (status, n) in probes.statuses {
                *all.statuses.entry(status).or_default() += n;
            }
        }
        all.latencies.sort_unstable();
        all
    }

    fn only(&self, status: u16) -> bool {
        self.statuses.keys().all(|s| *s == status) && !self.statuses.is_empty()
    }

    fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }

    fn describe(&self, secs: u64) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| match status {
                0 => format!("{n} × connection failed"),
                status => format!("{n} × {status}"),
            })
            .collect();
        format!(
            "{} answers ({:.0}/s: {}); p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.latencies.len(),
            self.latencies.len() as f64 / secs as f64,
            statuses.join(", "),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.max()),
        )
    }
}

/// GETs `path` back to back on a keep-alive connection until `stop`.
async fn loop_on(
    addr: SocketAddr,
    path: &'static str,
    auth: Auth,
    stop: CancellationToken,
    measuring: Arc<AtomicBool>,
) -> Probes {
    let mut probes = Probes::default();
    let mut connection = Connection1::open(addr).await;
    while !stop.is_cancelled() {
        let authorization = match auth {
            Auth::None => None,
            Auth::Bogus => Some(format!(
                "Bearer circlet_{:012x}_{:032x}",
                rand::random::<u64>() >> 16,
                rand::random::<u128>()
            )),
        };
        let sent = Instant::now();
        let status = tokio::select! {
            () = stop.cancelled() => break,
            status = connection.get(path, authorization.as_deref()) => status,
        };
        if measuring.load(Ordering::Relaxed) {
            probes.latencies.push(sent.elapsed());
            *probes.statuses.entry(status.unwrap_or(0)).or_default() += 1;
        }
        while status.is_none() && !stop.is_cancelled() {
            match Connection1::try_open(addr).await {
                Some(fresh) => {
                    connection = fresh;
                    break;
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    probes
}

/// What one slow reader of the export went through.
#[derive(Default)]
struct Reading {
    streams: usize,
    refused: usize,
    cut: usize,
    bytes: usize,
}

impl Reading {
    fn add(&mut self, other: Reading) {
        self.streams += other.streams;
        self.refused += other.refused;
        self.cut += other.cut;
        self.bytes += other.bytes;
    }
}

/// Asks for the export and reads its status line at once, then one byte a second.
async fn read_slowly(addr: SocketAddr, token: String, stop: CancellationToken) -> Reading {
    let mut reading = Reading::default();
    while !stop.is_cancelled() {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let request = format!(
            "GET /api/v1/insights HTTP/1.1\r\nHost: circlet\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let mut status = [0u8; 12];
        let answered = async {
            stream.write_all(request.as_bytes()).await?;
            stream.read_exact(&mut status).await
        };
        if answered.await.is_err() {
            continue;
        }
        if &status[9..12] == b"429" {
            reading.refused += 1;
            drop(stream);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(5)) => continue,
            }
        }
        reading.streams += 1;
        loop {
            tokio::select! {
                () = stop.cancelled() => return reading,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            match stream.read(&mut [0u8; 1]).await {
                Ok(1) => reading.bytes += 1,
                _ => {
                    reading.cut += 1;
                    break;
                }
            }
        }
    }
    reading
}

#[derive(Default)]
struct Stalls {
    connections: usize,
    /// Closed by the server with no answer (headers never finished).
    closed: usize,
    /// Answered 408 (a body that never finished).
    timed_out: usize,
}

impl Stalls {
    fn add(&mut self, other: Stalls) {
        self.connections += other.connections;
        self.closed += other.closed;
        self.timed_out += other.timed_out;
    }
}

/// Opens a connection, sends part of a request (the headers, or the headers and part of the
/// body) and waits; reconnects once the server closes it.
async fn stall(addr: SocketAddr, in_headers: bool, stop: CancellationToken) -> Stalls {
    let partial: &[u8] = if in_headers {
        b"POST /slack/events HTTP/1.1\r\nHost: circlet\r\nContent-Type: application/json\r\n"
    } else {
        b"POST /slack/events HTTP/1.1\r\nHost: circlet\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"type\":"
    };
    let mut stalls = Stalls::default();
    while !stop.is_cancelled() {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if stream.write_all(partial).await.is_err() {
            continue;
        }
        stalls.connections += 1;
        let mut answer = Vec::new();
        let closed = async {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                answer.extend_from_slice(&buf[..n]);
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = closed => {}
        }
        if answer.starts_with(b"HTTP/1.1 408") {
            stalls.timed_out += 1;
        } else {
            stalls.closed += 1;
        }
    }
    stalls
}

/// The server's `/metrics` text (empty if it does not answer within 10 s).
async fn scrape(addr: SocketAddr) -> String {
    let read = async { reqwest::get(format!("http://{addr}/metrics")).await?.text().await };
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(text)) => text,
        _ => String::new(),
    }
}

fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.trim().parse().ok())?
    })
}

/// `reason=n` for every cut the server counted.
fn cuts(metrics: &str) -> String {
    let cuts: Vec<String> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("circlet_http_connections_cut_total{"))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once(' ')?;
            let reason = labels.split("reason=\"").nth(1)?.split('"').next()?;
            Some(format!("{reason} {value}"))
        })
        .collect();
    if cuts.is_empty() {
        "none".into()
    } else {
        cuts.join(", ")
    }
}
