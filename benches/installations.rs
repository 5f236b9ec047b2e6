//! Ingest with many installations: durable ingest in multi-workspace mode with 1,000 installed
//! workspaces (events spread over all of them) against single-workspace mode, on SQLite, in the
//! same run. The goal (issue 23): the many-installation rate at least 0.9× the single one.
//!
//!     cargo bench --bench installations
//!     cargo bench --bench installations -- --quick     # fewer events, one round
//!
//! Each round starts both apps on fresh databases and runs their closed loops back to back, in
//! alternating order; the ratio is taken within the round, and the median of the rounds is
//! reported (the machine is noisy).

use std::net::SocketAddr;
use std::sync::Arc;

use circlet::clock::{Clock, SystemClock};
use circlet::ids::{TeamId, UserId};
use circlet::secret::Secret;
use circlet::store::Installation;
use circlet::token_cipher::TokenCipher;

mod load;

use load::{EventIds, closed_loop, noop_app, presign_for_teams};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-signing-secret";
const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const INSTALLATIONS: usize = 1_000;
const CONNECTIONS: usize = 32;

fn team(i: usize) -> String {
    format!("T{i:08}")
}

/// Circlet serving on a loopback port; cancel the token to stop it.
async fn start(database_url: &str, multi: bool) -> (Served, SocketAddr) {
    let installs = [
        ("SLACK_CLIENT_ID", "1111.2222"),
        ("SLACK_CLIENT_SECRET", "bench-client-secret"),
        ("CIRCLET_PUBLIC_URL", "https://circlet.example.com"),
        ("CIRCLET_ENCRYPTION_KEY", KEY),
    ];
    let app = noop_app(SECRET, database_url, if multi { &installs } else { &[] }).await;
    let addr = app.local_addr();
    let (store, shutdown) = (app.store(), app.shutdown_token());
    let task = tokio::spawn(app.run_until_stopped());
    (
        Served {
            store,
            shutdown,
            task,
        },
        addr,
    )
}

struct Served {
    store: circlet::store::SharedStore,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), circlet::AppError>>,
}

impl Served {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A database with `INSTALLATIONS` active installations, their tokens sealed.
async fn installed(url: &str) {
    let store = circlet::store::connect(url).await.expect("store");
    store.migrate().await.expect("migrate");
    let cipher = TokenCipher::from_key_text(KEY).expect("key");
    let now = SystemClock.now_millis();
    let workspaces = store.workspaces();
    for i in 0..INSTALLATIONS {
        let team_id = team(i);
        let installation = Installation {
            team_id: TeamId::parse(team_id.as_str()).expect("team id"),
            team_name: None,
            enterprise_id: None,
            is_enterprise_install: false,
            app_id: "A0BENCH".into(),
            bot_user_id: UserId::parse("U0BENCHBOT").expect("user id"),
            scopes: "chat:write".into(),
            installer_user_id: None,
            bot_token: cipher.seal(&team_id, &Secret::new(format!("xoxb-{i}-bench"))),
            refresh_token: None,
            token_expires_at: None,
            installed_at: now,
            updated_at: now,
            uninstalled_at: None,
            home_team_id: None,
        };
        workspaces
            .save_installation(&installation)
            .await
            .expect("install");
    }
    store.close().await;
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, events) = if quick { (1, 5_000) } else { (5, 20_000) };
    let teams: Vec<String> = (0..INSTALLATIONS).map(team).collect();
    let single_team = vec!["T0BENCH".to_owned()];
    println!(
        "ingest on SQLite, {events} events per run over {CONNECTIONS} connections: single-workspace mode \
         against multi-workspace mode with {INSTALLATIONS} installations (events spread over all of them)\n"
    );
    println!(
        "| round | single ev/s | p99 | CPU µs/event | {INSTALLATIONS} installations ev/s | p99 | CPU µs/event | rate ratio | CPU ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    let (mut singles, mut multis) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let single_url = format!("sqlite://{}", dir.path().join("single.db").display());
        let multi_url = format!("sqlite://{}", dir.path().join("multi.db").display());
        installed(&multi_url).await;
        let (single_app, single_addr) = start(&single_url, false).await;
        let (multi_app, multi_addr) = start(&multi_url, true).await;
        let single_events = Arc::new(presign_for_teams(
            SECRET,
            &format!("s{round}"),
            events,
            EventIds::SlackOrder,
            &single_team,
        ));
        let multi_events = Arc::new(presign_for_teams(
            SECRET,
            &format!("m{round}"),
            events,
            EventIds::SlackOrder,
            &teams,
        ));
        // Alternate which goes first, so neither always meets a warmer disk.
        let (single, multi) = if round % 2 == 0 {
            let single = closed_loop(single_addr, single_events, CONNECTIONS).await;
            let multi = closed_loop(multi_addr, multi_events, CONNECTIONS).await;
            (single, multi)
        } else {
            let multi = closed_loop(multi_addr, multi_events, CONNECTIONS).await;
            let single = closed_loop(single_addr, single_events, CONNECTIONS).await;
            (single, multi)
        };
        let stored = multi_app.store.inbox_counts().await.expect("counts").pending;
        assert_eq!(
            stored as usize, events,
            "every acknowledged event of the installations is stored"
        );
        let ratio = multi.events_per_sec / single.events_per_sec;
        let micros = |run: &load::Run| run.cpu_per_event.as_secs_f64() * 1e6;
        // CPU per event barely moves with the disk's flush rate, which sets both apps' rates.
        let cpu_ratio = micros(&multi) / micros(&single);
        println!(
            "| {} | {:.0} | {:.2} ms | {:.1} | {:.0} | {:.2} ms | {:.1} | {ratio:.2} | {cpu_ratio:.2} |",
            round + 1,
            single.events_per_sec,
            single.p99.as_secs_f64() * 1000.0,
            micros(&single),
            multi.events_per_sec,
            multi.p99.as_secs_f64() * 1000.0,
            micros(&multi),
        );
        ratios.push(ratio);
        cpu_ratios.push(cpu_ratio);
        singles.push(single.events_per_sec);
        multis.push(multi.events_per_sec);
        single_app.stop().await;
        multi_app.stop().await;
    }
    println!(
        "\nmedian: single {:.0} ev/s, {INSTALLATIONS} installations {:.0} ev/s, rate ratio {:.2} (goal ≥ 0.90), \
         CPU per event ratio {:.2} (1,000 installations / single)",
        median(singles),
        median(multis),
        median(ratios),
        median(cpu_ratios)
    );
}
