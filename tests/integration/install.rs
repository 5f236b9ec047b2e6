//! "Add to Slack" (issue 23) through the real endpoints, against the fake Slack: the install's
//! redirects and state cookie, what is stored, that the installed workspace is served at once
//! with its own token, and every way a redirect back is refused.

use circlet::clock::{Clock, ManualClock, SystemClock};
use circlet::domain::install::BOT_SCOPES;
use circlet::inbox::TeamGate;
use circlet::token_cipher::TokenCipher;
use circlet_testkit::fake_slack::{Fault, Grant};
use sha2::{Digest, Sha256};

use crate::helpers::circle::send;
use crate::helpers::install::{
    CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, begin, captured_in, come_back, idea_in, install, installation,
    make_circle_in, multi_workspace, query, start, stored_token, web_api_calls,
};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;
use crate::workspace_store::rows_naming;

const GLOW: &str = "T0GLOW";
const LUMA: &str = "T0LUMA";

on_both_backends! {
    async fn an_install_round_trip_stores_the_workspace_and_serves_it_with_its_own_token(db: TestDb) {
        let app = start(multi_workspace(db)).await;
        app.fake.grant_code("code-glow", Grant::workspace(GLOW, "xoxb-glow-1"));

        let begun = begin(&app).await;
        let authorize = &begun.authorize;
        assert_eq!(
            (authorize.scheme(), authorize.host_str(), authorize.path()),
            ("https", Some("slack.com"), "/oauth/v2/authorize")
        );
        assert_eq!(query(authorize, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(query(authorize, "scope"), Some(BOT_SCOPES.join(",")));
        assert_eq!(query(authorize, "redirect_uri").as_deref(), Some(REDIRECT_URI));
        let state = &begun.state;
        assert!(state.len() >= 22, "at least 128 bits: {state}");
        assert!(state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{state}");
        assert_eq!(
            begun.set_cookie,
            format!("circlet_oauth_state={state}; Path=/slack; Max-Age=600; HttpOnly; SameSite=Lax; Secure")
        );
        assert_ne!(begin(&app).await.state, *state, "every install gets its own state");
        // Only the state's hash is kept.
        assert_eq!(rows_naming(&app.db, state).await, Vec::<String>::new());
        let hash = hex::encode(Sha256::digest(state.as_bytes()));
        assert_eq!(rows_naming(&app.db, &hash).await, ["oauth_states.state_hash"]);

        let reply = come_back(&app, &[("code", "code-glow"), ("state", state)], Some(state)).await;
        assert_eq!(reply.status, 302, "{reply:?}");
        assert_eq!(
            reply.location.as_ref().map(|l| l.as_str()),
            Some("https://slack.com/app_redirect?app=A0CIRCLET&team=T0GLOW")
        );
        assert!(reply.set_cookies.iter().any(|c| c.starts_with("circlet_oauth_state=;") && c.contains("Max-Age=0")),
            "the cookie is cleared: {:?}", reply.set_cookies);
        let exchange = app.fake.calls_to("oauth.v2.access");
        assert_eq!(exchange.len(), 1);
        assert_eq!(exchange[0].params["code"], "code-glow");
        assert_eq!(exchange[0].params["redirect_uri"], REDIRECT_URI);
        assert_eq!(exchange[0].params["client_id"], CLIENT_ID);
        assert_eq!(exchange[0].params["client_secret"], CLIENT_SECRET);

        let stored = installation(&app, GLOW).await.expect("stored");
        assert_eq!(stored.team_name.as_deref(), Some("Team T0GLOW"));
        assert_eq!((stored.enterprise_id.as_ref().map(|id| id.as_str()), stored.is_enterprise_install), (None, false));
        assert_eq!(stored.app_id, "A0CIRCLET");
        assert_eq!(stored.bot_user_id.as_str(), "U0GLOWBOT");
        assert_eq!(stored.installer_user_id.as_ref().map(|id| id.as_str()), Some("U0ADMIN"));
        assert_eq!(stored.scopes, "channels:history,chat:write,commands,reactions:read,reactions:write");
        assert!(!stored.bot_token.contains("xoxb"), "sealed");
        assert_eq!(stored_token(&app, GLOW).await, "xoxb-glow-1");
        assert_eq!((stored.refresh_token.as_deref(), stored.token_expires_at), (None, None));
        assert!(stored.is_active());

        // This process serves it at once: a signed event for it is captured with its token.
        assert_eq!(app.services.workspaces.admits_now(GLOW), Some(true));
        make_circle_in(&app, GLOW, "C0GLOW").await;
        send(&app, &[idea_in(&app, GLOW, "C0GLOW", "1700000000.000100", "U0GLOWMAYA")]).await;
        app.worker.drain().await.unwrap();
        assert!(captured_in(&app, GLOW, "C0GLOW", "1700000000.000100").await);
        let calls = web_api_calls(&app);
        for method in ["conversations.history", "reactions.add", "auth.test"] {
            assert!(calls.iter().any(|c| c.method == method), "{method} was not called: {calls:?}");
        }
        for call in &calls {
            assert_eq!(call.token.as_deref(), Some("xoxb-glow-1"), "{call:?}");
        }
    }
}

on_both_backends! {
    async fn two_installations_each_call_slack_with_their_own_token(db: TestDb) {
        let app = start(multi_workspace(db)).await;
        install(&app, "code-glow", Grant::workspace(GLOW, "xoxb-glow")).await;
        install(&app, "code-luma", Grant::workspace(LUMA, "xoxb-luma")).await;
        make_circle_in(&app, GLOW, "C0GLOW").await;
        make_circle_in(&app, LUMA, "C0LUMA").await;
        send(&app, &[
            idea_in(&app, GLOW, "C0GLOW", "1700000000.000100", "U0GLOWMAYA"),
            idea_in(&app, LUMA, "C0LUMA", "1700000000.000200", "U0LUMALEA"),
        ]).await;
        app.worker.drain().await.unwrap();
        assert!(captured_in(&app, GLOW, "C0GLOW", "1700000000.000100").await);
        assert!(captured_in(&app, LUMA, "C0LUMA", "1700000000.000200").await);

        // Each call names a channel or a member of one workspace; its token must be that one's.
        let calls = web_api_calls(&app);
        let mut attributed = 0;
        for call in &calls {
            let text = call.params.to_string();
            let token = call.token.as_deref();
            assert!(matches!(token, Some("xoxb-glow" | "xoxb-luma")), "{call:?}");
            if text.contains("C0GLOW") || text.contains("U0GLOW") {
                assert_eq!(token, Some("xoxb-glow"), "{call:?}");
                attributed += 1;
            }
            if text.contains("C0LUMA") || text.contains("U0LUMA") {
                assert_eq!(token, Some("xoxb-luma"), "{call:?}");
                attributed += 1;
            }
        }
        assert!(attributed >= 4, "{calls:?}");
        for token in ["xoxb-glow", "xoxb-luma"] {
            assert!(calls.iter().any(|c| c.method == "reactions.add" && c.token.as_deref() == Some(token)));
        }
    }
}

on_both_backends! {
    async fn installing_again_updates_the_installation_and_serves_the_new_token(db: TestDb) {
        let app = start(multi_workspace(db)).await;
        install(&app, "code-1", Grant::workspace(GLOW, "xoxb-glow-old").scope("commands")).await;
        let first = installation(&app, GLOW).await.unwrap();
        // Uninstalled meanwhile: installing again brings it back.
        app.services.workspaces.uninstalled(crate::helpers::ids::team(GLOW), SystemClock.now_millis()).await.unwrap();
        assert_eq!(app.services.workspaces.admits_now(GLOW), Some(false));

        install(&app, "code-2", Grant::workspace(GLOW, "xoxb-glow-new").scope("commands,chat:write")).await;
        let all = app.store.workspaces().installations().await.unwrap();
        assert_eq!(all.len(), 1, "one row per workspace");
        let again = &all[0];
        assert!(again.is_active());
        assert_eq!(again.scopes, "commands,chat:write");
        assert!(again.installed_at >= first.installed_at);
        assert_eq!(stored_token(&app, GLOW).await, "xoxb-glow-new");
        assert_eq!(app.services.workspaces.admits_now(GLOW), Some(true));

        make_circle_in(&app, GLOW, "C0GLOW").await;
        send(&app, &[idea_in(&app, GLOW, "C0GLOW", "1700000000.000300", "U0GLOWMAYA")]).await;
        app.worker.drain().await.unwrap();
        assert!(captured_in(&app, GLOW, "C0GLOW", "1700000000.000300").await);
        let calls = web_api_calls(&app);
        assert!(!calls.is_empty());
        assert!(calls.iter().all(|c| c.token.as_deref() == Some("xoxb-glow-new")), "{calls:?}");
    }
}

on_both_backends! {
    async fn an_org_wide_install_is_keyed_by_its_enterprise(db: TestDb) {
        let app = start(multi_workspace(db)).await;
        let reply = install(&app, "code-org", Grant::org_wide("E0ORG", "xoxb-org")).await;
        assert_eq!(
            reply.location.as_ref().map(|l| l.as_str()),
            Some("https://slack.com/app_redirect?app=A0CIRCLET&team=E0ORG")
        );
        let stored = installation(&app, "E0ORG").await.expect("keyed by the enterprise");
        assert_eq!(
            (stored.enterprise_id.as_ref().map(|id| id.as_str()), stored.is_enterprise_install, stored.team_name.as_deref()),
            (Some("E0ORG"), true, Some("Org E0ORG"))
        );
        assert_eq!(stored_token(&app, "E0ORG").await, "xoxb-org");
        assert_eq!(app.services.workspaces.admits_now("E0ORG"), Some(true));
        let org = app.services.workspaces.get(crate::helpers::ids::team("E0ORG")).await.unwrap();
        assert_eq!(org.bot().identity().await.unwrap().user_id, "U0ORGBOT");
        assert_eq!(app.fake.calls_to("auth.test")[0].token.as_deref(), Some("xoxb-org"));
    }
}

on_both_backends! {
    async fn every_bad_redirect_back_answers_400_and_stores_nothing(db: TestDb) {
        let clock = ManualClock::at_secs(SystemClock.now_secs());
        let app = start(multi_workspace(db).clock(clock.clone())).await;
        app.fake.grant_code("code-good", Grant::workspace(GLOW, "xoxb-glow"));
        app.fake.refuse_code("code-invalid", "invalid_code");
        app.fake.refuse_code("code-elsewhere", "bad_redirect_uri");
        app.fake.grant_code("code-down", Grant::workspace(GLOW, "xoxb-glow"));
        let refused = |reply: &crate::helpers::install::Reply, says: &str| {
            assert_eq!(reply.status, 400, "{reply:?}");
            assert!(reply.content_type.starts_with("text/html"), "{reply:?}");
            assert!(reply.body.contains("href=\"/slack/install\""), "{}", reply.body);
            assert!(reply.body.contains(says), "expected {says:?} in {}", reply.body);
        };

        // The installer declined: Slack sends error=, and the state is spent.
        let declined = begin(&app).await.state;
        let reply = come_back(&app, &[("error", "access_denied"), ("state", &declined)], Some(&declined)).await;
        refused(&reply, "access_denied");
        refused(&come_back(&app, &[("code", "code-good"), ("state", &declined)], Some(&declined)).await, "already used");

        let state = begin(&app).await.state;
        refused(&come_back(&app, &[("code", "code-good")], Some(&state)).await, "no state");
        refused(&come_back(&app, &[("code", "code-good"), ("state", &state)], None).await, "not started in this browser");
        refused(&come_back(&app, &[("code", "code-good"), ("state", &state)], Some("another-state")).await, "not started in this browser");
        refused(&come_back(&app, &[("state", &state)], Some(&state)).await, "no code");
        let forged = "A".repeat(43);
        refused(&come_back(&app, &[("code", "code-good"), ("state", &forged)], Some(&forged)).await, "expired or was already used");

        // Used once (Slack refused its code), a state does not work again.
        refused(&come_back(&app, &[("code", "code-invalid"), ("state", &state)], Some(&state)).await, "(invalid_code)");
        refused(&come_back(&app, &[("code", "code-good"), ("state", &state)], Some(&state)).await, "already used");

        let state = begin(&app).await.state;
        refused(&come_back(&app, &[("code", "code-elsewhere"), ("state", &state)], Some(&state)).await, "(bad_redirect_uri)");

        let state = begin(&app).await.state;
        app.fake.inject("oauth.v2.access", Fault::ServerError, 1);
        refused(&come_back(&app, &[("code", "code-down"), ("state", &state)], Some(&state)).await, "could not reach Slack");

        let state = begin(&app).await.state;
        clock.advance_millis(600_001);
        refused(&come_back(&app, &[("code", "code-good"), ("state", &state)], Some(&state)).await, "expired");

        assert!(app.store.workspaces().installations().await.unwrap().is_empty());
        assert_eq!(rows_naming(&app.db, GLOW).await, Vec::<String>::new());
        let exchanged: Vec<_> = app.fake.calls_to("oauth.v2.access").into_iter().map(|c| c.params["code"].clone()).collect();
        assert_eq!(exchanged, ["code-invalid", "code-elsewhere", "code-down"], "only states that held were exchanged");
        assert_eq!(app.services.workspaces.admits_now(GLOW), None, "not known here");
    }
}

#[tokio::test]
async fn a_cookie_is_not_secure_behind_plain_http() {
    let app =
        start(multi_workspace(TestDb::sqlite()).env("CIRCLET_PUBLIC_URL", "http://localhost:3000")).await;
    let begun = begin(&app).await;
    assert!(!begun.set_cookie.contains("Secure"), "{}", begun.set_cookie);
    assert_eq!(
        query(&begun.authorize, "redirect_uri").as_deref(),
        Some("http://localhost:3000/slack/oauth_redirect")
    );
}

#[tokio::test]
async fn single_workspace_mode_has_no_install_routes() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    for path in ["/slack/install", "/slack/oauth_redirect?code=c&state=s"] {
        assert_eq!(app.get(path).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn the_manifest_sends_installers_back_to_the_redirect_route() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yaml")).unwrap();
    let manifest: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let urls = manifest["oauth_config"]["redirect_urls"]
        .as_sequence()
        .expect("redirect_urls");
    assert_eq!(urls.len(), 1);
    let url = reqwest::Url::parse(urls[0].as_str().unwrap()).unwrap();
    assert_eq!((url.scheme(), url.path()), ("https", "/slack/oauth_redirect"));
    // The route is served in multi-workspace mode (a bare visit is refused, not missing).
    let app = start(multi_workspace(TestDb::sqlite())).await;
    assert_eq!(app.get(url.path()).await.0, 400);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("circlet_http_requests_total{route=\"/slack/oauth_redirect\",status=\"400\"} 1"),
        "{metrics}"
    );
}

#[test]
fn keygen_prints_a_key_and_how_to_use_it() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_circlet"))
            .args(args)
            .env_clear()
            // Keygen reads no settings: a broken one does not stop it.
            .env("DATABASE_URL", "mysql://nope")
            .output()
            .unwrap()
    };
    let first = run(&["keygen"]);
    assert!(first.status.success(), "{first:?}");
    let key = String::from_utf8(first.stdout).unwrap();
    assert_eq!(key.lines().count(), 1, "only the key on stdout: {key}");
    let key = key.trim();
    assert_eq!(key.len(), 64);
    assert!(TokenCipher::from_key_text(key).is_ok());
    assert!(String::from_utf8_lossy(&first.stderr).contains("CIRCLET_ENCRYPTION_KEY"));
    let second = String::from_utf8(run(&["keygen"]).stdout).unwrap();
    assert_ne!(second.trim(), key, "a new key each time");
    let help = run(&["keygen", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("Usage: circlet keygen") && help.contains("CIRCLET_ENCRYPTION_KEY"),
        "{help}"
    );
}
