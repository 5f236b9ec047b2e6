//! manifest.yaml must agree with what the binary serves: request URLs with routes, bot events
//! with the events ingress accepts, the shortcut and the command with what the app handles.
//! manifest.socket.yaml (Socket Mode) must be the same app without a single URL.

use circlet::ingress::{COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH, SUBSCRIBED_EVENTS};
use serde_yaml_ng::Value;

use crate::helpers::{TestApp, TestDb};

const HTTP_MANIFEST: &str = "manifest.yaml";
const SOCKET_MANIFEST: &str = "manifest.socket.yaml";
const MANIFESTS: [&str; 2] = [HTTP_MANIFEST, SOCKET_MANIFEST];

fn manifest(file: &str) -> Value {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"))
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
    let manifest = manifest(HTTP_MANIFEST);
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
    let mut accepted = SUBSCRIBED_EVENTS.to_vec();
    accepted.sort_unstable();
    for file in MANIFESTS {
        let manifest = manifest(file);
        let mut subscribed: Vec<&str> = manifest["settings"]["event_subscriptions"]["bot_events"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| event_type(e.as_str().unwrap()))
            .collect();
        subscribed.sort_unstable();
        subscribed.dedup();
        assert_eq!(subscribed, accepted, "{file}");
    }
}

#[test]
fn the_capture_shortcut_and_app_home_are_declared_within_slacks_limits() {
    for file in MANIFESTS {
        let manifest = manifest(file);
        let shortcut = &manifest["features"]["shortcuts"][0];
        assert_eq!(
            shortcut["callback_id"].as_str(),
            Some("capture_feedback"),
            "{file}"
        );
        assert_eq!(shortcut["name"].as_str(), Some("Capture feedback"), "{file}");
        assert_eq!(shortcut["type"].as_str(), Some("message"), "{file}");
        assert!(shortcut["name"].as_str().unwrap().len() <= 24, "{file}");
        assert!(
            manifest["display_information"]["name"].as_str().unwrap().len() <= 35,
            "{file}"
        );
        assert_eq!(
            manifest["features"]["app_home"]["home_tab_enabled"].as_bool(),
            Some(true),
            "{file}"
        );
        assert_eq!(
            manifest["settings"]["interactivity"]["is_enabled"].as_bool(),
            Some(true),
            "{file}"
        );
        let commands = manifest["features"]["slash_commands"].as_sequence().unwrap();
        assert_eq!(commands.len(), 1, "{file}");
        assert_eq!(commands[0]["command"].as_str(), Some("/feedback"), "{file}");
        // Scopes the subscribed events need.
        let scopes = bot_scopes(&manifest);
        for needed in [
            "channels:history",
            "groups:history",
            "reactions:read",
            "commands",
            "chat:write",
        ] {
            assert!(scopes.contains(&needed), "{file}: missing scope {needed}");
        }
    }
}

fn bot_scopes(manifest: &Value) -> Vec<&str> {
    let scopes = manifest["oauth_config"]["scopes"]["bot"].as_sequence().unwrap();
    let mut scopes: Vec<&str> = scopes.iter().map(|s| s.as_str().unwrap()).collect();
    scopes.sort_unstable();
    scopes
}

#[test]
fn an_install_asks_for_exactly_the_manifests_bot_scopes() {
    let mut asked = circlet::domain::install::BOT_SCOPES.to_vec();
    asked.sort_unstable();
    for file in MANIFESTS {
        assert_eq!(asked, bot_scopes(&manifest(file)), "{file}");
    }
}

/// Every string in `value` that looks like a URL, with where it is.
fn urls_in(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("://") => found.push(format!("{at}: {s}")),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                urls_in(item, &format!("{at}[{i}]"), found);
            }
        }
        Value::Mapping(fields) => {
            for (key, field) in fields {
                urls_in(field, &format!("{at}.{}", key.as_str().unwrap_or("?")), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_socket_mode_manifest_is_the_http_one_without_any_url() {
    let http = manifest(HTTP_MANIFEST);
    let socket = manifest(SOCKET_MANIFEST);
    assert_eq!(http["settings"]["socket_mode_enabled"].as_bool(), Some(false));
    assert_eq!(socket["settings"]["socket_mode_enabled"].as_bool(), Some(true));
    let mut urls = Vec::new();
    urls_in(&socket, "", &mut urls);
    assert!(urls.is_empty(), "{SOCKET_MANIFEST} has URLs: {urls:?}");
    for same in [
        &["oauth_config", "scopes"][..],
        &["settings", "event_subscriptions", "bot_events"],
        &["features", "shortcuts"],
        &["settings", "interactivity", "is_enabled"],
    ] {
        let (a, b) = same
            .iter()
            .fold((&http, &socket), |(a, b), key| (&a[*key], &b[*key]));
        assert_eq!(a, b, "{same:?} differs");
    }

    // Everything else is the same too: the HTTP manifest less its URLs is the socket one.
    let mut expected = http.clone();
    let settings = &mut expected["settings"];
    settings["socket_mode_enabled"] = Value::Bool(true);
    for section in ["event_subscriptions", "interactivity"] {
        settings[section].as_mapping_mut().unwrap().remove("request_url");
    }
    let oauth = expected["oauth_config"].as_mapping_mut().unwrap();
    oauth.remove("redirect_urls");
    for command in expected["features"]["slash_commands"].as_sequence_mut().unwrap() {
        command.as_mapping_mut().unwrap().remove("url");
    }
    assert_eq!(expected, socket);
}

#[tokio::test]
async fn every_route_in_the_manifest_is_served() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    let manifest = manifest(HTTP_MANIFEST);
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
