//! `circlet demo`: the whole app on loopback against a built-in fake Slack, driven through its
//! real, signed HTTP endpoints. Needs no workspace and no settings.

mod script;
mod sender;

use std::time::{Duration, Instant};

pub use sender::{Answer, FORM, JSON, SignedSender};

use crate::app::{App, AppError};
use crate::cli::render_rows;
use crate::config::{Config, Secret};
use crate::fake_slack::FakeSlack;

const DEMO_SECRET: &str = "demo-signing-secret";

pub async fn run() -> Result<(), AppError> {
    let fake = FakeSlack::start().await.map_err(AppError::Serve)?;
    let dir = tempfile::Builder::new()
        .prefix("circlet-demo-")
        .tempdir()
        .map_err(AppError::Serve)?;
    let database_url = format!("sqlite://{}", dir.path().join("circlet.db").display());
    // The demo never reads the process environment: it must not touch a real database.
    let api_url = fake.api_url();
    let config = Config::from_sources(None, |key| match key {
        "SLACK_SIGNING_SECRET" => Some(DEMO_SECRET.to_owned()),
        "SLACK_BOT_TOKEN" => Some("xoxb-demo".to_owned()),
        "SLACK_API_URL" => Some(api_url.clone()),
        "DATABASE_URL" => Some(database_url.clone()),
        "CIRCLET_BIND" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })?;
    let app = App::build(config).await?;
    let base_url = format!("http://{}", app.local_addr());
    let store = app.store();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    println!("Circlet demo: the app runs at {base_url} with SQLite at {database_url}");
    println!("and a fake Slack Web API at {}.", fake.api_url());
    println!("A morning in #beauty-insiders, sent as Slack sends it (signed):\n");
    let sender = SignedSender::new(base_url, Secret::new(DEMO_SECRET));
    for step in script::morning() {
        let answer = step
            .send(&sender)
            .await
            .map_err(|err| AppError::Serve(std::io::Error::other(err)))?;
        println!("  {:<60} -> {}", step.describe(), summarize(&answer));
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    while store.inbox_counts().await?.unfinished() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = store.inbox_counts().await?;
    let rows = store.list_inbox(None, 100).await?;
    println!("\nStored in the inbox (every delivery that got a 200 and needs work), oldest last:\n");
    print!("{}", render_rows(&rows));
    println!(
        "\n{} stored, {} processed by the inbox workers, {} waiting, {} dead.",
        rows.len(),
        counts.done,
        counts.unfinished(),
        counts.dead
    );
    println!(
        "The retried delivery was stored once; the unknown event and the forged request were not stored."
    );
    let circles: Vec<String> = store
        .circles("T0CIRCLE")
        .await?
        .into_iter()
        .filter(|circle| circle.active)
        .map(|circle| circle.channel_id)
        .collect();
    println!("Circles (the bot was invited): {}", circles.join(", "));

    shutdown.cancel();
    server
        .await
        .map_err(|err| AppError::Serve(std::io::Error::other(err)))??;
    Ok(())
}

fn summarize(answer: &Answer) -> String {
    let body = answer.body.trim();
    if body.is_empty() {
        return answer.status.to_string();
    }
    let json = answer.json();
    let shown = json
        .get("text")
        .and_then(|t| t.as_str())
        .and_then(|t| t.lines().next())
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_owned());
    let shown: String = shown.chars().take(60).collect();
    format!("{} {}", answer.status, shown)
}
