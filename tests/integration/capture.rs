//! Capture and tagging through the real endpoints: reactions and circle messages become
//! insights with tags, votes and replies; edits and deletes follow; Circlet acknowledges with
//! one reaction and never posts in the circle.

use circlet::inbox::InboxState;
use circlet::store::{InsightSource, MessageRef, TagSource};
use circlet_testkit::fake_slack::Fault;
use serde_json::json;

use crate::helpers::circle::{
    BOT, CIRCLE, TEAM, captured, delete, deliver, edit, feedback, make_circle, message, reaction, send,
};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const IDEA: &str = "1700000000.000100";

async fn circle_app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    app
}

on_both_backends! {
    async fn a_tag_reaction_captures_the_message_once_and_acknowledges_it(db: TestDb) {
        let app = circle_app(db).await;
        let bulb = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1);
        deliver(&app, &[
            message("U0MAYA", CIRCLE, IDEA, "Could the serum come in a travel size?", None),
            bulb.clone(),
            reaction(true, "U0SAM", "bulb::skin-tone-3", CIRCLE, IDEA, "U0MAYA", 2),
        ]).await;
        // Slack's retry of a delivered event changes nothing.
        let retried = app.sender.event_retry(&bulb, 1).await.unwrap();
        assert_eq!(retried.status, 200);
        app.worker.drain().await.unwrap();

        let got = captured(&app, CIRCLE, IDEA).await.expect("captured");
        assert_eq!(got.insight.text.as_deref(), Some("Could the serum come in a travel size?"));
        assert_eq!(got.insight.author_id.as_ref().map(|id| id.as_str()), Some("U0MAYA"));
        assert_eq!(got.insight.number, 1);
        assert_eq!(got.insight.source(), InsightSource::Reaction);
        assert_eq!(got.tags, ["idea"]);
        let acks = app.fake.calls_to("reactions.add");
        assert_eq!(acks.len(), 1, "one acknowledgement per captured message");
        assert_eq!(acks[0].params["name"], "eyes");
        assert_eq!(acks[0].params["timestamp"], IDEA);
        assert!(app.fake.calls_to("conversations.history").is_empty(), "the text came from the cache");
        assert!(app.fake.calls_to("chat.postMessage").is_empty(), "never a post to confirm a capture");
        assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
    }
}

#[tokio::test]
async fn each_default_emoji_gives_its_tag_and_memo_captures_without_one() {
    let app = circle_app(TestDb::sqlite()).await;
    let cases = [
        ("bulb", "idea"),
        ("bug", "bug"),
        ("heart", "praise"),
        ("confused", "pain-point"),
    ];
    let mut events = Vec::new();
    for (i, (emoji, _)) in cases.iter().enumerate() {
        let ts = format!("1700000100.00010{i}");
        events.push(message("U0MAYA", CIRCLE, &ts, "feedback", None));
        events.push(reaction(
            true,
            "U0LEA",
            emoji,
            CIRCLE,
            &ts,
            "U0MAYA",
            10 + i as u32,
        ));
    }
    events.push(message(
        "U0MAYA",
        CIRCLE,
        "1700000100.000200",
        "just a note",
        None,
    ));
    events.push(reaction(
        true,
        "U0LEA",
        "memo",
        CIRCLE,
        "1700000100.000200",
        "U0MAYA",
        20,
    ));
    deliver(&app, &events).await;
    for (i, (_, tag)) in cases.iter().enumerate() {
        let got = captured(&app, CIRCLE, &format!("1700000100.00010{i}"))
            .await
            .unwrap();
        assert_eq!(got.tags, [*tag]);
    }
    let memo = captured(&app, CIRCLE, "1700000100.000200")
        .await
        .expect("memo captures");
    assert!(memo.tags.is_empty());
}

