//! `circlet demo`: the whole app on loopback against a built-in fake Slack, driven through its
//! real, signed HTTP endpoints. Needs no workspace and no settings. Built with the `demo`
//! feature (on by default), which brings in the test kit's fake Slack and signed sender.

mod script;
mod workspaces;

use script::{Step, Timed};

use std::time::{Duration, Instant};

use circlet_testkit::{Answer, FakeSlack, SignedSender};

use crate::app::{App, AppError};
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::domain::backfill::SweepRequest;
use crate::domain::digest;
use crate::domain::export::{self, ExportFormat};
use crate::domain::links;
use crate::domain::reports::{self, ReportRequest};
use crate::ids::{ChannelId, TeamId};
use crate::store::{self, InsightFilter, InsightTx, SharedStore, StoreResult};
use crate::token_cipher::TokenCipher;

const DEMO_SECRET: &str = "demo-signing-secret";

pub async fn run() -> Result<(), AppError> {
    let started = Instant::now();
    let fake = FakeSlack::start().await.map_err(AppError::Serve)?;
    fake.set_team(script::TEAM);
    // Circlet's posts get timestamps of the demo's week, so the output is the same every run.
    fake.start_timestamps_at(script::at(1, 9, 0) as u64);
    let mut members: Vec<&str> = script::MEMBERS.iter().map(|(id, _)| *id).collect();
    // Kai of a partner company is in the circle too, through Slack Connect.
    members.push(workspaces::KAI);
    fake.set_members(script::CIRCLE, &members);
    workspaces::set_up(&fake);
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
    // Multi-workspace mode ("Add to Slack"): each workspace installs, and its product team
    // sets who it is and where its digest goes from Slack.
    let api_url = fake.api_url();
    let key = TokenCipher::generate_key_text();
    let config = Config::from_sources(None, |name| match name {
        "SLACK_SIGNING_SECRET" => Some(DEMO_SECRET.to_owned()),
        "SLACK_CLIENT_ID" => Some(workspaces::CLIENT_ID.to_owned()),
        "SLACK_CLIENT_SECRET" => Some(workspaces::CLIENT_SECRET.to_owned()),
        "CIRCLET_PUBLIC_URL" => Some(workspaces::PUBLIC_URL.to_owned()),
        "CIRCLET_ENCRYPTION_KEY" => Some(key.clone()),
        "SLACK_API_URL" => Some(api_url.clone()),
        "DATABASE_URL" => Some(database_url.clone()),
        "CIRCLET_BIND" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })?;
    // The demo's own clock walks through the scripted week, so everything is dated as it
    // happened and the output is the same on every run.
    let clock = ManualClock::at_secs(script::at(0, 18, 0));
    let schedule = config.digest_schedule;
    let app = App::builder(config)
        .clock(clock.clone())
        .backfill_pace(Duration::ZERO)
        .build()
        .await?;
    let base_url = format!("http://{}", app.local_addr());
    let store = app.store();
    let services = app.services().clone();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());

    println!("Circlet demo: the app runs at {base_url} with SQLite at {database_url}");
    println!("and a fake Slack Web API at {}.", fake.api_url());
    println!(
        "A week in #{} (12 members, and Kai of {} through Slack Connect) and in #{}, the circle of",
        script::CIRCLE_NAME,
        workspaces::PARTNER,
        workspaces::COMMUNITY_CIRCLE_NAME
    );
    println!(
        "the brand's community workspace {} linked to the brand's {}, sent as Slack sends it (signed):",
        workspaces::COMMUNITY,
        script::TEAM
    );
    let sender = SignedSender::new(base_url.clone(), DEMO_SECRET).with_clock({
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
            let shown = match &step {
                Step::Schedule { .. } => {
                    services.digest_scheduler().run_due().await?;
                    String::new()
                }
                Step::Install { code, .. } => {
                    let installed = workspaces::install(&base_url, code).await?;
                    format!("-> {} {}", installed.status, installed.location)
                }
                Step::Backfill { .. } => {
                    let request = SweepRequest {
                        team: team_id(script::TEAM)?,
                        channel: None,
                        since: None,
                    };
                    let recovered = services
                        .backfill
                        .sweep(&request, &|_, _| {})
                        .await
                        .map_err(|err| AppError::Usage(format!("backfill: {err}")))?;
                    format!("-> {}", recovered.summary())
                }
                Step::Link { source, home, .. } => {
                    format!("-> {}", link(&store, source, home, clock.now_millis()).await?)
                }
                _ => answer
                    .as_ref()
                    .map(|a| format!("-> {}", summarize(a)))
                    .unwrap_or_default(),
            };
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
            // Workers post to different channels at once; show them in one order either way.
            posts.sort_by_key(|call| channel_rank(call.params["channel"].as_str().unwrap_or_default()));
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

    workspaces::check_tokens(&fake)?;
    let counts = store.inbox_counts().await?;
    println!(
        "\nInbox: {} deliveries and follow-up tasks processed, {} waiting, {} dead. The retried delivery was \
         stored once; the unknown event and the forged request were not stored.",
        counts.done,
        counts.unfinished(),
        counts.dead
    );
    println!("\nInsights in #{}:\n", script::CIRCLE_NAME);
    print!("{}", insights_table(&store, script::TEAM).await?);
    println!(
        "\nInsights in #{} ({}, linked to {}: its product team names them {}-N):\n",
        workspaces::COMMUNITY_CIRCLE_NAME,
        workspaces::COMMUNITY,
        script::TEAM,
        workspaces::COMMUNITY
    );
    print!("{}", insights_table(&store, workspaces::COMMUNITY).await?);
    let acks = fake.calls_to("reactions.add").len();
    println!(
        "\nCirclet acknowledged {acks} captured messages with :eyes: and never posted to confirm a capture."
    );

    // What the brand's product team reads covers the workspaces linked to theirs.
    let home = team_id(script::TEAM)?;
    let linked = links::covered_by(store.workspaces().as_ref(), &home).await?[1..].to_vec();
    let now = clock.now_millis();
    let request = ReportRequest {
        linked_teams: linked.clone(),
        ..ReportRequest::last_days(&home, 7)
    };
    let report = reports::compute(store.reads().as_ref(), &request, now).await?;
    println!("\n━━ The product team's report (`/feedback report 7d`), as text:\n");
    print!("{}", reports::render_text(&report));
    let week = schedule.latest_period(now);
    let digest = digest::product_digest(&store, &home, &week).await?;
    println!(
        "\n━━ The product digest Circlet posted to #{} (as text):\n",
        channel_name(script::DIGEST_CHANNEL)
    );
    let mut names = store.digests().names(&home).await?;
    names.extend(store.digests().names(&team_id(workspaces::COMMUNITY)?).await?);
    // Slack shows a mention by the member's name; the text shows it so for those Circlet never
    // looked up (voters who posted nothing).
    for (id, name) in script::MEMBERS.iter().chain(&workspaces::OTHER_MEMBERS) {
        names
            .entry((*id).to_owned())
            .or_insert_with(|| (*name).to_owned());
    }
    print!("{}", digest::digest_message(&digest).text_named(&names));
    for (team, circle, name) in [
        (script::TEAM, script::CIRCLE, script::CIRCLE_NAME),
        (
            workspaces::COMMUNITY,
            workspaces::COMMUNITY_CIRCLE,
            workspaces::COMMUNITY_CIRCLE_NAME,
        ),
    ] {
        let recap = digest::circle_recap(&store, &team_id(team)?, &channel_id(circle)?, &week).await?;
        println!("\n━━ The member recap Circlet posted to #{name} (in {team}, as text):\n");
        print!("{}", digest::recap_message(&recap).text_named(&names));
    }

    let export_path = std::env::temp_dir().join("circlet-demo-insights.csv");
    let filter = InsightFilter {
        team_id: Some(home),
        linked_teams: linked,
        ..InsightFilter::default()
    };
    let rows = write_export(&store, filter, &export_path).await?;
    println!(
        "\nExported the product team's {rows} insights ({} and {}) as CSV (the columns of `circlet export`)\nto {}",
        script::TEAM,
        workspaces::COMMUNITY,
        export_path.display()
    );
    println!(
        "Those by members of other workspaces, with a few of their columns (author_team_id is the last):\n"
    );
    print!("{}", from_elsewhere(&export_path)?);
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
        workspaces::COMMUNITY_CIRCLE => workspaces::COMMUNITY_CIRCLE_NAME,
        other => other,
    }
}

