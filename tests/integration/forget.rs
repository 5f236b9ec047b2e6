//! Forgetting a member (ARCHITECTURE §13) after a realistic history: nothing of them is left in
//! the database files or tables, their insights keep their counts under a stable pseudonym, and
//! Slack's `user_change` for a forgotten member does the same by itself.

use circlet::ids::UserId;
use circlet::inbox::InboxWriter;
use circlet::metrics::Metrics;
use circlet::store::forget::REMOVED_TEXT;
use circlet::store::{ForgetMember, Forgotten, Membership, MembershipChange, SettingChange};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::circle::{
    CIRCLE, TEAM, captured, click, deliver, edit, feedback, feedback_reply, make_circle, message, reaction,
};
use crate::helpers::ids::{channel, team, user};
use crate::helpers::{Backend, TestApp, TestDb, traces};
use crate::on_both_backends;

pub(crate) const MAYA: &str = "U0MAYA";
pub(crate) const OMAR: &str = "U0OMAR";
/// A product user (CIRCLET_PRODUCT_USERS).
pub(crate) const PM: &str = "U0PM";
const SECOND: &str = "C0SECOND";
const MAYA_NAME: &str = "Maya Kowalska";
const MAYA_HANDLE: &str = "mayakowalska";

const TS_A: &str = "1700000100.000100";
const TS_B: &str = "1700000105.000100";
const TS_C: &str = "1700000107.000100";
/// Every text Maya wrote: messages, an edit, a reply.
const MAYA_TEXTS: &[&str] = &[
    "Velvet lipstick shades fade by noon",
    "Velvet lipstick shades fade before lunch, every single day",
    "Checkout freezes when I add the travel kit",
    "Magnolia refills matter to me too",
    "Greetings from rainy Gdansk, circle",
];

/// An app whose product team is [`PM`], with two circles.
pub(crate) async fn app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", PM)
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    make_circle(&app, SECOND).await;
    app.fake.set_user(json!({
        "id": MAYA, "name": MAYA_HANDLE, "real_name": MAYA_NAME,
        "profile": {"real_name": MAYA_NAME, "display_name": MAYA_HANDLE},
    }));
    app
}

