//! Reports and export at scale: 1,000,000 insights over 20 circles and a year, with votes,
//! replies, tags, members and their daily activity.
//!
//!     cargo bench --bench reports                              # SQLite and PostgreSQL, 1,000,000
//!     cargo bench --bench reports -- --rows 100000             # a smaller workspace
//!     cargo bench --bench reports -- --only sqlite|postgres
//!
//! Seeding is done by the databases themselves (a recursive CTE on SQLite, generate_series on
//! PostgreSQL) into a schema migrated by Circlet, and kept between runs (SQLite under
//! target/bench-data, PostgreSQL in database `circlet_bench_<rows>`). Then:
//! - `/feedback report 30d`, computed and rendered as Block Kit as the command does, for one
//!   circle and for all, 40 times each after 3 warm-ups: p50 and p99.
//! - Export of every row as CSV, in a child process (so its peak RSS is the export's own),
//!   written to a sink: elapsed time and peak RSS (VmHWM).

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;
use std::time::{Duration, Instant};

use circlet::clock::{Clock, SystemClock};
use circlet::domain::export::{self, ExportFormat};
use circlet::domain::reports;
use circlet::ids::{ChannelId, TeamId};
use circlet::store::{self, InsightFilter, SharedStore};
use futures_util::StreamExt;

const TEAM: &str = "T0BENCH";
const CIRCLES: i64 = 20;
const MEMBERS_PER_CIRCLE: i64 = 100;
const DAY: i64 = 86_400_000;
const RUNS: usize = 40;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--export-child") {
        export_child(&args[i + 1]).await;
        return;
    }
    let rows: i64 = value(&args, "--rows").map_or(1_000_000, |v| v.parse().expect("--rows N"));
    let only = value(&args, "--only");
    circlet::telemetry::install_crypto_provider();
    let now = SystemClock.now_millis();
    println!("reports and export over {rows} insights, {CIRCLES} circles, one year");
    for backend in ["sqlite", "postgres"] {
        if only.as_deref().is_some_and(|o| o != backend) {
            continue;
        }
        let url = seeded(backend, rows, now).await;
        let store = store::connect(&url).await.expect("connect");
        println!("\n{backend}:");
        for (label, channel) in [("one circle", Some("C0000000007")), ("all circles", None)] {
            let times = report_times(&store, channel, now).await;
            println!(
                "  /feedback report 30d, {label:<11}: p50 {:>6.1} ms  p99 {:>6.1} ms  (n={RUNS})",
                ms(percentile(&times, 50)),
                ms(percentile(&times, 99))
            );
        }
        store.close().await;
        let (elapsed, peak_kib, exported) = export_in_child(&url);
        println!(
            "  export CSV, all rows      : {:>6.2} s   peak RSS {:>5.1} MiB  ({exported} rows, {:.0} rows/s)",
            elapsed.as_secs_f64(),
            peak_kib as f64 / 1024.0,
            exported as f64 / elapsed.as_secs_f64()
        );
    }
}