#[tokio::test]
async fn removing_the_last_tag_reaction_removes_the_tag_but_rule_and_modal_tags_stay() {
    let app = circle_app(TestDb::sqlite()).await;
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "The pump breaks", None),
            reaction(true, "U0LEA", "bug", CIRCLE, IDEA, "U0MAYA", 1),
            reaction(true, "U0SAM", "bug", CIRCLE, IDEA, "U0MAYA", 2),
        ],
    )
    .await;
    let id = captured(&app, CIRCLE, IDEA).await.unwrap().insight.id;
    let mut tx = app.store.begin().await.unwrap();
    tx.add_tag(id, "packaging", TagSource::Modal).await.unwrap();
    tx.add_tag(id, "bug", TagSource::Rule).await.unwrap();
    tx.commit().await.unwrap();

    deliver(
        &app,
        &[reaction(false, "U0LEA", "bug", CIRCLE, IDEA, "U0MAYA", 3)],
    )
    .await;
    assert_eq!(
        captured(&app, CIRCLE, IDEA).await.unwrap().tags,
        ["bug", "packaging"],
        "U0SAM's :bug: remains"
    );
    deliver(
        &app,
        &[reaction(false, "U0SAM", "bug", CIRCLE, IDEA, "U0MAYA", 4)],
    )
    .await;
    let mut tx = app.store.begin().await.unwrap();
    tx.remove_tag(id, "bug", TagSource::Rule).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().tags, ["packaging"]);
}

on_both_backends! {
    async fn votes_are_one_per_member_without_the_author_and_count_from_before_the_capture(db: TestDb) {
        let app = circle_app(db).await;
        deliver(&app, &[
            message("U0MAYA", CIRCLE, IDEA, "Refill pouches please", None),
            // Before the capture: counted once it happens.
            reaction(true, "U0SAM", "+1::skin-tone-2", CIRCLE, IDEA, "U0MAYA", 1),
            reaction(true, "U0MAYA", "+1", CIRCLE, IDEA, "U0MAYA", 2),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 3),
            reaction(true, "U0JO", "thumbsup", CIRCLE, IDEA, "U0MAYA", 4),
            reaction(true, "U0JO", "+1", CIRCLE, IDEA, "U0MAYA", 5),
        ]).await;
        assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().voters, ["U0JO", "U0SAM"]);

        deliver(&app, &[reaction(false, "U0SAM", "+1::skin-tone-2", CIRCLE, IDEA, "U0MAYA", 6)]).await;
        assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().voters, ["U0JO"]);
    }
}

#[tokio::test]
async fn a_late_older_event_never_undoes_a_newer_one() {
    let app = circle_app(TestDb::sqlite()).await;
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Refill pouches please", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
            // Removed at 3, but the add from 2 arrives after the removal.
            reaction(true, "U0SAM", "+1", CIRCLE, IDEA, "U0MAYA", 2),
        ],
    )
    .await;
    send(&app, &[reaction(false, "U0SAM", "+1", CIRCLE, IDEA, "U0MAYA", 3)]).await;
    app.worker.drain().await.unwrap();
    let mut again = reaction(true, "U0SAM", "+1", CIRCLE, IDEA, "U0MAYA", 2);
    again["event_id"] = json!("EvLateRedelivery");
    deliver(&app, &[again]).await;
    assert!(captured(&app, CIRCLE, IDEA).await.unwrap().voters.is_empty());
}

#[tokio::test]
async fn thread_replies_before_and_after_the_capture_are_attached() {
    let app = circle_app(TestDb::sqlite()).await;
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            message(
                "U0SAM",
                CIRCLE,
                "1700000000.000200",
                "Yes, for flights!",
                Some(IDEA),
            ),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
            message("U0JO", CIRCLE, "1700000000.000300", "Same here", Some(IDEA)),
            // A reply in another thread is not attached.
            message(
                "U0JO",
                CIRCLE,
                "1700000000.000400",
                "Other topic",
                Some("1700000000.000999"),
            ),
        ],
    )
    .await;
    let got = captured(&app, CIRCLE, IDEA).await.unwrap();
    assert_eq!(got.replies, ["Yes, for flights!", "Same here"]);
}

