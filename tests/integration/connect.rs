//! Slack Connect circles and attribution by installation (ARCHITECTURE §9, §10), through the
//! signed endpoints: an event belongs to the installation `authorizations[0]` names, whatever
//! workspace its envelope names; a partner organization's members count like anyone; each
//! insight keeps its author's own workspace, exported last as `author_team_id`.

use circlet::store::MessageRef;
use circlet_testkit::fake_slack::Fault;
use serde_json::{Value, json};

use crate::helpers::circle::{
    BOT, CIRCLE, TEAM, captured, deliver, feedback, feedback_form, make_circle, message, reaction, send,
};
use crate::helpers::ids::{channel, team};
use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb, samples};
use crate::on_both_backends;

/// The customer organization the circle is shared with.
const PARTNER: &str = "T0PARTNER";
const PARTNER_ORG: &str = "E0PARTNER";
/// The message the shared-channel sample reacts to, by the partner's member `W111`.
const SAMPLE_TS: &str = "1599529504.000400";
const IDEA: &str = "1700000000.000100";

async fn connect_app(db: TestDb) -> TestApp {
    let app = TestApp::builder(db)
        .env("CIRCLET_PRODUCT_USERS", "U0PM")
        .start()
        .await;
    make_circle(&app, CIRCLE).await;
    // What serve does at start: learn the installation before requests arrive.
    app.bot_identity().await;
    app
}

/// Slack's shared-channel sample (reaction_added_shared_channel__boltpy.json) with its ids made
/// Slack-shaped: delivered to the test installation, its envelope naming the partner.
fn shared_channel_sample() -> Value {
    let text = samples::read("events", "reaction_added_shared_channel__boltpy.json")
        .replace("T_INSTALLED", TEAM)
        .replace("E_INSTALLED", "E0CIRCLE")
        .replace("T_SOURCE", PARTNER)
        .replace("E_SOURCE", PARTNER_ORG)
        .replace("C111", CIRCLE);
    let mut envelope: Value = serde_json::from_str(&text).unwrap();
    envelope["authorizations"][0]["user_id"] = json!(BOT);
    envelope
}

/// `event` as Slack delivers it in a Slack Connect channel when a partner's member acts: the
/// envelope names their workspace, `authorizations` the installation.
fn from_partner(mut event: Value) -> Value {
    event["team_id"] = json!(PARTNER);
    event["enterprise_id"] = json!(PARTNER_ORG);
    event["is_ext_shared_channel"] = json!(true);
    event["authorizations"] = json!([{
        "enterprise_id": null, "team_id": TEAM, "user_id": BOT, "is_bot": true, "is_enterprise_install": false,
    }]);
    if event["event"]["type"] == "message" {
        event["event"]["team"] = json!(PARTNER);
        event["event"]["user_team"] = json!(PARTNER);
        event["event"]["source_team"] = json!(PARTNER);
    }
    event
}

async fn export(app: &TestApp, format: &str) -> String {
    let token = app.api_token("looker", None).await;
    let response = app
        .http
        .get(format!("{}/api/v1/insights?format={format}", app.base_url))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn jsonl(body: &str) -> Vec<Value> {
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

on_both_backends! {
    async fn the_shared_channel_sample_is_captured_for_the_installation_with_the_partners_team(db: TestDb) {
        let app = connect_app(db).await;
        let answer = feedback(&app, "U0PM", "tags set :heart_eyes: praise").await;
        assert!(answer.contains("praise"), "{answer}");
        // The reacted message, by the partner's member, as conversations.history shows it.
        app.fake.seed_message(CIRCLE, json!({
            "ts": SAMPLE_TS, "user": "W111", "team": PARTNER, "user_team": PARTNER, "source_team": PARTNER,
            "text": "Could the refill come without the pump?",
        }));
        app.fake.set_user(json!({
            "id": "W111", "name": "kim", "real_name": "Kim Partner", "team_id": PARTNER,
            "profile": {"display_name": "Kim", "real_name": "Kim Partner"},
        }));

        deliver(&app, &[shared_channel_sample()]).await;

        let row = app.store.find_inbox_by_event_id("Ev111").await.unwrap().expect("stored");
        assert_eq!(row.team_id, TEAM, "keyed by the installation, not the envelope's workspace");
        let got = captured(&app, CIRCLE, SAMPLE_TS).await.expect("captured");
        assert_eq!(got.insight.team_id.as_str(), TEAM);
        assert_eq!(got.insight.author_id.as_ref().map(|id| id.as_str()), Some("W111"));
        assert_eq!(got.insight.author_team_id.as_ref().map(|t| t.as_str()), Some(PARTNER));
        assert_eq!(got.insight.text.as_deref(), Some("Could the refill come without the pump?"));
        assert_eq!(got.tags, ["praise"]);
        assert_eq!(app.fake.calls_to("users.info").len(), 1, "the partner's member is named like anyone");

        let rows = jsonl(&export(&app, "jsonl").await);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0]["team_id"].as_str(), rows[0]["author_name"].as_str(), rows[0]["author_team_id"].as_str()),
            (Some(TEAM), Some("Kim"), Some(PARTNER))
        );
    }
}