fn value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn team() -> TeamId {
    TeamId::parse(TEAM).expect("a team id")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = ((sorted.len() * p).div_ceil(100)).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

async fn report_times(store: &SharedStore, channel: Option<&str>, now: i64) -> Vec<Duration> {
    let reads = store.reads();
    let mut request = reports::ReportRequest::last_days(&team(), 30);
    request.channel_id = channel.map(|channel| ChannelId::parse(channel).expect("a channel id"));
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..RUNS + 3 {
        let started = Instant::now();
        let report = reports::compute(reads.as_ref(), &request, now)
            .await
            .expect("report");
        let rendered = reports::render_blocks(&report);
        let elapsed = started.elapsed();
        assert!(
            report.total.current > 0 && !report.top.is_empty(),
            "the report found insights"
        );
        std::hint::black_box(rendered);
        if run >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    times
}

/// Runs this binary as `--export-child URL` and reads what it prints: rows, then VmHWM in KiB.
fn export_in_child(url: &str) -> (Duration, u64, u64) {
    let started = Instant::now();
    let output = Command::new(std::env::current_exe().expect("bench binary"))
        .args(["--export-child", url])
        .output()
        .expect("export child");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text
        .split_whitespace()
        .map(|n| n.parse::<u64>().expect("child output"));
    let rows = numbers.next().expect("rows");
    let peak = numbers.next().expect("peak");
    (elapsed, peak, rows)
}

async fn export_child(url: &str) {
    let store = store::connect(url).await.expect("connect");
    let filter = InsightFilter {
        team_id: Some(team()),
        ..InsightFilter::default()
    };
    let mut sink = std::io::sink();
    let mut rows = 0usize;
    let mut chunks = Box::pin(export::encoded(store.reads().as_ref(), filter, ExportFormat::Csv));
    while let Some(chunk) = chunks.next().await {
        let (bytes, count) = chunk.expect("export");
        std::io::Write::write_all(&mut sink, &bytes).expect("sink");
        rows += count;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("{rows} {peak}");
}

/// A database holding `rows` seeded insights (seeded now unless an earlier run did).
async fn seeded(backend: &str, rows: i64, now: i64) -> String {
    let url = match backend {
        "sqlite" => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
            std::fs::create_dir_all(&dir).expect("bench data dir");
            format!("sqlite://{}", dir.join(format!("reports-{rows}.db")).display())
        }
        _ => {
            let name = format!("circlet_bench_{rows}");
            let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&admin)
                .await
                .expect("pg_database");
            if exists.is_none() {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create db");
            }
            admin.close().await;
            format!("postgres://postgres@127.0.0.1:5432/{name}")
        }
    };
    let store = store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.close().await;
    let seeded_rows = seeded_count(&url).await;
    if seeded_rows == rows {
        println!("({backend}: reusing {rows} seeded insights)");
        return url;
    }
    assert_eq!(
        seeded_rows, 0,
        "{url} holds {seeded_rows} insights, not {rows}: delete it to reseed"
    );
    let started = Instant::now();
    let statements = seed_sql(backend, rows, now);
    if backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
        let mut tx = pool.begin().await.expect("begin");
        for statement in &statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        tx.commit().await.expect("commit");
        sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
        let mut tx = pool.begin().await.expect("begin");
        for statement in &statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        tx.commit().await.expect("commit");
        sqlx::query("VACUUM ANALYZE")
            .execute(&pool)
            .await
            .expect("vacuum");
        pool.close().await;
    }
    println!(
        "({backend}: seeded {rows} insights in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    url
}

async fn seeded_count(url: &str) -> i64 {
    let query = "SELECT COALESCE(MAX(last_number), 0) FROM insight_numbers";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let (n,): (i64,) = sqlx::query_as(query).fetch_one(&pool).await.expect("count");
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let (n,): (i64,) = sqlx::query_as(query).fetch_one(&pool).await.expect("count");
        n
    }
}