/// Maya's history: insight A she wrote (edited, voted and replied to by Omar), insight B she
/// wrote and tagged herself (voted by Omar), insight C by Omar that she tagged, voted and replied
/// to, a message of hers nobody captured, a circle she was seen in, and settings she changed.
pub(crate) async fn history(app: &TestApp) {
    deliver(
        app,
        &[
            message(MAYA, CIRCLE, TS_A, MAYA_TEXTS[0], None),
            reaction(true, OMAR, "bulb", CIRCLE, TS_A, MAYA, 101),
            her_edit(MAYA_TEXTS[1], 102),
            reaction(true, OMAR, "+1", CIRCLE, TS_A, MAYA, 103),
            message(
                OMAR,
                CIRCLE,
                "1700000104.000100",
                "Same here, needs a fix",
                Some(TS_A),
            ),
            message(MAYA, SECOND, TS_B, MAYA_TEXTS[2], None),
            reaction(true, MAYA, "bug", SECOND, TS_B, MAYA, 106),
            reaction(true, OMAR, "+1", SECOND, TS_B, MAYA, 106),
            message(OMAR, CIRCLE, TS_C, "Magnolia refills please", None),
            reaction(true, MAYA, "bulb", CIRCLE, TS_C, OMAR, 108),
            reaction(true, MAYA, "+1", CIRCLE, TS_C, OMAR, 109),
            message(MAYA, CIRCLE, "1700000110.000100", MAYA_TEXTS[3], Some(TS_C)),
            message(MAYA, CIRCLE, "1700000111.000100", MAYA_TEXTS[4], None),
        ],
    )
    .await;
    let mut tx = app.store.begin().await.unwrap();
    tx.set_membership(&Membership {
        team_id: team(TEAM),
        channel_id: channel(CIRCLE),
        user_id: user(MAYA),
        change: MembershipChange::Joined,
        at: 1_000,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let settings = app.store.workspaces();
    let both = format!("{PM},{MAYA}");
    settings
        .change_setting(
            team(TEAM),
            SettingChange::ProductUsers(Some(&both)),
            user(MAYA),
            1_000,
        )
        .await
        .unwrap();
}

/// Maya's edit of her message A, as Slack sends it: naming her, with her earlier text.
fn her_edit(text: &str, at: u32) -> Value {
    let mut event = edit(CIRCLE, TS_A, text, at);
    event["event"]["message"]["user"] = json!(MAYA);
    event["event"]["previous_message"]["user"] = json!(MAYA);
    event["event"]["previous_message"]["text"] = json!(MAYA_TEXTS[0]);
    event
}

/// Every needle that would name Maya or repeat her words.
fn maya_needles() -> Vec<&'static str> {
    let mut needles = vec![MAYA, MAYA_NAME, MAYA_HANDLE];
    needles.extend(MAYA_TEXTS);
    needles
}

pub(crate) async fn forget(app: &TestApp, member: &str) -> Forgotten {
    let member = UserId::parse(member).unwrap();
    let request = ForgetMember {
        team_id: team(TEAM),
        user_id: &member,
        at: 2_000,
        inbox_row: None,
    };
    app.store.forgetting().forget_member(&request).await.unwrap()
}

/// The ephemeral confirmation `/feedback forget` answered `as_user` with, and its button's value.
pub(crate) async fn ask_to_forget(app: &TestApp, as_user: &str, member: &str) -> (String, Option<String>) {
    let text = format!("forget <@{member}|someone>");
    let reply = feedback_reply(app, &[("team_id", TEAM)], as_user, &text).await;
    let button = reply["blocks"][1]["elements"][0]["value"]
        .as_str()
        .map(str::to_owned);
    if button.is_some() {
        // A plain-text label would show a mention as its raw `<@U…>`.
        assert_eq!(
            reply["blocks"][1]["elements"][0]["text"]["text"],
            "Forget this member"
        );
    }
    (reply["text"].as_str().unwrap().to_owned(), button)
}

/// A click on the "Forget" button with `value` by `clicker`; the ephemeral answer.
pub(crate) async fn click_forget(app: &TestApp, clicker: &str, value: &str) -> String {
    let reply = click(app, clicker, "forget_member", value, true).await;
    let reply = reply.expect("an answer to the click");
    reply["text"].as_str().unwrap().to_owned()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.query_i64(sql).await
}

/// The vote and reply counts stored on the insight of message `ts` (what reports read).
async fn stored_counts(db: &TestDb, ts: &str) -> (i64, i64) {
    let of = |column: &str| format!("SELECT {column} FROM insights WHERE message_ts = '{ts}'");
    (
        count(db, &of("vote_count")).await,
        count(db, &of("reply_count")).await,
    )
}

on_both_backends! {
    async fn a_forgotten_member_leaves_no_trace_in_the_database(db: TestDb) {
        let handle = db.handle();
        let app = app(db).await;
        history(&app).await;
        assert!(count(&handle, "SELECT COUNT(*) FROM people WHERE user_id = 'U0MAYA'").await > 0, "her name was learned");
        assert!(!traces::find(&handle, &maya_needles()).await.is_empty(), "the scan finds her before");

        let (confirm, button) = ask_to_forget(&app, PM, MAYA).await;
        assert!(confirm.starts_with("Forget <@U0MAYA>?"), "{confirm}");
        let answer = click_forget(&app, PM, &button.expect("a Forget button")).await;
        assert!(answer.starts_with("Forgot <@U0MAYA>:"), "{answer}");
        assert!(answer.contains("votes deleted: 1"), "{answer}");

        let left = traces::find(&handle, &maya_needles()).await;
        assert!(left.is_empty(), "traces of the member remain: {left:#?}");
        for theirs in ["Same here, needs a fix", "Magnolia refills please"] {
            assert!(!traces::find(&handle, &[theirs]).await.is_empty(), "others' words stay: {theirs}");
        }
    }
}

on_both_backends! {
    async fn their_insights_keep_their_counts_under_a_pseudonym_stable_per_member(db: TestDb) {
        let handle = db.handle();
        let app = app(db).await;
        history(&app).await;
        let first = forget(&app, MAYA).await;
        assert!(!first.again);
        assert!(first.pseudonym.starts_with("member-"), "{}", first.pseudonym);

        let a = captured(&app, CIRCLE, TS_A).await.unwrap();
        assert_eq!(a.insight.text.as_deref(), Some(REMOVED_TEXT));
        assert_eq!(a.insight.author_id, None, "no Slack id is left as the author");
        assert_eq!(stored_counts(&handle, TS_A).await, (1, 1), "Omar's vote and reply count");
        assert_eq!((a.voters, a.replies.len()), (vec![OMAR.to_owned()], 1));
        assert_eq!(a.tags, ["idea"]);
        assert!(!a.revisions.is_empty() && a.revisions.iter().all(|r| r == REMOVED_TEXT), "{:?}", a.revisions);
        let b = captured(&app, SECOND, TS_B).await.unwrap();
        assert_eq!(b.tags, ["bug"], "the tag she gave her own insight stays on it");
        assert_eq!(stored_counts(&handle, TS_B).await, (1, 0));
        let c = captured(&app, CIRCLE, TS_C).await.unwrap();
        assert_eq!((c.voters, c.replies), (Vec::<String>::new(), Vec::<String>::new()), "her vote and reply on Omar's insight go");
        assert_eq!(stored_counts(&handle, TS_C).await, (0, 0));
        assert_eq!(c.tags, ["idea"], "the tag stays on the insight");

        // She comes back, writes again and is forgotten again: one pseudonym for all her insights.
        deliver(&app, &[
            message(MAYA, CIRCLE, "1700000120.000100", "Back with one more idea", None),
            reaction(true, OMAR, "bulb", CIRCLE, "1700000120.000100", MAYA, 121),
        ]).await;
        let second = forget(&app, MAYA).await;
        assert!(second.again);
        assert_eq!(second.pseudonym, first.pseudonym);
        let authors = format!("SELECT COUNT(*) FROM insights WHERE author_id = '{}'", first.pseudonym);
        assert_eq!(count(&handle, &authors).await, 3);
        assert_eq!(count(&handle, "SELECT COUNT(*) FROM forgotten_members").await, 1, "one hash per member");

        let third = forget(&app, MAYA).await;
        assert_eq!((third.again, third.rows()), (true, 0), "a third forget finds nothing more");
        let omar = forget(&app, OMAR).await;
        assert_ne!(omar.pseudonym, first.pseudonym, "another member, another pseudonym");
    }
}

/// `user_change` for `member` with `is_forgotten` as given.
fn user_change(member: &str, is_forgotten: bool, event_id: &str) -> Value {
    let mut envelope = crate::helpers::samples::json("events", "message_plain__boltpy.json");
    envelope["event_id"] = json!(event_id);
    envelope["team_id"] = json!(TEAM);
    if let Some(authorization) = envelope["authorizations"].get_mut(0) {
        authorization["team_id"] = json!(TEAM);
    }
    envelope["event"] = json!({
        "type": "user_change",
        "user": {
            "id": member, "team_id": TEAM, "name": MAYA_HANDLE, "real_name": MAYA_NAME,
            "deleted": is_forgotten, "is_forgotten": is_forgotten,
            "profile": {"real_name": MAYA_NAME, "display_name": MAYA_HANDLE},
        },
        "event_ts": "1700000200.000100",
    });
    envelope
}

on_both_backends! {
    async fn slack_forgetting_a_member_makes_circlet_forget_them_too(db: TestDb) {
        let handle = db.handle();
        let app = app(db).await;
        history(&app).await;
        deliver(&app, &[user_change(MAYA, false, "EvProfileChange")]).await;
        assert!(captured(&app, CIRCLE, TS_A).await.unwrap().insight.author_id.is_some(), "a profile change forgets nothing");

        deliver(&app, &[user_change(MAYA, true, "EvForgotten")]).await;
        let a = captured(&app, CIRCLE, TS_A).await.unwrap();
        assert_eq!(a.insight.text.as_deref(), Some(REMOVED_TEXT));
        let left = traces::find(&handle, &maya_needles()).await;
        assert!(left.is_empty(), "traces of the member remain: {left:#?}");
        // Delivered again (Slack retries), it is harmless.
        deliver(&app, &[user_change(MAYA, true, "EvForgottenAgain")]).await;
        assert_eq!(count(&handle, "SELECT COUNT(*) FROM forgotten_members").await, 1);
        assert_eq!(count(&handle, "SELECT COUNT(*) FROM inbox WHERE state = 'dead'").await, 0);
    }
}

on_both_backends! {
    async fn unknown_and_already_forgotten_members_are_answered_clearly(db: TestDb) {
        let app = app(db).await;
        history(&app).await;
        let answer = feedback(&app, PM, "forget <@U0NOBODY>").await;
        assert_eq!(answer, "Circlet holds nothing about <@U0NOBODY> in this workspace.");
        forget(&app, MAYA).await;
        let (answer, button) = ask_to_forget(&app, PM, MAYA).await;
        assert_eq!(answer, "<@U0MAYA> was already forgotten: Circlet holds nothing more about them.");
        assert_eq!(button, None);
        let usage = feedback(&app, PM, "forget").await;
        assert!(usage.contains("/feedback forget @member"), "{usage}");
    }
}

on_both_backends! {
    async fn a_late_slack_retry_of_a_handled_delivery_does_not_bring_them_back(db: TestDb) {
        let app = app(db).await;
        let posted = message(MAYA, CIRCLE, TS_C, MAYA_TEXTS[2], None);
        deliver(&app, std::slice::from_ref(&posted)).await;
        let theirs = format!("SELECT COUNT(*) FROM messages WHERE user_id = '{MAYA}'");
        assert_eq!(count(&app.db, &theirs).await, 1);

        forget(&app, MAYA).await;
        assert_eq!(count(&app.db, &theirs).await, 0);
        // The handled row stays, emptied: its event id still recognises Slack's retry.
        let kept = "SELECT COUNT(*) FROM inbox WHERE event_type = 'message' AND payload = '{}'";
        assert_eq!(count(&app.db, kept).await, 1);

        deliver(&app, &[posted]).await;
        assert_eq!(count(&app.db, &theirs).await, 0, "the retry is not applied again");
    }
}

/// Makes deleting from `people`, which a forget does in its last turn, fail.
fn fail_at_the_last_turn(backend: Backend) -> Vec<String> {
    match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER cut_short BEFORE DELETE ON people BEGIN SELECT RAISE(ABORT, 'cut short'); END"
                .to_owned(),
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION cut_short() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'cut short'; END $$"
                .to_owned(),
            "CREATE TRIGGER cut_short BEFORE DELETE ON people FOR EACH ROW EXECUTE FUNCTION cut_short()"
                .to_owned(),
        ],
    }
}

