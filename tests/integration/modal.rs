//! The "Capture feedback" message shortcut: the modal opens prefilled on circle messages only,
//! mistakes are answered inside the modal before anything is stored, and a valid form captures
//! or edits the message's insight. Members get text and tags; only an insight's author and the
//! product team edit it, and only the product team sees and sets the product-only fields.

use circlet::clock::{Clock, ManualClock, SystemClock};
use circlet::store::{CircleChange, Insight, InsightDetails, InsightSource, MessageRef, NewRule};
use circlet_testkit::fake_slack::Fault;
use circlet_testkit::sender::{Answer, FORM};
use serde_json::{Value, json};

use crate::helpers::circle::{captured, deliver, feedback, message, reaction};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const TEAM: &str = circlet_testkit::fake_slack::DEFAULT_TEAM_ID;
const CIRCLE: &str = "C0CIRCLE";
const ELSEWHERE: &str = "C0RANDOM";
const MEMBER: &str = "U0CM";
const AUTHOR: &str = "U0PRIYA";
const TS: &str = "1763900200.000100";
const MESSAGE: &str = "The pump on the serum bottle jams half way";

async fn make_circle(app: &TestApp, channel: &str) {
    let change = CircleChange {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(channel),
        active: true,
        changed_by: None,
        at: 0,
    };
    app.store.set_circle(&change).await.unwrap();
}

/// An app whose product team is [`MEMBER`]: the tests of the full form.
async fn product_app(db: TestDb) -> TestApp {
    TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", MEMBER)
        .start()
        .await
}

/// The shortcut used by `user` on the message `ts` by `author` in `channel`.
fn shortcut_on(
    app: &TestApp,
    trigger: &str,
    user: &str,
    channel: &str,
    (ts, author, text): (&str, &str, &str),
) -> Value {
    json!({
        "type": "message_action", "callback_id": "capture_feedback", "trigger_id": trigger,
        "action_ts": "1763900300.000001",
        "team": {"id": TEAM, "domain": "circle"}, "user": {"id": user, "team_id": TEAM},
        "channel": {"id": channel, "name": "beauty-insiders"},
        "message_ts": ts,
        "message": {"type": "message", "user": author, "ts": ts, "text": text},
        "response_url": app.fake.response_url(trigger),
    })
}

fn shortcut(app: &TestApp, trigger: &str, channel: &str) -> Value {
    shortcut_on(app, trigger, MEMBER, channel, (TS, AUTHOR, MESSAGE))
}

/// Uses the shortcut, runs the inbox, and returns the view the last `views.open` sent.
async fn open_form(app: &TestApp, trigger: &str) -> Value {
    open_form_as(app, trigger, MEMBER).await
}

async fn open_form_as(app: &TestApp, trigger: &str, user: &str) -> Value {
    let answer = app
        .sender
        .interaction(&shortcut_on(app, trigger, user, CIRCLE, (TS, AUTHOR, MESSAGE)))
        .await
        .unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    app.worker.drain().await.unwrap();
    let opened = app.fake.calls_to("views.open");
    let call = opened.last().expect("views.open was called");
    assert_eq!(call.params["trigger_id"], trigger);
    match &call.params["view"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        view => view.clone(),
    }
}

fn block<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == id)
        .unwrap_or_else(|| panic!("no {id} block in {view}"))
}

