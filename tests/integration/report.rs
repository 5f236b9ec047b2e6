//! `/feedback report`: figures, top insights with working status buttons, engagement, filters,
//! bad input and refusals, through the signed endpoints and the fake Slack.

use circlet::clock::{Clock, Millis, SystemClock};
use circlet::domain::reports::{REFUSAL, REPORT_USAGE};
use circlet::store::{
    Activity, ActivityKind, InsightSource, InsightStatus, Membership, MembershipChange, MessageRef, Named,
    NewInsight, Reply, SharedStore, TagSource,
};
use serde_json::{Value, json};

use crate::helpers::circle::{TEAM, answered, make_circle};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const PM: &str = "U0PM";
const CUSTOMER: &str = "U0MAYA";
const CIRCLE: &str = "C0CIRCLE";
const SECOND: &str = "C0SECOND";
const DAY: Millis = 86_400_000;

async fn app_on(db: TestDb) -> TestApp {
    TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", PM)
        .start()
        .await
}

/// One insight to store.
struct Seed {
    channel: &'static str,
    ts: &'static str,
    author: &'static str,
    days_ago: i64,
    tags: &'static [&'static str],
    voters: &'static [&'static str],
    replies: usize,
    status: InsightStatus,
    deleted: bool,
}

const fn seed(channel: &'static str, ts: &'static str, author: &'static str, days_ago: i64) -> Seed {
    Seed {
        channel,
        ts,
        author,
        days_ago,
        tags: &[],
        voters: &[],
        replies: 0,
        status: InsightStatus::New,
        deleted: false,
    }
}

/// The week and the one before it in two circles. Numbers follow the order here:
/// #1 Maya's idea (3 votes, 2 replies), #2 Priya's bug (planned, 1 vote), #3 Leo's idea+bug in
/// the second circle (2 votes), #4 a deleted one, #5 Sam's idea the week before (5 votes),
/// #6 a bug three weeks ago. Maya and Sam were there, Priya joined two days ago, Olga left.
async fn seed_circles(store: &SharedStore, now: Millis) {
    make_circle_named(store, CIRCLE, "beauty-insiders").await;
    make_circle_named(store, SECOND, "skin-care").await;
    let seeds = [
        Seed {
            tags: &["idea"],
            voters: &["U0ANA", "U0BEN", "U0CAL"],
            replies: 2,
            ..seed(CIRCLE, "1700000001.000100", "U0MAYA", 1)
        },
        Seed {
            tags: &["bug"],
            voters: &["U0ANA"],
            status: InsightStatus::Planned,
            ..seed(CIRCLE, "1700000002.000100", "U0PRIYA", 2)
        },
        Seed {
            tags: &["idea", "bug"],
            voters: &["U0ANA", "U0BEN"],
            ..seed(SECOND, "1700000003.000100", "U0LEO", 3)
        },
        Seed {
            tags: &["idea"],
            voters: &["U0ANA", "U0BEN", "U0CAL", "U0DEV", "U0EVE", "U0FAY"],
            deleted: true,
            ..seed(CIRCLE, "1700000004.000100", "U0MAYA", 1)
        },
        Seed {
            tags: &["idea"],
            voters: &["U0ANA", "U0BEN", "U0CAL", "U0DEV", "U0EVE"],
            ..seed(CIRCLE, "1700000005.000100", "U0SAM", 10)
        },
        Seed {
            tags: &["bug"],
            ..seed(CIRCLE, "1700000006.000100", "U0SAM", 20)
        },
    ];
    let mut tx = store.begin().await.unwrap();
    tx.set_name(
        Named::Workspace {
            team_id: crate::helpers::ids::team(TEAM),
        },
        "https://circle.slack.com/",
        now,
    )
    .await
    .unwrap();
    for one in &seeds {
        let message = MessageRef {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel(one.channel),
            ts: one.ts,
        };
        let at = now - one.days_ago * DAY;
        let insight = tx
            .create_insight(&NewInsight {
                message,
                thread_ts: None,
                author_id: Some(crate::helpers::ids::user(one.author)),
                author_team_id: None,
                text: Some("Would love a refillable <night> cream"),
                text_version: 1,
                source: InsightSource::Reaction,
                at,
            })
            .await
            .unwrap();
        for tag in one.tags {
            tx.add_tag(insight.id, tag, TagSource::Reaction).await.unwrap();
        }
        for voter in one.voters {
            tx.add_vote(insight.id, crate::helpers::ids::user(voter), message)
                .await
                .unwrap();
        }
        for n in 0..one.replies {
            let reply = Reply {
                channel_id: crate::helpers::ids::channel(one.channel).clone(),
                ts: format!("1700000100.00010{n}"),
                user_id: Some(crate::helpers::ids::user("U0REPLY").clone()),
                text: "me too".to_owned(),
            };
            tx.add_reply(insight.id, &reply).await.unwrap();
        }
        if one.status != InsightStatus::New {
            tx.change_status(insight.id, one.status, Some(crate::helpers::ids::user(PM)), at)
                .await
                .unwrap();
        }
        if one.deleted {
            tx.mark_deleted(insight.id, at).await.unwrap();
        }
    }
    let members = [
        ("U0MAYA", MembershipChange::Present, 0),
        ("U0SAM", MembershipChange::Present, 0),
        ("U0PRIYA", MembershipChange::Joined, now - 2 * DAY),
        ("U0OLGA", MembershipChange::Present, 0),
        ("U0OLGA", MembershipChange::Left, now - 3 * DAY),
    ];
    for (user, change, at) in members {
        let membership = Membership {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel(CIRCLE),
            user_id: crate::helpers::ids::user(user),
            change,
            at,
        };
        tx.set_membership(&membership).await.unwrap();
    }
    let activity = [
        (CIRCLE, "U0MAYA", ActivityKind::Post, 1),
        (CIRCLE, "U0MAYA", ActivityKind::Reply, 1),
        (CIRCLE, "U0PRIYA", ActivityKind::Reaction, 2),
        (CIRCLE, "U0SAM", ActivityKind::Post, 10),
        (SECOND, "U0LEO", ActivityKind::Post, 3),
    ];
    for (channel, user, kind, days_ago) in activity {
        let activity = Activity {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel(channel),
            user_id: crate::helpers::ids::user(user),
            kind,
            at: now - days_ago * DAY,
        };
        tx.record_activity(&activity).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn make_circle_named(store: &SharedStore, channel: &str, name: &str) {
    make_circle_on(store, channel).await;
    let mut tx = store.begin().await.unwrap();
    let named = Named::Channel {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
    };
    tx.set_name(named, name, 0).await.unwrap();
    tx.commit().await.unwrap();
}

async fn make_circle_on(store: &SharedStore, channel: &str) {
    let change = circlet::store::CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0CM")),
        at: 0,
    };
    store.set_circle(&change).await.unwrap();
}

/// Runs `/feedback {text}` as `user`; returns the whole message that replaced the
/// acknowledgement (text and blocks).
async fn report(app: &TestApp, user: &str, text: &str) -> Value {
    let response_id = uuid::Uuid::new_v4().simple().to_string();
    let response_url = app.fake.response_url(&response_id);
    let sent = app
        .sender
        .command(&[
            ("team_id", TEAM),
            ("channel_id", "C0OPS"),
            ("user_id", user),
            ("command", "/feedback"),
            ("text", text),
            ("response_url", response_url.as_str()),
            ("trigger_id", response_id.as_str()),
        ])
        .await
        .unwrap();
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Working on it"), "{}", sent.body);
    app.worker.drain().await.unwrap();
    let Some(answer) = answered(app, &response_id) else {
        let errors: Vec<Option<String>> = app
            .store
            .list_inbox(None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.last_error)
            .collect();
        panic!("no answer to `/feedback {text}`; inbox errors: {errors:?}");
    };
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["replace_original"], true, "{answer}");
    answer
}