on_both_backends! {
    async fn edits_update_the_text_keep_revisions_and_reapply_rules_and_deletes_redact(db: TestDb) {
        let app = circle_app(db).await;
        assert!(feedback(&app, "U0PM", "rules add \"refill\" sustainability").await.starts_with("Added rule 1."));
        deliver(&app, &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size please", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
        ]).await;
        assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().tags, ["idea"]);

        deliver(&app, &[edit(CIRCLE, IDEA, "Travel size refill please", 5)]).await;
        let got = captured(&app, CIRCLE, IDEA).await.unwrap();
        assert_eq!(got.insight.text.as_deref(), Some("Travel size refill please"));
        assert_eq!(got.revisions, ["Travel size please"]);
        assert_eq!(got.tags, ["idea", "sustainability"]);

        // An older edit arriving late is ignored.
        deliver(&app, &[edit(CIRCLE, IDEA, "Travel size", 4)]).await;
        assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().insight.text.as_deref(), Some("Travel size refill please"));

        deliver(&app, &[delete(CIRCLE, IDEA)]).await;
        let got = captured(&app, CIRCLE, IDEA).await.unwrap();
        assert!(got.insight.deleted);
        assert_eq!(got.insight.text.as_deref(), Some(""));
        assert!(got.revisions.is_empty(), "earlier texts are redacted too");
        let mut tx = app.store.begin().await.unwrap();
        let cache = tx.message(MessageRef { team_id: crate::helpers::ids::team(TEAM), channel_id: crate::helpers::ids::channel(CIRCLE), ts: IDEA }).await.unwrap();
        assert!(cache.is_none(), "the cached text is gone");
    }
}

#[tokio::test]
async fn a_reaction_before_its_message_event_still_makes_the_right_insight() {
    let app = circle_app(TestDb::sqlite()).await;
    send(
        &app,
        &[reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1)],
    )
    .await;
    // Run only the reaction: the message event arrives before the fetch task runs.
    app.worker.try_run_next().await.unwrap();
    assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().insight.text, None);
    deliver(&app, &[message("U0MAYA", CIRCLE, IDEA, "Travel size?", None)]).await;
    let got = captured(&app, CIRCLE, IDEA).await.unwrap();
    assert_eq!(got.insight.text.as_deref(), Some("Travel size?"));
    assert_eq!(got.tags, ["idea"]);
    // Slack does not have the message (the fake was not seeded): the event, not a fetch, gave
    // the text, and the capture was not dropped while the fetch raced it.

    assert_eq!(app.fake.calls_to("reactions.add").len(), 1);
}