on_both_backends! {
    async fn partner_members_messages_reactions_votes_and_replies_count_and_export_their_team_last(db: TestDb) {
        let app = connect_app(db).await;
        deliver(&app, &[
            from_partner(message("W0KIM", CIRCLE, IDEA, "A travel size, please", None)),
            from_partner(reaction(true, "W0LEE", "bulb", CIRCLE, IDEA, "W0KIM", 1)),
            from_partner(reaction(true, "W0LEE", "+1", CIRCLE, IDEA, "W0KIM", 2)),
            reaction(true, "U0MAYA", "+1", CIRCLE, IDEA, "W0KIM", 3),
            from_partner(message("W0LEE", CIRCLE, "1700000000.000200", "Same here", Some(IDEA))),
        ]).await;

        let got = captured(&app, CIRCLE, IDEA).await.expect("a partner's message is captured");
        assert_eq!(got.insight.author_id.as_ref().map(|id| id.as_str()), Some("W0KIM"));
        assert_eq!(got.insight.author_team_id.as_ref().map(|t| t.as_str()), Some(PARTNER));
        assert_eq!(got.tags, ["idea"]);
        assert_eq!(got.voters, ["U0MAYA", "W0LEE"], "a partner's vote counts like a member's");
        assert_eq!(got.replies, ["Same here"]);
        assert_eq!(app.fake.calls_to("reactions.add").len(), 1, "acknowledged like any capture");
        // A home member's capture keeps the installation's workspace.
        deliver(&app, &[
            message("U0MAYA", CIRCLE, "1700000000.000300", "Love the new scent", None),
            reaction(true, "U0LEA", "heart", CIRCLE, "1700000000.000300", "U0MAYA", 4),
        ]).await;

        let csv = export(&app, "csv").await;
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines[0].ends_with(",source,permalink,author_team_id"), "the new column is last: {}", lines[0]);
        assert!(lines[1].starts_with("1,") && lines[1].ends_with(&format!(",{PARTNER}")), "{}", lines[1]);
        assert!(lines[1].contains(&format!(",{TEAM},{CIRCLE},")), "{}", lines[1]);
        assert!(lines[2].ends_with(&format!(",{TEAM}")), "{}", lines[2]);

        let body = export(&app, "jsonl").await;
        let first = body.lines().next().unwrap();
        assert!(first.ends_with(&format!(",\"author_team_id\":\"{PARTNER}\"}}")), "the last key: {first}");
        let rows = jsonl(&body);
        assert_eq!(
            (rows[0]["votes"].as_i64(), rows[0]["replies"].as_i64(), rows[1]["author_team_id"].as_str()),
            (Some(2), Some(1), Some(TEAM))
        );

        // `/feedback export` sends the same columns.
        let answer = feedback(&app, "U0PM", "export").await;
        assert!(answer.contains("I sent you 2 insights"), "{answer}");
        let completed = app.fake.calls_to("files.completeUploadExternal");
        let files: Value = match &completed[0].params["files"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        let uploaded = String::from_utf8(app.fake.uploaded(files[0]["id"].as_str().unwrap()).unwrap()).unwrap();
        let uploaded: Vec<&str> = uploaded.split("\r\n").collect();
        assert_eq!(uploaded[0], lines[0]);
        assert!(uploaded[1].ends_with(&format!(",{PARTNER}")), "{}", uploaded[1]);
    }
}

