//! Triage: `/feedback status` and `/feedback merge`, the status buttons, and closing the loop
//! in the captured messages' threads exactly once.

use std::time::Duration;

use circlet::app::default_handlers;
use circlet::clock::{Clock, SystemClock};
use circlet::domain::settings::LoopTexts;
use circlet::domain::triage::{CLOSE_LOOP_TASK, REFUSAL, STATUS_ACTION};
use circlet::inbox::{InboxKind, InboxRow, InboxState, Job};
use circlet::store::{
    Insight, InsightSource, InsightStatus, InsightTx, MessageRef, NewInsight, Reply, SharedStore, TagSource,
};
use circlet_testkit::fake_slack::Fault;
use serde_json::json;

use crate::helpers::circle::{click, feedback};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const TEAM: &str = "T0CIRCLE";
const CHANNEL: &str = "C0CIRCLE";

/// What a test insight is made of.
struct Seed<'a> {
    team: &'a str,
    channel: &'a str,
    ts: &'a str,
    author: &'a str,
    voters: &'a [&'a str],
    tags: &'a [(&'a str, TagSource)],
    replies: &'a [&'a str],
    source: InsightSource,
}

impl<'a> Seed<'a> {
    fn new(ts: &'a str, author: &'a str) -> Self {
        Seed {
            team: TEAM,
            channel: CHANNEL,
            ts,
            author,
            voters: &[],
            tags: &[],
            replies: &[],
            source: InsightSource::Reaction,
        }
    }
}

async fn add(tx: &mut dyn InsightTx, seed: &Seed<'_>) -> Insight {
    let message = MessageRef {
        team_id: crate::helpers::ids::team(seed.team),
        channel_id: crate::helpers::ids::channel(seed.channel),
        ts: seed.ts,
    };
    let insight = tx
        .create_insight(&NewInsight {
            message,
            thread_ts: None,
            author_id: Some(crate::helpers::ids::user(seed.author)),
            author_team_id: None,
            text: Some("It would be great to export to PDF"),
            text_version: 1,
            source: seed.source,
            at: 1_000,
        })
        .await
        .unwrap();
    for voter in seed.voters {
        tx.add_vote(insight.id, crate::helpers::ids::user(voter), message)
            .await
            .unwrap();
    }
    for (tag, source) in seed.tags {
        tx.add_tag(insight.id, tag, *source).await.unwrap();
    }
    for reply_ts in seed.replies {
        let reply = Reply {
            channel_id: crate::helpers::ids::channel(seed.channel).clone(),
            ts: (*reply_ts).to_owned(),
            user_id: Some(crate::helpers::ids::user("U0REPLY").clone()),
            text: format!("reply {reply_ts}"),
        };
        tx.add_reply(insight.id, &reply).await.unwrap();
    }
    insight
}

