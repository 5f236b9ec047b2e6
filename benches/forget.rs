//! Forget benchmark: how long forgetting one very active member takes (ARCHITECTURE §13), and
//! what it does to the acknowledgement of new events meanwhile.
//!
//!     cargo bench --bench forget               # 10,000 of each, SQLite and PostgreSQL, 3 rounds
//!     cargo bench --bench forget -- --quick    # 1,000 of each, 1 round (a sanity check)
//!
//! Each round starts from a fresh database (SQLite: WAL, synchronous=FULL; PostgreSQL when the
//! local server is reachable) holding, across 10 circles, the member's insights (each edited
//! once, so with a revision, and voted on by others), as many of their replies and votes on
//! others' insights, and as many insights of others. Signed events then arrive over HTTP at
//! 500/s (open loop) while, a little into the run, the member is forgotten; the forget's time
//! (all its transactions, and on SQLite the WAL truncation after them) and the acknowledgements'
//! latency are reported. Targets: forget < 2 s, acknowledgement p99 ≤ 5 ms.

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load;

use std::sync::Arc;
use std::time::{Duration, Instant};

use circlet::ids::{ChannelId, TeamId, UserId};
use circlet::store::{ForgetMember, InsightSource, MessageRef, NewInsight, Reply, SharedStore};
use load::{EventIds, Run, open_loop, presign};

const SECRET: &str = "bench";
/// The workspace of the load generator's events ([`presign`]).
const TEAM: &str = "T0BENCH";
const MEMBER: &str = "U0FORGET";
const CIRCLES: usize = 10;
const PROBE_RATE: u64 = 500;
/// Insights per seeding transaction.
const SEED_BATCH: usize = 250;

struct Round {
    forget: Duration,
    acks: Run,
}

fn ts(kind: u32, i: usize) -> String {
    format!("17{kind}0000000.{i:06}")
}

fn circle(i: usize) -> ChannelId {
    ChannelId::parse(format!("C0CIRCLE{}", i % CIRCLES)).expect("channel")
}

/// `n` insights of the member (edited once, voted by someone else), `n` of others, each of which
/// the member replied to and voted on.
async fn seed(store: &SharedStore, n: usize) {
    let team = TeamId::parse(TEAM).expect("team");
    let member = UserId::parse(MEMBER).expect("member");
    for start in (0..n).step_by(SEED_BATCH) {
        let mut tx = store.begin().await.expect("tx");
        for i in start..(start + SEED_BATCH).min(n) {
            let channel = circle(i);
            let other = UserId::parse(format!("U0OTHER{}", i % 50)).expect("user");
            for (kind, author) in [(1, &member), (2, &other)] {
                let ts = ts(kind, i);
                let at = MessageRef {
                    team_id: &team,
                    channel_id: &channel,
                    ts: &ts,
                };
                let text = format!("Insight {i} by {author}: the travel kit zipper sticks");
                let insight = tx
                    .create_insight(&NewInsight {
                        message: at,
                        thread_ts: None,
                        author_id: Some(author),
                        author_team_id: Some(&team),
                        text: Some(&text),
                        text_version: 1,
                        source: InsightSource::Reaction,
                        at: 1_000,
                    })
                    .await
                    .expect("insight");
                let (voter, replier) = if kind == 1 {
                    (&other, &other)
                } else {
                    (&member, &member)
                };
                tx.add_vote(insight.id, voter, at).await.expect("vote");
                let reply = Reply {
                    channel_id: channel.clone(),
                    ts: format!("{ts}1"),
                    user_id: Some(replier.clone()),
                    text: format!("Reply {i} by {replier}: same here"),
                };
                tx.add_reply(insight.id, &reply).await.expect("reply");
                if kind == 1 {
                    tx.set_text(insight.id, &format!("{text}, edited"), 2, 2_000)
                        .await
                        .expect("edit");
                }
            }
        }
        tx.commit().await.expect("commit");
    }
}

async fn round(database_url: &str, n: usize, probe_secs: u64) -> Round {
    let app = load::noop_app(SECRET, database_url, &[]).await;
    let (store, addr) = (app.store(), app.local_addr());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    seed(&store, n).await;
    load::settle(database_url).await;

    let requests = (PROBE_RATE * probe_secs) as usize;
    let sent = Arc::new(presign(SECRET, "forget", requests, EventIds::SlackOrder));
    let forget = async {
        // A little into the run, so acknowledgements before, during and after it are measured.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (team, member) = (
            TeamId::parse(TEAM).expect("team"),
            UserId::parse(MEMBER).expect("member"),
        );
        let started = Instant::now();
        let forgotten = store
            .forgetting()
            .forget_member(&ForgetMember {
                team_id: &team,
                user_id: &member,
                at: 3_000,
                inbox_row: None,
            })
            .await
            .expect("forget");
        assert!(forgotten.rows() >= 3 * n as u64, "{:?}", forgotten.changes);
        started.elapsed()
    };
    let (forget, acks) = tokio::join!(forget, open_loop(addr, sent, PROBE_RATE, probe_secs));
    shutdown.cancel();
    server.await.expect("server").expect("serve");
    Round { forget, acks }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn backend(name: &str, n: usize, rounds: usize, probe_secs: u64) {
    let (mut forgets, mut p99s) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres) = if name == "SQLite" {
            (
                format!("sqlite://{}", dir.path().join("forget.db").display()),
                None,
            )
        } else {
            let Some((db, url)) = load::fresh_postgres().await else {
                println!("  {name}: not reachable on 127.0.0.1:5432, skipped");
                return;
            };
            (url, Some(db))
        };
        let result = round(&url, n, probe_secs).await;
        if let Some(db) = postgres {
            load::drop_postgres(&db).await;
        }
        println!(
            "  {name}, round {r}: forget {:.3} s; acknowledgements at {PROBE_RATE}/s p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms",
            result.forget.as_secs_f64(),
            result.acks.p50.as_secs_f64() * 1e3,
            result.acks.p99.as_secs_f64() * 1e3,
            result.acks.max.as_secs_f64() * 1e3,
        );
        forgets.push(result.forget.as_secs_f64());
        p99s.push(result.acks.p99.as_secs_f64() * 1e3);
    }
    println!(
        "median {name}: forget {:.3} s (target < 2 s), acknowledgement p99 {:.2} ms (target ≤ 5 ms)",
        median(forgets),
        median(p99s)
    );
}

fn main() {
    circlet::telemetry::install_crypto_provider();
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, rounds, probe_secs) = if quick { (1_000, 1, 1) } else { (10_000, 3, 4) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "Forget: a member with {n} insights (edited, voted on), {n} replies and {n} votes across \
             {CIRCLES} circles, beside {n} insights of others; signed events at {PROBE_RATE}/s meanwhile"
        );
        for name in ["SQLite", "PostgreSQL"] {
            backend(name, n, rounds, probe_secs).await;
        }
    });
}
