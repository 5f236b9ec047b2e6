//! Install benchmark: one "Add to Slack" round trip, as a browser makes it, against the fake
//! Slack on loopback.
//!
//!     cargo bench --bench install                  # 300 installs on SQLite, then PostgreSQL
//!     cargo bench --bench install -- --quick       # 50 installs each
//!     cargo bench --bench install -- --only sqlite # or postgres
//!
//! Each round trip is timed from `GET /slack/install` (a state stored, a redirect and a cookie)
//! through `GET /slack/oauth_redirect` (the state taken, `oauth.v2.access` on the fake, the
//! tokens sealed, the installation stored and loaded) until the new workspace is served: this
//! process admits its requests. Every install is a new workspace, so the registry grows as it
//! would; a short warm-up is not counted. Circlet runs in this process with its real
//! listener, over a fresh database per backend.

use std::time::{Duration, Instant};

mod load;

use load::{drop_postgres, fresh_postgres};

use circlet::app::App;
use circlet::config::Config;
use circlet::inbox::TeamGate;
use circlet::token_cipher::TokenCipher;
use circlet_testkit::fake_slack::{FakeSlack, Grant};

/// The allocator `circlet serve` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PUBLIC_URL: &str = "https://circlet.example.com";
const WARM_UP: usize = 10;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let installs = if args.iter().any(|a| a == "--quick") {
        50
    } else {
        300
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    println!("install round trip: {installs} installs per backend (after {WARM_UP} not counted)");
    for backend in ["sqlite", "postgres"] {
        if only.as_deref().is_some_and(|only| only != backend) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres) = match backend {
            "sqlite" => (
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                None,
            ),
            _ => match fresh_postgres().await {
                Some((name, url)) => (url, Some(name)),
                None => {
                    println!("postgres: not reachable on 127.0.0.1:5432, skipped");
                    continue;
                }
            },
        };
        let times = round_trips(&url, installs).await;
        report(backend, times);
        if let Some(name) = postgres {
            drop_postgres(&name).await;
        }
    }
}

async fn round_trips(database_url: &str, installs: usize) -> Vec<Duration> {
    let fake = FakeSlack::start().await.expect("fake Slack");
    let key = TokenCipher::generate_key_text();
    let env = [
        ("SLACK_SIGNING_SECRET", "bench"),
        ("SLACK_API_URL", fake.api_url().as_str()),
        ("DATABASE_URL", database_url),
        ("CIRCLET_BIND", "127.0.0.1:0"),
        ("SLACK_CLIENT_ID", "1.2"),
        ("SLACK_CLIENT_SECRET", "bench-secret"),
        ("CIRCLET_PUBLIC_URL", PUBLIC_URL),
        ("CIRCLET_ENCRYPTION_KEY", key.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = Config::from_sources(None, |key| {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    })
    .expect("config");
    let app = App::builder(config)
        .without_background_workers()
        .build()
        .await
        .expect("app");
    let base = format!("http://{}", app.local_addr());
    let workspaces = app.services().workspaces.clone();
    let shutdown = app.shutdown_token();
    let served = tokio::spawn(app.run_until_stopped());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let mut times = Vec::with_capacity(installs);
    for i in 0..WARM_UP + installs {
        let team = format!("T{i:07}");
        let code = format!("code-{i}");
        fake.grant_code(&code, Grant::workspace(&team, &format!("xoxb-bench-{i}")));
        let started = Instant::now();
        let begun = browser
            .get(format!("{base}/slack/install"))
            .send()
            .await
            .expect("GET /slack/install");
        assert_eq!(begun.status().as_u16(), 302);
        let location = begun.headers()["location"].to_str().expect("Location");
        let state = reqwest::Url::parse(location)
            .expect("authorize URL")
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("a state");
        let back = browser
            .get(format!("{base}/slack/oauth_redirect?code={code}&state={state}"))
            .header("cookie", format!("circlet_oauth_state={state}"))
            .send()
            .await
            .expect("GET /slack/oauth_redirect");
        assert_eq!(
            back.status().as_u16(),
            302,
            "{}",
            back.text().await.unwrap_or_default()
        );
        assert_eq!(workspaces.admits_now(&team), Some(true), "{team} is served");
        if i >= WARM_UP {
            times.push(started.elapsed());
        }
    }
    shutdown.cancel();
    let _ = served.await;
    times
}

fn report(backend: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{backend}: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} installs)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0)),
        times.len()
    );
}