fn values_of(options: &Value) -> Vec<String> {
    options
        .as_array()
        .map(|list| {
            list.iter()
                .map(|o| o["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The form's values as Slack sends them on submit.
#[derive(Clone)]
struct Filled<'a> {
    text: &'a str,
    tags: &'a [&'a str],
    product_area: Option<&'a str>,
    sentiment: Option<&'a str>,
    company: Option<&'a str>,
}

impl Filled<'_> {
    fn just(text: &str) -> Filled<'_> {
        Filled {
            text,
            tags: &[],
            product_area: None,
            sentiment: None,
            company: None,
        }
    }

    fn state(&self) -> Value {
        let option = |value: &str| json!({"text": {"type": "plain_text", "text": value}, "value": value});
        json!({"values": {
            "text": {"input": {"type": "plain_text_input", "value": self.text}},
            "tags": {"input": {"type": "multi_static_select",
                "selected_options": self.tags.iter().map(|t| option(t)).collect::<Vec<_>>()}},
            "product_area": {"input": {"type": "plain_text_input", "value": self.product_area}},
            "sentiment": {"input": {"type": "static_select", "selected_option": self.sentiment.map(option)}},
            "company": {"input": {"type": "plain_text_input", "value": self.company}},
        }})
    }
}

fn submission(view: &Value, trigger: &str, user: &str, filled: &Filled<'_>) -> Value {
    json!({
        "type": "view_submission", "trigger_id": trigger,
        "team": {"id": TEAM, "domain": "circle"},
        "user": {"id": user, "team_id": TEAM},
        "view": {
            "id": "V0FORM", "team_id": TEAM, "type": "modal",
            "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
            "blocks": view["blocks"], "state": filled.state(),
        },
        "response_urls": [],
    })
}

async fn submit(app: &TestApp, view: &Value, trigger: &str, filled: &Filled<'_>) -> Answer {
    app.sender
        .interaction(&submission(view, trigger, MEMBER, filled))
        .await
        .unwrap()
}

async fn insight(app: &TestApp) -> Option<Insight> {
    let mut tx = app.store.begin().await.unwrap();
    let message = MessageRef {
        team_id: crate::helpers::ids::team(TEAM),
        channel_id: crate::helpers::ids::channel(CIRCLE),
        ts: TS,
    };
    tx.insight_by_message(message).await.unwrap()
}

async fn tags(app: &TestApp, id: i64) -> Vec<String> {
    app.store.begin().await.unwrap().tags(id).await.unwrap()
}

async fn inbox_rows(app: &TestApp) -> u64 {
    let counts = app.store.inbox_counts().await.unwrap();
    counts.pending + counts.running + counts.done + counts.dead
}

/// Asserts Slack was told to show `message_part` on `field`, and that nothing was stored.
async fn assert_refused(app: &TestApp, answer: &Answer, field: &str, message_part: &str, rows_before: u64) {
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["response_action"], "errors", "{}", answer.body);
    let message = body["errors"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no error on {field}: {body}"));
    assert!(message.contains(message_part), "{field}: {message}");
    assert_eq!(inbox_rows(app).await, rows_before, "a refused form is not stored");
    app.worker.drain().await.unwrap();
    assert!(insight(app).await.is_none());
}

#[tokio::test]
async fn the_shortcut_opens_a_form_prefilled_with_the_message_and_the_workspace_tags() {
    let app = product_app(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    let mut tx = app.store.begin().await.unwrap();
    tx.add_rule(
        crate::helpers::ids::team(TEAM),
        &NewRule {
            phrase: "too expensive".into(),
            tag: "pricing".into(),
            capture: false,
        },
        crate::helpers::ids::user(MEMBER),
        0,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let view = open_form(&app, "trig.open").await;
    assert_eq!(app.fake.calls_to("views.open").len(), 1);
    assert_eq!(view["callback_id"], "capture_feedback");
    let text = &block(&view, "text")["element"];
    assert_eq!(
        (&text["initial_value"], &text["multiline"]),
        (&json!(MESSAGE), &json!(true))
    );
    let tag_select = &block(&view, "tags")["element"];
    assert_eq!(tag_select["type"], "multi_static_select");
    assert_eq!(
        values_of(&tag_select["options"]),
        ["bug", "idea", "pain-point", "praise", "pricing"],
        "the emoji map's tags and the keyword rules' tags"
    );
    assert!(tag_select.get("initial_options").is_none());
    assert_eq!(
        values_of(&block(&view, "sentiment")["element"]["options"]),
        ["positive", "neutral", "negative"]
    );
    for optional in ["tags", "product_area", "sentiment", "company"] {
        assert_eq!(block(&view, optional)["optional"], true, "{optional}");
    }
    assert_eq!(app.store.inbox_counts().await.unwrap().done, 1);
}

#[tokio::test]
async fn on_a_captured_message_the_form_is_prefilled_from_its_insight() {
    let app = product_app(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    let first = open_form(&app, "trig.1").await;
    let filled = Filled {
        text: "Serum pump jams half way",
        tags: &["bug", "pain-point"],
        product_area: Some("Packaging"),
        sentiment: Some("negative"),
        company: Some("Glow & Co"),
    };
    assert_eq!(submit(&app, &first, "trig.2", &filled).await.body, "");
    app.worker.drain().await.unwrap();

    let again = open_form(&app, "trig.3").await;
    assert_eq!(block(&again, "text")["element"]["initial_value"], filled.text);
    assert_eq!(
        values_of(&block(&again, "tags")["element"]["initial_options"]),
        ["bug", "pain-point"]
    );
    assert_eq!(
        block(&again, "product_area")["element"]["initial_value"],
        "Packaging"
    );
    assert_eq!(
        block(&again, "sentiment")["element"]["initial_option"]["value"],
        "negative"
    );
    assert_eq!(block(&again, "company")["element"]["initial_value"], "Glow & Co");
    assert!(again.to_string().contains("editing insight #1"));
}

#[tokio::test]
async fn outside_a_circle_the_shortcut_answers_ephemerally_and_opens_no_form() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    let answer = app
        .sender
        .interaction(&shortcut(&app, "trig.elsewhere", ELSEWHERE))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    app.worker.drain().await.unwrap();

    assert!(app.fake.calls_to("views.open").is_empty());
    let replies = app.fake.calls_to("response_url");
    assert_eq!(replies.len(), 1);
    let reply = &replies[0].params;
    assert_eq!(reply["response_type"], "ephemeral");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains(&format!("<#{ELSEWHERE}> isn't one")), "{text}");
    assert!(text.contains("/feedback circle add"), "{text}");
    assert_eq!(app.store.inbox_counts().await.unwrap().done, 1);
    assert!(insight(&app).await.is_none());
}

on_both_backends! {
    /// ARCHITECTURE §10: in a Slack Connect circle the shortcut's message names its author's own
    /// workspace (`user_team`), which the insight keeps.
    async fn a_partner_members_message_captured_by_the_shortcut_keeps_their_workspace(db: TestDb) {
        let app = product_app(db).await;
        make_circle(&app, CIRCLE).await;
        let mut action = shortcut_on(&app, "trig.partner", MEMBER, CIRCLE, (TS, "W0KIM", MESSAGE));
        action["message"]["team"] = json!("T0PARTNER");
        action["message"]["user_team"] = json!("T0PARTNER");
        let answer = app.sender.interaction(&action).await.unwrap();
        assert_eq!(answer.status, 200);
        app.worker.drain().await.unwrap();
        let view = match &app.fake.calls_to("views.open")[0].params["view"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            view => view.clone(),
        };
        let answer = submit(&app, &view, "trig.partner.2", &Filled::just("Pump jams")).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, ""));
        app.worker.drain().await.unwrap();

        let insight = insight(&app).await.expect("captured");
        assert_eq!(insight.author_id.as_ref().map(|id| id.as_str()), Some("W0KIM"));
        assert_eq!(insight.author_team_id.as_ref().map(|t| t.as_str()), Some("T0PARTNER"));
    }
}

