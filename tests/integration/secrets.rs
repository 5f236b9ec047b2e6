//! The signing secret and the bot token never show in logs (at `trace`, every crate), error
//! answers, stored errors, `circlet inbox list` or `/metrics`: a full run of the real binary,
//! with Slack failing on purpose, is captured and searched for them. Nor does a database
//! password, wherever `DATABASE_URL` carries it.

use std::process::Command;
use std::time::Duration;

use circlet::store::CircleChange;
use circlet_testkit::fake_slack::{FakeSlack, Fault};
use circlet_testkit::sender::sign;
use circlet_testkit::sender::{FORM, JSON};
use serde_json::json;

use crate::helpers::TestDb;
use crate::helpers::circle::{CIRCLE, TEAM, message, reaction};
use crate::helpers::serve::Serve;

const SIGNING_SECRET: &str = "sIgNiNg-5ecret-7f3a91c2e8";
const BOT_TOKEN: &str = "xoxb-4242-t0kenSecretValue9c1e77";
/// A part of the token that identifies it even if a log cut it or dropped its prefix.
const TOKEN_TAIL: &str = "t0kenSecretValue9c1e77";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_never_shows_the_signing_secret_or_the_bot_token() {
    let db = TestDb::sqlite();
    let fake = FakeSlack::start().await.unwrap();
    let store = db.store().await;
    let change = CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(CIRCLE),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0PM")),
        at: 0,
    };
    store.set_circle(&change).await.unwrap();
    store.close().await;
    let ideas = ["1700000000.000100", "1700000000.000200"];
    fake.seed_message(
        CIRCLE,
        json!({"ts": ideas[1], "user": "U0MAYA", "text": "Refills?"}),
    );

    let api_url = fake.api_url();
    let mut serve = Serve::start(
        &db.url,
        &[
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_API_URL", &api_url),
            ("CIRCLET_PRODUCT_USERS", "U0PM"),
            ("RUST_LOG", "trace"),
            ("CIRCLET_INBOX_MAX_ATTEMPTS", "1"),
        ],
    );
    let sender = serve.sender_signing_with(SIGNING_SECRET);
    let mut answers = Vec::new();

    let challenge = json!({"type": "url_verification", "token": "x", "challenge": "chal-1"});
    answers.push(sender.event(&challenge).await.unwrap());
    // One capture from the cache, one read from Slack; a shipped status posts in the thread.
    for event in [
        message("U0MAYA", CIRCLE, ideas[0], "Travel size?", None),
        reaction(true, "U0LEA", "bulb", CIRCLE, ideas[0], "U0MAYA", 1),
        reaction(true, "U0LEA", "bug", CIRCLE, ideas[1], "U0MAYA", 2),
    ] {
        answers.push(sender.event(&event).await.unwrap());
    }
    assert!(
        !fake
            .wait_for_calls("reactions.add", 2, Duration::from_secs(20))
            .await
            .is_empty()
    );
    let command = |text: &str, id: &str| {
        let url = fake.response_url(id);
        serde_urlencoded::to_string([
            ("team_id", TEAM),
            ("user_id", "U0PM"),
            ("command", "/feedback"),
            ("text", text),
            ("response_url", &url),
            ("trigger_id", id),
        ])
        .unwrap()
    };
    answers.push(
        sender
            .post(
                "/slack/commands",
                FORM,
                command("status 1 shipped", "r1").into_bytes(),
                &[],
            )
            .await
            .unwrap(),
    );
    fake.wait_for_calls("chat.postMessage", 1, Duration::from_secs(20))
        .await;

    // Slack failing in every way, each logged: a revoked token, errors, rate limits.
    fake.inject("chat.postMessage", Fault::SlackError("invalid_auth".into()), 10);
    fake.inject("users.info", Fault::ServerError, 10);
    fake.inject("response_url", Fault::RateLimited { retry_after_secs: 1 }, 1);
    answers.push(
        sender
            .post(
                "/slack/commands",
                FORM,
                command("status 2 declined", "r2").into_bytes(),
                &[],
            )
            .await
            .unwrap(),
    );
    fake.wait_for_calls("chat.postMessage", 2, Duration::from_secs(20))
        .await;

    // Forged, stale and unsigned requests: the signature the server computed must not leak.
    let forged =
        br#"{"type":"event_callback","team_id":"T0CIRCLE","event_id":"EvForged","event":{"type":"message"}}"#;
    let now = chrono::Utc::now().timestamp();
    let mut headers = sender.signed_headers(now, forged);
    headers.insert("x-slack-signature", "v0=0000".parse().unwrap());
    answers.push(
        sender
            .post_with("/slack/events", JSON, forged.to_vec(), headers, &[])
            .await
            .unwrap(),
    );
    let stale = sender.signed_headers(now - 3600, forged);
    answers.push(
        sender
            .post_with("/slack/events", JSON, forged.to_vec(), stale, &[])
            .await
            .unwrap(),
    );
    answers.push(
        sender
            .post("/slack/events", JSON, b"{not json".to_vec(), &[])
            .await
            .unwrap(),
    );
    // The hex digests the server computed for the forged and the stale request.
    let expected = [now, now - 3600].map(|ts| sign(SIGNING_SECRET, ts, forged)[3..].to_owned());

    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("{}/metrics", serve.base_url))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("circlet_signature_failures_total"), "{metrics}");
    assert!(serve.terminate().success());

    let inbox = Command::new(env!("CARGO_BIN_EXE_circlet"))
        .args(["inbox", "list", "--limit", "100"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .output()
        .unwrap();
    let inbox = format!(
        "{}{}",
        String::from_utf8_lossy(&inbox.stdout),
        String::from_utf8_lossy(&inbox.stderr)
    );

    let logs = serve.logs();
    // The capture worked: the run logged at trace level, failed calls included, and Slack got
    // the token on every call.
    assert!(logs.contains("\"level\":\"TRACE\""), "trace logging was on");
    assert!(logs.contains("invalid_auth"), "the failing call was logged");
    assert!(inbox.contains("invalid_auth"), "{inbox}");
    assert!(
        fake.calls()
            .iter()
            .all(|call| call.method == "response_url" || call.token.as_deref() == Some(BOT_TOKEN))
    );
    let bodies: Vec<String> = answers
        .iter()
        .map(|a| format!("{} {}", a.status, a.body))
        .collect();
    assert!(bodies.iter().any(|b| b.starts_with("401")), "{bodies:?}");
    for (place, text) in [
        ("logs", &logs),
        ("metrics", &metrics),
        ("inbox list", &inbox),
        ("answers", &bodies.join("\n")),
    ] {
        for secret in [SIGNING_SECRET, BOT_TOKEN, TOKEN_TAIL, &expected[0], &expected[1]] {
            assert!(!text.contains(secret), "{place} show {secret:?}");
        }
    }
}

/// Runs `circlet ARGS` with `DATABASE_URL` and trace logging; stdout and stderr together.
fn circlet_with_database(args: &[&str], database_url: &str) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_circlet"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "trace")
        .output()
        .expect("run circlet");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_password_in_a_url_parameter_shows_neither_in_migrate_nor_in_serve_logs() {
    // The local PostgreSQL trusts every login, so the passwords reach sqlx and are never needed.
    let db = TestDb::postgres().await;
    let (userinfo_secret, query_secret) = ("Userinfo-Pa55-2b7d", "Query-Pa55-9f1c");
    let url = db.url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{userinfo_secret}@"),
        1,
    );
    // The query password percent-encoded (`-` as %2D), as a URL builder may write it.
    let encoded = query_secret.replace('-', "%2D");
    let url = format!("{url}?application_name=circlet&password={encoded}");
    let secrets = [userinfo_secret, query_secret, encoded.as_str(), "Pa55"];

    let (code, migrate) = circlet_with_database(&["migrate"], &url);
    assert_eq!(code, Some(0), "{migrate}");
    assert!(
        migrate.contains("migrations applied to postgres://postgres:***@127.0.0.1:5432/"),
        "{migrate}"
    );
    assert!(migrate.contains("password=***"), "{migrate}");

    let mut serve = Serve::start(&url, &[("RUST_LOG", "trace")]);
    assert!(serve.terminate().success());
    let logs = serve.logs();
    assert!(logs.contains("database migrated; starting"), "{logs}");
    assert!(logs.contains("password=***"), "{logs}");

    // A parameter sqlx does not read would be logged by it with its value: refused first.
    let ignored = format!("{}?sslpassword=Ssl-Pa55-4e0a", db.url);
    let (code, refused) = circlet_with_database(&["migrate"], &ignored);
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.starts_with("circlet: DATABASE_URL is invalid (parameter \"sslpassword\""),
        "{refused}"
    );

    for (place, text) in [("migrate", &migrate), ("serve", &logs), ("refusal", &refused)] {
        for secret in secrets {
            assert!(!text.contains(secret), "{place} shows {secret:?}: {text}");
        }
    }
}