/// The order posts made at once are shown in: the digest, then the circles.
fn channel_rank(channel: &str) -> u8 {
    match channel {
        script::DIGEST_CHANNEL => 0,
        script::CIRCLE => 1,
        workspaces::COMMUNITY_CIRCLE => 2,
        _ => 3,
    }
}

fn team_id(team: &str) -> StoreResult<TeamId> {
    TeamId::parse(team).map_err(|err| store::StoreError::Corrupt(err.to_string()))
}

fn channel_id(channel: &str) -> StoreResult<ChannelId> {
    ChannelId::parse(channel).map_err(|err| store::StoreError::Corrupt(err.to_string()))
}

/// `circlet workspaces link SOURCE --to HOME`, as its output says it.
async fn link(store: &SharedStore, source: &str, home: &str, now: i64) -> Result<String, AppError> {
    let (source, home) = (team_id(source)?, team_id(home)?);
    match links::link(store.workspaces().as_ref(), &source, &home, now).await {
        Ok(_) => Ok(format!(
            "linked: {}'s circles count in {}'s reports, exports and digest",
            source.as_str(),
            home.as_str()
        )),
        Err(links::LinkError::Store(err)) => Err(err.into()),
        Err(other) => Err(AppError::Usage(other.to_string())),
    }
}