#[tokio::test]
async fn an_uncached_message_is_fetched_from_history_or_its_thread_retrying_rate_limits() {
    let app = circle_app(TestDb::sqlite()).await;
    app.fake.seed_message(
        CIRCLE,
        json!({"ts": IDEA, "user": "U0MAYA", "text": "Matte finish please"}),
    );
    let reply_ts = "1700000000.000500";
    app.fake.seed_message(
        CIRCLE,
        json!({"ts": reply_ts, "user": "U0SAM", "text": "And a bigger bottle", "thread_ts": IDEA}),
    );
    app.fake.inject(
        "conversations.history",
        Fault::RateLimited { retry_after_secs: 0 },
        1,
    );
    deliver(
        &app,
        &[
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
            reaction(true, "U0LEA", "bulb", CIRCLE, reply_ts, "U0SAM", 2),
        ],
    )
    .await;
    assert_eq!(
        captured(&app, CIRCLE, IDEA)
            .await
            .unwrap()
            .insight
            .text
            .as_deref(),
        Some("Matte finish please")
    );
    assert_eq!(
        captured(&app, CIRCLE, reply_ts)
            .await
            .unwrap()
            .insight
            .text
            .as_deref(),
        Some("And a bigger bottle")
    );
    assert!(!app.fake.calls_to("conversations.replies").is_empty());
    assert_eq!(app.fake.calls_to("reactions.add").len(), 2);
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn a_message_slack_cannot_find_drops_the_capture() {
    let app = circle_app(TestDb::sqlite()).await;
    deliver(
        &app,
        &[reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1)],
    )
    .await;
    assert!(captured(&app, CIRCLE, IDEA).await.is_none());
    assert!(app.fake.calls_to("reactions.add").is_empty());

    app.fake.inject(
        "conversations.history",
        Fault::SlackError("not_in_channel".into()),
        1,
    );
    deliver(
        &app,
        &[reaction(
            true,
            "U0LEA",
            "bug",
            CIRCLE,
            "1700000000.000700",
            "U0MAYA",
            2,
        )],
    )
    .await;
    assert!(captured(&app, CIRCLE, "1700000000.000700").await.is_none());
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn the_acknowledgement_tolerates_already_reacted_and_retries_slack_outages() {
    let app = circle_app(TestDb::sqlite()).await;
    app.fake
        .inject("reactions.add", Fault::SlackError("already_reacted".into()), 1);
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
        ],
    )
    .await;
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);

    app.fake.inject("reactions.add", Fault::ServerError, 1);
    let ts = "1700000000.000800";
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, ts, "Refills?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, ts, "U0MAYA", 2),
        ],
    )
    .await;
    let acks = app.fake.calls_to("reactions.add");
    assert!(
        acks.iter()
            .any(|c| c.params["timestamp"] == ts && c.http_status == 200)
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn reactions_that_are_not_feedback_store_nothing() {
    let app = circle_app(TestDb::sqlite()).await;
    let mut on_file = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1);
    on_file["event"]["item"] = json!({"type": "file", "file": "F0FILE"});
    let mut other_workspace = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 2);
    other_workspace["team_id"] = json!("T0OTHER");
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            on_file,
            reaction(true, "U0LEA", "bulb", "C0RANDOM", IDEA, "U0MAYA", 3),
            reaction(true, BOT, "bulb", CIRCLE, IDEA, "U0MAYA", 4),
            other_workspace,
            reaction(true, "U0LEA", "tada", CIRCLE, IDEA, "U0MAYA", 5),
        ],
    )
    .await;
    assert!(captured(&app, CIRCLE, IDEA).await.is_none());
    let mut tx = app.store.begin().await.unwrap();
    for (team, channel) in [(TEAM, CIRCLE), (TEAM, "C0RANDOM"), ("T0OTHER", CIRCLE)] {
        let on = MessageRef {
            team_id: crate::helpers::ids::team(team),
            channel_id: crate::helpers::ids::channel(channel),
            ts: IDEA,
        };
        assert!(
            tx.reactions_on(on).await.unwrap().is_empty(),
            "no reaction row for {team}/{channel}"
        );
        assert!(tx.insight_by_message(on).await.unwrap().is_none());
    }
    let outside = MessageRef {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel("C0RANDOM"),
        ts: "1700000000.000900",
    };
    drop(tx);
    deliver(
        &app,
        &[message("U0MAYA", "C0RANDOM", "1700000000.000900", "secret", None)],
    )
    .await;
    let mut tx = app.store.begin().await.unwrap();
    assert!(
        tx.message(outside).await.unwrap().is_none(),
        "messages outside circles are not kept"
    );
    assert!(app.fake.calls().iter().all(|c| c.method != "reactions.add"));
}

#[tokio::test]
async fn a_removed_circle_stops_capture_and_keeps_its_insights() {
    let app = circle_app(TestDb::sqlite()).await;
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
        ],
    )
    .await;
    assert!(feedback(&app, "U0PM", "circle list").await.contains("1 insight"));
    feedback(&app, "U0PM", &format!("circle remove <#{CIRCLE}>")).await;
    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, "1700000000.000600", "More shades", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, "1700000000.000600", "U0MAYA", 2),
        ],
    )
    .await;
    assert!(captured(&app, CIRCLE, IDEA).await.is_some());
    assert!(captured(&app, CIRCLE, "1700000000.000600").await.is_none());
}

