//! The weekly loop through the real endpoints, the real scheduler and the fake Slack, with a
//! clock the test moves: the product digest, member recaps, prompts, `/feedback digest`,
//! exactly-once posting across crashes and restarts, refused channels, and App Home.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use circlet::clock::{Clock, ManualClock};
use circlet::slack::SlackClientSettings;
use circlet::store::{CircleChange, InsightSource, PostKey, PostKind};
use circlet_testkit::fake_slack::{Fault, RecordedCall};
use serde_json::{Value, json};

use crate::helpers::circle::{TEAM, captured, deliver, feedback, message, reaction};
use crate::helpers::ids::{channel, team, user};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const PM: &str = "U0PM";
const MAYA: &str = "U0MAYA";
const LEO: &str = "U0LEO";
const PRIYA: &str = "U0PRIYA";
const CIRCLE: &str = "C0CIRCLE";
const OTHER: &str = "C0OTHER";
const DIGEST: &str = "C0PRODUCT";

/// Unix seconds of a November 2026 day and time (UTC). Monday 23rd 09:00 ends a week.
fn nov(day: u32, hour: u32, minute: u32) -> i64 {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .unwrap()
        .timestamp()
}

async fn app_at(db: TestDb, clock: &Arc<ManualClock>, env: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder(db)
        .clock(clock.clone())
        .env("CIRCLET_PRODUCT_USERS", PM)
        .env("CIRCLET_DIGEST_CHANNEL", DIGEST);
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    builder.start().await
}

/// Makes `channel` a circle as of `since` (seconds).
async fn circle_since(app: &TestApp, channel: &str, since: i64) {
    let change = CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0CM")),
        at: since * 1000,
    };
    app.store.set_circle(&change).await.unwrap();
}

/// A week in two circles, delivered at Tuesday 17th noon: Maya's idea with two votes and a
/// reply in the circle, Leo's bug, and in the other circle an idea that must not leak.
async fn a_week(app: &TestApp, clock: &ManualClock) {
    clock.set_secs(nov(17, 12, 0));
    deliver(
        app,
        &[
            message(
                MAYA,
                CIRCLE,
                "1763380800.000100",
                "Refillable night cream please",
                None,
            ),
            reaction(true, LEO, "bulb", CIRCLE, "1763380800.000100", MAYA, 1),
            reaction(true, PRIYA, "+1", CIRCLE, "1763380800.000100", MAYA, 2),
            reaction(true, "U0JO", "+1", CIRCLE, "1763380800.000100", MAYA, 3),
            message(LEO, CIRCLE, "1763380900.000100", "The serum pump jams", None),
            reaction(true, MAYA, "bug", CIRCLE, "1763380900.000100", LEO, 4),
            message(
                "U0OTTO",
                OTHER,
                "1763381000.000100",
                "Secret other-circle idea",
                None,
            ),
            reaction(true, "U0OTTO", "bulb", OTHER, "1763381000.000100", "U0OTTO", 5),
        ],
    )
    .await;
}

fn posts(app: &TestApp, channel: &str) -> Vec<RecordedCall> {
    app.fake
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|call| call.params["channel"] == channel && call.http_status == 200)
        .collect()
}

/// Every text of a posted message's blocks, and its fallback text, in one string.
fn shown(call: &RecordedCall) -> String {
    let blocks: Value = match &call.params["blocks"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        other => other.clone(),
    };
    format!("{}\n{}", call.params["text"], blocks)
}