#[tokio::test]
async fn a_valid_submission_captures_the_message_with_the_forms_fields_and_acknowledges_it() {
    let app = product_app(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    let view = open_form(&app, "trig.1").await;
    let filled = Filled {
        text: "  Serum pump jams half way ",
        tags: &["bug", "idea"],
        product_area: Some("Packaging"),
        sentiment: Some("negative"),
        company: Some("Glow & Co"),
    };
    let answer = submit(&app, &view, "trig.2", &filled).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, ""),
        "an empty 200 closes the modal"
    );
    app.worker.drain().await.unwrap();

    let insight = insight(&app).await.expect("the message is captured");
    assert_eq!(insight.source(), InsightSource::Shortcut);
    assert_eq!(insight.text.as_deref(), Some("Serum pump jams half way"));
    assert_eq!(
        insight.author_id.as_ref().map(|id| id.as_str()),
        Some(AUTHOR),
        "the message's author, not the member"
    );
    assert_eq!(
        (
            insight.product_area.as_deref(),
            insight.sentiment.as_deref(),
            insight.customer_company.as_deref()
        ),
        (Some("Packaging"), Some("negative"), Some("Glow & Co"))
    );
    assert_eq!(tags(&app, insight.id).await, ["bug", "idea"]);
    let acks = app.fake.calls_to("reactions.add");
    assert_eq!(acks.len(), 1, "acknowledged once");
    assert_eq!(
        (&acks[0].params["channel"], &acks[0].params["timestamp"]),
        (&json!(CIRCLE), &json!(TS))
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
}

