//! Many workspaces in one Circlet (ARCHITECTURE §9): installations kept apart, linked
//! workspaces counted in their home's exports and digest only, an uninstalled workspace stopped
//! at once, settings set from Slack.

use circlet::clock::{Clock, SystemClock};
use circlet::domain::{links, workspaces::REFUSAL};
use circlet::ids::TeamId;
use circlet::secret::Secret;
use circlet::store::{CircleChange, Installation, SettingChange, SharedStore};
use circlet::token_cipher::TokenCipher;
use serde_json::{Value, json};

use crate::helpers::circle::{self, feedback, feedback_in, message, reaction};
use crate::helpers::ids::{channel, team, user};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

const KEY: &str = "8f3c1a9be2d4476a0c5e7f9182b3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b";
const HOME: &str = "T0HOME";
const SOURCE: &str = "T0SOURCE";
const HOME_CIRCLE: &str = "C0HOMECIRCLE";
const SOURCE_CIRCLE: &str = "C0SOURCECIRCLE";
const HOME_PM: &str = "U0HOMEPM";
const SOURCE_PM: &str = "U0SOURCEPM";

async fn install(store: &SharedStore, team_id: &str, token: &str, product_user: &str) {
    let cipher = TokenCipher::from_key_text(KEY).unwrap();
    let now = SystemClock.now_millis();
    let installation = Installation {
        team_id: team(team_id).clone(),
        team_name: Some(format!("{team_id} workspace")),
        enterprise_id: None,
        is_enterprise_install: false,
        app_id: "A0CIRCLET".into(),
        bot_user_id: user("UCIRCLET").clone(),
        scopes: "channels:history,chat:write,reactions:write".into(),
        installer_user_id: Some(user(product_user).clone()),
        bot_token: cipher.seal(team_id, &Secret::new(token)),
        refresh_token: None,
        token_expires_at: None,
        installed_at: now,
        updated_at: now,
        uninstalled_at: None,
        home_team_id: None,
    };
    let workspaces = store.workspaces();
    workspaces.save_installation(&installation).await.unwrap();
    let change = SettingChange::ProductUsers(Some(product_user));
    workspaces
        .change_setting(team(team_id), change, user(product_user), now)
        .await
        .unwrap();
}

async fn make_circle_in(store: &SharedStore, team_id: &str, channel_id: &str) {
    let change = CircleChange {
        team_id: team(team_id),
        channel_id: channel(channel_id),
        active: true,
        changed_by: Some(user("U0CM")),
        at: 0,
    };
    store.set_circle(&change).await.unwrap();
}

/// Circlet in multi-workspace mode with HOME and SOURCE installed, a circle in each.
async fn two_workspaces(db: TestDb) -> TestApp {
    two_workspaces_over(db, false).await
}

/// [`two_workspaces`], receiving over Socket Mode when `socket_mode`.
async fn two_workspaces_over(db: TestDb, socket_mode: bool) -> TestApp {
    let store = db.store().await;
    install(&store, HOME, "xoxb-home-token", HOME_PM).await;
    install(&store, SOURCE, "xoxb-source-token", SOURCE_PM).await;
    make_circle_in(&store, HOME, HOME_CIRCLE).await;
    make_circle_in(&store, SOURCE, SOURCE_CIRCLE).await;
    store.close().await;
    let mut builder = TestApp::builder(db)
        .without_bot_token()
        .env("SLACK_CLIENT_ID", "1111.2222")
        .env("SLACK_CLIENT_SECRET", "client-secret")
        .env("CIRCLET_PUBLIC_URL", "https://circlet.example.com")
        .env("CIRCLET_ENCRYPTION_KEY", KEY);
    if socket_mode {
        builder = builder.socket_mode();
    }
    builder.start().await
}