/// Captures one insight per seed, in one transaction, as the capture path would.
async fn seed(store: &SharedStore, seeds: &[Seed<'_>]) -> Vec<Insight> {
    let mut tx = store.begin().await.unwrap();
    let mut insights = Vec::new();
    for one in seeds {
        insights.push(add(&mut *tx, one).await);
    }
    tx.commit().await.unwrap();
    insights
}

on_both_backends! {
    async fn merging_moves_tags_voters_replies_and_sources_into_the_target(db: TestDb) {
        let store = db.store().await;
        let [source, target, earlier] = <[Insight; 3]>::try_from(seed(&store, &[
            Seed {
                voters: &["U0ANA", "U0BEN"],
                tags: &[("idea", TagSource::Reaction), ("pdf", TagSource::Rule)],
                replies: &["1700000001.000200"],
                ..Seed::new("1700000001.000100", "U0MAYA")
            },
            Seed {
                voters: &["U0BEN", "U0CAL"],
                tags: &[("idea", TagSource::Reaction)],
                replies: &["1700000002.000200"],
                source: InsightSource::Shortcut,
                ..Seed::new("1700000002.000100", "U0NOOR")
            },
            Seed {
                voters: &["U0DEV"],
                tags: &[("export", TagSource::Modal)],
                source: InsightSource::Prompt,
                ..Seed::new("1700000003.000100", "U0OLA")
            },
        ]).await).unwrap();

        let mut tx = store.begin().await.unwrap();
        // An insight merged into the source earlier follows it into the target.
        tx.merge(earlier.id, source.id, 2_000).await.unwrap();
        // The same tag from the same source, and the same capture source, on both sides.
        tx.add_tag(source.id, "idea", TagSource::Reaction).await.unwrap();
        tx.add_source(source.id, InsightSource::Shortcut).await.unwrap();
        tx.merge(source.id, target.id, 3_000).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.tags(target.id).await.unwrap(), ["export", "idea", "pdf"]);
        assert_eq!(tx.voters(target.id).await.unwrap(), ["U0ANA", "U0BEN", "U0CAL", "U0DEV"]);
        let replies: Vec<String> = tx.replies(target.id).await.unwrap().into_iter().map(|r| r.ts).collect();
        assert_eq!(replies, ["1700000001.000200", "1700000002.000200"]);
        assert_eq!(
            tx.sources(target.id).await.unwrap(),
            [InsightSource::Prompt, InsightSource::Reaction, InsightSource::Shortcut]
        );
        for moved in [source.id, earlier.id] {
            let insight = tx.insight(moved).await.unwrap().unwrap();
            assert_eq!(insight.merged_into, Some(target.id), "#{} points at the target", insight.number);
            assert!(tx.tags(moved).await.unwrap().is_empty());
            assert!(tx.voters(moved).await.unwrap().is_empty());
            assert!(tx.replies(moved).await.unwrap().is_empty());
            assert!(tx.sources(moved).await.unwrap().is_empty());
        }
        let merged: Vec<i64> = tx.merged_into(target.id).await.unwrap().iter().map(|i| i.number).collect();
        assert_eq!(merged, [source.number, earlier.number]);
        // Each message's voters stay known, so each thread can be told separately.
        assert_eq!(tx.voters_on(target.id, source.message()).await.unwrap(), ["U0ANA", "U0BEN"]);
        assert_eq!(tx.voters_on(target.id, target.message()).await.unwrap(), ["U0BEN", "U0CAL"]);
        let counts = tx.insight_counts(crate::helpers::ids::team(TEAM)).await.unwrap();
        let counts: Vec<(&str, i64)> = counts.iter().map(|c| (c.channel_id.as_str(), c.insights)).collect();
        assert_eq!(counts, [(CHANNEL, 1)], "merged insights leave the counts");
    }
}

on_both_backends! {
    async fn a_status_change_is_recorded_once_per_new_status(db: TestDb) {
        let store = db.store().await;
        let [insight, merged] =
            <[Insight; 2]>::try_from(seed(&store, &[
                Seed::new("1700000001.000100", "U0MAYA"),
                Seed::new("1700000002.000100", "U0NOOR"),
            ]).await).unwrap();
        let mut tx = store.begin().await.unwrap();
        let first = tx.change_status(insight.id, InsightStatus::Shipped, Some(crate::helpers::ids::user("U0PM")), 2_000).await.unwrap();
        assert!(first.is_some());
        let again = tx.change_status(insight.id, InsightStatus::Shipped, Some(crate::helpers::ids::user("U0PM")), 3_000).await.unwrap();
        assert_eq!(again, None, "the same status again is no change");
        let next = tx.change_status(insight.id, InsightStatus::Declined, None, 4_000).await.unwrap();
        assert!(next.is_some() && next != first);
        tx.merge(merged.id, insight.id, 5_000).await.unwrap();
        let on_merged = tx.change_status(merged.id, InsightStatus::Planned, None, 6_000).await.unwrap();
        assert_eq!(on_merged, None, "a merged insight's status follows its target");
        let stored = tx.insight(insight.id).await.unwrap().unwrap();
        assert_eq!((stored.status(), stored.updated_at), (InsightStatus::Declined, 4_000));
        tx.commit().await.unwrap();
    }
}

// --- through Slack: commands, buttons and thread replies

const PM: &str = "U0PM";
const CUSTOMER: &str = "U0MAYA";