on_both_backends! {
    async fn submitting_again_edits_the_same_insight_and_keeps_the_earlier_text(db: TestDb) {
        let app = product_app(db).await;
        make_circle(&app, CIRCLE).await;
        let view = open_form(&app, "trig.1").await;
        let first = Filled { tags: &["bug"], company: Some("Glow & Co"), ..Filled::just("Pump jams") };
        assert_eq!(submit(&app, &view, "trig.2", &first).await.body, "");
        app.worker.drain().await.unwrap();

        let view = open_form(&app, "trig.3").await;
        let second = Filled {
            tags: &["idea"],
            sentiment: Some("positive"),
            ..Filled::just("Pump jams half way; a twist lock would fix it")
        };
        assert_eq!(submit(&app, &view, "trig.4", &second).await.body, "");
        app.worker.drain().await.unwrap();

        let insight = insight(&app).await.unwrap();
        assert_eq!(insight.number, 1);
        let mut tx = app.store.begin().await.unwrap();
        assert!(tx.insight_by_number(crate::helpers::ids::team(TEAM), 2).await.unwrap().is_none(), "one insight");
        assert_eq!(insight.text.as_deref(), Some(second.text));
        assert_eq!(tx.revisions(insight.id).await.unwrap(), [first.text]);
        assert_eq!(tx.tags(insight.id).await.unwrap(), ["idea"]);
        assert_eq!(tx.sources(insight.id).await.unwrap(), [InsightSource::Shortcut]);
        assert_eq!(
            InsightDetails {
                product_area: insight.product_area.clone(),
                sentiment: insight.sentiment.clone(),
                customer_company: insight.customer_company.clone(),
            },
            InsightDetails { sentiment: Some("positive".into()), ..InsightDetails::default() },
            "the form's fields replace the earlier ones"
        );
        drop(tx);
        assert_eq!(app.fake.calls_to("reactions.add").len(), 1);
    }
}

#[tokio::test]
async fn invalid_input_is_answered_in_the_modal_and_nothing_is_stored() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    let view = open_form(&app, "trig.open").await;
    let rows = inbox_rows(&app).await;

    let empty = submit(&app, &view, "trig.empty", &Filled::just("   ")).await;
    assert_refused(&app, &empty, "text", "can't be empty", rows).await;

    let long = "x".repeat(3001);
    let too_long = submit(&app, &view, "trig.long", &Filled::just(&long)).await;
    assert_refused(&app, &too_long, "text", "3,000 characters", rows).await;

    let with_unknown_tag = Filled {
        tags: &["bug", "rocket"],
        ..Filled::just("Pump jams")
    };
    let unknown = submit(&app, &view, "trig.tag", &with_unknown_tag).await;
    assert_refused(
        &app,
        &unknown,
        "tags",
        "“rocket” is not one of this workspace's tags",
        rows,
    )
    .await;
}

#[tokio::test]
async fn a_forged_form_or_one_submitted_by_someone_else_is_refused() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    make_circle(&app, "C0OTHER").await;
    let view = open_form(&app, "trig.open").await;
    let rows = inbox_rows(&app).await;
    let filled = Filled::just("Pump jams");

    let metadata = view["private_metadata"].as_str().unwrap();
    let mut retargeted = view.clone();
    retargeted["private_metadata"] = json!(metadata.replace(CIRCLE, "C0OTHER"));
    let answer = submit(&app, &retargeted, "trig.forged", &filled).await;
    assert_refused(&app, &answer, "text", "expired or could not be verified", rows).await;

    let mut garbage = view.clone();
    garbage["private_metadata"] = json!("{\"channel_id\":\"C0CIRCLE\"}");
    let answer = submit(&app, &garbage, "trig.garbage", &filled).await;
    assert_refused(&app, &answer, "text", "use the Capture feedback shortcut", rows).await;

    let by_someone_else = app
        .sender
        .interaction(&submission(&view, "trig.other", "U0EVE", &filled))
        .await
        .unwrap();
    assert_refused(&app, &by_someone_else, "text", "expired", rows).await;
}

#[tokio::test]
async fn a_form_opened_more_than_two_hours_ago_is_refused() {
    let clock = ManualClock::at_secs(SystemClock.now_secs());
    let app = TestApp::builder(TestDb::sqlite())
        .clock(clock.clone())
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    let view = open_form(&app, "trig.open").await;
    let rows = inbox_rows(&app).await;
    clock.advance_millis((2 * 3600 + 1) * 1000);

    // Signed as of the app's clock, so only the form's age is wrong.
    let payload = submission(&view, "trig.late", MEMBER, &Filled::just("Pump jams"));
    let answer = send_signed_at(&app, &payload, clock.now_secs()).await;
    assert_refused(&app, &answer, "text", "expired", rows).await;
}