#[tokio::test]
async fn insight_numbers_count_per_workspace() {
    let app = circle_app(TestDb::sqlite()).await;
    let mut events = Vec::new();
    for i in 0..3 {
        let ts = format!("1700000000.00100{i}");
        events.push(message("U0MAYA", CIRCLE, &ts, "idea", None));
        events.push(reaction(true, "U0LEA", "bulb", CIRCLE, &ts, "U0MAYA", i));
    }
    deliver(&app, &events).await;
    let mut numbers = Vec::new();
    for i in 0..3 {
        numbers.push(
            captured(&app, CIRCLE, &format!("1700000000.00100{i}"))
                .await
                .unwrap()
                .insight
                .number,
        );
    }
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test]
async fn tags_can_be_listed_set_and_unset_per_workspace() {
    let app = circle_app(TestDb::sqlite()).await;
    let listed = feedback(&app, "U0PM", "tags").await;
    assert!(
        listed.contains(":bulb: → `idea`") && listed.contains(":memo: → captured as feedback"),
        "{listed}"
    );

    assert_eq!(
        feedback(&app, "U0PM", "tags set :rocket: Launch").await,
        "Reacting with :rocket: now captures a message and tags it `launch`."
    );
    assert!(
        feedback(&app, "U0PM", "tags unset :bug:")
            .await
            .starts_with(":bug: no longer captures")
    );
    assert!(
        feedback(&app, "U0PM", "tags set :+1: idea")
            .await
            .contains("vote")
    );
    assert!(
        feedback(&app, "U0PM", "tags set bulb Not A Tag")
            .await
            .starts_with("Usage")
    );
    assert!(
        feedback(&app, "U0PM", "tags set :bulb: Not!")
            .await
            .contains("cannot be a tag name")
    );
    assert!(
        feedback(&app, "U0PM", "tags unset :tada:")
            .await
            .contains("nothing to unset")
    );

    deliver(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Launch party?", None),
            reaction(true, "U0LEA", "rocket", CIRCLE, IDEA, "U0MAYA", 1),
            message("U0MAYA", CIRCLE, "1700000000.000200", "It crashes", None),
            reaction(true, "U0LEA", "bug", CIRCLE, "1700000000.000200", "U0MAYA", 2),
        ],
    )
    .await;
    assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().tags, ["launch"]);
    assert!(
        captured(&app, CIRCLE, "1700000000.000200").await.is_none(),
        ":bug: was unset"
    );
}

#[tokio::test]
async fn capture_rules_capture_matching_circle_messages_by_themselves() {
    let app = circle_app(TestDb::sqlite()).await;
    assert!(
        feedback(&app, "U0PM", "rules")
            .await
            .starts_with("No keyword rules yet")
    );
    assert_eq!(
        feedback(&app, "U0PM", "rules add \"dark mode\" idea capture").await,
        "Added rule 1. \"dark mode\" → `idea` (also captures). It applies to messages captured or edited from now on."
    );
    feedback(&app, "U0PM", "rules add “shipping” logistics").await;
    assert_eq!(
        feedback(&app, "U0PM", "rules").await,
        "*Keyword rules*\n1. \"dark mode\" → `idea` (also captures)\n2. \"shipping\" → `logistics`\n\
         Remove one with `/feedback rules remove N`."
    );
    assert!(
        feedback(&app, "U0PM", "rules add dark idea")
            .await
            .contains("double quotes")
    );

    deliver(
        &app,
        &[
            message(
                "U0MAYA",
                CIRCLE,
                IDEA,
                "Please add DARK MODE to the app; shipping too",
                None,
            ),
            message("U0SAM", CIRCLE, "1700000000.000200", "shipping was slow", None),
            message("U0SAM", CIRCLE, "1700000000.000300", "darkmode", None),
        ],
    )
    .await;
    let got = captured(&app, CIRCLE, IDEA)
        .await
        .expect("a capture rule captures");
    assert_eq!(got.insight.source(), InsightSource::Rule);
    assert_eq!(got.tags, ["idea", "logistics"]);
    assert!(
        captured(&app, CIRCLE, "1700000000.000200").await.is_none(),
        "a plain rule only tags"
    );
    assert!(
        captured(&app, CIRCLE, "1700000000.000300").await.is_none(),
        "whole words only"
    );
    // An edit that brings the phrase in captures too.
    deliver(&app, &[edit(CIRCLE, "1700000000.000300", "dark mode!", 9)]).await;
    assert!(captured(&app, CIRCLE, "1700000000.000300").await.is_some());

    assert!(
        feedback(&app, "U0PM", "rules remove 1")
            .await
            .starts_with("Removed rule 1.")
    );
    assert!(
        feedback(&app, "U0PM", "rules remove 7")
            .await
            .contains("no rule 7")
    );
}

