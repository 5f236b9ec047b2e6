//! Multi-workspace mode in tests: an app with "Add to Slack" settings, a browser that follows
//! the install by hand (no automatic redirects, the state cookie sent back explicitly), and
//! signed events for an installed workspace.

use circlet::ids::TeamId;
use circlet::store::{CircleChange, Installation, MessageRef};
use circlet::token_cipher::TokenCipher;
use circlet_testkit::fake_slack::{Grant, RecordedCall};
use reqwest::Url;
use serde_json::{Value, json};

use super::app::TestAppBuilder;
use super::{TestApp, TestDb};

pub const CLIENT_ID: &str = "1234.5678";
pub const CLIENT_SECRET: &str = "client-secret-9f8e7d6c";
pub const PUBLIC_URL: &str = "https://circlet.example.com";
pub const REDIRECT_URI: &str = "https://circlet.example.com/slack/oauth_redirect";
pub const KEY: &str = "5f1c0ffee0ddba11deadbeefcafef00d5f1c0ffee0ddba11deadbeefcafef00d";

/// An app in multi-workspace mode (no `SLACK_BOT_TOKEN`).
pub fn multi_workspace(db: TestDb) -> TestAppBuilder {
    TestApp::builder(db)
        .without_bot_token()
        .env("SLACK_CLIENT_ID", CLIENT_ID)
        .env("SLACK_CLIENT_SECRET", CLIENT_SECRET)
        .env("CIRCLET_PUBLIC_URL", PUBLIC_URL)
        .env("CIRCLET_ENCRYPTION_KEY", KEY)
}

/// Starts `builder`; the fake Slack then checks the app's credentials and redirect URI.
pub async fn start(builder: TestAppBuilder) -> TestApp {
    let app = builder.start().await;
    app.fake.set_oauth_app(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    app
}

pub fn cipher() -> TokenCipher {
    TokenCipher::from_key_text(KEY).unwrap()
}

/// What Circlet answered the browser.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub location: Option<Url>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub body: String,
}

/// An install started: the state, the consent URL and the cookie that came with it.
pub struct Begun {
    pub state: String,
    pub authorize: Url,
    pub set_cookie: String,
}

fn browser() -> reqwest::Client {
    circlet::telemetry::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(base_url: &str, path_and_query: &str, cookie: Option<&str>) -> Reply {
    let mut request = browser().get(format!("{base_url}{path_and_query}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers();
    let location = headers
        .get("location")
        .map(|l| Url::parse(l.to_str().unwrap()).unwrap());
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let content_type = headers
        .get("content-type")
        .map(|c| c.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        location,
        set_cookies,
        content_type,
        body: response.text().await.unwrap(),
    }
}

/// `GET /slack/install`.
pub async fn begin(app: &TestApp) -> Begun {
    begin_at(&app.base_url).await
}

/// `GET /slack/install` of the Circlet at `base_url`.
pub async fn begin_at(base_url: &str) -> Begun {
    let reply = get(base_url, "/slack/install", None).await;
    assert_eq!(reply.status, 302, "{reply:?}");
    let authorize = reply.location.clone().expect("a Location");
    let state = query(&authorize, "state").expect("a state");
    assert_eq!(reply.set_cookies.len(), 1, "{reply:?}");
    Begun {
        state,
        authorize,
        set_cookie: reply.set_cookies[0].clone(),
    }
}

/// `GET /slack/oauth_redirect?<query>` with the state cookie `cookie` (its value), if any.
pub async fn come_back(app: &TestApp, query: &[(&str, &str)], cookie: Option<&str>) -> Reply {
    come_back_at(&app.base_url, query, cookie).await
}

/// [`come_back`] to the Circlet at `base_url`.
pub async fn come_back_at(base_url: &str, query: &[(&str, &str)], cookie: Option<&str>) -> Reply {
    let query = serde_urlencoded::to_string(query).unwrap();
    let cookie = cookie.map(|value| format!("circlet_oauth_state={value}"));
    get(
        base_url,
        &format!("/slack/oauth_redirect?{query}"),
        cookie.as_deref(),
    )
    .await
}

/// The whole install of `grant` through `code`, as a browser does it; asserts it succeeded.
pub async fn install(app: &TestApp, code: &str, grant: Grant) -> Reply {
    app.fake.grant_code(code, grant);
    let begun = begin(app).await;
    let reply = come_back(
        app,
        &[("code", code), ("state", &begun.state)],
        Some(&begun.state),
    )
    .await;
    assert_eq!(reply.status, 302, "{reply:?}");
    reply
}

pub fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub async fn installation(app: &TestApp, team: &str) -> Option<Installation> {
    let team = TeamId::parse(team).unwrap();
    app.store.workspaces().installation(&team).await.unwrap()
}

/// The bot token stored for `team`, opened.
pub async fn stored_token(app: &TestApp, team: &str) -> String {
    let stored = installation(app, team).await.expect("installed");
    cipher()
        .open(team, &stored.bot_token)
        .unwrap()
        .expose()
        .to_owned()
}

pub async fn make_circle_in(app: &TestApp, team: &str, channel: &str) {
    let change = CircleChange {
        team_id: crate::helpers::ids::team(team),
        channel_id: crate::helpers::ids::channel(channel),
        active: true,
        changed_by: Some(crate::helpers::ids::user("U0CM")),
        at: 0,
    };
    app.store.set_circle(&change).await.unwrap();
}

/// A member of `team` tagging the message `ts` of `channel` with :bulb:, as Slack delivers it
/// to that installation. The message is on the fake Slack, not cached: capture reads it.
pub fn idea_in(app: &TestApp, team: &str, channel: &str, ts: &str, member: &str) -> Value {
    let author = format!("{member}AUTHOR");
    app.fake.seed_message(
        channel,
        json!({"ts": ts, "user": author, "text": format!("An idea from {team}")}),
    );
    let mut event = crate::helpers::circle::reaction(true, member, "bulb", channel, ts, &author, 1);
    event["team_id"] = json!(team);
    event["event_id"] = json!(format!("Ev{team}{channel}{ts}"));
    event["authorizations"] =
        json!([{"team_id": team, "enterprise_id": null, "is_enterprise_install": false, "is_bot": true}]);
    event
}

/// Whether `team` has an insight for the message `ts` of `channel`.
pub async fn captured_in(app: &TestApp, team: &str, channel: &str, ts: &str) -> bool {
    let mut tx = app.store.begin().await.unwrap();
    let at = MessageRef {
        team_id: crate::helpers::ids::team(team),
        channel_id: crate::helpers::ids::channel(channel),
        ts,
    };
    tx.insight_by_message(at).await.unwrap().is_some()
}

/// The Web API calls made so far (not the installs' `oauth.v2.access`).
pub fn web_api_calls(app: &TestApp) -> Vec<RecordedCall> {
    app.fake
        .calls()
        .into_iter()
        .filter(|call| !["oauth.v2.access", "response_url", "upload"].contains(&call.method.as_str()))
        .collect()
}
