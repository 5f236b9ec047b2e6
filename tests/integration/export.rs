//! Export as product teams use it: the HTTP API with tokens, and `circlet export` / `circlet
//! token` on the command line.

use std::process::{Command, Output};

use circlet::clock::{Clock, SystemClock};
use circlet::domain::tokens;
use circlet::store::{
    CircleChange, InsightSource, InsightStatus, MessageRef, Named, NewInsight, SharedStore, TagSource,
};

use crate::helpers::{TestApp, TestDb};

const TEAM: &str = "T0CIRCLE";
const DAY: i64 = 86_400_000;

/// Four insights in C0CIRCLE over the last days: #1 bug (3 votes), #2 idea shipped, #3 a
/// formula-looking text, #4 deleted.
async fn seed(store: &SharedStore) {
    let now = SystemClock.now_millis();
    store
        .set_circle(&CircleChange {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel("C0CIRCLE"),
            active: true,
            changed_by: None,
            at: 0,
        })
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let texts = [
        "The app logs me out",
        "Dark mode please",
        "=HYPERLINK(\"http://evil\")",
        "gone",
    ];
    for (i, text) in texts.iter().enumerate() {
        let ts = format!("1767225600.00010{i}");
        let message = MessageRef {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel("C0CIRCLE"),
            ts: &ts,
        };
        let insight = tx
            .create_insight(&NewInsight {
                message,
                thread_ts: None,
                author_id: Some(crate::helpers::ids::user("U0MAYA")),
                author_team_id: None,
                text: Some(text),
                text_version: 0,
                source: InsightSource::Reaction,
                at: now - (4 - i as i64) * DAY,
            })
            .await
            .unwrap();
        match i {
            0 => {
                tx.add_tag(insight.id, "bug", TagSource::Reaction).await.unwrap();
                for voter in ["U1", "U2", "U3"] {
                    tx.add_vote(insight.id, crate::helpers::ids::user(voter), message)
                        .await
                        .unwrap();
                }
            }
            1 => {
                tx.add_tag(insight.id, "idea", TagSource::Reaction).await.unwrap();
                tx.add_tag(insight.id, "praise", TagSource::Rule).await.unwrap();
                tx.change_status(
                    insight.id,
                    InsightStatus::Shipped,
                    Some(crate::helpers::ids::user("U0PM")),
                    now,
                )
                .await
                .unwrap();
            }
            3 => tx.mark_deleted(insight.id, now).await.unwrap(),
            _ => {}
        }
    }
    tx.set_name(
        Named::Person {
            team_id: crate::helpers::ids::team(TEAM),
            user_id: crate::helpers::ids::user("U0MAYA"),
        },
        "Maya",
        now,
    )
    .await
    .unwrap();
    tx.set_name(
        Named::Channel {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel("C0CIRCLE"),
        },
        "vip-circle",
        now,
    )
    .await
    .unwrap();
    tx.set_name(
        Named::Workspace {
            team_id: crate::helpers::ids::team(TEAM),
        },
        "https://circle.slack.com/",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn token(store: &SharedStore) -> String {
    tokens::issue(store.tokens().as_ref(), "looker", None, SystemClock.now_millis())
        .await
        .unwrap()
        .token
}

async fn get(app: &TestApp, query: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}/api/v1/insights{query}", app.base_url));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_api_streams_csv_with_the_contract_columns_and_leaves_deleted_insights_out() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let bearer = format!("Bearer {}", token(&app.store).await);

    let response = get(&app, "", Some(&bearer)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,created_at,team_id,channel_id,channel_name,message_ts,author_id,author_name,text,tags,votes,replies,status,source,permalink,author_team_id"
    );
    assert_eq!(
        lines.len(),
        4,
        "three live insights; the deleted one is left out: {body}"
    );
    assert!(lines[1].starts_with("1,"), "{}", lines[1]);
    assert!(lines[1].ends_with(
        ",T0CIRCLE,C0CIRCLE,vip-circle,1767225600.000100,U0MAYA,Maya,The app logs me out,bug,3,0,new,reaction,https://circle.slack.com/archives/C0CIRCLE/p1767225600000100,T0CIRCLE"
    ), "{}", lines[1]);
    assert!(lines[2].contains(",idea;praise,0,0,shipped,"), "{}", lines[2]);
    assert!(
        lines[3].contains(",\"'=HYPERLINK(\"\"http://evil\"\")\","),
        "a formula is defused: {}",
        lines[3]
    );
}

#[tokio::test]
async fn the_api_answers_json_lines_filters_and_incremental_sync() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let bearer = format!("Bearer {}", token(&app.store).await);

    let response = get(&app, "?format=jsonl&tag=idea", Some(&bearer)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let rows: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], 2);
    assert_eq!(rows[0]["tags"], serde_json::json!(["idea", "praise"]));
    assert_eq!(rows[0]["status"], "shipped");

    let ids = |body: String| -> Vec<i64> {
        body.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    };
    let after = get(&app, "?format=jsonl&after_id=1", Some(&bearer))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        ids(after),
        vec![2, 3],
        "after_id continues where the last sync stopped"
    );
    let shipped = get(
        &app,
        "?format=jsonl&status=shipped&channel=C0CIRCLE",
        Some(&bearer),
    )
    .await;
    assert_eq!(ids(shipped.text().await.unwrap()), vec![2]);
    let recent = get(
        &app,
        "?format=jsonl&since=2000-01-01&until=2999-01-01",
        Some(&bearer),
    )
    .await;
    assert_eq!(ids(recent.text().await.unwrap()), vec![1, 2, 3]);
}