/// `event` as delivered to the installation `team_id` (envelope and authorization alike).
fn in_team(mut event: Value, team_id: &str) -> Value {
    event["team_id"] = json!(team_id);
    event["authorizations"] = json!([{
        "team_id": team_id, "user_id": "UCIRCLET", "is_bot": true, "is_enterprise_install": false
    }]);
    let id = format!("{}{team_id}", event["event_id"].as_str().unwrap_or("Ev"));
    event["event_id"] = json!(id);
    event
}

/// An idea posted and tagged in `circle` of `team_id`.
fn an_idea(team_id: &str, circle: &str, ts: &str) -> Vec<Value> {
    vec![
        in_team(
            message("U0MAYA", circle, ts, &format!("An idea from {team_id}"), None),
            team_id,
        ),
        in_team(reaction(true, "U0MAYA", "bulb", circle, ts, "U0MAYA", 1), team_id),
    ]
}

/// The API export a token of `team_id` sees: the texts, sorted.
async fn api_texts(app: &TestApp, team_id: &str) -> Vec<String> {
    let token = app.api_token("sync", Some(team_id)).await;
    let answer = app
        .http
        .get(format!("{}/api/v1/insights?format=jsonl", app.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    let mut texts: Vec<String> = body
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    texts.sort();
    texts
}

on_both_backends! {
    async fn each_installation_sees_only_its_own_until_linked_to_a_home(db: TestDb) {
        let app = two_workspaces(db).await;
        let mut events = an_idea(HOME, HOME_CIRCLE, "1700000000.000100");
        events.extend(an_idea(SOURCE, SOURCE_CIRCLE, "1700000000.000200"));
        circle::deliver(&app, &events).await;

        assert_eq!(api_texts(&app, HOME).await, ["An idea from T0HOME"]);
        assert_eq!(api_texts(&app, SOURCE).await, ["An idea from T0SOURCE"]);
        let report = feedback_in(&app, HOME, HOME_PM, "report").await;
        assert_ne!(report, circlet::domain::reports::REFUSAL, "the home's product user");

        let linked = links::link(app.store.workspaces().as_ref(), team(SOURCE), team(HOME), 1).await.unwrap();
        assert!(linked);
        assert_eq!(api_texts(&app, HOME).await, ["An idea from T0HOME", "An idea from T0SOURCE"]);
        assert_eq!(api_texts(&app, SOURCE).await, ["An idea from T0SOURCE"], "the source sees nothing of its home");
        let export = feedback_in(&app, HOME, HOME_PM, &format!("export jsonl <#{SOURCE_CIRCLE}|community>")).await;
        assert!(export.contains("1 insight"), "the home's product team exports the source's circle: {export}");
        let refused = feedback_in(&app, SOURCE, SOURCE_PM, &format!("export jsonl <#{HOME_CIRCLE}|brand>")).await;
        assert!(refused.contains("is not a circle"), "{refused}");
        // Someone of the source workspace is no product user of the home.
        let not_theirs = feedback_in(&app, HOME, SOURCE_PM, "report").await;
        assert_eq!(not_theirs, circlet::domain::reports::REFUSAL);

        // The home's product team triages the source's insight; its thread hears of it there.
        let report = feedback_in(&app, HOME, HOME_PM, "report").await;
        assert!(report.contains("2 insights"), "{report}");
        let blocks = app.fake.calls_to("response_url").last().unwrap().params["blocks"].to_string();
        assert!(blocks.contains("T0SOURCE-1:shipped"), "linked insights are named with their workspace: {blocks}");
        let shipped = feedback_in(&app, HOME, HOME_PM, "status T0SOURCE-1 shipped").await;
        assert!(shipped.starts_with("T0SOURCE-1 is now *shipped*"), "{shipped}");
        let told: Vec<Value> = app.fake.calls_to("chat.postMessage").into_iter().map(|call| call.params).collect();
        assert!(
            told.iter().any(|p| p["channel"] == SOURCE_CIRCLE && p["thread_ts"] == "1700000000.000200"),
            "close the loop in the source's circle: {told:?}"
        );
        let not_theirs = feedback_in(&app, SOURCE, SOURCE_PM, "status T0HOME-1 declined").await;
        assert_eq!(not_theirs, "I can't find insight #1 in this workspace.");

        assert!(links::unlink(app.store.workspaces().as_ref(), team(SOURCE), 2).await.unwrap());
        assert_eq!(api_texts(&app, HOME).await, ["An idea from T0HOME"]);
        let unlinked = feedback_in(&app, HOME, HOME_PM, "status T0SOURCE-1 planned").await;
        assert_eq!(unlinked, "I can't find insight #1 in this workspace.");
    }
}

on_both_backends! {
    async fn a_linked_workspace_counts_in_its_homes_digest(db: TestDb) {
        let app = two_workspaces(db).await;
        circle::deliver(&app, &an_idea(SOURCE, SOURCE_CIRCLE, "1700000000.000300")).await;
        links::link(app.store.workspaces().as_ref(), team(SOURCE), team(HOME), 1).await.unwrap();
        let period = circlet::domain::digest::Period {
            key: "2023-W46".into(),
            start: 1_699_000_000_000,
            end: SystemClock.now_millis(),
        };
        let home = circlet::domain::digest::content::product_digest(&app.store, team(HOME), &period).await.unwrap();
        assert_eq!(home.report.total.current, 1, "the home's digest counts the source's idea");
        // Named as the home's product team names it, never as a home insight's #1.
        let report = circlet::domain::reports::render_text(&home.report);
        assert!(report.contains("  T0SOURCE-1 by "), "{report}");
        assert!(!report.contains("#1 "), "{report}");
        let source = circlet::domain::digest::content::product_digest(&app.store, team(SOURCE), &period).await.unwrap();
        assert_eq!(source.report.total.current, 1);
        links::unlink(app.store.workspaces().as_ref(), team(SOURCE), 2).await.unwrap();
        let unlinked = circlet::domain::digest::content::product_digest(&app.store, team(HOME), &period).await.unwrap();
        assert_eq!(unlinked.report.total.current, 0, "unlinked, the home's digest has none of it");
    }
}

on_both_backends! {
    async fn an_uninstalled_workspace_stops_at_once_and_its_late_requests_store_nothing(db: TestDb) {
        let app = two_workspaces(db).await;
        let uninstalled = in_team(
            json!({
                "type": "event_callback", "event_id": "EvGone", "event_time": 1_700_000_100,
                "event": {"type": "app_uninstalled", "event_ts": "1700000100.000100"}
            }),
            SOURCE,
        );
        circle::deliver(&app, &[uninstalled]).await;
        let stored = app.store.workspaces().installation(team(SOURCE)).await.unwrap().unwrap();
        assert!(!stored.is_active(), "marked uninstalled");

        let late = an_idea(SOURCE, SOURCE_CIRCLE, "1700000000.000400");
        circle::send(&app, &late).await;
        for event in &late {
            let id = event["event_id"].as_str().unwrap();
            assert!(app.store.find_inbox_by_event_id(id).await.unwrap().is_none(), "{id} was stored");
        }
        let refused = app
            .sender
            .command(&[
                ("team_id", SOURCE),
                ("channel_id", "C0OPS"),
                ("user_id", SOURCE_PM),
                ("command", "/feedback"),
                ("text", "report"),
                ("response_url", "https://hooks.slack.com/commands/x"),
                ("trigger_id", "1.2.3"),
            ])
            .await
            .unwrap();
        assert_eq!(refused.status, 200);
        assert_eq!(refused.json()["text"], REFUSAL);

        // The other workspace goes on.
        circle::deliver(&app, &an_idea(HOME, HOME_CIRCLE, "1700000000.000500")).await;
        assert_eq!(api_texts(&app, HOME).await, ["An idea from T0HOME"]);
        assert!(app.fake.calls_to("reactions.add").len() == 1, "only the home's capture is acknowledged");
    }
}

on_both_backends! {
    async fn a_workspace_never_installed_is_acknowledged_and_dropped(db: TestDb) {
        let app = two_workspaces(db).await;
        let stranger = an_idea("T0STRANGER", "C0STRANGER", "1700000000.000600");
        circle::deliver(&app, &stranger).await;
        assert!(app.fake.calls_to("reactions.add").is_empty());
        let rows = app.store.list_inbox(None, 10).await.unwrap();
        assert!(rows.iter().all(|row| row.team_id != "T0STRANGER" || row.state == circlet::inbox::InboxState::Done));
        assert!(
            !app.store.reads().tag_in_use(team("T0STRANGER"), "idea").await.unwrap(),
            "nothing captured for it"
        );
    }
}

on_both_backends! {
    async fn product_users_are_set_from_slack_by_the_product_team(db: TestDb) {
        let app = TestApp::builder(db).env("CIRCLET_PRODUCT_USERS", "U0PM").start().await;
        let asked = feedback(&app, "U0NEW", "report").await;
        assert_eq!(asked, circlet::domain::reports::REFUSAL);
        let customer = feedback(&app, "U0NEW", "settings product-users <@U0NEW|new>").await;
        assert!(customer.starts_with("Sorry"), "{customer}");

        let set = feedback(&app, "U0PM", "settings product-users <@U0NEW|new> <@U0PM|pm>").await;
        assert!(set.contains("<@U0NEW> <@U0PM>"), "{set}");
        assert_ne!(feedback(&app, "U0NEW", "report").await, circlet::domain::reports::REFUSAL);
        let shown = feedback(&app, "U0NEW", "settings").await;
        assert!(shown.contains("<@U0NEW> <@U0PM>") && shown.contains("not set"), "{shown}");

        let wrong = feedback(&app, "U0PM", "settings product-users ana").await;
        assert!(wrong.contains("is not a member"), "{wrong}");
        let help = app
            .sender
            .command(&[("team_id", circle::TEAM), ("user_id", "U0PM"), ("command", "/feedback"), ("text", "help")])
            .await
            .unwrap();
        assert!(help.body.contains("/feedback settings"), "{}", help.body);
    }
}

on_both_backends! {
    async fn the_digest_channel_is_set_from_slack(db: TestDb) {
        let app = TestApp::builder(db).env("CIRCLET_PRODUCT_USERS", "U0PM").start().await;
        circle::make_circle(&app, circle::CIRCLE).await;
        let set = feedback(&app, "U0PM", "digest channel <#C0DIGEST|product>").await;
        assert!(set.contains("<#C0DIGEST>"), "{set}");
        let refused = feedback(&app, "U0MAYA", "digest channel <#C0ELSE|else>").await;
        assert!(refused.starts_with("Sorry"), "{refused}");
        let settings = app.store.workspaces().settings(team(circle::TEAM)).await.unwrap();
        assert_eq!(settings.digest_channel.as_ref().map(|c| c.as_str()), Some("C0DIGEST"));
        assert!(feedback(&app, "U0PM", "settings").await.contains("<#C0DIGEST>"));

        // The week that last ended goes out there.
        app.services.digest_scheduler().run_due().await.unwrap();
        app.worker.drain().await.unwrap();
        let posted: Vec<String> = app
            .fake
            .calls_to("chat.postMessage")
            .iter()
            .map(|call| call.params["channel"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(posted.iter().any(|channel| channel == "C0DIGEST"), "{posted:?}");
    }
}

#[test]
fn the_test_key_is_a_key() {
    assert!(TokenCipher::from_key_text(KEY).is_ok());
    assert!(TeamId::parse(HOME).is_ok() && TeamId::parse(SOURCE).is_ok());
}

on_both_backends! {
    async fn the_workspaces_command_lists_links_unlinks_and_removes(db: TestDb) {
        use crate::cli::{circlet, stderr, stdout};
        let store = db.store().await;
        install(&store, HOME, "xoxb-home-token", HOME_PM).await;
        install(&store, SOURCE, "xoxb-source-token", SOURCE_PM).await;
        make_circle_in(&store, SOURCE, SOURCE_CIRCLE).await;
        store.close().await;
        let env = [("DATABASE_URL", db.url.as_str())];

        let listed = circlet(&["workspaces", "list"], &env);
        assert!(listed.status.success(), "{}", stderr(&listed));
        let text = stdout(&listed);
        assert!(text.contains("T0HOME") && text.contains("T0SOURCE") && text.contains("active"), "{text}");
        assert!(!text.contains("xoxb") && !text.contains("v1:"), "no token, sealed or not: {text}");

        let linked = circlet(&["workspaces", "link", SOURCE, "--to", HOME], &env);
        assert!(linked.status.success(), "{}", stderr(&linked));
        assert!(stdout(&circlet(&["workspaces", "list"], &env)).contains(HOME));
        let backwards = circlet(&["workspaces", "link", HOME, "--to", SOURCE], &env);
        assert!(!backwards.status.success());
        let err = stderr(&backwards);
        let said: Vec<&str> = err.lines().filter(|line| line.starts_with("circlet:")).collect();
        assert_eq!(said, ["circlet: T0HOME is the home of T0SOURCE: unlink those first"], "{err}");
        let unknown = circlet(&["workspaces", "link", "T0NOBODY", "--to", HOME], &env);
        assert!(stderr(&unknown).contains("T0NOBODY is not an installed workspace"), "{}", stderr(&unknown));

        let unlinked = circlet(&["workspaces", "unlink", SOURCE], &env);
        assert!(stdout(&unlinked).contains("unlinked T0SOURCE"), "{}", stdout(&unlinked));

        let removed = circlet(&["workspaces", "remove", SOURCE], &env);
        assert!(removed.status.success(), "{}", stderr(&removed));
        assert!(stdout(&removed).contains("removed T0SOURCE"));
        assert_eq!(crate::workspace_store::rows_naming(&db, SOURCE).await, Vec::<String>::new());
        assert!(!crate::workspace_store::rows_naming(&db, HOME).await.is_empty());
    }
}

on_both_backends! {
    async fn tokens_revoked_stops_a_workspace_only_when_it_names_the_bot(db: TestDb) {
        let app = two_workspaces(db).await;
        let revoked = |event_id: &str, tokens: Value| {
            in_team(
                json!({
                    "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_100,
                    "event": {"type": "tokens_revoked", "tokens": tokens, "event_ts": "1700000100.000100"}
                }),
                SOURCE,
            )
        };
        // A member's own token: the bot goes on.
        circle::deliver(&app, &[revoked("EvUserRevoked", json!({"oauth": ["U0MAYA"], "bot": []}))]).await;
        let stored = app.store.workspaces().installation(team(SOURCE)).await.unwrap().unwrap();
        assert!(stored.is_active());
        // The bot's: the workspace stops.
        circle::deliver(&app, &[revoked("EvBotRevoked", json!({"bot": ["UCIRCLET"]}))]).await;
        let stored = app.store.workspaces().installation(team(SOURCE)).await.unwrap().unwrap();
        assert!(!stored.is_active());
        let late = an_idea(SOURCE, SOURCE_CIRCLE, "1700000000.000700");
        circle::send(&app, &late).await;
        let id = late[0]["event_id"].as_str().unwrap();
        assert!(app.store.find_inbox_by_event_id(id).await.unwrap().is_none(), "nothing stored after");
    }
}

on_both_backends! {
    async fn a_key_that_opens_no_stored_token_stops_start_up_naming_it(db: TestDb) {
        let store = db.store().await;
        install(&store, HOME, "xoxb-home-token", HOME_PM).await;
        store.close().await;
        let other_key = TokenCipher::generate_key_text();
        let env = [
            ("SLACK_SIGNING_SECRET", "secret"),
            ("DATABASE_URL", db.url.as_str()),
            ("CIRCLET_BIND", "127.0.0.1:0"),
            ("SLACK_CLIENT_ID", "1111.2222"),
            ("SLACK_CLIENT_SECRET", "client-secret"),
            ("CIRCLET_PUBLIC_URL", "https://circlet.example.com"),
            ("CIRCLET_ENCRYPTION_KEY", other_key.as_str()),
        ];
        let config = circlet::config::Config::from_sources(None, |key| {
            env.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        let Err(err) = circlet::app::App::build(config).await else {
            panic!("started with a key that opens no stored token");
        };
        let said = err.to_string();
        assert!(said.starts_with("CIRCLET_ENCRYPTION_KEY does not open the stored tokens of 1 installation"), "{said}");
        assert!(!said.contains(&other_key) && !said.contains(KEY), "{said}");
    }
}

on_both_backends! {
    async fn socket_mode_serves_each_installation_as_http_does(db: TestDb) {
        use circlet_testkit::fake_socket_mode::{envelope_id, events_api, slash_commands};
        let app = two_workspaces_over(db, true).await;
        let socket = app.socket.as_ref().unwrap();
        assert_eq!(socket.wait_for_open_connections(2, std::time::Duration::from_secs(10)).await, 2);
        let mut events = an_idea(HOME, HOME_CIRCLE, "1700000000.000100");
        events.extend(an_idea("T0STRANGER", "C0STRANGER", "1700000000.000600"));
        let envelopes: Vec<Value> = events.into_iter().map(events_api).collect();
        for envelope in &envelopes {
            socket.send(envelope.clone()).unwrap();
        }
        let acks = socket.wait_for_acks(envelopes.len(), std::time::Duration::from_secs(10)).await;
        for envelope in &envelopes {
            assert!(acks.iter().any(|ack| ack.envelope_id == envelope_id(envelope)), "every envelope is acked");
        }
        app.worker.drain().await.unwrap();
        let rows = app.store.list_inbox(None, 10).await.unwrap();
        assert!(
            rows.iter().all(|row| row.team_id == HOME || row.state == circlet::inbox::InboxState::Done),
            "a stranger's envelopes are acked and come to nothing"
        );
        assert!(!app.store.reads().tag_in_use(team("T0STRANGER"), "idea").await.unwrap());
        assert_eq!(api_texts(&app, HOME).await, ["An idea from T0HOME"]);
        let acknowledged = app.fake.calls_to("reactions.add");
        assert_eq!(acknowledged.len(), 1);
        assert_eq!(acknowledged[0].token.as_deref(), Some("xoxb-home-token"), "the home's own token");

        // Uninstalled over the socket, a workspace is refused at once in the ack.
        let uninstalled = events_api(in_team(
            json!({
                "type": "event_callback", "event_id": "EvGone", "event_time": 1_700_000_100,
                "event": {"type": "app_uninstalled", "event_ts": "1700000100.000100"}
            }),
            SOURCE,
        ));
        socket.send(uninstalled).unwrap();
        socket.wait_for_acks(envelopes.len() + 1, std::time::Duration::from_secs(10)).await;
        app.worker.drain().await.unwrap();
        let late = slash_commands(&[
            ("team_id", SOURCE), ("user_id", SOURCE_PM), ("command", "/feedback"), ("text", "report"),
            ("trigger_id", "1.2.late"), ("response_url", "https://hooks.slack.com/commands/x"),
        ]);
        socket.send(late.clone()).unwrap();
        let acks = socket.wait_for_acks(envelopes.len() + 2, std::time::Duration::from_secs(10)).await;
        let answer = acks.iter().find(|ack| ack.envelope_id == envelope_id(&late)).expect("acked");
        assert_eq!(answer.payload.as_ref().unwrap()["text"], REFUSAL);
    }
}
