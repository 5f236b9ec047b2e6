//! Installations' tokens (issue 23): never stored in clear, and rotating ones refreshed before
//! they expire, the new pair stored and used at once, a failing refresh shown in `/readyz` and
//! `/metrics`, and a replica that loses a refresh race taking the winner's pair.

use std::time::Duration;

use circlet::clock::{Clock, SystemClock};
use circlet::domain::install::Installs;
use circlet::domain::install::rotation::{RefreshOutcome, RefreshRound};
use circlet_testkit::fake_slack::Grant;
use serde_json::Value;

use crate::helpers::circle::send;
use crate::helpers::install::{
    CLIENT_ID, CLIENT_SECRET, cipher, come_back_at, idea_in, install, installation, make_circle_in,
    multi_workspace, start, stored_token, web_api_calls,
};
use crate::helpers::metrics::sample;
use crate::helpers::{Backend, TestApp, TestDb, eventually};
use crate::on_both_backends;
use crate::workspace_store::rows_naming;

const GLOW: &str = "T0GLOW";
const LUMA: &str = "T0LUMA";
/// Within the two hours before expiry in which a token is refreshed.
const SOON: u64 = 3_600;
/// A fresh rotating token's lifetime.
const TWELVE_HOURS: u64 = 43_200;

fn installs(app: &TestApp) -> &Installs {
    app.services.installs.as_deref().expect("multi-workspace mode")
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let (status, body) = app.get("/readyz").await;
    (status, serde_json::from_str(&body).unwrap())
}

on_both_backends! {
    async fn tokens_and_the_client_secret_are_never_stored_in_clear(db: TestDb) {
        let mut app = start(multi_workspace(db)).await;
        let secrets = [
            "xoxe.xoxb-glow-clear-first",
            "xoxe-1-refresh-clear-first",
            "xoxe.xoxb-glow-clear-second",
            "xoxe-1-refresh-clear-second",
            "xoxb-luma-clear",
            CLIENT_SECRET,
        ];
        install(&app, "code-glow", Grant::workspace(GLOW, secrets[0]).rotating(secrets[1], SOON)).await;
        install(&app, "code-luma", Grant::workspace(LUMA, secrets[4])).await;
        app.fake.grant_refresh(secrets[1], secrets[2], secrets[3], TWELVE_HOURS);
        assert_eq!(installs(&app).refresh_due().await.unwrap().refreshed, 1);
        assert_eq!(stored_token(&app, GLOW).await, secrets[2]);

        for secret in secrets {
            assert_eq!(rows_naming(&app.db, secret).await, Vec::<String>::new(), "{secret} in a text column");
        }
        if app.db.backend == Backend::Sqlite {
            let path = app.db.url.trim_start_matches("sqlite://").to_owned();
            let files = [path.clone(), format!("{path}-wal")];
            let scan = |when: &str| {
                for file in &files {
                    let bytes = std::fs::read(file).unwrap_or_default();
                    for secret in secrets {
                        assert!(
                            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                            "{secret} in {file} {when}"
                        );
                    }
                }
            };
            scan("before a checkpoint");
            app.store.maintain().await.unwrap();
            scan("after a checkpoint");
            app.stop().await;
            assert!(std::fs::metadata(&path).unwrap().len() > 0);
            scan("after closing");
        }
    }
}

on_both_backends! {
    async fn a_token_near_expiry_is_refreshed_and_the_new_one_used(db: TestDb) {
        let app = start(multi_workspace(db)).await;
        install(&app, "code-glow", Grant::workspace(GLOW, "xoxe.xoxb-glow-1").rotating("xoxe-1-glow-r1", SOON)).await;
        install(&app, "code-luma", Grant::workspace(LUMA, "xoxe.xoxb-luma-1").rotating("xoxe-1-luma-r1", TWELVE_HOURS)).await;
        let before = installation(&app, GLOW).await.unwrap();
        let now = SystemClock.now_millis();
        assert!(before.token_expires_at.unwrap().abs_diff(now + 3_600_000) < 60_000, "{before:?}");
        app.fake.grant_refresh("xoxe-1-glow-r1", "xoxe.xoxb-glow-2", "xoxe-1-glow-r2", TWELVE_HOURS);

        let round = installs(&app).refresh_due().await.unwrap();
        assert_eq!(round, RefreshRound { refreshed: 1, superseded: 0, failed: 0 }, "only the token expiring soon");
        let refresh = app.fake.calls_to("oauth.v2.access").pop().unwrap();
        assert_eq!(refresh.params["grant_type"], "refresh_token");
        assert_eq!(refresh.params["refresh_token"], "xoxe-1-glow-r1");
        assert_eq!((refresh.params["client_id"].as_str(), refresh.params["client_secret"].as_str()), (Some(CLIENT_ID), Some(CLIENT_SECRET)));

        let after = installation(&app, GLOW).await.unwrap();
        assert_eq!(stored_token(&app, GLOW).await, "xoxe.xoxb-glow-2");
        let refresh_token = cipher().open(GLOW, after.refresh_token.as_deref().unwrap()).unwrap();
        assert_eq!(refresh_token.expose(), "xoxe-1-glow-r2");
        assert!(after.token_expires_at.unwrap() >= now + 43_000_000, "{after:?}");
        assert_eq!(installs(&app).refresh_due().await.unwrap(), RefreshRound::default(), "nothing due now");

        // The new token is the one used, at once.
        make_circle_in(&app, GLOW, "C0GLOW").await;
        send(&app, &[idea_in(&app, GLOW, "C0GLOW", "1700000000.000100", "U0GLOWMAYA")]).await;
        app.worker.drain().await.unwrap();
        let calls = web_api_calls(&app);
        assert!(calls.iter().any(|c| c.method == "reactions.add"), "{calls:?}");
        assert!(calls.iter().all(|c| c.token.as_deref() == Some("xoxe.xoxb-glow-2")), "{calls:?}");
        let metrics = app.metrics().await;
        assert_eq!(sample(&metrics, "circlet_token_refreshes_total{result=\"refreshed\"}"), Some(1), "{metrics}");
    }
}