async fn app_on(db: TestDb) -> TestApp {
    TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", PM)
        .start()
        .await
}

/// Circlet's replies in the thread under `ts`.
fn thread(app: &TestApp, channel: &str, ts: &str) -> Vec<String> {
    app.fake
        .messages(channel)
        .iter()
        .filter(|m| m["thread_ts"] == ts && m["ts"] != ts)
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn status_of(app: &TestApp, team: &str, number: i64) -> InsightStatus {
    let mut tx = app.store.begin().await.unwrap();
    tx.insight_by_number(crate::helpers::ids::team(team), number)
        .await
        .unwrap()
        .unwrap()
        .status()
}

fn shipped_text() -> String {
    LoopTexts::default().shipped
}

on_both_backends! {
    async fn shipping_an_insight_tells_its_author_then_its_voters_once_in_its_thread(db: TestDb) {
        let app = app_on(db).await;
        let ts = "1700000001.000100";
        seed(&app.store, &[Seed {
            voters: &["U0BEN", "U0MAYA", "U0ANA"],
            ..Seed::new(ts, "U0MAYA")
        }]).await;

        let answer = feedback(&app, PM, "status 1 shipped").await;
        assert_eq!(answer, "#1 is now *shipped*. I'm letting its author and voters know in its thread.");
        assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::Shipped);
        assert_eq!(
            thread(&app, CHANNEL, ts),
            [format!("{}\n<@U0MAYA> <@U0ANA> <@U0BEN>", shipped_text())],
        );

        assert_eq!(feedback(&app, PM, "status #1 shipped").await, "#1 is already shipped.");
        app.worker.drain().await.unwrap();
        assert_eq!(thread(&app, CHANNEL, ts).len(), 1, "the same status again posts nothing");
        assert_eq!(app.fake.calls_to("chat.postMessage").len(), 1);
    }
}

#[tokio::test]
async fn new_and_reviewing_are_recorded_without_a_thread_reply() {
    let app = app_on(TestDb::sqlite()).await;
    seed(&app.store, &[Seed::new("1700000001.000100", CUSTOMER)]).await;
    assert_eq!(
        feedback(&app, PM, "status 1 reviewing").await,
        "#1 is now *reviewing*."
    );
    assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::Reviewing);
    assert_eq!(feedback(&app, PM, "status 1 NEW").await, "#1 is now *new*.");
    assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::New);
    assert!(app.fake.calls_to("chat.postMessage").is_empty());
    let tasks = app.store.list_inbox(None, 100).await.unwrap();
    assert!(
        tasks.iter().all(|row| row.kind != InboxKind::Task),
        "no reply queued"
    );
}

#[tokio::test]
async fn a_reply_whose_answer_timed_out_after_slack_posted_it_is_not_posted_again() {
    let app = app_on(TestDb::sqlite()).await;
    let ts = "1700000001.000100";
    seed(&app.store, &[Seed::new(ts, CUSTOMER)]).await;
    // Slack posts the reply but answers after the client's timeout.
    app.fake
        .inject("chat.postMessage", Fault::Slow(Duration::from_secs(2)), 1);
    feedback(&app, PM, "status 1 planned").await;
    assert_eq!(thread(&app, CHANNEL, ts).len(), 1);
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 1);
    assert_eq!(
        app.fake.calls_to("conversations.replies").len(),
        1,
        "the retry looked first"
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn a_reply_task_run_again_after_a_crash_finds_its_reply_instead_of_posting_twice() {
    let app = app_on(TestDb::sqlite()).await;
    let ts = "1700000001.000100";
    seed(&app.store, &[Seed::new(ts, CUSTOMER)]).await;
    let response_url = app.fake.response_url("declined");
    let fields = [
        ("team_id", TEAM),
        ("user_id", PM),
        ("command", "/feedback"),
        ("text", "status 1 declined"),
        ("response_url", response_url.as_str()),
    ];
    assert_eq!(app.sender.command(&fields).await.unwrap().status, 200);
    app.worker.try_run_next().await.unwrap(); // the command, which queues the reply

    // A worker claims the reply task, posts, and dies before recording that it did.
    let claim = app
        .store
        .claim_inbox(SystemClock.now_millis(), Duration::ZERO, 10)
        .await
        .unwrap();
    let [task] = <[InboxRow; 1]>::try_from(claim.rows).unwrap();
    assert_eq!(task.event_type, CLOSE_LOOP_TASK);
    let handlers = default_handlers(&app.services);
    let handler = handlers.get(InboxKind::Task, CLOSE_LOOP_TASK).unwrap();
    handler.handle(&Job { row: task.clone() }).await.unwrap();
    assert_eq!(thread(&app, CHANNEL, ts).len(), 1);

    // After its lease, another worker runs the task again.
    app.worker.drain().await.unwrap();
    let rerun = app
        .store
        .find_inbox_by_event_id(&task.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rerun.state, rerun.attempts), (InboxState::Done, 2));
    assert_eq!(thread(&app, CHANNEL, ts).len(), 1, "no second reply");
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 1);
    assert_eq!(
        app.fake.calls_to("conversations.replies").len(),
        1,
        "the re-run looked first"
    );
}