/// The exported rows whose author belongs to another workspace than the brand's, as a table
/// of a few of their columns.
fn from_elsewhere(path: &std::path::Path) -> Result<String, AppError> {
    let failed = |err: csv::Error| AppError::Output {
        path: path.display().to_string(),
        source: std::io::Error::other(err),
    };
    let mut reader = csv::Reader::from_path(path).map_err(failed)?;
    let headers = reader.headers().map_err(failed)?.clone();
    let shown = [
        "id",
        "team_id",
        "author_name",
        "tags",
        "votes",
        "status",
        "text",
        "author_team_id",
    ];
    let columns: Vec<usize> = shown
        .iter()
        .filter_map(|name| headers.iter().position(|h| h == *name))
        .collect();
    let mut rows = vec![shown.map(String::from).to_vec()];
    for record in reader.records() {
        let record = record.map_err(failed)?;
        if record.get(headers.len() - 1) == Some(script::TEAM) {
            continue;
        }
        let cells = columns.iter().map(|&i| {
            let cell = record.get(i).unwrap_or_default();
            crate::domain::reports::words::cut(cell, 40)
        });
        rows.push(cells.collect());
    }
    Ok(table(rows))
}

/// Writes the live insights `filter` selects as CSV to `path`; returns how many.
async fn write_export(
    store: &SharedStore,
    filter: InsightFilter,
    path: &std::path::Path,
) -> Result<usize, AppError> {
    let failed = |source| AppError::Output {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let written = export::write_to(
        store.reads().as_ref(),
        filter,
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

async fn insights_table(store: &SharedStore, team: &str) -> Result<String, AppError> {
    let team = team_id(team)?;
    let rows = store::transaction(store.as_ref(), move |tx| {
        Box::pin(async move { insight_rows(tx, &team).await })
    })
    .await?;
    Ok(table(rows))
}

/// `rows` in columns as wide as their widest cell.
fn table(rows: Vec<Vec<String>>) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
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
    table
}

/// A workspace's insights as table rows, a heading first.
async fn insight_rows(tx: &mut dyn InsightTx, team: &TeamId) -> StoreResult<Vec<Vec<String>>> {
    let mut rows = vec![
        [
            "#", "status", "source", "tags", "votes", "replies", "area", "text",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for number in 1.. {
        let Some(insight) = tx.insight_by_number(team, number).await? else {
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