#[tokio::test]
async fn the_api_refuses_missing_wrong_and_revoked_tokens_with_401() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let valid = token(&app.store).await;
    for (authorization, why) in [
        (None, "no token"),
        (Some(format!("Basic {valid}")), "wrong scheme"),
        (Some("Bearer circlet_nope_nope".to_owned()), "unknown token"),
        (Some(format!("Bearer {}x", valid)), "altered secret"),
        (Some("Bearer".to_owned()), "empty bearer"),
    ] {
        let response = get(&app, "", authorization.as_deref()).await;
        assert_eq!(response.status(), 401, "{why}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"circlet\"",
            "{why}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{why}: {body}"
        );
    }
    assert_eq!(
        get(&app, "", Some(&format!("Bearer {valid}"))).await.status(),
        200
    );
    app.store
        .tokens()
        .revoke_token("looker", SystemClock.now_millis())
        .await
        .unwrap();
    let revoked = get(&app, "", Some(&format!("Bearer {valid}"))).await;
    assert_eq!(revoked.status(), 401);
    assert_eq!(
        revoked.json::<serde_json::Value>().await.unwrap()["error"],
        "the token was revoked"
    );
}

#[tokio::test]
async fn the_api_answers_bad_filters_with_400_and_what_to_fix() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let bearer = format!("Bearer {}", token(&app.store).await);
    for (query, expected) in [
        ("?since=last-week", "2026-01-31"),
        ("?until=31/01/2026", "until must be a date"),
        ("?format=xml", "format must be csv or jsonl"),
        ("?status=done", "status must be one of"),
        ("?after_id=abc", "after_id must be"),
        ("?channel=general", "channel must be"),
        ("?since=-150000-01-01", "from 0000-01-01 to 9999-12-31"),
        ("?until=%2B275760-01-01", "from 0000-01-01 to 9999-12-31"),
        ("?since=%2B10000-01-01T00:00:00Z", "from 0000-01-01 to 9999-12-31"),
    ] {
        let response = get(&app, query, Some(&bearer)).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(expected),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn the_api_answers_a_future_since_or_an_empty_range_with_an_empty_export() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let bearer = format!("Bearer {}", token(&app.store).await);
    for query in [
        "?since=2999-01-01",
        "?since=9999-12-31T23:59:59Z",
        "?since=2026-02-01&until=2026-01-01",
        "?since=2026-01-01T10:00:00Z&until=2026-01-01T10:00:00Z",
        "?format=jsonl&since=0000-01-01&until=0000-01-01T00:00:00Z",
    ] {
        let response = get(&app, query, Some(&bearer)).await;
        assert_eq!(response.status(), 200, "{query}");
        let body = response.text().await.unwrap();
        let rows = body.lines().filter(|l| !l.starts_with("id,")).count();
        assert_eq!(rows, 0, "{query}: {body}");
    }
}

fn circlet(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_circlet"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run circlet")
}

#[tokio::test]
async fn circlet_export_writes_csv_or_jsonl_to_stdout_or_a_file() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    seed(&store).await;

    let output = circlet(&["export", "--format", "csv"], &db.url);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(csv.starts_with("id,created_at,team_id,"));
    assert_eq!(csv.matches("\r\n").count(), 4, "header and three rows: {csv}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bugs.jsonl");
    let output = circlet(
        &[
            "export",
            "--format",
            "jsonl",
            "--tag",
            "bug",
            "--output",
            file.to_str().unwrap(),
        ],
        &db.url,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "the file gets the rows, not stdout");
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrote 1 insight(s)"));
    let written = std::fs::read_to_string(&file).unwrap();
    let row: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
    assert_eq!((row["id"].as_i64(), row["votes"].as_i64()), (Some(1), Some(3)));
}

