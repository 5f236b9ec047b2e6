//! The load generator the benches share: pre-signed `reaction_added` requests, keep-alive
//! client connections, a closed and an open loop. Each bench uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use circlet::clock::{Clock, SystemClock};
use circlet_testkit::sender::sign;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Pre-signed request bodies with their signature headers.
pub struct Signed {
    pub body: Bytes,
    pub timestamp: String,
    pub signature: String,
}

/// How a run's event ids are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventIds {
    /// As Slack's: `Ev0` and nine base-36 digits of a number that only grows. Every real id in
    /// shared/slack-samples and in the public payloads looked up (docs/BENCHMARKS.md,
    /// 2026-12-06) sorts with its `event_time`, so one app's deliveries land near the end of
    /// the inbox's unique index; the connections' interleaving still mixes their order a little.
    SlackOrder,
    /// Scattered over the whole key space: the worst case for the index, where every row of a
    /// commit lands on a leaf page of its own.
    Scattered,
}

impl EventIds {
    pub fn from_args(args: &[String]) -> EventIds {
        if args.iter().any(|a| a == "--scattered-ids") {
            EventIds::Scattered
        } else {
            EventIds::SlackOrder
        }
    }

    fn ids(self, prefix: &str, n: usize) -> Vec<String> {
        match self {
            EventIds::SlackOrder => {
                let first = next_slack_sequence(n);
                (first..first + n as u64).map(slack_shaped).collect()
            }
            EventIds::Scattered => (0..n).map(|i| format!("Ev{prefix}{:09}", scattered(i))).collect(),
        }
    }
}

/// The next `n` numbers of this process's id sequence: it starts at the current Unix time in
/// milliseconds and only grows, so ids signed later sort later, as Slack's do.
fn next_slack_sequence(n: usize) -> u64 {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: LazyLock<AtomicU64> =
        LazyLock::new(|| AtomicU64::new(SystemClock.now_millis().max(0) as u64));
    NEXT.fetch_add(n as u64, Ordering::Relaxed)
}

/// `Ev0` and `sequence` in nine base-36 digits, the shape of Slack's current ids
/// (`Ev0AFC3DRA3V`).
fn slack_shaped(sequence: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let digits: String = (0..9)
        .rev()
        .map(|place| DIGITS[(sequence / 36u64.pow(place) % 36) as usize] as char)
        .collect();
    format!("Ev0{digits}")
}

/// Multiplying by 3^18 permutes 0..10^9 (it shares no factor with 10^9), so scattered ids stay
/// unique.
fn scattered(i: usize) -> u64 {
    (i as u64 * 387_420_489) % 1_000_000_000
}

pub fn presign(secret: &str, prefix: &str, n: usize, ids: EventIds) -> Vec<Signed> {
    presign_for_teams(secret, prefix, n, ids, &["T0BENCH".to_owned()])
}

/// Like [`presign`], the events delivered to `teams` in turn (envelope and authorization).
pub fn presign_for_teams(
    secret: &str,
    prefix: &str,
    n: usize,
    ids: EventIds,
    teams: &[String],
) -> Vec<Signed> {
    let now = SystemClock.now_secs();
    ids.ids(prefix, n)
        .into_iter()
        .enumerate()
        .map(|(i, event_id)| {
            let body = serde_json::json!({
                "token": "verification_token", "team_id": teams[i % teams.len()], "enterprise_id": "E111", "api_app_id": "A111",
                "event": {"type": "reaction_added", "user": "U0BENCHUSER", "reaction": "bulb", "item_user": "U0AUTHOR",
                          "item": {"type": "message", "channel": "C0BENCHCIRCLE", "ts": format!("1763900000.{i:06}")},
                          "event_ts": "1763900100.000800"},
                "type": "event_callback", "event_id": event_id, "event_time": 1_763_900_100,
                "authed_users": ["U0BENCHBOT"],
                "authorizations": [{"enterprise_id": null, "team_id": teams[i % teams.len()], "user_id": "U0BENCHBOT", "is_bot": true, "is_enterprise_install": false}],
                "is_ext_shared_channel": false, "event_context": "4-eyJldCI6InJlYWN0aW9uX2FkZGVkIiwidGlkIjoiVDBCRU5DSCJ9"
            })
            .to_string();
            let signature = sign(secret, now, body.as_bytes());
            Signed { body: Bytes::from(body), timestamp: now.to_string(), signature }
        })
        .collect()
}

/// A client connection that sends one request at a time.
pub struct Connection1 {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection1 {
    pub async fn open(addr: SocketAddr) -> Connection1 {
        Self::try_open(addr).await.expect("connect")
    }

