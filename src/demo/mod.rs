//! `circlet demo`: the whole app on loopback against a built-in fake Slack, driven through its
//! real, signed HTTP endpoints. Needs no workspace and no settings. Built with the `demo`
//! feature (on by default), which brings in the test kit's fake Slack and signed sender.

mod script;

use script::{Step, Timed};

use std::time::{Duration, Instant};

use circlet_testkit::{Answer, FakeSlack, SignedSender};

use crate::app::{App, AppError};
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::domain::digest;
use crate::domain::export::{self, ExportFormat};
use crate::domain::reports::{self, ReportRequest};
use crate::ids::TeamId;
use crate::store::{self, InsightFilter, InsightTx, SharedStore, StoreResult};

const DEMO_SECRET: &str = "demo-signing-secret";

pub async fn run() -> Result<(), AppError> {
    let started = Instant::now();
    let fake = FakeSlack::start().await.map_err(AppError::Serve)?;
    fake.set_team(script::TEAM);
    // Circlet's posts get timestamps of the demo's week, so the output is the same every run.
    fake.start_timestamps_at(script::at(1, 9, 0) as u64);
    let members: Vec<&str> = script::MEMBERS.iter().map(|(id, _)| *id).collect();
    fake.set_members(script::CIRCLE, &members);
    fake.set_channel_name(script::CIRCLE, script::CIRCLE_NAME);
    for (id, name) in script::MEMBERS {
        fake.set_user(serde_json::json!({
            "id": id, "name": name.to_lowercase(), "real_name": name,
            "profile": {"display_name": name, "real_name": name},
        }));
    }
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
        "CIRCLET_PRODUCT_USERS" => Some(script::PRODUCT_USERS.to_owned()),
        "CIRCLET_DIGEST_CHANNEL" => Some(script::DIGEST_CHANNEL.to_owned()),
        _ => None,
    })?;
    // The demo's own clock walks through the scripted week, so everything is dated as it
    // happened and the output is the same on every run.
    let clock = ManualClock::at_secs(script::at(0, 18, 0));
    let schedule = config.digest_schedule;
    let app = App::builder(config).clock(clock.clone()).build().await?;
    let base_url = format!("http://{}", app.local_addr());
    let store = app.store();
    let services = app.services().clone();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    println!("Circlet demo: the app runs at {base_url} with SQLite at {database_url}");
    println!("and a fake Slack Web API at {}.", fake.api_url());
    println!(
        "A week in #{} (12 members), sent as Slack sends it (signed):",
        script::CIRCLE_NAME
    );
    let sender = SignedSender::new(base_url, DEMO_SECRET).with_clock({
        let clock = clock.clone();
        move || clock.now_secs()
    });
    for (day, steps) in script::week() {
        println!("\n{day}");
        for Timed { at, step } in steps {
            clock.set_secs(at);
            let answered_before = fake.calls_to("response_url").len();
            let posted_before = fake.calls_to("chat.postMessage").len();
            let answer = step
                .send(&sender, &fake)
                .await
                .map_err(|err| AppError::Serve(std::io::Error::other(err)))?;
            if let Step::Schedule { .. } = step {
                services.digest_scheduler().run_due().await?;
            }
            let shown = answer
                .as_ref()
                .map(|a| format!("-> {}", summarize(a)))
                .unwrap_or_default();
            println!("  {:<62} {shown}", step.describe());
            // Each step's work finishes before the next, as a week's pace would have it.
            settle(&store).await?;
            for call in fake.calls_to("response_url").iter().skip(answered_before) {
                if let Some(text) = call.params["text"].as_str() {
                    for line in text.lines().take(8) {
                        println!("  {:<62}    {line}", "");
                    }
                }
            }
            let mut posts: Vec<_> = fake
                .calls_to("chat.postMessage")
                .into_iter()
                .skip(posted_before)
                .collect();
            // Two workers post to different channels at once; show the digest first either way.
            posts.sort_by_key(|call| call.params["channel"] != script::DIGEST_CHANNEL);
            for call in posts {
                let channel = call.params["channel"].as_str().unwrap_or_default();
                let where_ = if call.params["thread_ts"].is_string() {
                    "in a thread of"
                } else {
                    "to"
                };
                let text = call.params["text"].as_str().unwrap_or_default();
                let first = text.lines().next().unwrap_or_default();
                println!(
                    "  {:<62}    Circlet posted {where_} #{}: {first}",
                    "",
                    channel_name(channel)
                );
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
    println!("\nInsights in #{}:\n", script::CIRCLE_NAME);
    print!("{}", insights_table(&store).await?);
    let acks = fake.calls_to("reactions.add").len();
    println!(
        "\nCirclet acknowledged {acks} captured messages with :eyes: and never posted to confirm a capture."
    );

    let now = clock.now_millis();
    let report = reports::compute(
        store.reads().as_ref(),
        &ReportRequest::last_days(script::TEAM, 7),
        now,
    )
    .await?;
    println!("\n━━ The product team's report (`/feedback report 7d`), as text:\n");
    print!("{}", reports::render_text(&report));
    let week = schedule.latest_period(now);
    let digest = digest::product_digest(&store, script::TEAM, &week).await?;
    println!(
        "\n━━ The product digest Circlet posted to #{} (as text):\n",
        channel_name(script::DIGEST_CHANNEL)
    );
    let names = store.digests().names(script::TEAM).await?;
    print!("{}", digest::digest_message(&digest).text_named(&names));
    let recap = digest::circle_recap(&store, script::TEAM, script::CIRCLE, &week).await?;
    println!(
        "\n━━ The member recap Circlet posted to #{} (as text):\n",
        script::CIRCLE_NAME
    );
    print!("{}", digest::recap_message(&recap).text_named(&names));

    let export_path = std::env::temp_dir().join("circlet-demo-insights.csv");
    let rows = write_export(&store, &export_path).await?;
    println!(
        "\nExported {rows} insights as CSV (the columns of `circlet export`) to {}",
        export_path.display()
    );
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());

    shutdown.cancel();
    server
        .await
        .map_err(|err| AppError::Serve(std::io::Error::other(err)))??;
    Ok(())
}

fn channel_name(channel: &str) -> &str {
    match channel {
        script::CIRCLE => script::CIRCLE_NAME,
        script::DIGEST_CHANNEL => "product-team",
        other => other,
    }
}

/// Writes every live insight as CSV to `path`; returns how many.
async fn write_export(store: &SharedStore, path: &std::path::Path) -> Result<usize, AppError> {
    let failed = |source| AppError::Output {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let written = export::write_to(
        store.reads().as_ref(),
        InsightFilter::default(),
        ExportFormat::Csv,
        &mut file,
        |_| {},
    )
    .await;
    match written {
        Ok(rows) => Ok(rows),
        Err(export::WriteError::Store(err)) => Err(err.into()),
        Err(export::WriteError::Io(err)) => Err(failed(err)),
    }
}

/// Waits (up to 10 s) until the inbox has nothing left to do.
async fn settle(store: &SharedStore) -> Result<(), AppError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.inbox_counts().await?.unfinished() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn insights_table(store: &SharedStore) -> Result<String, AppError> {
    let rows = store::transaction(store.as_ref(), |tx| Box::pin(insight_rows(tx))).await?;
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

/// The demo workspace's insights as table rows, a heading first.
async fn insight_rows(tx: &mut dyn InsightTx) -> StoreResult<Vec<Vec<String>>> {
    let mut rows = vec![
        [
            "#", "status", "source", "tags", "votes", "replies", "area", "text",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let team = TeamId::parse(script::TEAM).map_err(|err| store::StoreError::Corrupt(err.to_string()))?;
    for number in 1.. {
        let Some(insight) = tx.insight_by_number(&team, number).await? else {
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
    Ok(rows)
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