#[tokio::test]
async fn a_refresh_that_keeps_failing_is_listed_in_readyz_and_counted() {
    let app = start(multi_workspace(TestDb::sqlite())).await;
    install(
        &app,
        "code-glow",
        Grant::workspace(GLOW, "xoxe.xoxb-glow-1").rotating("xoxe-1-glow-r1", SOON),
    )
    .await;
    // Slack does not know the refresh token: it refuses, every time.
    for _ in 0..2 {
        assert_eq!(installs(&app).refresh_due().await.unwrap().failed, 1);
    }
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "the other workspaces are still served: {body}");
    let failing = &body["token_refresh_failing"];
    assert_eq!(failing.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(failing[0]["team"], GLOW);
    assert_eq!(failing[0]["error"], "invalid_refresh_token");
    assert_eq!(failing[0]["attempts"], 2);
    assert!(failing[0]["token_expires_at"].is_string(), "{body}");
    let metrics = app.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "circlet_token_refreshes_total{result=\"invalid_refresh_token\"}"
        ),
        Some(2),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "circlet_token_refresh_failing"),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        stored_token(&app, GLOW).await,
        "xoxe.xoxb-glow-1",
        "nothing replaced"
    );

    // Slack recovers.
    app.fake.grant_refresh(
        "xoxe-1-glow-r1",
        "xoxe.xoxb-glow-2",
        "xoxe-1-glow-r2",
        TWELVE_HOURS,
    );
    assert_eq!(installs(&app).refresh_due().await.unwrap().refreshed, 1);
    let (status, body) = readyz(&app).await;
    assert_eq!((status, body.get("token_refresh_failing")), (200, None), "{body}");
    assert_eq!(
        sample(&app.metrics().await, "circlet_token_refresh_failing"),
        Some(0)
    );
}

on_both_backends! {
    async fn a_replica_that_loses_a_refresh_race_takes_the_winners_tokens(db: TestDb) {
        let first = start(multi_workspace(db.handle())).await;
        install(&first, "code-glow", Grant::workspace(GLOW, "xoxe.xoxb-glow-1").rotating("xoxe-1-glow-r1", SOON)).await;
        // A second replica on the same database and the same Slack.
        let second = multi_workspace(db).env("SLACK_API_URL", &first.fake.api_url()).start().await;
        let as_read = installation(&second, GLOW).await.unwrap();
        first.fake.grant_refresh("xoxe-1-glow-r1", "xoxe.xoxb-glow-2", "xoxe-1-glow-r2", TWELVE_HOURS);

        assert_eq!(installs(&first).refresh_due().await.unwrap().refreshed, 1);
        // The second refreshes what it read before: Slack refuses the spent refresh token.
        assert_eq!(installs(&second).refresh(&as_read).await, RefreshOutcome::Superseded);
        assert!(installs(&second).failing_refreshes().is_empty());
        let glow = second.services.workspaces.get(crate::helpers::ids::team(GLOW)).await.unwrap();
        glow.bot().identity().await.unwrap();
        let auth = first.fake.calls_to("auth.test").pop().unwrap();
        assert_eq!(auth.token.as_deref(), Some("xoxe.xoxb-glow-2"), "the second serves the winner's token");
        assert_eq!(stored_token(&second, GLOW).await, "xoxe.xoxb-glow-2");
    }
}