on_both_backends! {
    async fn a_forget_cut_short_keeps_counts_true_and_forgetting_again_finishes_it(db: TestDb) {
        let handle = db.handle();
        let backend = db.backend;
        let app = app(db).await;
        history(&app).await;
        handle.execute(&fail_at_the_last_turn(backend)).await;
        let request = ForgetMember { team_id: team(TEAM), user_id: user(MAYA), at: 2_000, inbox_row: None };
        assert!(app.store.forgetting().forget_member(&request).await.is_err());

        // What ran before the failure stays, and agrees with itself: her vote and reply on
        // Omar's insight are gone and its counts say so.
        let hers = |table: &str| format!("SELECT COUNT(*) FROM {table} WHERE user_id = '{MAYA}'");
        assert_eq!(count(&handle, &hers("votes")).await, 0);
        assert_eq!(stored_counts(&handle, TS_C).await, (0, 0));
        assert_eq!(count(&handle, &hers("people")).await, 1, "her name goes in the failed last turn");
        assert_eq!(count(&handle, "SELECT COUNT(*) FROM forgotten_members").await, 1, "recorded first");

        let drop = match backend {
            Backend::Sqlite => "DROP TRIGGER cut_short",
            Backend::Postgres => "DROP TRIGGER cut_short ON people",
        };
        handle.execute(&[drop.to_owned()]).await;
        let finished = forget(&app, MAYA).await;
        assert!(finished.again);
        assert!(finished.summary().contains(&"names deleted: 1".to_owned()), "{:?}", finished.summary());
        let left = traces::find(&handle, &maya_needles()).await;
        assert!(left.is_empty(), "traces of the member remain: {left:#?}");
        assert_eq!(stored_counts(&handle, TS_A).await, (1, 1), "Omar's vote and reply on her insight count");
    }
}