#[tokio::test]
async fn circlet_export_answers_a_bad_filter_with_one_line_and_exit_code_2() {
    let db = TestDb::sqlite();
    db.store().await;
    for (args, expected) in [
        (vec!["export", "--format", "xml"], "format must be csv or jsonl"),
        (
            vec!["export", "--format", "csv", "--since", "tuesday"],
            "since must be a date",
        ),
        (
            vec!["export", "--format", "csv", "--status", "done"],
            "status must be one of",
        ),
        (
            vec!["export", "--format", "csv", "--since", "2999-01-01"],
            "in the future",
        ),
    ] {
        let output = circlet(&args, &db.url);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn a_token_created_on_the_command_line_is_shown_once_works_and_can_be_revoked() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    seed(&app.store).await;
    let created = circlet(&["token", "create", "--name", "sheets"], &app.db.url);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("circlet_"), "{token}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("not shown again"));

    let listed = String::from_utf8(circlet(&["token", "list"], &app.db.url).stdout).unwrap();
    assert!(listed.contains("sheets") && listed.contains("active"), "{listed}");
    assert!(
        !listed.contains(&token[token.len() - 20..]),
        "the secret is never listed"
    );
    let stored = app.store.tokens().tokens().await.unwrap();
    assert!(
        stored.iter().all(|t| !token.contains(&t.secret_hash)),
        "only a hash is stored"
    );

    assert_eq!(
        get(&app, "", Some(&format!("Bearer {token}"))).await.status(),
        200
    );
    let revoked = circlet(&["token", "revoke", "sheets"], &app.db.url);
    assert!(revoked.status.success());
    assert_eq!(
        get(&app, "", Some(&format!("Bearer {token}"))).await.status(),
        401
    );
    let again = circlet(&["token", "revoke", "sheets"], &app.db.url);
    assert_eq!(
        again.status.code(),
        Some(2),
        "nothing left to revoke is said plainly"
    );
}

mod slash {
    use circlet_testkit::fake_slack::Fault;

    use super::*;
    use crate::helpers::circle::feedback;

    const PM: &str = "U0PM";

    async fn app() -> TestApp {
        let app = TestApp::builder(TestDb::sqlite())
            .env("CIRCLET_PRODUCT_USERS", PM)
            .start()
            .await;
        seed(&app.store).await;
        app
    }

    #[tokio::test]
    async fn feedback_export_sends_the_file_by_dm_through_the_upload_flow() {
        let app = app().await;
        let answer = feedback(&app, PM, "export jsonl tag:bug").await;
        assert!(
            answer.contains("I sent you 1 insight as `circlet-insights-"),
            "{answer}"
        );
        assert!(answer.contains(".jsonl` in a direct message"), "{answer}");

        let asked = app.fake.calls_to("files.getUploadURLExternal");
        assert_eq!(asked.len(), 1);
        let file_id = {
            let completed = app.fake.calls_to("files.completeUploadExternal");
            assert_eq!(completed.len(), 1);
            let params = &completed[0].params;
            assert_eq!(params["channel_id"], format!("D{PM}"), "to the requester's DM");
            let files: serde_json::Value = match &params["files"] {
                serde_json::Value::String(text) => serde_json::from_str(text).unwrap(),
                other => other.clone(),
            };
            files[0]["id"].as_str().unwrap().to_owned()
        };
        let uploaded = String::from_utf8(
            app.fake
                .uploaded(&file_id)
                .expect("the bytes went to the upload URL"),
        )
        .unwrap();
        assert_eq!(
            asked[0].params["length"].to_string().trim_matches('"'),
            uploaded.len().to_string()
        );
        let row: serde_json::Value = serde_json::from_str(uploaded.trim()).unwrap();
        assert_eq!(
            (row["id"].as_i64(), row["tags"].clone()),
            (Some(1), serde_json::json!(["bug"]))
        );
        assert!(
            app.fake.calls_to("files.upload").is_empty(),
            "the retired files.upload is never called"
        );
    }

    #[tokio::test]
    async fn feedback_export_retries_a_rate_limited_upload_and_sends_one_file() {
        let app = app().await;
        app.fake.inject(
            "files.getUploadURLExternal",
            Fault::RateLimited { retry_after_secs: 1 },
            1,
        );
        let answer = feedback(&app, PM, "export").await;
        assert!(answer.contains("I sent you 3 insights"), "{answer}");
        assert_eq!(app.fake.calls_to("files.completeUploadExternal").len(), 1);
    }

    #[tokio::test]
    async fn feedback_export_explains_bad_filters_empty_results_and_refuses_customers() {
        let app = app().await;
        let answer = feedback(&app, PM, "export since 2999-01-01").await;
        assert!(
            answer.contains("in the future") && answer.contains("/feedback export [csv|jsonl]"),
            "{answer}"
        );
        let answer = feedback(&app, PM, "export <#C0ELSE|random>").await;
        assert!(answer.contains("is not a circle"), "{answer}");
        let answer = feedback(&app, PM, "export tag:nothing-here").await;
        assert!(answer.contains("No insights match"), "{answer}");
        let answer = feedback(&app, "U0MAYA", "export").await;
        assert!(answer.starts_with("Sorry, only the product team"), "{answer}");
        assert!(!answer.contains("logs me out"));
        assert!(
            app.fake.calls_to("files.getUploadURLExternal").is_empty(),
            "nothing was uploaded"
        );
    }
}