    pub async fn try_open(addr: SocketAddr) -> Option<Connection1> {
        let stream = TcpStream::connect(addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(connection);
        Some(Connection1 { sender })
    }

    pub async fn send(&mut self, signed: &Signed) -> u16 {
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

    /// `GET path`, with `Authorization` when given; the status once the whole body is read, or
    /// None when the connection failed.
    pub async fn get(&mut self, path: &str, authorization: Option<&str>) -> Option<u16> {
        let mut request = hyper::Request::get(path).header("host", "127.0.0.1");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request.body(Full::new(Bytes::new())).expect("request");
        self.sender.ready().await.ok()?;
        let response = self.sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        response.into_body().collect().await.ok()?;
        Some(status)
    }
}

pub struct Run {
    pub events_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// The slowest request: with p99 it tells one long stall from many short ones.
    pub max: Duration,
    /// CPU time of this whole process (servers and load generator) per event: unlike the
    /// rates, it barely moves when other work shares the machine.
    pub cpu_per_event: Duration,
    /// Bytes the machine's disks took during the run, per event and per second (every writer
    /// on the machine counts, PostgreSQL's server and the kernel's write-back included).
    pub disk_bytes_per_event: f64,
    pub disk_bytes_per_sec: f64,
}

impl Run {
    fn summarize(mut latencies: Vec<Duration>, elapsed: Duration, cpu: Duration, disk_bytes: u64) -> Run {
        latencies.sort_unstable();
        let events = latencies.len().max(1);
        let disk = disk_bytes as f64;
        Run {
            events_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
            cpu_per_event: cpu / events as u32,
            disk_bytes_per_event: disk / events as f64,
            disk_bytes_per_sec: disk / elapsed.as_secs_f64(),
        }
    }
}

/// User plus system CPU time of this process so far (Linux; zero elsewhere).
pub fn process_cpu() -> Duration {
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

/// Bytes written to this machine's disks so far: the write sectors of every device in
/// /sys/block (Linux; zero elsewhere). Partitions are not listed there, so nothing counts twice.
pub fn disk_bytes_written() -> u64 {
    let Ok(devices) = std::fs::read_dir("/sys/block") else {
        return 0;
    };
    devices
        .flatten()
        .filter_map(|device| std::fs::read_to_string(device.path().join("stat")).ok())
        // The seventh field is sectors written, in 512-byte units whatever the device's own.
        .filter_map(|stat| stat.split_whitespace().nth(6)?.parse::<u64>().ok())
        .map(|sectors| sectors * 512)
        .sum()
}

/// What the disk under `dir` takes when written the way a commit writes: 64 KiB appended, then
/// `fdatasync`, 1,024 times. Bytes per second.
pub fn fsynced_write_rate(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let mut file = std::fs::File::create(&path).expect("disk probe file");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let started = Instant::now();
    for _ in 0..1024 {
        file.write_all(&chunk).expect("disk probe write");
        file.sync_data().expect("disk probe sync");
    }
    let rate = (chunk.len() * 1024) as f64 / started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(path);
    rate
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Closed loop: every connection sends its share back to back.
pub async fn closed_loop(addr: SocketAddr, events: Arc<Vec<Signed>>, connections: usize) -> Run {
    let cpu_before = process_cpu();
    let disk_before = disk_bytes_written();
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
    Run::summarize(
        latencies,
        started.elapsed(),
        process_cpu().saturating_sub(cpu_before),
        disk_bytes_written().saturating_sub(disk_before),
    )
}

/// Open loop: requests start on a fixed schedule whatever the server does; latency counts from
/// the scheduled start, so a stall shows up instead of hiding (no coordinated omission). Every
/// answer must be 200.
pub async fn open_loop(addr: SocketAddr, events: Arc<Vec<Signed>>, rate: u64, secs: u64) -> Run {
    let counted = open_loop_counting(addr, events, rate, secs).await;
    assert_eq!(counted.refused, 0, "bench requests refused");
    counted.run
}

/// An open loop's run, with what [`open_loop`] only asserts.
pub struct Counted {
    pub run: Run,
    /// Answers other than 2xx.
    pub refused: usize,
    /// The slowest request of each second of the schedule: when a stall happened.
    pub slowest_by_second: Vec<Duration>,
}

/// [`open_loop`], counting the answers other than 2xx instead of stopping at the first.
pub async fn open_loop_counting(addr: SocketAddr, events: Arc<Vec<Signed>>, rate: u64, secs: u64) -> Counted {
    let lanes = 16usize;
    let total = (rate * secs) as usize;
    let disk_before = disk_bytes_written();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now() + Duration::from_millis(100);
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            let events = events.clone();
            tokio::spawn(async move {
                let mut connection = Connection1::open(addr).await;
                let mut latencies = Vec::new();
                let mut refused = 0;
                for i in (lane..total).step_by(lanes) {
                    let scheduled = started + interval * i as u32;
                    tokio::time::sleep_until(scheduled.into()).await;
                    let status = connection.send(&events[i % events.len()]).await;
                    if !(200..300).contains(&status) {
                        refused += 1;
                    }
                    latencies.push((i, scheduled.elapsed()));
                }
                (latencies, refused)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut slowest_by_second = vec![Duration::ZERO; secs as usize];
    let mut refused = 0;
    for task in tasks {
        let (lane, lane_refused) = task.await.expect("lane");
        for (i, latency) in lane {
            let second = &mut slowest_by_second[(i as u64 / rate) as usize];
            *second = (*second).max(latency);
            latencies.push(latency);
        }
        refused += lane_refused;
    }
    // The schedule's length, not the time the last answer took: the rate is the one asked for.
    let run = Run::summarize(
        latencies,
        Duration::from_secs(secs),
        Duration::ZERO,
        disk_bytes_written().saturating_sub(disk_before),
    );
    Counted {
        run,
        refused,
        slowest_by_second,
    }
}

/// A handler that does nothing: the benches that measure ingest keep the workers' work out.
pub struct NoOp;

#[async_trait::async_trait]
impl circlet::inbox::InboxHandler for NoOp {
    async fn handle(&self, _job: &circlet::inbox::Job) -> Result<(), circlet::inbox::HandlerError> {
        Ok(())
    }
}

/// Circlet on `database_url` and a loopback port, signing secret `secret`, `reaction_added`
/// handled by [`NoOp`], no background workers; `env` adds or overrides settings.
pub async fn noop_app(secret: &str, database_url: &str, env: &[(&str, &str)]) -> circlet::app::App {
    noop_builder(secret, database_url, env)
        .build()
        .await
        .expect("app")
}

fn noop_builder(secret: &str, database_url: &str, env: &[(&str, &str)]) -> circlet::app::AppBuilder {
    let base = [
        ("SLACK_SIGNING_SECRET", secret),
        ("DATABASE_URL", database_url),
        ("CIRCLET_BIND", "127.0.0.1:0"),
        ("SLACK_API_URL", "http://127.0.0.1:9/api"),
    ];
    let config = circlet::config::Config::from_sources(None, |key| {
        env.iter()
            .chain(base.iter())
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("config");
    circlet::app::App::builder(config)
        .without_background_workers()
        .handlers(|_| {
            circlet::inbox::HandlerRegistry::new().with(
                circlet::inbox::InboxKind::Event,
                "reaction_added",
                Arc::new(NoOp),
            )
        })
}

/// [`noop_app`] receiving Slack's deliveries over Socket Mode only (an app-level token, no
/// signing secret), `apps.connections.open` asked of the fake Slack at `slack_api_url`.
pub async fn socket_app(
    database_url: &str,
    slack_api_url: &str,
    settings: circlet::socket::SocketSettings,
) -> circlet::app::App {
    // An empty signing secret is none: the HTTP event routes are off, as in a socket-only deploy.
    let env = [
        ("SLACK_APP_TOKEN", "xapp-1-bench"),
        ("SLACK_API_URL", slack_api_url),
    ];
    noop_builder("", database_url, &env)
        .socket_settings(settings)
        .build()
        .await
        .expect("app")
}

/// Lets the disk catch up before a latency measurement, so that an open loop measures its own
/// rate and not the write-back of the closed-loop rounds before it: hundreds of megabytes that
/// PostgreSQL holds until its next checkpoint and the kernel flushes 30 s after they were
/// written. A workspace sending 500 events/s never builds that backlog.
/// `CIRCLET_BENCH_NO_SETTLE=1` skips it, to compare.
pub async fn settle(database_url: &str) {
    if std::env::var("CIRCLET_BENCH_NO_SETTLE").is_ok() {
        return;
    }
    if database_url.starts_with("postgres") {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("admin connection");
        sqlx::query("CHECKPOINT")
            .execute(&mut admin)
            .await
            .expect("checkpoint");
    }
    // `sync` blocks until the kernel's dirty pages are on the disk.
    let _ = tokio::task::spawn_blocking(|| std::process::Command::new("sync").status()).await;
}

/// Mean of the inbox writer's batch-size histogram, from the metrics text.
pub fn mean_batch(metrics: &str) -> f64 {
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

/// The PostgreSQL server the benches create their databases on.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh, empty database on the local PostgreSQL server: its name and URL (through
/// `CIRCLET_BENCH_PG_SOCKET`'s Unix socket directory when set, with
/// `CIRCLET_BENCH_PG_PARAMS` appended otherwise), or None when the server is not reachable.
pub async fn fresh_postgres() -> Option<(String, String)> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_ADMIN_URL)
        .await
        .ok()?;
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

/// Drops a database [`fresh_postgres`] made.
pub async fn drop_postgres(name: &str) {
    if let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(POSTGRES_ADMIN_URL).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}