/// The post's key, from the metadata Circlet puts on every post.
fn key_of(call: &RecordedCall) -> String {
    let metadata: Value = match &call.params["metadata"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        other => other.clone(),
    };
    metadata["event_payload"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn run_schedule(app: &TestApp) -> usize {
    let queued = app.services.digest_scheduler().run_due().await.unwrap();
    app.worker.drain().await.unwrap();
    queued
}

on_both_backends! {
    async fn the_week_is_posted_once_at_its_time_and_never_again(db: TestDb) {
        let clock = ManualClock::at_secs(nov(16, 9, 30));
        let app = app_at(db, &clock, &[]).await;
        // Circles since Monday 16th 09:30: the week that ended then is not theirs.
        circle_since(&app, CIRCLE, nov(16, 9, 30)).await;
        circle_since(&app, OTHER, nov(16, 9, 30)).await;
        assert_eq!(run_schedule(&app).await, 0, "no week of theirs has ended yet");
        a_week(&app, &clock).await;

        clock.set_secs(nov(23, 8, 59));
        assert_eq!(run_schedule(&app).await, 0, "a minute early");
        clock.set_secs(nov(23, 9, 0));
        assert_eq!(run_schedule(&app).await, 3, "the digest and two recaps");

        let digest = posts(&app, DIGEST);
        assert_eq!(digest.len(), 1);
        let text = shown(&digest[0]);
        assert!(text.contains("Weekly feedback digest"), "{text}");
        assert!(text.contains("3 new insights"), "{text}");
        assert!(text.contains("Refillable night cream please"), "{text}");
        assert!(text.contains("2 votes"), "{text}");
        assert!(text.contains("/feedback export csv since 2026-11-16"), "how to export: {text}");
        assert!(digest[0].params["text"].as_str().unwrap().starts_with("Weekly feedback digest: 3 new insights"));
        assert_eq!(key_of(&digest[0]), format!("digest:{TEAM}:{DIGEST}:2026-11-23"));

        let recap = posts(&app, CIRCLE);
        assert_eq!(recap.len(), 1);
        let text = shown(&recap[0]);
        assert!(text.contains("You shared 2 pieces of feedback this week"), "{text}");
        assert!(text.contains("Refillable night cream please"), "{text}");
        assert!(!text.contains("Secret other-circle idea"), "another circle leaked into a recap: {text}");
        assert!(text.contains("<@U0MAYA>"), "top contributors by name: {text}");

        // Later ticks, a restart and a second scheduler find the week claimed.
        clock.set_secs(nov(26, 12, 0));
        assert_eq!(run_schedule(&app).await, 0);
        let again = app.services.digest_scheduler();
        assert_eq!(again.run_due().await.unwrap(), 0);
        app.worker.drain().await.unwrap();
        assert_eq!(app.fake.calls_to("chat.postMessage").len(), 3, "each post exactly once");
    }
}

on_both_backends! {
    async fn a_week_missed_while_down_is_posted_once_and_only_the_latest(db: TestDb) {
        let clock = ManualClock::at_secs(nov(2, 9, 0));
        let app = app_at(db, &clock, &[]).await;
        circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
        // Down from before Monday 9th until Thursday 19th: two Mondays missed.
        clock.set_secs(nov(19, 15, 0));
        assert_eq!(run_schedule(&app).await, 2, "the digest and the recap of the latest week");
        let mut keys: Vec<String> = app.fake.calls_to("chat.postMessage").iter().map(key_of).collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                format!("digest:{TEAM}:{DIGEST}:2026-11-16"),
                format!("recap:{TEAM}:{CIRCLE}:2026-11-16")
            ],
            "the week ending Monday 16th only, not the 9th"
        );
    }
}

on_both_backends! {
    async fn a_crash_after_posting_and_before_recording_does_not_post_again(db: TestDb) {
        let clock = ManualClock::at_secs(nov(23, 9, 5));
        let app = app_at(db, &clock, &[]).await;
        circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
        app.services.digest_scheduler().run_due().await.unwrap();
        app.worker.drain().await.unwrap();
        let posted = app.fake.calls_to("chat.postMessage").len();
        assert_eq!(posted, 2);
        let key = PostKey::new(team(TEAM), channel(DIGEST), "2026-11-23", PostKind::Digest);
        let ts = app.store.digests().posted_ts(&key).await.unwrap().expect("recorded");

        // As if the process died between Slack's answer and the record: the record is gone and
        // the task runs again (a retry, as a lapsed claim would make it).
        forget_post_and_rerun(&app, &key).await;
        app.worker.drain().await.unwrap();
        assert_eq!(
            app.fake.calls_to("chat.postMessage").len(),
            posted,
            "the earlier post was found by its metadata, not posted again"
        );
        assert_eq!(app.store.digests().posted_ts(&key).await.unwrap(), Some(ts), "recorded as the earlier post");
    }
}