async fn send_signed_at(app: &TestApp, payload: &Value, timestamp: i64) -> Answer {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let headers = app.sender.signed_headers(timestamp, body.as_bytes());
    app.sender
        .post_with("/slack/interactions", FORM, body.into_bytes(), headers, &[])
        .await
        .unwrap()
}

#[tokio::test]
async fn an_expired_trigger_finishes_the_job_without_retrying_and_tells_the_user() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    make_circle(&app, CIRCLE).await;
    app.fake
        .inject("views.open", Fault::SlackError("expired_trigger_id".into()), 1);
    app.sender
        .interaction(&shortcut(&app, "trig.slow", CIRCLE))
        .await
        .unwrap();
    app.worker.drain().await.unwrap();

    assert_eq!(
        app.fake.calls_to("views.open").len(),
        1,
        "a spent trigger is not retried"
    );
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!((counts.done, counts.pending, counts.dead), (1, 0, 0));
    let replies = app.fake.calls_to("response_url");
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].params["text"]
            .as_str()
            .unwrap()
            .contains("took too long")
    );
}

/// The view and metadata a member's shortcut opened, and whom for.
async fn submit_as(app: &TestApp, view: &Value, trigger: &str, user: &str, filled: &Filled<'_>) -> Answer {
    app.sender
        .interaction(&submission(view, trigger, user, filled))
        .await
        .unwrap()
}

fn block_ids(view: &Value) -> Vec<&str> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["block_id"].as_str())
        .collect()
}

/// What the last ephemeral answer through a `response_url` said.
fn last_ephemeral(app: &TestApp) -> String {
    let replies = app.fake.calls_to("response_url");
    let reply = &replies.last().expect("an ephemeral answer").params;
    assert_eq!(reply["response_type"], "ephemeral");
    reply["text"].as_str().unwrap().to_owned()
}

fn full_form<'a>(text: &'a str) -> Filled<'a> {
    Filled {
        tags: &["bug"],
        product_area: Some("Packaging"),
        sentiment: Some("negative"),
        company: Some("Glow & Co"),
        ..Filled::just(text)
    }
}

on_both_backends! {
    /// A member captures an uncaptured message with text and tags; the product-only fields
    /// are neither shown nor stored, whatever the submitted state holds.
    async fn a_member_captures_with_text_and_tags_and_cannot_set_product_fields(db: TestDb) {
        let app = TestApp::spawn(db).await;
        make_circle(&app, CIRCLE).await;
        let view = open_form(&app, "trig.member").await;
        assert_eq!(block_ids(&view), ["text", "tags"]);

        let answer = submit(&app, &view, "trig.save", &full_form("Pump jams")).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, ""));
        app.worker.drain().await.unwrap();
        let insight = insight(&app).await.expect("captured");
        assert_eq!(insight.text.as_deref(), Some("Pump jams"));
        assert_eq!(tags(&app, insight.id).await, ["bug"]);
        assert_eq!(
            (insight.product_area, insight.sentiment, insight.customer_company),
            (None, None, None),
            "a member's form sets no product fields"
        );
    }
}

on_both_backends! {
    /// Someone who is neither the author nor on the product team learns the insight's number
    /// and how to vote, and can change nothing: not by opening the form, not by submitting one
    /// opened before the capture, not by a submission that reaches the worker.
    async fn someone_elses_captured_insight_is_not_editable_by_a_member(db: TestDb) {
        let app = TestApp::builder(db).env("CIRCLET_PRODUCT_USERS", "U0PM").start().await;
        make_circle(&app, CIRCLE).await;
        // Opened while the message is not captured yet: a member's form.
        let early = open_form(&app, "trig.early").await;
        deliver(&app, &[
            message(AUTHOR, CIRCLE, TS, MESSAGE, None),
            reaction(true, "U0LEO", "bug", CIRCLE, TS, AUTHOR, 1),
        ]).await;
        let before = insight(&app).await.expect("captured by the reaction");

        let answer = app.sender.interaction(&shortcut(&app, "trig.late", CIRCLE)).await.unwrap();
        assert_eq!(answer.status, 200);
        app.worker.drain().await.unwrap();
        assert_eq!(app.fake.calls_to("views.open").len(), 1, "no form for someone else's insight");
        assert_eq!(
            last_ephemeral(&app),
            "This message is already captured as #1 — a :+1: on it counts as your vote."
        );

        let rows = inbox_rows(&app).await;
        let refused = submit(&app, &early, "trig.submit", &full_form("Rewritten by someone else")).await;
        assert_eq!(refused.json()["response_action"], "errors", "{}", refused.body);
        assert!(refused.body.contains("already captured as #1"), "{}", refused.body);
        assert_eq!(inbox_rows(&app).await, rows, "a refused form is not stored");

        // A submission that got past the request path (the capture happened meanwhile).
        let payload = submission(&early, "trig.raced", MEMBER, &full_form("Rewritten by someone else"));
        let row = circlet::inbox::NewInboxItem {
            team_id: TEAM.into(),
            event_id: "interaction:raced".into(),
            kind: circlet::inbox::InboxKind::Interaction,
            event_type: "view_submission".into(),
            payload: payload.to_string(),
            received_at: SystemClock.now_millis(),
        };
        app.store.insert_inbox(&[row]).await.unwrap();
        app.worker.drain().await.unwrap();

        let after = insight(&app).await.unwrap();
        assert_eq!(after.text, before.text);
        assert_eq!(after.customer_company, None);
        assert_eq!(tags(&app, after.id).await, ["bug"]);
        assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);
    }
}