on_both_backends! {
    async fn an_event_delivered_to_another_installation_is_dropped(db: TestDb) {
        let app = connect_app(db).await;
        // The envelope names the installed workspace, but Slack delivered it to another
        // installation (the app installed twice, one URL): it is not this one's to act on.
        let mut post = message("U0MAYA", CIRCLE, IDEA, "Travel size?", None);
        let mut bulb = reaction(true, "U0LEA", "bulb", CIRCLE, IDEA, "U0MAYA", 1);
        for event in [&mut post, &mut bulb] {
            event["authorizations"] = json!([{"team_id": "T0OTHER", "user_id": "U0OTHERBOT", "is_bot": true,
                "is_enterprise_install": false}]);
        }
        send(&app, &[post, bulb]).await;

        assert!(app.store.list_inbox(None, 100).await.unwrap().is_empty(), "nothing stored");
        app.worker.drain().await.unwrap();
        assert!(captured(&app, CIRCLE, IDEA).await.is_none());
        assert!(app.fake.calls_to("reactions.add").is_empty());
        assert_eq!(
            sample(&app.metrics().await, "circlet_foreign_team_total{reason=\"events\"}"),
            Some(2)
        );
    }
}

on_both_backends! {
    async fn a_member_slack_will_not_describe_is_named_by_id_and_placed_by_their_message(db: TestDb) {
        let app = connect_app(db).await;
        // Captured by a reaction alone: the message comes from conversations.history, and
        // users.info on its author fails as for a partner's member Slack does not show.
        app.fake.seed_message(CIRCLE, json!({
            "ts": IDEA, "user": "W0GONE", "user_team": PARTNER, "team": PARTNER, "text": "Refills in glass?",
        }));
        app.fake.inject("users.info", Fault::SlackError("user_not_found".into()), 1);
        deliver(&app, &[from_partner(reaction(true, "W0LEE", "bulb", CIRCLE, IDEA, "W0GONE", 1))]).await;
        assert_eq!(app.fake.calls_to("users.info").len(), 1);
        assert_eq!(app.store.inbox_counts().await.unwrap().dead, 0);

        let rows = jsonl(&export(&app, "jsonl").await);
        assert_eq!(
            (rows[0]["author_id"].as_str(), rows[0]["author_name"].as_str(), rows[0]["author_team_id"].as_str()),
            (Some("W0GONE"), Some("W0GONE"), Some(PARTNER))
        );
    }
}

on_both_backends! {
    async fn a_member_is_placed_by_users_info_when_their_message_does_not_say(db: TestDb) {
        let app = connect_app(db).await;
        for ts in [IDEA, "1700000000.000200"] {
            app.fake.seed_message(CIRCLE, json!({"ts": ts, "user": "W0KIM", "text": format!("idea {ts}")}));
        }
        app.fake.set_user(json!({"id": "W0KIM", "name": "kim", "team_id": PARTNER, "profile": {"display_name": "Kim"}}));
        deliver(&app, &[from_partner(reaction(true, "W0LEE", "bulb", CIRCLE, IDEA, "W0KIM", 1))]).await;
        // Known to the directory now: the next capture is placed without asking Slack again.
        deliver(&app, &[from_partner(reaction(true, "W0LEE", "bug", CIRCLE, "1700000000.000200", "W0KIM", 2))]).await;
        assert_eq!(app.fake.calls_to("users.info").len(), 1);
        for ts in [IDEA, "1700000000.000200"] {
            let got = captured(&app, CIRCLE, ts).await.expect("captured");
            assert_eq!(got.insight.author_team_id.as_ref().map(|t| t.as_str()), Some(PARTNER), "{ts}");
        }
    }
}