/// Clears `key`'s record and puts its task back in the queue as a retry.
async fn forget_post_and_rerun(app: &TestApp, key: &PostKey) {
    let sql = [
        format!(
            "UPDATE scheduled_posts SET posted_at = NULL, message_ts = NULL WHERE kind = 'digest' AND period = '{}'",
            key.period
        ),
        format!(
            "UPDATE inbox SET state = 'dead', last_error = 'crashed' WHERE event_id = 'task:post:{}'",
            key.id()
        ),
    ];
    app.db.execute(&sql).await;
    let requeued = app
        .store
        .requeue_dead(circlet::store::Requeue::AllDead, app.services.clock.now_millis())
        .await
        .unwrap();
    assert_eq!(requeued, 1);
}

on_both_backends! {
    async fn a_channel_that_refuses_the_post_is_reported_and_tried_next_week(db: TestDb) {
        let clock = ManualClock::at_secs(nov(23, 9, 1));
        let app = app_at(db, &clock, &[]).await;
        circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
        app.fake.inject("chat.postMessage", Fault::SlackError("not_in_channel".into()), 2);
        assert_eq!(run_schedule(&app).await, 2);
        let counts = app.store.inbox_counts().await.unwrap();
        assert_eq!(counts.dead, 0, "refused posts are not dead rows");
        assert_eq!(counts.unfinished(), 0, "and not retried in a loop");

        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        let ready: Value = serde_json::from_str(&body).unwrap();
        let refused = ready["scheduled_posts_refused"].as_array().expect("listed in /readyz");
        assert_eq!(refused.len(), 2, "{body}");
        assert!(refused.iter().all(|r| r["error"] == "not_in_channel"), "{body}");
        assert!(refused.iter().any(|r| r["channel"] == DIGEST && r["kind"] == "digest"), "{body}");

        run_schedule(&app).await; // refreshes the gauge
        let metrics = app.metrics().await;
        assert!(
            metrics.contains(r#"circlet_scheduled_posts_total{kind="digest",result="not_in_channel"} 1"#),
            "{metrics}"
        );
        assert!(metrics.contains("circlet_scheduled_post_failing 2"), "{metrics}");

        // The bot is invited meanwhile; the next week goes out.
        clock.set_secs(nov(30, 9, 1));
        assert_eq!(run_schedule(&app).await, 2);
        assert_eq!(app.fake.calls_to("chat.postMessage").len(), 4, "two refused, two posted");
        for channel in [DIGEST, CIRCLE] {
            let kind = if channel == DIGEST { PostKind::Digest } else { PostKind::Recap };
            let key = PostKey::new(team(TEAM), crate::helpers::ids::channel(channel), "2026-11-30", kind);
            let ts = app.store.digests().posted_ts(&key).await.unwrap();
            assert!(ts.is_some_and(|ts| !ts.is_empty()), "{channel} posted");
        }
    }
}

on_both_backends! {
    async fn a_quiet_week_gets_a_short_recap_or_none_when_configured(db: TestDb) {
        let clock = ManualClock::at_secs(nov(23, 9, 1));
        let app = app_at(db.handle(), &clock, &[]).await;
        circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
        run_schedule(&app).await;
        let recap = posts(&app, CIRCLE);
        assert_eq!(recap.len(), 1);
        assert!(shown(&recap[0]).contains("A quiet week"), "{}", shown(&recap[0]));
        let digest = posts(&app, DIGEST);
        assert!(shown(&digest[0]).contains("No new insights this week."));

        let skipping = app_at(db, &clock, &[("CIRCLET_DIGEST_QUIET_WEEK", "skip")]).await;
        clock.set_secs(nov(30, 9, 1));
        assert_eq!(run_schedule(&skipping).await, 2, "the week is still claimed once");
        assert_eq!(posts(&skipping, CIRCLE).len(), 0, "nothing said in a quiet circle");
        assert_eq!(posts(&skipping, DIGEST).len(), 1, "the product team still hears of the quiet week");
        let key = PostKey::new(team(TEAM), channel(CIRCLE), "2026-11-30", PostKind::Recap);
        assert_eq!(skipping.store.digests().posted_ts(&key).await.unwrap().as_deref(), Some(""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recap_thanks_authors_and_voters_of_what_shipped_and_hides_company_and_declines() {
    let clock = ManualClock::at_secs(nov(16, 10, 0));
    let app = app_at(TestDb::sqlite(), &clock, &[]).await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    circle_since(&app, OTHER, nov(1, 0, 0)).await;
    a_week(&app, &clock).await;
    // Leo's bug gets a company in the capture modal's data and is declined; Maya's idea ships.
    let bug = captured(&app, CIRCLE, "1763380900.000100").await.unwrap().insight;
    let mut tx = app.store.begin().await.unwrap();
    let details = circlet::store::InsightDetails {
        product_area: None,
        sentiment: None,
        customer_company: Some("Glow & Co".into()),
    };
    tx.set_details(bug.id, &details, clock.now_millis())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    clock.set_secs(nov(20, 10, 0));
    let idea = captured(&app, CIRCLE, "1763380800.000100").await.unwrap().insight;
    feedback(&app, PM, &format!("status {} shipped", idea.number)).await;
    feedback(&app, PM, &format!("status {} declined", bug.number)).await;

    clock.set_secs(nov(23, 9, 1));
    run_schedule(&app).await;
    let recap = posts(&app, CIRCLE)
        .into_iter()
        .find(|c| c.params["thread_ts"].is_null())
        .expect("a recap");
    let text = shown(&recap);
    assert!(text.contains("You asked, we shipped"), "{text}");
    assert!(
        text.contains("thank you <@U0MAYA>, <@U0JO> and <@U0PRIYA> for asking for it"),
        "author then voters by mention: {text}"
    );
    assert!(!text.contains("Glow & Co"), "no company fields: {text}");
    assert!(!text.contains("declined"), "no declines: {text}");
    assert!(
        !text.contains("Secret other-circle idea"),
        "no other circles: {text}"
    );
    let other = posts(&app, OTHER);
    assert!(
        !shown(&other[0]).contains("Refillable"),
        "and the other way round"
    );
    // The product digest lists both status changes.
    let digest = shown(&posts(&app, DIGEST)[0]);
    assert!(
        digest.contains("→ *shipped*") && digest.contains("→ *declined*"),
        "{digest}"
    );
}

on_both_backends! {
    /// §5: nothing of one circle in another's recap, also after a merge across circles moved
    /// the other circle's voters onto the insight.
    async fn a_recap_thanks_only_its_own_circles_voters_after_a_merge_across_circles(db: TestDb) {
        let clock = ManualClock::at_secs(nov(16, 10, 0));
        let app = app_at(db, &clock, &[]).await;
        circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
        circle_since(&app, OTHER, nov(1, 0, 0)).await;
        a_week(&app, &clock).await;
        // Otto's idea in the other circle gets two votes there, then is merged into Maya's.
        deliver(
            &app,
            &[
                reaction(true, "U0OTHERVOTER", "+1", OTHER, "1763381000.000100", "U0OTTO", 6),
                reaction(true, "U0SECONDVOTER", "+1", OTHER, "1763381000.000100", "U0OTTO", 7),
            ],
        )
        .await;
        clock.set_secs(nov(20, 10, 0));
        let idea = captured(&app, CIRCLE, "1763380800.000100").await.unwrap().insight;
        let duplicate = captured(&app, OTHER, "1763381000.000100").await.unwrap().insight;
        let merged = feedback(&app, PM, &format!("merge {} into {}", duplicate.number, idea.number)).await;
        assert!(merged.contains("Merged"), "{merged}");
        feedback(&app, PM, &format!("status {} shipped", idea.number)).await;

        clock.set_secs(nov(23, 9, 1));
        run_schedule(&app).await;
        let recap = posts(&app, CIRCLE)
            .into_iter()
            .find(|c| c.params["thread_ts"].is_null() && key_of(c).starts_with("recap:"))
            .expect("a recap");
        let text = shown(&recap);
        assert!(
            text.contains("thank you <@U0MAYA>, <@U0JO> and <@U0PRIYA> for asking for it"),
            "this circle's author and voters: {text}"
        );
        for outsider in ["U0OTHERVOTER", "U0SECONDVOTER", "U0OTTO", "Secret other-circle idea"] {
            assert!(!text.contains(outsider), "{outsider} belongs to the other circle: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_go_out_after_the_recap_and_their_replies_are_captured() {
    let clock = ManualClock::at_secs(nov(20, 10, 0));
    // Slack's real pace, so the gap between two posts outweighs any delay on a busy machine.
    let paced = SlackClientSettings {
        post_interval: Duration::from_secs(1),
        ..TestApp::quick_slack_settings()
    };
    let app = TestApp::builder(TestDb::sqlite())
        .clock(clock.clone())
        .slack_settings(paced)
        .env("CIRCLET_PRODUCT_USERS", PM)
        .env("CIRCLET_DIGEST_CHANNEL", DIGEST)
        .start()
        .await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    // The rule tags prompt answers as it tags anything captured.
    feedback(&app, PM, "rules add \"night\" skincare").await;
    let added = feedback(
        &app,
        PM,
        "prompt add \"What would make your evening routine easier?\"",
    )
    .await;
    assert!(added.contains("Added prompt 1"), "{added}");
    let added = feedback(&app, PM, "prompt add “Which product would you refill?”").await;
    assert!(added.contains("1 queued before it"), "{added}");
    let listed = feedback(&app, PM, "prompt list").await;
    assert!(
        listed.contains("1. “What would make your evening routine easier?”"),
        "{listed}"
    );
    assert!(
        listed.contains("2. “Which product would you refill?”"),
        "{listed}"
    );
    let refused = feedback(&app, MAYA, "prompt add \"Spam?\"").await;
    assert!(refused.starts_with("Sorry, only the product team"), "{refused}");
    let wrong = feedback(&app, PM, "prompt add no quotes").await;
    assert!(wrong.contains("double quotes"), "{wrong}");

    clock.set_secs(nov(23, 9, 1));
    run_schedule(&app).await;
    let circle_posts = posts(&app, CIRCLE);
    assert_eq!(circle_posts.len(), 2, "recap, then prompt");
    assert!(key_of(&circle_posts[0]).starts_with("recap:"));
    assert!(key_of(&circle_posts[1]).starts_with("prompt:"));
    assert!(shown(&circle_posts[1]).contains("What would make your evening routine easier?"));
    assert!(
        circle_posts[1].at.duration_since(circle_posts[0].at) >= Duration::from_millis(500),
        "posts to one channel keep Slack's pace"
    );
    let listed = feedback(&app, PM, "prompt list").await;
    assert!(
        !listed.contains("evening routine"),
        "the posted prompt left the queue: {listed}"
    );

    // Replies in the prompt's thread are captured as insights (source prompt), tagged by rules.
    let history = app.fake.messages(CIRCLE);
    let prompt_ts = history
        .iter()
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Question of the week")
        })
        .and_then(|m| m["ts"].as_str())
        .expect("the prompt in the channel")
        .to_owned();
    clock.set_secs(nov(23, 10, 0));
    deliver(
        &app,
        &[
            message(
                MAYA,
                CIRCLE,
                "1763892000.000100",
                "A lighter night cream for summer",
                Some(&prompt_ts),
            ),
            message(
                LEO,
                CIRCLE,
                "1763892100.000100",
                "Just chatting, not in a prompt thread",
                None,
            ),
        ],
    )
    .await;
    let answer = captured(&app, CIRCLE, "1763892000.000100")
        .await
        .expect("captured");
    assert_eq!(answer.insight.source(), InsightSource::Prompt);
    assert_eq!(answer.tags, vec!["skincare".to_owned()]);
    assert!(captured(&app, CIRCLE, "1763892100.000100").await.is_none());

    let removed = feedback(&app, PM, "prompt remove 2").await;
    assert!(removed.starts_with("Removed prompt 2."), "{removed}");
    let missing = feedback(&app, PM, "prompt remove 9").await;
    assert!(missing.contains("There is no prompt 9"), "{missing}");
    clock.set_secs(nov(30, 9, 1));
    run_schedule(&app).await;
    assert_eq!(posts(&app, CIRCLE).len(), 3, "only the recap: the queue is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_commands_preview_and_switch_recaps_for_the_product_team_only() {
    let clock = ManualClock::at_secs(nov(17, 12, 0));
    let app = app_at(TestDb::sqlite(), &clock, &[]).await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    circle_since(&app, OTHER, nov(1, 0, 0)).await;
    a_week(&app, &clock).await;

    let refused = feedback(&app, MAYA, "digest preview").await;
    assert_eq!(
        refused,
        "Sorry, the digest is for the product team and workspace admins."
    );
    let preview = preview_blocks(&app, "digest preview").await;
    assert!(preview.contains("Weekly feedback digest"), "{preview}");
    assert!(preview.contains("Refillable night cream please"), "{preview}");
    let recap = preview_blocks(&app, &format!("digest preview <#{CIRCLE}|circle>")).await;
    assert!(recap.contains("You shared 2 pieces of feedback"), "{recap}");

    let off = feedback(&app, PM, &format!("digest circle off <#{OTHER}|other>")).await;
    assert!(off.starts_with("Recaps are off for <#C0OTHER>"), "{off}");
    let again = feedback(&app, PM, &format!("digest circle off <#{OTHER}|other>")).await;
    assert!(again.starts_with("Recaps were already off"), "{again}");
    let unknown = feedback(&app, PM, "digest circle off <#C0NOPE|nope>").await;
    assert!(unknown.contains("is not a circle"), "{unknown}");
    let wrong = feedback(&app, PM, "digest circle maybe").await;
    assert!(wrong.contains("Say `on` or `off`"), "{wrong}");
    let customer = feedback(&app, MAYA, &format!("digest circle off <#{CIRCLE}|circle>")).await;
    assert!(customer.starts_with("Sorry"), "{customer}");

    clock.set_secs(nov(23, 9, 1));
    run_schedule(&app).await;
    assert_eq!(posts(&app, CIRCLE).len(), 1);
    assert_eq!(posts(&app, OTHER).len(), 0, "recaps switched off");
    let on = feedback(&app, PM, &format!("digest circle on <#{OTHER}|other>")).await;
    assert!(on.contains("next on 2026-11-30"), "{on}");
    clock.set_secs(nov(30, 9, 1));
    run_schedule(&app).await;
    assert_eq!(posts(&app, OTHER).len(), 1, "back on");
}

/// The blocks of the ephemeral answer to `/feedback {text}` by the product user.
async fn preview_blocks(app: &TestApp, text: &str) -> String {
    feedback(app, PM, text).await;
    let call = app.fake.calls_to("response_url").pop().expect("answered");
    assert_eq!(call.params["response_type"], "ephemeral");
    assert!(call.params["blocks"].is_array(), "{}", call.params);
    call.params["blocks"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_posts_wait_and_go_out_once() {
    let clock = ManualClock::at_secs(nov(23, 9, 1));
    let app = app_at(TestDb::sqlite(), &clock, &[]).await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    app.fake
        .inject("chat.postMessage", Fault::RateLimited { retry_after_secs: 1 }, 1);
    run_schedule(&app).await;
    assert_eq!(posts(&app, DIGEST).len() + posts(&app, CIRCLE).len(), 2);
    let limited: Vec<RecordedCall> = app
        .fake
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| c.http_status == 429)
        .collect();
    assert_eq!(limited.len(), 1);
    let retried = app
        .fake
        .calls_to("chat.postMessage")
        .into_iter()
        .find(|c| c.http_status == 200 && c.params["channel"] == limited[0].params["channel"])
        .unwrap();
    assert!(
        retried.at.duration_since(limited[0].at) >= Duration::from_millis(950),
        "Retry-After respected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_home_shows_members_their_own_feedback_and_the_team_the_week() {
    let clock = ManualClock::at_secs(nov(17, 12, 0));
    let app = app_at(TestDb::sqlite(), &clock, &[]).await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    circle_since(&app, OTHER, nov(1, 0, 0)).await;
    a_week(&app, &clock).await;

    let opened = |user: &str, id: &str| {
        let mut envelope = crate::helpers::samples::json("events", "app_home_opened__hubspot.json");
        envelope["team_id"] = json!(TEAM);
        envelope["event_id"] = json!(id);
        envelope["event"]["user"] = json!(user);
        envelope
    };
    deliver(&app, &[opened(MAYA, "EvHome1")]).await;
    let published = app.fake.calls_to("views.publish");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].params["user_id"], MAYA);
    let view = published[0].params["view"].to_string();
    assert!(view.contains("\"home\""), "{view}");
    assert!(
        view.contains("Refillable night cream please"),
        "her own insight: {view}"
    );
    assert!(view.contains("2 votes"), "{view}");
    assert!(!view.contains("The serum pump jams"), "nobody else's: {view}");
    assert!(!view.contains("Secret other-circle idea"), "{view}");
    assert!(
        !view.contains("This week"),
        "no product figures for a member: {view}"
    );
    assert!(
        view.contains("\"action_id\":\"download_my_data\""),
        "every member can download their data: {view}"
    );

    clock.set_secs(nov(17, 12, 5));
    deliver(&app, &[opened(PM, "EvHome2")]).await;
    let view = app.fake.calls_to("views.publish")[1].params["view"].to_string();
    assert!(
        view.contains("Nothing captured yet"),
        "the product user captured nothing: {view}"
    );
    assert!(
        view.contains("This week") && view.contains("3 new insights"),
        "{view}"
    );
    assert!(
        view.contains("Newest insights") && view.contains("Secret other-circle idea"),
        "{view}"
    );

    // The Messages tab is not the Home tab.
    let mut messages_tab = opened(MAYA, "EvHome3");
    messages_tab["event"]["tab"] = json!("messages");
    deliver(&app, &[messages_tab]).await;
    assert_eq!(app.fake.calls_to("views.publish").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_prints_the_digest_and_recaps_without_posting() {
    // A moment ago, not an hour: in the hour after the schedule's Monday 09:00 an hour ago
    // falls in the previous week, which the dry run (on the real clock) does not show.
    let clock = ManualClock::at_secs(circlet::clock::SystemClock.now_secs() - 1);
    let db = TestDb::sqlite();
    let url = db.url.clone();
    let app = app_at(db, &clock, &[]).await;
    circle_since(&app, CIRCLE, nov(1, 0, 0)).await;
    deliver(
        &app,
        &[
            message(
                MAYA,
                CIRCLE,
                "1763380800.000100",
                "Refillable night cream please",
                None,
            ),
            reaction(true, LEO, "bulb", CIRCLE, "1763380800.000100", MAYA, 1),
        ],
    )
    .await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_circlet"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("CIRCLET_DIGEST_CHANNEL", DIGEST)
            .output()
            .unwrap()
    };
    let out = run(&["digest", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("── product digest, to #C0PRODUCT"), "{stdout}");
    assert!(stdout.contains("1 new insight"), "{stdout}");
    assert!(stdout.contains("── member recap, to #C0CIRCLE"), "{stdout}");
    assert!(stdout.contains("Refillable night cream please"), "{stdout}");
    let only = run(&["digest", "--dry-run", "--channel", CIRCLE]);
    let stdout = String::from_utf8_lossy(&only.stdout);
    assert!(
        !stdout.contains("product digest") && stdout.contains("member recap"),
        "{stdout}"
    );
    let wrong = run(&["digest", "--dry-run", "--channel", "C0NOPE"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("neither CIRCLET_DIGEST_CHANNEL nor a circle"));
    let posting = run(&["digest"]);
    assert_eq!(posting.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&posting.stderr).contains("add --dry-run"));
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 0, "nothing posted");
}

#[test]
fn an_invalid_schedule_stops_start_up_naming_the_setting_and_the_form() {
    for (value, says) in [
        ("monday 9am", "\"9am\" is not a time"),
        (
            "mon 09:00 Mars/Olympus",
            "\"Mars/Olympus\" is not a time zone name",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_circlet"))
            .arg("serve")
            .env_clear()
            .env("SLACK_SIGNING_SECRET", "x")
            .env("CIRCLET_DIGEST_SCHEDULE", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("CIRCLET_DIGEST_SCHEDULE is invalid"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            stderr.contains("\"mon 09:00 UTC\""),
            "the accepted form: {stderr}"
        );
    }
}

/// Two `circlet serve` processes start at once on one PostgreSQL database, both with a week
/// due: one digest, one recap and one prompt per circle reach Slack, whoever claimed them; a
/// replica restarted afterwards posts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_post_each_scheduled_message_exactly_once() {
    use crate::helpers::serve::Serve;

    let db = TestDb::postgres().await;
    let fake = circlet_testkit::fake_slack::FakeSlack::start().await.unwrap();
    let store = db.store().await;
    let circles = ["C0ONE", "C0TWO", "C0THREE"];
    for channel in circles {
        let change = CircleChange {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel(channel),
            active: true,
            changed_by: Some(crate::helpers::ids::user("U0CM")),
            at: 0,
        };
        store.set_circle(&change).await.unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    tx.add_prompt(team(TEAM), "What should we make next?", user(PM), 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let api_url = fake.api_url();
    let url = db.url.clone();
    let start = move || {
        let env = [
            ("SLACK_BOT_TOKEN", "xoxb-replicas"),
            ("SLACK_API_URL", api_url.as_str()),
            ("CIRCLET_DIGEST_CHANNEL", DIGEST),
            ("RUST_LOG", "warn,circlet::app=info,circlet::domain::digest=info"),
        ];
        Serve::start(&url, &env)
    };
    let (a, b) = (start.clone(), start.clone());
    let first = std::thread::spawn(a);
    let second = std::thread::spawn(b);
    let (first, mut second) = (first.join().unwrap(), second.join().unwrap());

    // 1 digest + 3 recaps + 3 prompts.
    let expected = 1 + 2 * circles.len();
    let posted = fake
        .wait_for_calls("chat.postMessage", expected, Duration::from_secs(30))
        .await;
    assert_eq!(
        posted.len(),
        expected,
        "{:?}",
        posted.iter().map(key_of).collect::<Vec<_>>()
    );
    // Give a late duplicate every chance to show up, restart one replica, and look again.
    second.terminate();
    let _restarted = start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut keys: Vec<String> = fake.calls_to("chat.postMessage").iter().map(key_of).collect();
    keys.sort();
    let unique = {
        let mut unique = keys.clone();
        unique.dedup();
        unique
    };
    assert_eq!(keys, unique, "a scheduled post went out twice");
    assert_eq!(keys.len(), expected, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("digest:")).count(), 1);
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("recap:")).count(),
        circles.len()
    );
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("prompt:")).count(),
        circles.len()
    );
    drop(first);
}