#[tokio::test]
async fn serve_refreshes_tokens_on_its_own() {
    let app = start(multi_workspace(TestDb::sqlite()).token_refresh_every(Duration::from_millis(50))).await;
    app.fake.grant_refresh(
        "xoxe-1-glow-r1",
        "xoxe.xoxb-glow-2",
        "xoxe-1-glow-r2",
        TWELVE_HOURS,
    );
    install(
        &app,
        "code-glow",
        Grant::workspace(GLOW, "xoxe.xoxb-glow-1").rotating("xoxe-1-glow-r1", SOON),
    )
    .await;
    eventually(Duration::from_secs(5), || async {
        installation(&app, GLOW)
            .await
            .and_then(|i| i.refresh_token)
            .and_then(|sealed| cipher().open(GLOW, &sealed).ok())
            .is_some_and(|token| token.expose() == "xoxe-1-glow-r2")
    })
    .await;
    assert_eq!(stored_token(&app, GLOW).await, "xoxe.xoxb-glow-2");
}

/// The real binary at `trace`, every crate: installing (a refused code, then a rotating grant)
/// and serving an event with the installation's token log none of the tokens, the client
/// secret, the key, the code or the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_install_never_logs_tokens_the_client_secret_or_the_key() {
    const BOT_TOKEN: &str = "xoxe.xoxb-7-glowT0kenValue3b9d";
    const REFRESH: &str = "xoxe-1-glowRefreshValue8c2a";
    const CODE: &str = "code-glow-5e0a77f1";
    let db = TestDb::sqlite();
    let store = db.store().await;
    let change = circlet::store::CircleChange {
        team_id: crate::helpers::ids::team(GLOW),
        channel_id: crate::helpers::ids::channel("C0GLOW"),
        active: true,
        changed_by: None,
        at: 0,
    };
    store.set_circle(&change).await.unwrap();
    store.close().await;
    let fake = circlet_testkit::fake_slack::FakeSlack::start().await.unwrap();
    fake.set_oauth_app(CLIENT_ID, CLIENT_SECRET, crate::helpers::install::REDIRECT_URI);
    fake.grant_code(
        CODE,
        Grant::workspace(GLOW, BOT_TOKEN).rotating(REFRESH, TWELVE_HOURS),
    );
    fake.refuse_code("code-refused", "invalid_code");
    let api_url = fake.api_url();
    let mut serve = crate::helpers::serve::Serve::start(
        &db.url,
        &[
            ("SLACK_API_URL", &api_url),
            ("SLACK_CLIENT_ID", CLIENT_ID),
            ("SLACK_CLIENT_SECRET", CLIENT_SECRET),
            ("CIRCLET_PUBLIC_URL", crate::helpers::install::PUBLIC_URL),
            ("CIRCLET_ENCRYPTION_KEY", crate::helpers::install::KEY),
            ("RUST_LOG", "trace"),
        ],
    );
    let (base, mut states) = (serve.base_url.clone(), Vec::new());
    let refused = crate::helpers::install::begin_at(&base).await.state;
    let reply = come_back_at(
        &base,
        &[("code", "code-refused"), ("state", &refused)],
        Some(&refused),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let state = crate::helpers::install::begin_at(&base).await.state;
    let reply = come_back_at(&base, &[("code", CODE), ("state", &state)], Some(&state)).await;
    assert_eq!(reply.status, 302, "{reply:?}");
    states.extend([refused, state]);

    let ts = "1700000000.000100";
    fake.seed_message(
        "C0GLOW",
        serde_json::json!({"ts": ts, "user": "U0GLOWAUTHOR", "text": "Idea"}),
    );
    let mut event =
        crate::helpers::circle::reaction(true, "U0GLOWMAYA", "bulb", "C0GLOW", ts, "U0GLOWAUTHOR", 1);
    event["team_id"] = serde_json::json!(GLOW);
    assert_eq!(serve.sender().event(&event).await.unwrap().status, 200);
    let acks = fake
        .wait_for_calls("reactions.add", 1, Duration::from_secs(20))
        .await;
    assert_eq!(
        acks.first().and_then(|c| c.token.as_deref()),
        Some(BOT_TOKEN),
        "served with its token"
    );
    assert!(serve.terminate().success());

    let logs = serve.logs();
    assert!(logs.contains("\"level\":\"TRACE\""), "trace logging was on");
    assert!(
        logs.contains("\"message\":\"installed\""),
        "the install was logged"
    );
    assert!(logs.contains("invalid_code"), "the refused code was logged");
    let secrets = [
        BOT_TOKEN,
        "glowT0kenValue3b9d",
        REFRESH,
        CLIENT_SECRET,
        crate::helpers::install::KEY,
        CODE,
    ];
    for secret in secrets.iter().copied().chain(states.iter().map(String::as_str)) {
        assert!(!logs.contains(secret), "the logs show {secret:?}");
    }
}
