//! Backfill (ARCHITECTURE §12): after an outage, the circles' history in Slack is read and what
//! was missed is applied as the live events would have applied it; live events and backfill in
//! any order never double a capture, a tag, a vote, a reply or an acknowledgement.

use std::time::{Duration, Instant};

use circlet::clock::{Clock, SystemClock};
use circlet::domain::backfill::{Recovered, SweepRequest};
use circlet_testkit::fake_slack::Fault;
use serde_json::{Value, json};

use crate::helpers::circle::{BOT, CIRCLE, TEAM, captured, deliver, feedback, make_circle};
use crate::helpers::ids::{channel, team};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const AUTHOR: &str = "U0MAYA";
const FAN: &str = "U0FAN";
const OTHER: &str = "U0OTHER";

/// A Slack ts `secs_ago` seconds before now.
fn ts(secs_ago: i64) -> String {
    format!("{}.000100", SystemClock.now_millis() / 1000 - secs_ago)
}

/// A live Events API envelope of `event` in the test workspace.
fn live(event_id: &str, event: Value) -> Value {
    json!({
        "token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": 1, "event": event,
        "authorizations": [{"team_id": TEAM, "user_id": BOT, "is_bot": true}],
    })
}

fn live_message(ts: &str, text: &str, thread_ts: Option<&str>) -> Value {
    let mut event = json!({"type": "message", "channel": CIRCLE, "user": AUTHOR, "team": TEAM,
        "text": text, "ts": ts, "event_ts": ts});
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    live(&format!("Evmsg{ts}"), event)
}

fn live_reaction(added: bool, user: &str, emoji: &str, ts: &str, event_ts: &str) -> Value {
    let kind = if added {
        "reaction_added"
    } else {
        "reaction_removed"
    };
    live(
        &format!("Ev{kind}{user}{emoji}{ts}{event_ts}"),
        json!({"type": kind, "user": user, "reaction": emoji, "item_user": AUTHOR,
            "item": {"type": "message", "channel": CIRCLE, "ts": ts}, "event_ts": event_ts}),
    )
}

/// A message as `conversations.history` shows it.
fn in_history(ts: &str, text: &str, reactions: &[(&str, &[&str])]) -> Value {
    let mut message = json!({"type": "message", "user": AUTHOR, "team": TEAM, "text": text, "ts": ts});
    if !reactions.is_empty() {
        message["reactions"] = reactions
            .iter()
            .map(|(name, users)| json!({"name": name, "users": users, "count": users.len()}))
            .collect();
    }
    message
}

async fn app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    app.bot_identity().await;
    app
}

async fn sweep(app: &TestApp) -> Recovered {
    let request = SweepRequest {
        team: team(TEAM).clone(),
        channel: None,
        since: None,
    };
    let recovered = app
        .services
        .backfill
        .sweep(&request, &|_, _| {})
        .await
        .expect("sweep");
    app.worker.drain().await.unwrap();
    recovered
}

async fn activity(app: &TestApp, column: &str) -> i64 {
    app.db
        .query_i64(&format!(
            "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM member_activity"
        ))
        .await
}