#[tokio::test]
async fn a_later_status_change_tells_each_merged_thread_once_with_its_own_people() {
    let app = app_on(TestDb::sqlite()).await;
    let (first, second, third) = ("1700000001.000100", "1700000002.000100", "1700000003.000100");
    seed(
        &app.store,
        &[
            Seed {
                voters: &["U0ANA"],
                tags: &[("idea", TagSource::Reaction)],
                ..Seed::new(first, "U0MAYA")
            },
            Seed {
                channel: "C0OTHER",
                voters: &["U0BEN", "U0NOOR"],
                tags: &[("pdf", TagSource::Rule)],
                replies: &["1700000002.000200"],
                ..Seed::new(second, "U0NOOR")
            },
            Seed::new(third, "U0OLA"),
        ],
    )
    .await;

    assert_eq!(
        feedback(&app, PM, "merge 2 INTO 1").await,
        "Merged #2 into #1: its tags, votes, replies and sources now count for #1, and #2 no longer shows \
         in reports and exports."
    );
    assert!(
        feedback(&app, PM, "merge #3 into #1")
            .await
            .starts_with("Merged #3 into #1")
    );
    {
        let mut tx = app.store.begin().await.unwrap();
        let target = tx
            .insight_by_number(crate::helpers::ids::team(TEAM), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tx.voters(target.id).await.unwrap(), ["U0ANA", "U0BEN", "U0NOOR"]);
        assert_eq!(tx.tags(target.id).await.unwrap(), ["idea", "pdf"]);
        assert_eq!(tx.replies(target.id).await.unwrap().len(), 1);
        let merged = tx
            .insight_by_number(crate::helpers::ids::team(TEAM), 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(merged.merged_into, Some(target.id));
    }

    let answer = feedback(&app, PM, "status 1 shipped").await;
    assert_eq!(
        answer,
        "#1 is now *shipped*. I'm letting the authors and voters know in its thread and in the threads \
         of the 2 insights merged into it."
    );
    // Run the queue again, as a restart would: nothing more is posted.
    app.worker.drain().await.unwrap();
    let text = shipped_text();
    assert_eq!(
        thread(&app, CHANNEL, first),
        [format!("{text}\n<@U0MAYA> <@U0ANA>")]
    );
    assert_eq!(
        thread(&app, "C0OTHER", second),
        [format!("{text}\n<@U0NOOR> <@U0BEN>")]
    );
    assert_eq!(thread(&app, CHANNEL, third), [format!("{text}\n<@U0OLA>")]);
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 3);

    // A further closing change is announced again, once per thread.
    feedback(&app, PM, "status 1 declined").await;
    for (channel, ts) in [(CHANNEL, first), ("C0OTHER", second), (CHANNEL, third)] {
        assert_eq!(thread(&app, channel, ts).len(), 2, "{channel} {ts}");
    }
}