on_both_backends! {
    async fn an_org_wide_install_is_keyed_by_its_organization_and_admits_only_its_own_admins(db: TestDb) {
        const ORG: &str = "E0ORG";
        let app = TestApp::builder(db).enterprise_install(ORG).start().await;
        let identity = app.bot_identity().await;
        assert_eq!(identity.installation(), ORG);
        let org_wide = [("team_id", TEAM), ("enterprise_id", ORG), ("is_enterprise_install", "true")];
        // An admin of one of the organization's workspaces, and a partner organization's admin.
        app.fake.set_user(json!({
            "id": "W0ORGADMIN", "name": "admin", "team_id": "T0STORES", "is_admin": true,
            "enterprise_user": {"id": "W0ORGADMIN", "enterprise_id": ORG, "teams": ["T0STORES"], "is_admin": true},
        }));
        app.fake.set_user(json!({
            "id": "W0PARTNERADMIN", "name": "partner", "team_id": PARTNER, "is_admin": true, "is_owner": true,
            "enterprise_user": {"id": "W0PARTNERADMIN", "enterprise_id": PARTNER_ORG, "teams": [PARTNER], "is_admin": true},
        }));

        let refused = feedback_form(&app, &org_wide, "W0PARTNERADMIN", "circle add <#C0ORG>").await;
        assert_eq!(refused, "Sorry, only the product team and workspace admins can manage circles.");
        let added = feedback_form(&app, &org_wide, "W0ORGADMIN", "circle add <#C0ORG>").await;
        assert!(added.contains("is now a circle"), "{added}");
        assert!(app.store.is_circle(team(ORG), channel("C0ORG")).await.unwrap(), "the organization's circle");
        assert!(!app.store.is_circle(team(TEAM), channel("C0ORG")).await.unwrap());

        // Another organization's org-wide install is not this one.
        let other = [("team_id", TEAM), ("enterprise_id", "E0OTHER"), ("is_enterprise_install", "true")];
        let foreign = app.sender.command(&[other[0], other[1], other[2], ("user_id", "W0ORGADMIN"),
            ("command", "/feedback"), ("text", "circle list")]).await.unwrap();
        assert!(foreign.json()["text"].as_str().unwrap().contains("not installed in this workspace"), "{}", foreign.body);

        // Events delivered to the org-wide install are the organization's.
        let org = |mut event: Value| {
            event["authorizations"] = json!([{"enterprise_id": ORG, "team_id": null, "user_id": BOT, "is_bot": true,
                "is_enterprise_install": true}]);
            event
        };
        deliver(&app, &[
            org(message("W0MAYA", "C0ORG", IDEA, "Refill pouches?", None)),
            org(reaction(true, "W0LEA", "bulb", "C0ORG", IDEA, "W0MAYA", 1)),
        ]).await;
        let mut tx = app.store.begin().await.unwrap();
        let at = MessageRef { team_id: team(ORG), channel_id: channel("C0ORG"), ts: IDEA };
        let insight = tx.insight_by_message(at).await.unwrap().expect("captured for the organization");
        assert_eq!(insight.author_id.as_ref().map(|id| id.as_str()), Some("W0MAYA"));
        drop(tx);
        // Not the workspace the envelope names.
        assert!(captured(&app, "C0ORG", IDEA).await.is_none());
    }
}

on_both_backends! {
    async fn insights_stored_before_the_migration_keep_the_installations_workspace(db: TestDb) {
        use sqlx::Connection;
        // The database as it stood before Slack Connect circles (migrations to 0010), with an
        // insight in it.
        let insert = "INSERT INTO insights (team_id, number, channel_id, message_ts, author_id, text, source, \
            created_at, updated_at) VALUES ('T0OLD', 1, 'C0OLD', '1700000000.000100', 'U0OLD', 'old', 'reaction', 0, 0)";
        macro_rules! before_slack_connect {
            ($folder:literal, $connection:expr) => {{
                let mut migrator = sqlx::migrate!($folder);
                migrator.migrations =
                    std::borrow::Cow::Owned(migrator.migrations.iter().filter(|m| m.version <= 10).cloned().collect());
                let mut connection = $connection;
                migrator.run(&mut connection).await.unwrap();
                sqlx::query(insert).execute(&mut connection).await.unwrap();
                connection.close().await.unwrap();
            }};
        }
        match db.backend {
            crate::helpers::Backend::Sqlite => {
                let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db.url)
                    .unwrap()
                    .create_if_missing(true);
                before_slack_connect!("migrations/sqlite", sqlx::SqliteConnection::connect_with(&options).await.unwrap());
            }
            crate::helpers::Backend::Postgres => {
                before_slack_connect!("migrations/postgres", sqlx::PgConnection::connect(&db.url).await.unwrap());
            }
        }

        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        let at = MessageRef { team_id: team("T0OLD"), channel_id: channel("C0OLD"), ts: "1700000000.000100" };
        let insight = tx.insight_by_message(at).await.unwrap().expect("kept");
        assert_eq!(insight.author_team_id.as_ref().map(|t| t.as_str()), Some("T0OLD"));
    }
}