on_both_backends! {
    async fn an_outage_is_recovered_as_the_live_events_would_have_been(db: TestDb) {
        let mut app = app(db).await;
        app.services.backfill = std::sync::Arc::new(no_pacing(&app));
        let (before, during, reply) = (ts(7200), ts(1800), ts(1700));
        // Before the outage: a message captured with :bulb:, and a :bug: from someone else.
        deliver(&app, &[
            live_message(&before, "The pump jams", None),
            live_reaction(true, FAN, "bulb", &before, &ts(7100)),
            live_reaction(true, OTHER, "bug", &before, &ts(7000)),
        ]).await;
        let first = captured(&app, CIRCLE, &before).await.expect("captured live");
        assert_eq!(first.insight.text.as_deref(), Some("The pump jams"));
        let acks_before = app.fake.calls_to("reactions.add").len();

        // During the outage (nothing delivered): the text was edited, the :bug: taken back, a
        // new message tagged :bulb: and voted, and a reply posted in the first one's thread.
        let mut edited = in_history(&before, "The pump jams half way", &[("bulb", &[FAN])]);
        edited["edited"] = json!({"user": AUTHOR, "ts": ts(1900)});
        edited["reply_count"] = json!(1);
        edited["latest_reply"] = json!(reply);
        edited["thread_ts"] = json!(before);
        app.fake.seed_message(CIRCLE, edited);
        app.fake.seed_message(CIRCLE, in_history(&during, "Refills please", &[("bulb", &[FAN]), ("+1::skin-tone-2", &[OTHER])]));
        let mut answer = in_history(&reply, "Same here", &[]);
        answer["thread_ts"] = json!(before);
        answer["user"] = json!(OTHER);
        app.fake.seed_message(CIRCLE, answer);

        let recovered = sweep(&app).await;
        assert_eq!(
            (recovered.messages, recovered.replies, recovered.edits, recovered.reactions, recovered.reactions_removed, recovered.votes),
            (1, 1, 1, 1, 1, 1),
            "{recovered:?}"
        );
        let first = captured(&app, CIRCLE, &before).await.unwrap();
        assert_eq!(first.insight.text.as_deref(), Some("The pump jams half way"));
        assert_eq!(first.tags, ["idea"], "the :bug: taken back during the outage is gone");
        assert_eq!(first.replies, ["Same here"]);
        let second = captured(&app, CIRCLE, &during).await.expect("captured from history");
        assert_eq!(second.tags, ["idea"]);
        assert_eq!(second.voters, [OTHER]);
        assert_eq!(app.fake.calls_to("reactions.add").len(), acks_before + 1, "the new capture is acknowledged");
        let (posts, reactions) = (activity(&app, "posts").await, activity(&app, "reactions").await);

        // Sweeping again finds nothing new.
        assert_eq!(sweep(&app).await, Recovered { circles: 1, ..Recovered::default() });
        // Slack's late retries of the outage's events change nothing either.
        deliver(&app, &[
            live_message(&during, "Refills please", None),
            live_message(&reply, "Same here", Some(&before)),
            live_reaction(true, FAN, "bulb", &during, &ts(1790)),
            live_reaction(true, OTHER, "+1", &during, &ts(1780)),
            live_reaction(false, OTHER, "bug", &before, &ts(1950)),
        ]).await;
        let second = captured(&app, CIRCLE, &during).await.unwrap();
        assert_eq!((second.tags.len(), second.voters.len()), (1, 1));
        assert_eq!(captured(&app, CIRCLE, &before).await.unwrap().replies.len(), 1);
        assert_eq!(app.fake.calls_to("reactions.add").len(), acks_before + 1, "acknowledged once");
        assert_eq!(activity(&app, "posts").await, posts, "a post counts once");
        assert_eq!(activity(&app, "reactions").await, reactions, "a reaction counts once");
        let metrics = app.metrics().await;
        assert!(metrics.contains(r#"circlet_backfill_recovered_total{kind="message"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"circlet_backfill_recovered_total{kind="vote"} 1"#), "{metrics}");
        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        let ready: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["backfill"][0]["team"], TEAM, "{ready}");
        assert!(ready["backfill"][0]["lag_seconds"].as_i64().unwrap() < 60, "{ready}");
        assert!(ready["backfill"][0]["last_sweep"].is_string(), "{ready}");
    }
}

on_both_backends! {
    async fn a_live_event_newer_than_the_history_read_is_never_undone(db: TestDb) {
        let mut app = app(db).await;
        app.services.backfill = std::sync::Arc::new(no_pacing(&app));
        let message = ts(600);
        deliver(&app, &[live_message(&message, "Bigger bottles", None)]).await;
        // Slack's history was read before this reaction was added: it does not list it.
        app.fake.seed_message(CIRCLE, in_history(&message, "Bigger bottles", &[]));
        let later = format!("{}.000000", SystemClock.now_millis() / 1000 + 60);
        deliver(&app, &[live_reaction(true, FAN, "bulb", &message, &later)]).await;
        let recovered = sweep(&app).await;
        assert_eq!(recovered.reactions_removed, 0, "{recovered:?}");
        assert_eq!(captured(&app, CIRCLE, &message).await.unwrap().tags, ["idea"]);
    }
}

on_both_backends! {
    async fn two_replicas_sweeping_at_once_do_the_work_once(db: TestDb) {
        let app = app(db).await;
        for n in 0..40 {
            let at = ts(3000 - n);
            app.fake.seed_message(CIRCLE, in_history(&at, &format!("Idea {n}"), &[("bulb", &[FAN]), ("+1", &[OTHER])]));
        }
        let (one, two) = (no_pacing(&app), no_pacing(&app));
        let request = SweepRequest { team: team(TEAM).clone(), channel: None, since: None };
        let (a, b) = tokio::join!(one.sweep(&request, &|_, _| {}), two.sweep(&request, &|_, _| {}));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.messages + b.messages, 40, "{a:?} {b:?}");
        assert_eq!(a.votes + b.votes, 40, "{a:?} {b:?}");
        app.worker.drain().await.unwrap();
        let votes = app.db.query_i64("SELECT COUNT(*) FROM votes").await;
        assert_eq!(votes, 40);
        assert_eq!(app.fake.calls_to("reactions.add").len(), 40, "each capture acknowledged once");

        // Replicas queue the periodic sweep under one key per period: one row, one sweep.
        let period = 7;
        for _ in 0..2 {
            let task = circlet::inbox::NewInboxItem::task(
                TEAM,
                format!("sweep:{TEAM}:{period}"),
                circlet::domain::backfill::task::SWEEP_TASK,
                &json!({"period": period}),
                0,
            );
            let mut tx = app.store.begin().await.unwrap();
            tx.enqueue(&task).await.unwrap();
            tx.commit().await.unwrap();
        }
        let sweeps = app.db.query_i64("SELECT COUNT(*) FROM inbox WHERE event_type = 'backfill_sweep'").await;
        assert_eq!(sweeps, 1);
    }
}