#[tokio::test]
async fn only_product_users_and_admins_may_triage_and_others_learn_nothing() {
    let app = app_on(TestDb::sqlite()).await;
    app.fake
        .set_user(json!({"id": "U0ADMIN", "name": "admin", "is_admin": true}));
    seed(
        &app.store,
        &[
            Seed::new("1700000001.000100", CUSTOMER),
            Seed::new("1700000002.000100", CUSTOMER),
        ],
    )
    .await;

    for text in [
        "status 1 shipped",
        "status 999 shipped",
        "merge 2 into 1",
        "merge 1 into 1",
    ] {
        assert_eq!(feedback(&app, CUSTOMER, text).await, REFUSAL, "{text}");
    }
    let clicked = click(&app, CUSTOMER, STATUS_ACTION, "1:shipped", true)
        .await
        .unwrap();
    assert_eq!(clicked["text"], REFUSAL);
    assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::New);
    {
        let mut tx = app.store.begin().await.unwrap();
        assert_eq!(
            tx.insight_by_number(crate::helpers::ids::team(TEAM), 2)
                .await
                .unwrap()
                .unwrap()
                .merged_into,
            None
        );
    }
    app.worker.drain().await.unwrap();
    assert!(app.fake.calls_to("chat.postMessage").is_empty());

    assert!(
        feedback(&app, "U0ADMIN", "status 1 planned")
            .await
            .starts_with("#1 is now *planned*.")
    );
    assert!(
        feedback(&app, PM, "merge 2 into 1")
            .await
            .starts_with("Merged #2 into #1")
    );
}