/// The seeding statements. Everything is derived from the row number, so every run seeds the
/// same data: insights spread evenly over the year before `now`, circle `i % 20`, author one
/// of the circle's 100 members, 0–6 votes, 0–2 replies, one or two of five tags, statuses
/// mostly new.
fn seed_sql(backend: &str, rows: i64, now: i64) -> Vec<String> {
    let year = 365 * DAY;
    let step = year / rows;
    let start = now - year;
    let (series, ts, channel, user, text) = if backend == "sqlite" {
        (
            format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) SELECT i FROM s"),
            "printf('%d.%06d', 1700000000 + i, i % 1000000)".to_owned(),
            "printf('C%010d', i % 20)".to_owned(),
            "printf('U%08d', (i % 20) * 100 + (i * 7919) % 100)".to_owned(),
            "'Feedback number ' || i || ': the checkout page, shipping, sizes, \"quotes\", commas, and more words'".to_owned(),
        )
    } else {
        (
            format!("SELECT i FROM generate_series(1::bigint, {rows}) AS i"),
            "(1700000000 + i)::text || '.' || lpad((i % 1000000)::text, 6, '0')".to_owned(),
            "'C' || lpad((i % 20)::text, 10, '0')".to_owned(),
            "'U' || lpad(((i % 20) * 100 + (i * 7919) % 100)::text, 8, '0')".to_owned(),
            "'Feedback number ' || i || ': the checkout page, shipping, sizes, \"quotes\", commas, and more words'".to_owned(),
        )
    };
    let tags = "CASE i % 6 WHEN 0 THEN 'bug' WHEN 1 THEN 'idea' WHEN 2 THEN 'praise' WHEN 3 THEN 'pain-point' \
                WHEN 4 THEN 'bug;idea' ELSE '' END";
    let status = "CASE i % 13 WHEN 0 THEN 'planned' WHEN 1 THEN 'shipped' WHEN 2 THEN 'reviewing' WHEN 3 THEN 'declined' ELSE 'new' END";
    let mut sql = vec![
        format!(
            "INSERT INTO insights (team_id, number, channel_id, message_ts, author_id, text, source, status, \
             created_at, updated_at, tags, vote_count, reply_count) \
             SELECT '{TEAM}', i, {channel}, {ts}, {user}, {text}, 'reaction', {status}, \
             {start} + i * {step}, {start} + i * {step}, {tags}, (i * 31) % 7, i % 3 FROM ({series}) AS seq"
        ),
        format!("INSERT INTO insight_numbers (team_id, last_number) VALUES ('{TEAM}', {rows})"),
    ];
    for tag in ["bug", "idea", "praise", "pain-point"] {
        sql.push(format!(
            "INSERT INTO insight_tags (insight_id, tag, source) SELECT id, '{tag}', 'reaction' FROM insights \
             WHERE tags = '{tag}' OR tags LIKE '{tag};%' OR tags LIKE '%;{tag}'"
        ));
    }
    for k in 0..6 {
        sql.push(format!(
            "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) \
             SELECT id, 'V' || ((number + {k} * 17) % 2000), channel_id, message_ts FROM insights WHERE vote_count > {k}"
        ));
    }
    for k in 0..2 {
        sql.push(format!(
            "INSERT INTO replies (insight_id, channel_id, ts, user_id, text) \
             SELECT id, channel_id, message_ts || '{k}', author_id, 'a reply' FROM insights WHERE reply_count > {k}"
        ));
    }
    let members = CIRCLES * MEMBERS_PER_CIRCLE;
    let (member_series, day_series, channel_of, user_of) = if backend == "sqlite" {
        (
            format!("WITH RECURSIVE m(u) AS (SELECT 0 UNION ALL SELECT u + 1 FROM m WHERE u < {members} - 1) SELECT u FROM m"),
            "WITH RECURSIVE d(day) AS (SELECT 0 UNION ALL SELECT day + 1 FROM d WHERE day < 364) SELECT day FROM d".to_owned(),
            "printf('C%010d', u / 100)".to_owned(),
            "printf('U%08d', u)".to_owned(),
        )
    } else {
        (
            format!("SELECT u FROM generate_series(0::bigint, {members} - 1) AS u"),
            "SELECT day FROM generate_series(0::bigint, 364) AS day".to_owned(),
            "'C' || lpad((u / 100)::text, 10, '0')".to_owned(),
            "'U' || lpad(u::text, 8, '0')".to_owned(),
        )
    };
    for c in 0..CIRCLES {
        let channel = format!("C{c:010}");
        sql.push(format!(
            "INSERT INTO circles (team_id, channel_id, active, changed_by, updated_at, name) \
             VALUES ('{TEAM}', '{channel}', TRUE, NULL, {start}, 'circle-{c}')"
        ));
    }
    sql.push(format!(
        "INSERT INTO circle_members (team_id, channel_id, user_id, joined_at, left_at) \
         SELECT '{TEAM}', {channel_of}, {user_of}, CASE WHEN u % 10 = 0 THEN {start} + (u * 3) % 365 * {DAY} END, NULL \
         FROM ({member_series}) AS members"
    ));
    sql.push(format!(
        "INSERT INTO people (team_id, user_id, name, updated_at) SELECT '{TEAM}', {user_of}, 'Member ' || u, {start} \
         FROM ({member_series}) AS members"
    ));
    // Each member is active on about three days in ten.
    let first_day = start.div_euclid(DAY);
    sql.push(format!(
        "INSERT INTO member_activity (team_id, channel_id, day, user_id, posts, replies, reactions) \
         SELECT '{TEAM}', {channel_of}, {first_day} + day, {user_of}, (u + day) % 3, (u * day) % 2, 1 + (u + day) % 4 \
         FROM ({member_series}) AS members, ({day_series}) AS days WHERE (u * 7 + day * 13) % 10 < 3"
    ));
    sql.push(format!(
        "INSERT INTO workspaces (team_id, url, updated_at) VALUES ('{TEAM}', 'https://bench.slack.com/', {start})"
    ));
    sql
}