/// Every text in the blocks, in order, for looking things up.
fn texts(answer: &Value) -> Vec<String> {
    let mut texts = Vec::new();
    for block in answer["blocks"].as_array().expect("blocks") {
        if let Some(text) = block["text"]["text"].as_str() {
            texts.push(text.to_owned());
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            if let Some(text) = element["text"].as_str() {
                texts.push(text.to_owned());
            }
        }
    }
    texts
}

fn section_with<'a>(texts: &'a [String], start: &str) -> &'a str {
    texts
        .iter()
        .find(|t| t.starts_with(start))
        .unwrap_or_else(|| panic!("no block starting with {start:?} in {texts:#?}"))
}

/// The status buttons under insight `number`: (label, action_id, value).
fn buttons(answer: &Value, number: i64) -> Vec<(String, String, String)> {
    let block = answer["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == format!("report_status_{number}"))
        .unwrap_or_else(|| panic!("no buttons for #{number}"));
    block["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["text"]["text"].as_str().unwrap().to_owned(),
                e["action_id"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn now() -> Millis {
    SystemClock.now_millis()
}

on_both_backends! {
    async fn a_report_counts_compares_ranks_and_shows_engagement(db: TestDb) {
        let app = app_on(db).await;
        seed_circles(&app.store, now()).await;

        let answer = report(&app, PM, "report").await;
        assert_eq!(answer["response_type"], "ephemeral");
        assert_eq!(answer["text"], "Feedback report · last 7 days: 3 insights (+200%).");
        let texts = texts(&answer);
        assert_eq!(texts[0], "Feedback report · last 7 days");
        assert!(texts[1].starts_with("All circles · "), "{}", texts[1]);
        // Three live insights this week against one the week before; the deleted one and the
        // one three weeks ago are not counted.
        assert_eq!(
            section_with(&texts, "*3 insights*"),
            "*3 insights* (+200%)\n• `bug`: 2 (new; none the period before)\n• `idea`: 2 (+100%)"
        );
        assert_eq!(
            section_with(&texts, "*By status*"),
            "*By status*\n• new: 2 (+100%)\n• reviewing: 0 (no change)\n• planned: 1 (new; none the period before)\n\
             • shipped: 0 (no change)\n• declined: 0 (no change)"
        );
        // Most votes first; last week's 5-vote idea is not this week's.
        let top: Vec<&String> = texts.iter().filter(|t| t.starts_with("*<https://")).collect();
        assert_eq!(top.len(), 3, "{texts:#?}");
        assert_eq!(
            top[0],
            "*<https://circle.slack.com/archives/C0CIRCLE/p1700000001000100|#1>* by <@U0MAYA> in <#C0CIRCLE> · \
             3 votes · 2 replies · new · `idea`\n>Would love a refillable &lt;night&gt; cream"
        );
        assert!(top[1].contains("|#3>* by <@U0LEO> in <#C0SECOND> · 2 votes · 0 replies · new"), "{}", top[1]);
        assert!(top[2].contains("|#2>* by <@U0PRIYA> in <#C0CIRCLE> · 1 vote · 0 replies · planned"), "{}", top[2]);
        assert_eq!(
            buttons(&answer, 2),
            [
                ("Reviewing".to_owned(), "insight_status:2:reviewing".to_owned(), "2:reviewing".to_owned()),
                ("Shipped".to_owned(), "insight_status:2:shipped".to_owned(), "2:shipped".to_owned()),
                ("Declined".to_owned(), "insight_status:2:declined".to_owned(), "2:declined".to_owned()),
            ],
            "every status but the current one"
        );
        assert_eq!(buttons(&answer, 1).len(), 4);
        // Engagement: 3 members (Olga left), Maya and Priya active (Sam was, the week before),
        // Priya new; contributors by insights, then actions.
        assert_eq!(
            section_with(&texts, "*<#C0CIRCLE>*"),
            "*<#C0CIRCLE>* · 3 members · 2 active (67% participation; 1 the period before) · 1 new\n\
             Top contributors: <@U0MAYA> (1 insight, 2 actions), <@U0PRIYA> (1 insight, 1 action)"
        );
        assert!(
            section_with(&texts, "*<#C0SECOND>*")
                .starts_with("*<#C0SECOND>* · 0 members · 1 active (participation unknown"),
        );
    }
}

#[tokio::test]
async fn a_status_button_in_the_report_changes_the_insights_status() {
    let app = app_on(TestDb::sqlite()).await;
    seed_circles(&app.store, now()).await;
    let answer = report(&app, PM, "report").await;
    let (_, action_id, value) = buttons(&answer, 1)
        .into_iter()
        .find(|(label, _, _)| label == "Reviewing")
        .unwrap();

    let response_id = "clicked-reviewing";
    let payload = json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "circle"},
        "user": {"id": PM, "username": "pm", "team_id": TEAM},
        "api_app_id": "A0CIRCLET",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": "1700009999.000100", "channel_id": "C0OPS", "is_ephemeral": true},
        "channel": {"id": "C0OPS", "name": "product"},
        "response_url": app.fake.response_url(response_id),
        "actions": [{
            "action_id": action_id, "block_id": "report_status_1", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Reviewing"}, "action_ts": "1700009999.123456",
        }],
    });
    let sent = app.sender.interaction(&payload).await.unwrap();
    assert_eq!(sent.status, 200, "{}", sent.body);
    app.worker.drain().await.unwrap();

    let mut tx = app.store.begin().await.unwrap();
    let insight = tx
        .insight_by_number(crate::helpers::ids::team(TEAM), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(insight.status(), InsightStatus::Reviewing);
    drop(tx);
    let told = answered(&app, response_id).expect("the click is answered");
    assert_eq!(told["text"], "#1 is now *reviewing*.");

    let again = report(&app, PM, "report").await;
    assert!(
        buttons(&again, 1)
            .iter()
            .all(|(label, _, _)| label != "Reviewing"),
        "the new status is no longer offered"
    );
}

#[tokio::test]
async fn channel_and_tag_narrow_the_report() {
    let app = app_on(TestDb::sqlite()).await;
    seed_circles(&app.store, now()).await;

    let answer = report(&app, PM, &format!("report tag:BUG <#{SECOND}|skin-care>")).await;
    let texts = texts(&answer);
    assert!(
        texts[1].starts_with("<#C0SECOND> · insights tagged `bug` · "),
        "{}",
        texts[1]
    );
    assert_eq!(
        section_with(&texts, "*1 insight*"),
        "*1 insight* (new; none the period before)\n• `bug`: 1 (new; none the period before)\n\
         • `idea`: 1 (new; none the period before)"
    );
    let top: Vec<&String> = texts.iter().filter(|t| t.starts_with("*<https://")).collect();
    assert_eq!(top.len(), 1);
    assert!(top[0].contains("|#3>*"));
    let circles: Vec<&String> = texts.iter().filter(|t| t.starts_with("*<#C0")).collect();
    assert_eq!(circles.len(), 1, "only the circle asked for: {circles:?}");
    assert!(circles[0].starts_with("*<#C0SECOND>*"));

    // 30 days reach back to last week's and the three-week-old insight.
    let month = report(&app, PM, "report 30d tag:bug").await;
    assert_eq!(
        month["text"],
        "Feedback report · last 30 days: 3 insights (new; none the period before)."
    );
}

#[tokio::test]
async fn bad_input_is_answered_with_what_is_wrong_and_the_right_form() {
    let app = app_on(TestDb::sqlite()).await;
    seed_circles(&app.store, now()).await;
    make_circle_on(&app.store, "C0GONE").await;
    app.store
        .set_circle(&circlet::store::CircleChange {
            team_id: crate::helpers::ids::team(TEAM),
            channel_id: crate::helpers::ids::channel("C0GONE"),
            active: false,
            changed_by: Some(crate::helpers::ids::user("U0CM")),
            at: 1,
        })
        .await
        .unwrap();
    let usage = format!("\nUsage: `{REPORT_USAGE}`");
    let cases = [
        (
            "report 14d",
            "`14d` is not a period I know: use 7d, 30d, 90d or since YYYY-MM-DD.",
        ),
        (
            "report since 2999-01-01",
            "`since 2999-01-01` is in the future: a report covers days that have already happened.",
        ),
        (
            "report since last-week",
            "`since last-week` is not a date: write it like `since 2026-01-31`.",
        ),
        (
            "report since -150000-01-01",
            "`since -150000-01-01` is out of range: a date goes from 0000-01-01 to 9999-12-31.",
        ),
        (
            "report tag:roadmap",
            "There is no tag `roadmap` in this workspace. `/feedback tags` lists the emoji tags.",
        ),
        (
            "report <#C0RANDOM|random>",
            "<#C0RANDOM> is not a circle. `/feedback circle list` shows the circles.",
        ),
        (
            "report <#C0GONE|gone>",
            "<#C0GONE> is not a circle. `/feedback circle list` shows the circles.",
        ),
        (
            "report #general",
            "`#general` is not a channel I can read: pick it from Slack's list as you type `#`, like `#beauty-insiders`.",
        ),
    ];
    for (text, expected) in cases {
        let answer = report(&app, PM, text).await;
        assert_eq!(answer["text"], format!("{expected}{usage}"), "for {text:?}");
        assert!(answer.get("blocks").is_none(), "no report for {text:?}");
    }
    // Tags the emoji map gives count even before any insight has them.
    let praise = report(&app, PM, "report tag:praise").await;
    assert_eq!(
        praise["text"],
        "Feedback report · last 7 days: 0 insights (no change)."
    );
    // So do tags only insights carry (from the modal, say).
    let mut tx = app.store.begin().await.unwrap();
    let insight = tx
        .insight_by_number(crate::helpers::ids::team(TEAM), 1)
        .await
        .unwrap()
        .unwrap();
    tx.add_tag(insight.id, "packaging", TagSource::Modal)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let packaging = report(&app, PM, "report tag:packaging since 2020-01-01").await;
    assert!(packaging["blocks"].is_array(), "{packaging}");
}

#[tokio::test]
async fn a_customer_is_refused_and_sees_nothing_of_the_data() {
    let app = app_on(TestDb::sqlite()).await;
    seed_circles(&app.store, now()).await;
    for text in [
        "report",
        "report 30d",
        "report <#C0RANDOM|random>",
        "report tag:roadmap",
        "report 14d",
    ] {
        let answer = report(&app, CUSTOMER, text).await;
        assert_eq!(answer["text"], REFUSAL, "for {text:?}");
        assert!(answer.get("blocks").is_none());
    }
}

#[tokio::test]
async fn a_workspace_without_circles_gets_an_empty_report() {
    let app = app_on(TestDb::sqlite()).await;
    make_circle(&app, "C0EMPTY").await;
    let answer = report(&app, PM, "report 90d").await;
    assert_eq!(
        answer["text"],
        "Feedback report · last 90 days: 0 insights (no change)."
    );
    let texts = texts(&answer);
    assert!(
        texts.iter().any(|t| t.contains("No insights in this period.")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("*<#C0EMPTY>* · 0 members · 0 active")),
        "{texts:#?}"
    );
}