#[tokio::test]
async fn only_product_users_and_admins_change_tags_and_rules() {
    let app = circle_app(TestDb::sqlite()).await;
    for (text, refusal) in [
        ("tags set :rocket: launch", "change tags"),
        ("rules", "manage keyword rules"),
    ] {
        let answer = feedback(&app, "U0MAYA", text).await;
        assert!(
            answer.starts_with("Sorry, only the product team") && answer.contains(refusal),
            "{answer}"
        );
    }
    let mut tx = app.store.begin().await.unwrap();
    assert!(
        tx.emoji_overrides(crate::helpers::ids::team(TEAM))
            .await
            .unwrap()
            .is_empty()
    );
    drop(tx);
    app.fake
        .set_user(json!({"id": "U0ADMIN", "name": "admin", "is_admin": true}));
    assert!(
        feedback(&app, "U0ADMIN", "tags")
            .await
            .starts_with("*Reactions that capture feedback*")
    );
}

#[tokio::test]
async fn a_failing_capture_batch_is_retried_and_nothing_is_lost() {
    // auth.test fails from the start, so the batch (which needs the bot's id, and the workspace
    // it serves) is retried later.
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .fault_from_start("auth.test", Fault::ServerError, 10)
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    send(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
        ],
    )
    .await;
    app.worker.try_run_next().await.unwrap();
    assert!(captured(&app, CIRCLE, IDEA).await.is_none());
    let pending = app.store.list_inbox(Some(InboxState::Pending), 10).await.unwrap();
    assert_eq!(pending.len(), 2, "both rows wait for a retry");
    app.fake.clear_faults();
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    app.worker.drain().await.unwrap();
    assert_eq!(captured(&app, CIRCLE, IDEA).await.unwrap().tags, ["idea"]);
}

#[tokio::test]
async fn a_message_event_after_a_failed_fetch_still_captures_the_reacted_message() {
    let app = circle_app(TestDb::sqlite()).await;
    send(&app, &[reaction(true, "U0LEA", "bug", CIRCLE, IDEA, "U0MAYA", 1)]).await;
    app.worker.try_run_next().await.unwrap(); // the reaction: capture without text, fetch queued
    app.worker.try_run_next().await.unwrap(); // the fetch: Slack does not have it (yet)
    assert!(captured(&app, CIRCLE, IDEA).await.is_none());
    deliver(
        &app,
        &[message("U0MAYA", CIRCLE, IDEA, "It crashes on login", None)],
    )
    .await;
    let got = captured(&app, CIRCLE, IDEA)
        .await
        .expect("the reaction still counts");
    assert_eq!(got.tags, ["bug"]);
    assert_eq!(got.insight.text.as_deref(), Some("It crashes on login"));
}

