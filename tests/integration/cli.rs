//! The `circlet` binary as a newcomer meets it: help, clear start-up errors, migrate, inbox
//! tools and the demo.

use std::process::{Command, Output};

use circlet::inbox::{InboxKind, InboxState, NewInboxItem};
use circlet::store::Settlement;

use crate::helpers::TestDb;

pub(crate) fn circlet(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_circlet"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run circlet")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["demo", "--help"],
        vec!["inbox", "--help"],
        vec!["inbox", "list", "--help"],
        vec!["inbox", "retry", "--help"],
        vec!["export", "--help"],
        vec!["token", "--help"],
        vec!["token", "create", "--help"],
        vec!["token", "list", "--help"],
        vec!["token", "revoke", "--help"],
        vec!["forget", "--help"],
    ] {
        let output = circlet(&args, &[]);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage: circlet"), "{args:?}");
    }
}

#[test]
fn serve_without_a_signing_secret_names_it_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let output = circlet(&["serve"], &[("DATABASE_URL", &db)]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("circlet: SLACK_SIGNING_SECRET is not set"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn an_invalid_setting_stops_start_up_naming_it() {
    let output = circlet(
        &["serve"],
        &[("SLACK_SIGNING_SECRET", "s"), ("CIRCLET_BIND", "everywhere")],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("circlet: CIRCLET_BIND is invalid (\"everywhere\"): expected host:port"),
        "{err}"
    );

    let output = circlet(&["--config", "/nonexistent.toml", "migrate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent.toml"));
}

#[test]
fn a_busy_port_is_reported_with_the_setting_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let output = circlet(
        &["serve"],
        &[
            ("SLACK_SIGNING_SECRET", "s"),
            ("CIRCLET_BIND", &addr),
            ("DATABASE_URL", &db),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("CIRCLET_BIND"),
        "{err}"
    );
}

#[test]
fn migrate_creates_the_sqlite_file_and_reads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let config = dir.path().join("circlet.toml");
    std::fs::write(
        &config,
        format!("database_url = \"sqlite://{}\"\n", path.display()),
    )
    .unwrap();
    let output = circlet(&["--config", config.to_str().unwrap(), "migrate"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(path.exists());
    assert!(stdout(&output).contains("migrations applied"));
}

#[tokio::test]
async fn inbox_list_and_retry_show_and_requeue_dead_rows() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let item = NewInboxItem {
        team_id: "T1".into(),
        event_id: "EvCliDead".into(),
        kind: InboxKind::Event,
        event_type: "reaction_added".into(),
        payload: "{}".into(),
        received_at: 1_763_900_000_000,
    };
    store.insert_inbox(&[item]).await.unwrap();
    let claim = store
        .claim_inbox(1_763_900_000_001, std::time::Duration::from_secs(60), 1)
        .await
        .unwrap();
    let id = claim.rows[0].id;
    let dead = Settlement::Dead {
        id,
        error: "Slack chat.postMessage failed: not_in_channel".into(),
    };
    store
        .settle_inbox(&claim.token, &[dead], 1_763_900_000_002)
        .await
        .unwrap();
    store.close().await;
    let env = [("DATABASE_URL", db.url.as_str())];

    let listed = circlet(&["inbox", "list", "--dead"], &env);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(
        text.contains("EvCliDead") && text.contains("not_in_channel") && text.contains("dead"),
        "{text}"
    );

    let missing = circlet(&["inbox", "retry"], &env);
    assert_eq!(missing.status.code(), Some(2), "retry needs an ID or --all");

    let retried = circlet(&["inbox", "retry", &id.to_string()], &env);
    assert!(stdout(&retried).contains("re-queued 1"), "{}", stdout(&retried));
    let none = circlet(&["inbox", "retry", "--all"], &env);
    assert!(stdout(&none).contains("re-queued 0"));

    let store = db.store().await;
    assert_eq!(
        store
            .find_inbox_by_event_id("EvCliDead")
            .await
            .unwrap()
            .unwrap()
            .state,
        InboxState::Pending
    );
    assert_eq!(
        stdout(&circlet(&["inbox", "list", "--dead"], &env)),
        "no inbox rows\n"
    );
}

#[cfg(feature = "demo")]
#[test]
fn demo_runs_a_week_with_no_configuration_and_shows_the_insights() {
    let started = std::time::Instant::now();
    let output = circlet(&["demo"], &[]);
    let took = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "demo-challenge-3eZbrw",
        "-> 401",
        "Added prompt 1. “What would make your evening routine easier?”",
        "Circlet posted to #beauty-insiders: Question of the week: What would make your evening routine easier?",
        "Emma answers the prompt",
        "Added rule 1. \"refill\" → `sustainability`",
        "Capture feedback shortcut on Priya's pump message",
        "#1 is now *shipped*",
        "Circlet posted in a thread of #beauty-insiders: This has shipped!",
        "0 waiting, 0 dead",
        "Circlet acknowledged 29 captured messages with :eyes:",
        "━━ The product team's report (`/feedback report 7d`), as text:",
        "━━ The product digest Circlet posted to #product-team (as text):",
        "Weekly feedback digest · week to 2026-11-23",
        "#1 → *shipped*",
        "━━ The member recap Circlet posted to #beauty-insiders (in T0CIRCLE, as text):",
        "You asked, we shipped",
        "thank you @Maya,",
        "Top contributors",
        "Exported the product team's 28 insights (T0CIRCLE and T0COMMUNITY) as CSV",
        // An hour-long outage: what only reached Slack's history is recovered by the sweep.
        "20:00-21:00 Circlet is down: Ana's idea gets a :bulb: and 2 votes",
        "-> 1 message, 0 replies, 0 edits, 1 tag reaction and 2 votes recovered from 1 circle",
        "A travel-size version of the serum would be great",
        // Multi-workspace mode: both workspaces install through Add to Slack, the brand's admin
        // names the product team and the digest's channel from Slack.
        "adds Circlet to Slack        -> 302 https://slack.com/app_redirect?app=A0CIRCLET&team=T0CIRCLE",
        "-> 302 https://slack.com/app_redirect?app=A0CIRCLET&team=T0COMMUNITY",
        "The product team is now <@U0PM> <@U0CM> (and workspace admins).",
        "The weekly digest goes to <#C0PRODUCT>",
        // Kai of a Slack Connect partner shares in the brand's circle, and votes.
        "Kai (T0LUMEN): Our salons would stock the night cream",
        "Priya reacts :bulb: to Kai (T0LUMEN) (#27)",
        "Kai (T0LUMEN) votes :+1: for Gwen",
        // The community, linked to the brand: captured there, triaged by the brand's product
        // team by its linked name, the loop closed in the community's own circle.
        "circlet workspaces link T0COMMUNITY --to T0CIRCLE -> linked",
        "Omar reacts :bulb: to Nora (T0COMMUNITY-1)",
        "T0COMMUNITY-1 is now *planned*",
        "Circlet posted in a thread of #glow-community: Good news: this is now planned.",
        "T0COMMUNITY-1 by @U0NORA in #C0GLOWCOMM · 2 votes",
        "• T0COMMUNITY-1 → *planned* · “A mini size of the night cream",
        "#glow-community · 4 members · 4 active",
        "━━ The member recap Circlet posted to #glow-community (in T0COMMUNITY, as text):",
        "thank you @Nora, @Pia and @Quinn for asking for it",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The export's rows by members of other workspaces, their own workspace last.
    let exported = |start: &str| {
        text.lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no exported row {start:?} in\n{text}"))
    };
    assert!(
        exported("27 T0CIRCLE Kai idea").ends_with(" T0LUMEN"),
        "{}",
        exported("27 T0CIRCLE")
    );
    assert!(
        exported("1 T0COMMUNITY Nora idea 2 planned").ends_with(" T0COMMUNITY"),
        "{}",
        exported("1 T0COMMUNITY")
    );
    let row = |number: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(number))
            .unwrap_or_else(|| panic!("no insight {number} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        row("1 ").starts_with("1 shipped reaction idea, sustainability 5 1 Would love a refillable"),
        "captured, tagged by emoji and rule, votes (not the author's, plus the merged duplicate's), one reply, edited, shipped: {}",
        row("1 ")
    );
    assert!(
        row("2 ").starts_with("2 new prompt 0 0 A lighter night cream"),
        "{}",
        row("2 ")
    );
    assert!(
        row("3 ").starts_with("3 new reaction bug 0 0 packaging The pump"),
        "{}",
        row("3 ")
    );
    assert!(
        row("27 ").starts_with("27 new reaction idea 0 0 Our salons would stock"),
        "Kai's idea is the brand's: {}",
        row("27 ")
    );
    // Deterministic: the same week, the same figures, every run (addresses and paths aside).
    let again = stdout(&circlet(&["demo"], &[]));
    let stable = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("127.0.0.1") && !l.starts_with("Done in"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(stable(&text), stable(&again));
    assert!(took.as_secs() < 30, "the demo took {took:?}");
}

/// `cargo build --no-default-features` leaves the test kit out of the binary; its `demo` and
/// `--help` say so.
#[cfg(not(feature = "demo"))]
#[test]
fn demo_without_the_demo_feature_says_this_build_has_none() {
    let output = circlet(&["demo"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("this build has no demo"), "{err}");
    let help = stdout(&circlet(&["--help"], &[]));
    assert!(help.contains("Not in this build"), "{help}");
}