on_both_backends! {
    /// The author edits their own insight's text and tags; the product team's fields stay as
    /// the product team set them, unseen.
    async fn the_author_edits_text_and_tags_and_the_product_fields_stay_hidden_and_kept(db: TestDb) {
        let app = product_app(db).await;
        make_circle(&app, CIRCLE).await;
        let view = open_form(&app, "trig.pm").await;
        assert_eq!(submit(&app, &view, "trig.pm.save", &full_form("Pump jams")).await.body, "");
        app.worker.drain().await.unwrap();

        let view = open_form_as(&app, "trig.author", AUTHOR).await;
        assert_eq!(block_ids(&view), ["text", "tags"]);
        assert!(!view.to_string().contains("Glow & Co"), "{view}");
        assert_eq!(block(&view, "text")["element"]["initial_value"], "Pump jams");
        let mine = Filled { tags: &["idea"], ..Filled::just("The pump jams half way down") };
        let answer = submit_as(&app, &view, "trig.author.save", AUTHOR, &mine).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, ""));
        app.worker.drain().await.unwrap();

        let insight = insight(&app).await.unwrap();
        assert_eq!(insight.text.as_deref(), Some("The pump jams half way down"));
        assert_eq!(tags(&app, insight.id).await, ["idea"]);
        assert_eq!(
            (insight.product_area.as_deref(), insight.customer_company.as_deref()),
            (Some("Packaging"), Some("Glow & Co"))
        );
    }
}

on_both_backends! {
    /// A message merged into another circle's insight: its own author is not that insight's
    /// author, so they are told its number and nothing of the other circle.
    async fn a_message_merged_into_another_circles_insight_shows_nothing_of_it(db: TestDb) {
        let app = TestApp::builder(db).env("CIRCLET_PRODUCT_USERS", "U0PM").start().await;
        make_circle(&app, CIRCLE).await;
        make_circle(&app, "C0OTHER").await;
        let other_ts = "1763900900.000100";
        deliver(&app, &[
            message(AUTHOR, CIRCLE, TS, MESSAGE, None),
            reaction(true, "U0LEO", "bug", CIRCLE, TS, AUTHOR, 1),
            message("U0OTTO", "C0OTHER", other_ts, "My pump jams too", None),
            reaction(true, "U0OTTO", "bug", "C0OTHER", other_ts, "U0OTTO", 2),
        ]).await;
        let target = captured(&app, CIRCLE, TS).await.unwrap().insight;
        let duplicate = captured(&app, "C0OTHER", other_ts).await.unwrap().insight;
        feedback(&app, "U0PM", &format!("merge {} into {}", duplicate.number, target.number)).await;

        let shortcut = shortcut_on(&app, "trig.otto", "U0OTTO", "C0OTHER", (other_ts, "U0OTTO", "My pump jams too"));
        app.sender.interaction(&shortcut).await.unwrap();
        app.worker.drain().await.unwrap();
        assert!(app.fake.calls_to("views.open").is_empty());
        let told = last_ephemeral(&app);
        assert_eq!(told, format!("This message is already captured as #{} — a :+1: on it counts as your vote.", target.number));
        assert!(!told.contains(MESSAGE));
    }
}