/// On SQLite, where one writer writes at a time, a forget is cut into short transactions, so
/// events go on being stored (and acknowledged) while a long one runs, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_events_are_stored_between_the_turns_of_a_long_forget() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    seed_busy_member(&store, 3_000).await;
    let (writer, writer_task) = InboxWriter::spawn(store.clone(), Arc::new(Notify::new()), Metrics::new());
    let done = Arc::new(AtomicBool::new(false));
    let stream = {
        let (writer, done) = (writer.clone(), done.clone());
        tokio::spawn(async move {
            let mut stored = Vec::new();
            while !done.load(Ordering::Acquire) {
                let id = format!("EvDuringForget{:06}", stored.len());
                writer
                    .write(crate::inbox_writer::event(id))
                    .await
                    .expect("stored");
                stored.push(Instant::now());
            }
            stored
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let request = ForgetMember {
        team_id: team(TEAM),
        user_id: user(MAYA),
        at: 2_000,
        inbox_row: None,
    };
    let started = Instant::now();
    let forgotten = store.forgetting().forget_member(&request).await.expect("forget");
    let ended = Instant::now();
    done.store(true, Ordering::Release);
    let stored = stream.await.expect("stream");
    assert!(forgotten.rows() >= 4 * 3_000, "{:?}", forgotten.changes);

    // The longest the stream waited for the writer while the forget ran.
    let mut marks: Vec<Instant> = stored
        .into_iter()
        .filter(|at| *at > started && *at < ended)
        .collect();
    let during = marks.len();
    marks.insert(0, started);
    marks.push(ended);
    let longest = marks
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    let took = ended - started;
    assert!(
        during >= 10 && longest * 4 < took,
        "{during} events stored during a forget of {took:?}; the longest wait {longest:?}"
    );
    drop(writer);
    writer_task.await.expect("writer");
}

/// Maya with `n` insights of her own (edited, voted and replied to by others) and a vote and a
/// reply on each of `n` insights of others, across two circles.
async fn seed_busy_member(store: &circlet::store::SharedStore, n: usize) {
    use circlet::store::{InsightSource, MessageRef, NewInsight, Reply};
    let maya = user(MAYA).clone();
    let omar = user(OMAR).clone();
    for start in (0..n).step_by(250) {
        let mut tx = store.begin().await.unwrap();
        for i in start..(start + 250).min(n) {
            let circle = channel(if i % 2 == 0 { CIRCLE } else { SECOND }).clone();
            for (kind, author, other) in [(1, &maya, &omar), (2, &omar, &maya)] {
                let ts = format!("17{kind}0000000.{i:06}");
                let at = MessageRef {
                    team_id: team(TEAM),
                    channel_id: &circle,
                    ts: &ts,
                };
                let text = format!("Insight {i} by {author}: the travel kit zipper sticks");
                let insight = tx
                    .create_insight(&NewInsight {
                        message: at,
                        thread_ts: None,
                        author_id: Some(author),
                        author_team_id: Some(team(TEAM)),
                        text: Some(&text),
                        text_version: 1,
                        source: InsightSource::Reaction,
                        at: 1_000,
                    })
                    .await
                    .unwrap();
                tx.add_vote(insight.id, other, at).await.unwrap();
                let reply = Reply {
                    channel_id: circle.clone(),
                    ts: format!("{ts}1"),
                    user_id: Some(other.clone()),
                    text: format!("Reply {i} by {other}: same here"),
                };
                tx.add_reply(insight.id, &reply).await.unwrap();
                if kind == 1 {
                    tx.set_text(insight.id, &format!("{text}, edited"), 2, 2_000)
                        .await
                        .unwrap();
                }
            }
        }
        tx.commit().await.unwrap();
    }
}