on_both_backends! {
    async fn sweeps_start_where_the_last_one_ended_and_rate_limits_only_slow_them(db: TestDb) {
        let app = app(db).await;
        let backfill = no_pacing(&app);
        let request = SweepRequest { team: team(TEAM).clone(), channel: None, since: None };
        app.fake.seed_message(CIRCLE, in_history(&ts(100), "First", &[("bulb", &[FAN])]));
        backfill.sweep(&request, &|_, _| {}).await.unwrap();
        let calls = app.fake.calls_to("conversations.history");
        let first_oldest: f64 = calls[0].params["oldest"].as_str().unwrap().parse().unwrap();
        let week = 7.0 * 24.0 * 3600.0;
        assert!((SystemClock.now_millis() as f64 / 1000.0 - first_oldest - week).abs() < 60.0, "a first sweep reads a week");

        app.fake.inject("conversations.history", Fault::RateLimited { retry_after_secs: 1 }, 1);
        let started = Instant::now();
        backfill.sweep(&request, &|_, _| {}).await.expect("a rate limit slows the sweep down");
        assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After is honoured");
        let calls = app.fake.calls_to("conversations.history");
        let oldest: f64 = calls.last().unwrap().params["oldest"].as_str().unwrap().parse().unwrap();
        let ago = SystemClock.now_millis() as f64 / 1000.0 - oldest;
        assert!((290.0..400.0).contains(&ago), "the next sweep starts a few minutes before the mark: {ago}s ago");
    }
}

#[tokio::test]
async fn product_users_backfill_from_slack_and_others_are_refused() {
    let mut app = app(TestDb::sqlite()).await;
    app.services.backfill = std::sync::Arc::new(no_pacing(&app));
    app.fake.seed_message(
        CIRCLE,
        in_history(&ts(100), "From the outage", &[("bulb", &[FAN])]),
    );
    let refused = feedback(&app, "U0SOMEONE", "backfill").await;
    assert!(refused.contains("only the product team"), "{refused}");
    let done = feedback(&app, "U0PM", &format!("backfill <#{CIRCLE}|circle>")).await;
    assert!(
        done.starts_with(":white_check_mark: Backfill done: 1 message"),
        "{done}"
    );
    let wrong = feedback(&app, "U0PM", "backfill <#C0ELSEWHERE|x>").await;
    assert!(wrong.contains("is not a circle"), "{wrong}");
    let usage = feedback(&app, "U0PM", "backfill since yesterday").await;
    assert!(usage.contains("is not a date"), "{usage}");
}