#[tokio::test]
async fn bad_triage_input_gets_a_clear_answer_and_changes_nothing() {
    let app = app_on(TestDb::sqlite()).await;
    seed(
        &app.store,
        &[
            Seed::new("1700000001.000100", CUSTOMER),
            Seed::new("1700000002.000100", CUSTOMER),
            Seed::new("1700000003.000100", CUSTOMER),
            Seed::new("1700000004.000100", CUSTOMER),
        ],
    )
    .await;
    // Another workspace with more insights: its numbers mean nothing here.
    let other_ts: Vec<String> = (1..=5).map(|n| format!("1700000100.00000{n}")).collect();
    let other: Vec<Seed> = other_ts
        .iter()
        .map(|ts| Seed {
            team: "T0OTHER",
            ..Seed::new(ts, CUSTOMER)
        })
        .collect();
    seed(&app.store, &other).await;
    {
        let mut tx = app.store.begin().await.unwrap();
        let deleted = tx
            .insight_by_number(crate::helpers::ids::team(TEAM), 3)
            .await
            .unwrap()
            .unwrap();
        tx.mark_deleted(deleted.id, 2_000).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert!(
        feedback(&app, PM, "merge 2 into 1")
            .await
            .starts_with("Merged #2 into #1")
    );

    let status_usage = "`/feedback status ID new|reviewing|planned|shipped|declined`";
    let cases = [
        (
            "status 999 shipped",
            "I can't find insight #999 in this workspace.".to_owned(),
        ),
        (
            "status 5 shipped",
            "I can't find insight #5 in this workspace.".to_owned(),
        ),
        (
            "status 1 done",
            format!(
                "`done` is not a status. Use one of new, reviewing, planned, shipped or declined: {status_usage}"
            ),
        ),
        ("status", format!("Usage: {status_usage}")),
        ("status 1", format!("Usage: {status_usage}")),
        (
            "status one shipped",
            "`one` is not an insight id: use its number, like `42` or `#42`.".to_owned(),
        ),
        (
            "status 2 shipped",
            "#2 was merged into #1: change the status of #1 instead.".to_owned(),
        ),
        (
            "status 3 shipped",
            "The message of #3 was deleted in Slack, so it is no longer triaged.".to_owned(),
        ),
        ("merge 4 INTO 4", "#4 can't be merged into itself.".to_owned()),
        (
            "merge 4 into 999",
            "I can't find insight #999 in this workspace.".to_owned(),
        ),
        (
            "merge 999 into 4",
            "I can't find insight #999 in this workspace.".to_owned(),
        ),
        (
            "merge 4 into 5",
            "I can't find insight #5 in this workspace.".to_owned(),
        ),
        (
            "merge 3 into 4",
            "The message of #3 was deleted in Slack, so it is no longer triaged.".to_owned(),
        ),
        (
            "merge 4 into 3",
            "The message of #3 was deleted in Slack, so it is no longer triaged.".to_owned(),
        ),
        ("merge 2 into 4", "#2 is already merged into #1.".to_owned()),
        (
            "merge 4 into 2",
            "#2 was merged into #1: merge into #1 instead.".to_owned(),
        ),
        ("merge 4 1", "Usage: `/feedback merge ID INTO ID`".to_owned()),
        ("merge 4 onto 1", "Usage: `/feedback merge ID INTO ID`".to_owned()),
        ("merge", "Usage: `/feedback merge ID INTO ID`".to_owned()),
    ];
    for (text, expected) in cases {
        assert_eq!(feedback(&app, PM, text).await, expected, "/feedback {text}");
    }

    let mut tx = app.store.begin().await.unwrap();
    for number in 1..=4 {
        let insight = tx
            .insight_by_number(crate::helpers::ids::team(TEAM), number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(insight.status(), InsightStatus::New, "#{number}");
        let merged = if number == 2 { Some(1) } else { None };
        let target = match insight.merged_into {
            Some(id) => Some(tx.insight(id).await.unwrap().unwrap().number),
            None => None,
        };
        assert_eq!(target, merged, "#{number}");
    }
    for number in 1..=5 {
        let theirs = tx
            .insight_by_number(crate::helpers::ids::team("T0OTHER"), number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((theirs.status(), theirs.merged_into), (InsightStatus::New, None));
    }
    drop(tx);
    app.worker.drain().await.unwrap();
    assert!(app.fake.calls_to("chat.postMessage").is_empty());
}

#[tokio::test]
async fn a_status_button_changes_the_status_and_answers_only_the_clicker() {
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_PRODUCT_USERS", PM)
        .env("CIRCLET_LOOP_TEXT_PLANNED", "This is on our roadmap now.")
        .start()
        .await;
    let ts = "1700000001.000100";
    seed(
        &app.store,
        &[Seed {
            voters: &["U0ANA"],
            ..Seed::new(ts, CUSTOMER)
        }],
    )
    .await;

    let answer = click(&app, PM, STATUS_ACTION, "1:planned", true).await.unwrap();
    assert_eq!(
        (&answer["response_type"], &answer["replace_original"]),
        (&json!("ephemeral"), &json!(false)),
        "the message with the buttons stays"
    );
    assert_eq!(
        answer["text"],
        "#1 is now *planned*. I'm letting its author and voters know in its thread."
    );
    assert_eq!(
        thread(&app, CHANNEL, ts),
        ["This is on our roadmap now.\n<@U0MAYA> <@U0ANA>"]
    );
    let again = click(&app, PM, STATUS_ACTION, "1:planned", true).await.unwrap();
    assert_eq!(again["text"], "#1 is already planned.");
    let odd = click(&app, PM, STATUS_ACTION, "1:done", true).await.unwrap();
    assert!(
        odd["text"]
            .as_str()
            .unwrap()
            .starts_with("`done` is not a status.")
    );

    // Other buttons are not ours to answer; a payload without a response URL is still acted on.
    assert_eq!(click(&app, PM, "report_next_page", "1:shipped", true).await, None);
    assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::Planned);
    assert_eq!(click(&app, PM, STATUS_ACTION, "1:reviewing", false).await, None);
    assert_eq!(status_of(&app, TEAM, 1).await, InsightStatus::Reviewing);
    assert_eq!(thread(&app, CHANNEL, ts).len(), 1);
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

#[tokio::test]
async fn help_lists_status_and_merge() {
    let app = app_on(TestDb::sqlite()).await;
    let answer = app
        .sender
        .command(&[("team_id", TEAM), ("command", "/feedback"), ("text", "help")])
        .await
        .unwrap();
    let help = answer.json()["text"].as_str().unwrap().to_owned();
    assert!(
        help.contains("/feedback status ID new|reviewing|planned|shipped|declined"),
        "{help}"
    );
    assert!(help.contains("/feedback merge ID INTO ID"), "{help}");
}