on_both_backends! {
    /// A capture dropped because Slack could not find the message does not block the message:
    /// a later reaction captures it again, fetches its text and acknowledges it.
    async fn a_dropped_capture_does_not_block_a_later_one_of_the_same_message(db: TestDb) {
        let app = circle_app(db).await;
        deliver(&app, &[reaction(true, "U0LEA", "bug", CIRCLE, IDEA, "U0MAYA", 1)]).await;
        assert!(captured(&app, CIRCLE, IDEA).await.is_none(), "Slack did not have it: dropped");

        app.fake.seed_message(CIRCLE, json!({"ts": IDEA, "user": "U0MAYA", "text": "It crashes on login"}));
        deliver(&app, &[reaction(true, "U0SAM", "bulb", CIRCLE, IDEA, "U0MAYA", 2)]).await;
        let got = captured(&app, CIRCLE, IDEA).await.expect("captured again");
        assert_eq!(got.insight.text.as_deref(), Some("It crashes on login"));
        let acks = app.fake.calls_to("reactions.add");
        assert_eq!(acks.len(), 1, "acknowledged once it had its text");
        assert_eq!(acks[0].params["timestamp"], IDEA);
        assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
    }
}

/// A part whose transaction PostgreSQL rolls back for another's sake (a serialization failure,
/// as between replicas) is retried; the parts before it stay committed.
#[tokio::test]
async fn a_large_batch_commits_in_parts_and_only_the_part_that_failed_is_retried() {
    use circlet::domain::capture::EVENTS_PER_TRANSACTION;
    let app = circle_app(TestDb::postgres().await).await;
    let ts = |i: usize| format!("1700000000.{:06}", 200 + i);
    let mut events: Vec<_> = (0..EVENTS_PER_TRANSACTION + 4)
        .map(|i| message("U0MAYA", CIRCLE, &ts(i), &format!("Idea {i}"), None))
        .collect();
    let last = ts(EVENTS_PER_TRANSACTION + 3);
    events.push(reaction(true, "U0LEA", "bulb", CIRCLE, &last, "U0MAYA", 1));
    // The second part captures `last`, and its transaction fails until the trigger goes.
    app.db
        .execute(&[
            "CREATE FUNCTION fail_capture() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure' USING ERRCODE = 'serialization_failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_capture BEFORE INSERT ON insights FOR EACH ROW \
                 WHEN (NEW.message_ts = '{last}') EXECUTE FUNCTION fail_capture()"
            ),
        ])
        .await;
    send(&app, &events).await;
    app.worker.try_run_next().await.unwrap();

    let state = |event: &serde_json::Value| {
        let event_id = event["event_id"].as_str().unwrap().to_owned();
        let store = app.store.clone();
        async move {
            store
                .find_inbox_by_event_id(&event_id)
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(&events[0]).await, InboxState::Done);
    assert_eq!(state(&events[EVENTS_PER_TRANSACTION - 1]).await, InboxState::Done);
    assert_eq!(
        state(&events[EVENTS_PER_TRANSACTION]).await,
        InboxState::Pending,
        "the failed part waits"
    );
    assert_eq!(state(events.last().unwrap()).await, InboxState::Pending);
    assert!(captured(&app, CIRCLE, &last).await.is_none());

    app.db
        .execute(&["DROP TRIGGER fail_capture ON insights".to_owned()])
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    app.worker.drain().await.unwrap();
    assert_eq!(captured(&app, CIRCLE, &last).await.unwrap().tags, ["idea"]);
    assert_eq!(state(&events[EVENTS_PER_TRANSACTION]).await, InboxState::Done);
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

/// A statement that fails the same way every time (here a trigger refusing the insert) is not
/// tried eight times: the part's rows are parked dead at once, for `circlet inbox retry`.
#[tokio::test]
async fn a_part_failing_on_a_broken_statement_is_parked_at_once_not_retried() {
    let app = circle_app(TestDb::sqlite()).await;
    app.db
        .execute(&[format!(
            "CREATE TRIGGER fail_capture BEFORE INSERT ON insights WHEN NEW.message_ts = '{IDEA}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )])
        .await;
    send(
        &app,
        &[
            message("U0MAYA", CIRCLE, IDEA, "Travel size?", None),
            reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1),
        ],
    )
    .await;
    app.worker.drain().await.unwrap();
    let dead = app.store.list_inbox(Some(InboxState::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|row| row.attempts == 1), "{dead:?}");
}