/// The app's backfill without its one-call-a-second pace, for tests that read many pages.
fn no_pacing(app: &TestApp) -> circlet::domain::backfill::Backfill {
    let mut backfill = circlet::domain::backfill::Backfill::new(
        app.store.clone(),
        app.services.workspaces.clone(),
        app.services.clock.clone(),
        app.services.metrics.clone(),
    );
    backfill.pacer = circlet::slack::Pacer::new(Duration::ZERO);
    let _ = channel(CIRCLE);
    backfill
}

on_both_backends! {
    async fn a_long_outage_is_read_page_by_page_under_slacks_2025_limits(db: TestDb) {
        let app = app(db).await;
        let backfill = no_pacing(&app);
        let parent = ts(5000);
        app.fake.seed_message(CIRCLE, in_history(&parent, "Thread starter", &[("bulb", &[FAN])]));
        for n in 0..20 {
            let mut reply = in_history(&ts(4900 - n), &format!("Reply {n}"), &[]);
            reply["thread_ts"] = json!(parent);
            app.fake.seed_message(CIRCLE, reply);
        }
        for n in 0..40 {
            app.fake.seed_message(CIRCLE, in_history(&ts(3000 - n), &format!("Idea {n}"), &[("bulb", &[FAN])]));
        }
        // Commercially distributed apps outside the Marketplace: 15 messages a page, and a
        // Retry-After longer than a call may sleep through.
        app.fake.limit_history(Some(15));
        app.fake.inject("conversations.history", Fault::RateLimited { retry_after_secs: 6 }, 1);
        let started = Instant::now();
        let request = SweepRequest { team: team(TEAM).clone(), channel: None, since: None };
        let recovered = backfill.sweep(&request, &|_, _| {}).await.expect("slowed down, not broken");
        assert!(started.elapsed() >= Duration::from_secs(6), "waited as Slack asked");
        assert_eq!((recovered.messages, recovered.replies), (41, 20), "{recovered:?}");
        let pages = app.fake.calls_to("conversations.history").iter().filter(|c| c.http_status == 200).count();
        assert_eq!(pages, 3, "41 messages in pages of 15");
        assert!(app.fake.calls_to("conversations.replies").len() >= 2, "20 replies in pages of 15");
        assert_eq!(captured(&app, CIRCLE, &parent).await.unwrap().replies.len(), 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circlet_backfill_recovers_from_the_command_line_and_says_what() {
    let db = TestDb::sqlite();
    let fake = circlet_testkit::FakeSlack::start().await.unwrap();
    let store = db.store().await;
    let change = circlet::store::CircleChange {
        team_id: team(TEAM),
        channel_id: channel(CIRCLE),
        active: true,
        changed_by: None,
        at: 0,
    };
    store.set_circle(&change).await.unwrap();
    store.close().await;
    fake.seed_message(
        CIRCLE,
        in_history(
            &ts(120),
            "Missed while down",
            &[("bulb", &[FAN]), ("+1", &[OTHER])],
        ),
    );
    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url.clone()),
        ("SLACK_BOT_TOKEN".into(), "xoxb-test-token".into()),
        ("SLACK_API_URL".into(), fake.api_url()),
    ];
    let run = |args: Vec<&'static str>| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crate::cli::circlet(&args, &env)
        })
    };
    let done = run(vec!["backfill"]).await.unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let out = crate::cli::stdout(&done);
    assert!(
        out.contains(
            "Backfill done: 1 message, 0 replies, 0 edits, 1 tag reaction and 1 vote recovered from 1 circle."
        ),
        "{out}"
    );
    let again = run(vec!["backfill", "--since", "2026-01-01"]).await.unwrap();
    assert!(
        crate::cli::stdout(&again).contains("Backfill done: 0 messages"),
        "{}",
        crate::cli::stdout(&again)
    );
    let wrong = run(vec!["backfill", "--channel", "C0NOPE"]).await.unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("C0NOPE is not a circle"),
        "{wrong:?}"
    );
}
