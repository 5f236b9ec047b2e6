//! manifest.yaml must agree with what the binary serves: request URLs with routes, bot events
//! with the events ingress accepts, the shortcut and the command with what the app handles.

use circlet::ingress::{COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH, SUBSCRIBED_EVENTS};
use serde_yaml_ng::Value;

use crate::helpers::{TestApp, TestDb};

fn manifest() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.yaml"))
        .expect("manifest.yaml");
    serde_yaml_ng::from_str(&text).expect("manifest.yaml is YAML")
}

fn path_of(url: &Value) -> String {
    let url = reqwest::Url::parse(url.as_str().expect("URL string")).expect("absolute URL");
    assert_eq!(url.scheme(), "https", "Slack requires HTTPS request URLs");
    url.path().to_owned()
}

/// `message.channels` and `message.groups` both arrive as `message` events.
fn event_type(subscription: &str) -> &str {
    subscription.split('.').next().unwrap_or(subscription)
}

#[test]
fn request_urls_point_at_the_routes_the_app_serves() {
    let manifest = manifest();
    assert_eq!(
        path_of(&manifest["settings"]["event_subscriptions"]["request_url"]),
        EVENTS_PATH
    );
    assert_eq!(
        path_of(&manifest["settings"]["interactivity"]["request_url"]),
        INTERACTIONS_PATH
    );
    let commands = manifest["features"]["slash_commands"].as_sequence().unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["command"].as_str(), Some("/feedback"));
    assert_eq!(path_of(&commands[0]["url"]), COMMANDS_PATH);
}

#[test]
fn bot_events_are_exactly_the_events_ingress_accepts() {
    let manifest = manifest();
    let mut subscribed: Vec<&str> = manifest["settings"]["event_subscriptions"]["bot_events"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| event_type(e.as_str().unwrap()))
        .collect();
    subscribed.sort_unstable();
    subscribed.dedup();
    let mut accepted = SUBSCRIBED_EVENTS.to_vec();
    accepted.sort_unstable();
    assert_eq!(subscribed, accepted);
}

#[test]
fn the_capture_shortcut_and_app_home_are_declared_within_slacks_limits() {
    let manifest = manifest();
    let shortcut = &manifest["features"]["shortcuts"][0];
    assert_eq!(shortcut["callback_id"].as_str(), Some("capture_feedback"));
    assert_eq!(shortcut["name"].as_str(), Some("Capture feedback"));
    assert_eq!(shortcut["type"].as_str(), Some("message"));
    assert!(shortcut["name"].as_str().unwrap().len() <= 24);
    assert!(manifest["display_information"]["name"].as_str().unwrap().len() <= 35);
    assert_eq!(
        manifest["features"]["app_home"]["home_tab_enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        manifest["settings"]["interactivity"]["is_enabled"].as_bool(),
        Some(true)
    );
    // Scopes the subscribed events need.
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for needed in [
        "channels:history",
        "groups:history",
        "reactions:read",
        "commands",
        "chat:write",
    ] {
        assert!(scopes.contains(&needed), "missing scope {needed}");
    }
}

#[test]
fn an_install_asks_for_exactly_the_manifests_bot_scopes() {
    let manifest = manifest();
    let mut declared: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    declared.sort_unstable();
    let mut asked = circlet::domain::install::BOT_SCOPES.to_vec();
    asked.sort_unstable();
    assert_eq!(asked, declared);
}

#[tokio::test]
async fn every_route_in_the_manifest_is_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let manifest = manifest();
    let urls = [
        &manifest["settings"]["event_subscriptions"]["request_url"],
        &manifest["settings"]["interactivity"]["request_url"],
        &manifest["features"]["slash_commands"][0]["url"],
    ];
    for url in urls {
        let path = path_of(url);
        let status = app
            .http
            .post(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 401, "{path} is routed and refuses an unsigned request");
    }
}
