//! `circlet demo`: the whole app on loopback against a built-in fake Slack, driven through its
//! real, signed HTTP endpoints. Needs no workspace and no settings.

mod script;
mod sender;

use std::time::{Duration, Instant};

use futures_util::StreamExt;

pub use sender::{Answer, FORM, JSON, SignedSender};

use crate::app::{App, AppError};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::domain::export::{self, ExportFormat};
use crate::domain::reports::{self, Period, ReportRequest};
use crate::fake_slack::FakeSlack;
use crate::store::{InsightFilter, SharedStore};

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
        "CIRCLET_PRODUCT_USERS" => Some(script::PRODUCT_USER.to_owned()),
        _ => None,
    })?;
    let app = App::build(config).await?;
    let base_url = format!("http://{}", app.local_addr());
    let store = app.store();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    println!("Circlet demo: the app runs at {base_url} with SQLite at {database_url}");
    println!("and a fake Slack Web API at {}.", fake.api_url());
    println!("A week in #beauty-insiders, sent as Slack sends it (signed):");
    let sender = SignedSender::new(base_url, Secret::new(DEMO_SECRET));
    for (day, steps) in script::week() {
        println!("\n{day}");
        for step in steps {
            let answered_before = fake.calls_to("response_url").len();
            let answer = step
                .send(&sender, &fake)
                .await
                .map_err(|err| AppError::Serve(std::io::Error::other(err)))?;
            println!("  {:<60} -> {}", step.describe(), summarize(&answer));
            // Each step's work finishes before the next, as a week's pace would have it.
            settle(&store).await?;
            for call in fake.calls_to("response_url").iter().skip(answered_before) {
                if let Some(text) = call.params["text"].as_str() {
                    for line in text.lines() {
                        println!("  {:<60}    {line}", "");
                    }
                }
            }
        }
    }

    let counts = store.inbox_counts().await?;
    println!(
        "\nInbox: {} deliveries and follow-up tasks processed, {} waiting, {} dead. The retried delivery was \
         stored once; the unknown event and the forged request were not stored.",
        counts.done,
        counts.unfinished(),
        counts.dead
    );
    println!("\nInsights in #beauty-insiders:\n");
    print!("{}", insights_table(&store).await?);
    let acks = fake.calls_to("reactions.add").len();
    println!(
        "\nCirclet acknowledged {acks} captured messages with :eyes: and never posted to confirm a capture."
    );
    let posts: Vec<String> = fake
        .messages(script::CIRCLE)
        .iter()
        .filter(|m| m["thread_ts"].is_string())
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    for post in posts {
        println!("Circlet replied in the idea's thread (close the loop): {post}");
    }

    // Members' activity is dated by Slack's timestamps (the script's week), insights by when
    // Circlet captured them (today): a report since the week began covers both.
    let request = ReportRequest {
        period: Period::Since(script::WEEK_START),
        ..ReportRequest::last_days(script::TEAM, 7)
    };
    let report = reports::compute(store.reads().as_ref(), &request, SystemClock.now_millis()).await?;
    println!("\nThe product team's report (`/feedback report since 2025-11-23`), as text:\n");
    print!("{}", reports::render_text(&report));

    let export_path = std::env::temp_dir().join("circlet-demo-insights.csv");
    let rows = write_export(&store, &export_path).await?;
    println!(
        "\nExported {rows} insights as CSV (the columns of `circlet export`) to {}",
        export_path.display()
    );

    shutdown.cancel();
    server
        .await
        .map_err(|err| AppError::Serve(std::io::Error::other(err)))??;
    Ok(())
}

/// Writes every live insight as CSV to `path`; returns how many.
async fn write_export(store: &SharedStore, path: &std::path::Path) -> Result<usize, AppError> {
    use std::io::Write;
    let failed = |source| AppError::Output {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let mut rows = 0;
    let mut chunks = Box::pin(export::encoded(
        store.reads().as_ref(),
        InsightFilter::default(),
        ExportFormat::Csv,
    ));
    while let Some(chunk) = chunks.next().await {
        let (bytes, count) = chunk?;
        file.write_all(&bytes).map_err(failed)?;
        rows += count;
    }
    file.flush().map_err(failed)?;
    Ok(rows)
}

/// Waits (up to 10 s) until the inbox has nothing left to do.
async fn settle(store: &SharedStore) -> Result<(), AppError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.inbox_counts().await?.unfinished() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn insights_table(store: &SharedStore) -> Result<String, AppError> {
    let mut tx = store.begin().await?;
    let mut rows = vec![
        [
            "#", "status", "source", "tags", "votes", "replies", "area", "text",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for number in 1.. {
        let Some(insight) = tx.insight_by_number(script::TEAM, number).await? else {
            break;
        };
        let text: String = insight
            .text
            .clone()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        rows.push(vec![
            insight.number.to_string(),
            insight.status().to_string(),
            insight.source().to_string(),
            tx.tags(insight.id).await?.join(", "),
            tx.voters(insight.id).await?.len().to_string(),
            tx.replies(insight.id).await?.len().to_string(),
            insight.product_area.clone().unwrap_or_default(),
            text,
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|col| rows.iter().map(|row| row[col].chars().count()).max().unwrap_or(0))
        .collect();
    let mut table = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str("  ");
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    Ok(table)
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
