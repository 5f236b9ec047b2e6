use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key| map.get(key).cloned()
}

#[test]
fn defaults_follow_the_contract() {
    let config = Config::from_sources(None, env(&[])).expect("defaults are valid");
    assert_eq!(config.slack_api_url, "https://slack.com/api");
    assert_eq!(config.database_url, "sqlite://circlet.db");
    assert_eq!(config.bind.to_string(), "0.0.0.0:3000");
    assert_eq!(config.digest_schedule.to_string(), "mon 09:00 UTC");
    assert_eq!(config.quiet_week, QuietWeek::Post);
    assert_eq!(config.digest_channel, None);
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.product_users, ProductUsers::AdminsOnly);
    assert!(config.signing_secret.is_none());
}

#[test]
fn serve_names_the_missing_signing_secret_and_how_to_set_it() {
    let config = Config::from_sources(None, env(&[])).unwrap();
    let message = config.require_signing_secret().unwrap_err().to_string();
    assert!(
        message.starts_with("SLACK_SIGNING_SECRET is not set"),
        "{message}"
    );
    assert!(message.contains("Signing Secret"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn invalid_values_name_the_setting_and_the_expected_form() {
    let cases = [
        ("CIRCLET_BIND", "localhost", "host:port"),
        ("DATABASE_URL", "mysql://x", "sqlite://"),
        ("SLACK_API_URL", "not a url", "http(s) URL"),
        ("CIRCLET_LOG_FORMAT", "xml", "json or text"),
        ("CIRCLET_PRODUCT_USERS", "alice,bob", "user IDs"),
        ("CIRCLET_WORKERS", "0", "1 to 64"),
        ("CIRCLET_INBOX_LEASE_SECS", "soon", "seconds"),
        ("CIRCLET_DIGEST_SCHEDULE", "monday 9am", "\"mon 09:00 UTC\""),
        (
            "CIRCLET_DIGEST_SCHEDULE",
            "mon 09:00 Mars/Olympus",
            "IANA time zone",
        ),
        ("CIRCLET_DIGEST_SCHEDULE", "someday 09:00", "weekday"),
        ("CIRCLET_DIGEST_CHANNEL", "#product", "channel ID"),
        ("CIRCLET_DIGEST_QUIET_WEEK", "maybe", "post"),
    ];
    for (key, value, expected) in cases {
        let err = Config::from_sources(None, env(&[(key, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("{key} is invalid")), "{key}: {err}");
        assert!(err.contains(expected), "{key}: {err}");
    }
}

#[test]
fn a_malformed_bot_token_is_refused_without_echoing_it() {
    let err = Config::from_sources(None, env(&[("SLACK_BOT_TOKEN", "xoxp-user-secret-123")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("SLACK_BOT_TOKEN is invalid"), "{err}");
    assert!(!err.contains("secret-123"), "{err}");
}

#[test]
fn a_database_password_is_never_echoed() {
    let err = Config::from_sources(None, env(&[("DATABASE_URL", "mysql://u:hunter2@db/x")]))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn the_file_sets_keys_and_the_environment_wins() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "database_url = \"sqlite:///tmp/from-file.db\"\nCIRCLET_BIND = \"127.0.0.1:4000\"\ncirclet_workers = 3"
    )
    .unwrap();
    let config = Config::from_sources(Some(file.path()), env(&[("CIRCLET_BIND", "127.0.0.1:5000")])).unwrap();
    assert_eq!(config.database_url, "sqlite:///tmp/from-file.db");
    assert_eq!(config.bind.to_string(), "127.0.0.1:5000");
    assert_eq!(config.workers, 3);
}

#[test]
fn an_unknown_key_in_the_file_is_named() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "databse_url = \"sqlite://x.db\"").unwrap();
    let err = Config::from_sources(Some(file.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("unknown key databse_url"), "{err}");
    assert!(err.contains("database_url"), "{err}");
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let err = Config::from_sources(Some(Path::new("/nonexistent/circlet.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/circlet.toml"), "{err}");
}

#[test]
fn product_users_accept_user_ids_or_one_group() {
    let users = Config::from_sources(None, env(&[("CIRCLET_PRODUCT_USERS", "U1ABC, W2DEF")])).unwrap();
    assert_eq!(
        users.product_users,
        ProductUsers::Users(vec!["U1ABC".into(), "W2DEF".into()])
    );
    let group = Config::from_sources(None, env(&[("CIRCLET_PRODUCT_USERS", "S0PRODUCT")])).unwrap();
    assert_eq!(group.product_users, ProductUsers::UserGroup("S0PRODUCT".into()));
}

#[test]
fn debug_output_redacts_secrets() {
    let config = Config::from_sources(
        None,
        env(&[
            ("SLACK_SIGNING_SECRET", "s3cr3t-signing"),
            ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ("DATABASE_URL", "postgres://circlet:hunter2@db:5432/circlet"),
        ]),
    )
    .unwrap();
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(!shown.contains("s3cr3t-signing"), "{shown}");
        assert!(!shown.contains("xoxb-very-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]") && shown.contains("postgres://circlet:***@db:5432/circlet"));
    }
}

#[test]
fn debug_output_hides_a_database_password_given_as_a_parameter() {
    for url in [
        "postgres://circlet@db:5432/circlet?password=hunter2",
        "postgres://circlet@db:5432/circlet?sslmode=require&password=hunt%65r2",
        "sqlite://circlet.db?PassWord=hunter2",
    ] {
        let config = Config::from_sources(None, env(&[("DATABASE_URL", url)])).unwrap();
        for shown in [
            format!("{config:?}"),
            format!("{config:#?}"),
            config.database_url_redacted(),
        ] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("hunt%65r2"),
                "{shown}"
            );
            assert!(shown.contains("=***"), "{shown}");
        }
    }
}

#[test]
fn a_postgres_parameter_sqlx_would_ignore_stops_start_up_without_its_value() {
    for (url, named) in [
        ("postgres://circlet@db/circlet?sslpassword=hunter2", "sslpassword"),
        ("postgres://circlet@db/circlet?PASSWORD=hunter2", "PASSWORD"),
    ] {
        let err = Config::from_sources(None, env(&[("DATABASE_URL", url)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("DATABASE_URL is invalid"), "{err}");
        assert!(err.contains(named) && !err.contains("hunter2"), "{err}");
    }
    let err = Config::from_sources(
        None,
        env(&[("DATABASE_URL", "postgres://circlet:hunter2@db:fivefour/circlet")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("invalid port number") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn the_database_url_shown_to_people_hides_the_password() {
    let pg = Config::from_sources(
        None,
        env(&[("DATABASE_URL", "postgres://circlet:hunter2@db:5432/circlet")]),
    )
    .unwrap();
    assert_eq!(
        pg.database_url_redacted(),
        "postgres://circlet:***@db:5432/circlet"
    );
    let sqlite = Config::from_sources(None, env(&[])).unwrap();
    assert_eq!(sqlite.database_url_redacted(), "sqlite://circlet.db");
}

#[test]
fn a_digest_schedule_with_a_time_zone_is_accepted() {
    let config = Config::from_sources(
        None,
        env(&[
            ("CIRCLET_DIGEST_SCHEDULE", "fri 16:30 Europe/Paris"),
            ("CIRCLET_DIGEST_CHANNEL", "<#C0PRODUCT|product>"),
            ("CIRCLET_DIGEST_QUIET_WEEK", "skip"),
        ]),
    )
    .unwrap();
    assert_eq!(config.digest_schedule.to_string(), "fri 16:30 Europe/Paris");
    assert_eq!(config.digest_channel.as_deref(), Some("C0PRODUCT"));
    assert_eq!(config.quiet_week, QuietWeek::Skip);
}

#[test]
fn the_ops_listener_is_optional_and_a_bad_address_is_named_in_one_line() {
    assert_eq!(Config::from_sources(None, env(&[])).unwrap().ops_bind, None);
    let set = Config::from_sources(None, env(&[("CIRCLET_OPS_BIND", "127.0.0.1:9090")])).unwrap();
    assert_eq!(set.ops_bind, Some("127.0.0.1:9090".parse().unwrap()));
    let err = Config::from_sources(None, env(&[("CIRCLET_OPS_BIND", "metrics-port")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("CIRCLET_OPS_BIND is invalid (\"metrics-port\")"),
        "{err}"
    );
    assert!(err.contains("host:port"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn multi_workspace() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SLACK_CLIENT_ID", "1234.5678"),
        ("SLACK_CLIENT_SECRET", "client-secret-value"),
        ("CIRCLET_PUBLIC_URL", "https://circlet.example.com/"),
        ("CIRCLET_ENCRYPTION_KEY", KEY_HEX),
    ]
}

#[test]
fn multi_workspace_mode_reads_all_four_settings() {
    let config = Config::from_sources(None, env(&multi_workspace())).unwrap();
    let installs = config.installs.as_ref().expect("multi-workspace mode");
    assert_eq!(installs.client_id, "1234.5678");
    assert_eq!(installs.public_url, "https://circlet.example.com");
    assert_eq!(
        installs.redirect_uri(),
        "https://circlet.example.com/slack/oauth_redirect"
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains("client-secret-value"), "{shown}");
    assert!(!shown.contains(KEY_HEX), "{shown}");
    assert!(
        Config::from_sources(None, env(&[])).unwrap().installs.is_none(),
        "single-workspace mode without them"
    );
}

#[test]
fn both_modes_at_once_stop_start_up_in_one_line() {
    let mut pairs = multi_workspace();
    pairs.push(("SLACK_BOT_TOKEN", "xoxb-1-2-3"));
    let err = Config::from_sources(None, env(&pairs)).unwrap_err();
    assert_eq!(err, ConfigError::BothModes);
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains("SLACK_BOT_TOKEN") && message.contains("SLACK_CLIENT_ID"),
        "{message}"
    );
    assert!(!message.contains("xoxb-1-2-3"), "{message}");
}

#[test]
fn each_missing_oauth_setting_is_named_in_one_line() {
    for missing in [
        "SLACK_CLIENT_SECRET",
        "CIRCLET_PUBLIC_URL",
        "CIRCLET_ENCRYPTION_KEY",
    ] {
        let pairs: Vec<_> = multi_workspace()
            .into_iter()
            .filter(|(key, _)| *key != missing)
            .collect();
        let err = Config::from_sources(None, env(&pairs)).unwrap_err();
        assert!(
            matches!(err, ConfigError::Missing { key, .. } if key == missing),
            "{missing}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.starts_with(&format!("{missing} is not set")), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    // Half of the settings without the client id is a mistake, not single-workspace mode.
    let pairs: Vec<_> = multi_workspace()
        .into_iter()
        .filter(|(key, _)| *key != "SLACK_CLIENT_ID")
        .collect();
    let err = Config::from_sources(None, env(&pairs)).unwrap_err();
    assert!(err.to_string().starts_with("SLACK_CLIENT_ID is not set"), "{err}");
}

#[test]
fn a_bad_encryption_key_or_public_url_is_named_without_the_key() {
    let mut pairs = multi_workspace();
    pairs.retain(|(key, _)| *key != "CIRCLET_ENCRYPTION_KEY");
    pairs.push(("CIRCLET_ENCRYPTION_KEY", "0011223344-too-short"));
    let message = Config::from_sources(None, env(&pairs)).unwrap_err().to_string();
    assert!(
        message.starts_with("CIRCLET_ENCRYPTION_KEY is invalid"),
        "{message}"
    );
    assert!(message.contains("circlet keygen"), "{message}");
    assert!(!message.contains("too-short"), "{message}");

    let mut pairs = multi_workspace();
    pairs.retain(|(key, _)| *key != "CIRCLET_PUBLIC_URL");
    pairs.push(("CIRCLET_PUBLIC_URL", "circlet.example.com"));
    let message = Config::from_sources(None, env(&pairs)).unwrap_err().to_string();
    assert!(message.starts_with("CIRCLET_PUBLIC_URL is invalid"), "{message}");
}

#[test]
fn socket_mode_makes_the_signing_secret_optional_and_keys_modals_by_the_app_token() {
    let config = Config::from_sources(None, env(&[("SLACK_APP_TOKEN", "xapp-1-A1-2-abc")])).unwrap();
    let socket = config.socket.as_ref().expect("socket mode");
    assert_eq!(socket.connections, 2);
    assert!(config.require_signing_secret().unwrap().is_none());
    let key = config.signing_key().unwrap();
    assert_eq!(key.expose().len(), 64);
    assert!(!key.expose().contains("xapp"), "the token itself is not the key");
    // Every replica and restart derives the same key; another app token, another key.
    let again = Config::from_sources(None, env(&[("SLACK_APP_TOKEN", "xapp-1-A1-2-abc")])).unwrap();
    assert_eq!(again.signing_key().unwrap().expose(), key.expose());
    let other = Config::from_sources(None, env(&[("SLACK_APP_TOKEN", "xapp-1-A1-2-xyz")])).unwrap();
    assert_ne!(other.signing_key().unwrap().expose(), key.expose());
    // With a signing secret too, it keys modals and HTTP keeps working alongside the sockets.
    let both = Config::from_sources(
        None,
        env(&[
            ("SLACK_APP_TOKEN", "xapp-1-A1-2-abc"),
            ("SLACK_SIGNING_SECRET", "s3cr3t"),
        ]),
    )
    .unwrap();
    assert_eq!(both.signing_key().unwrap().expose(), "s3cr3t");
    assert!(both.require_signing_secret().unwrap().is_some());
}

#[test]
fn socket_settings_are_checked_and_never_echo_the_token() {
    let wrong = Config::from_sources(None, env(&[("SLACK_APP_TOKEN", "xoxb-not-an-app-token")]))
        .unwrap_err()
        .to_string();
    assert!(wrong.starts_with("SLACK_APP_TOKEN is invalid"), "{wrong}");
    assert!(wrong.contains("connections:write"), "{wrong}");
    assert!(!wrong.contains("xoxb-not"), "{wrong}");
    for connections in ["0", "11", "two"] {
        let error = Config::from_sources(
            None,
            env(&[
                ("SLACK_APP_TOKEN", "xapp-1"),
                ("CIRCLET_SOCKET_CONNECTIONS", connections),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("1 to 10"), "{error}");
    }
    let ten = Config::from_sources(
        None,
        env(&[
            ("SLACK_APP_TOKEN", "xapp-1"),
            ("CIRCLET_SOCKET_CONNECTIONS", "10"),
        ]),
    )
    .unwrap();
    assert_eq!(ten.socket.map(|socket| socket.connections), Some(10));
    let shown = format!(
        "{:?}",
        Config::from_sources(None, env(&[("SLACK_APP_TOKEN", "xapp-1-secret")])).unwrap()
    );
    assert!(!shown.contains("xapp-1-secret"), "{shown}");
}

#[test]
fn without_a_signing_secret_or_an_app_token_serve_says_which_to_set() {
    let message = Config::from_sources(None, env(&[]))
        .unwrap()
        .require_signing_secret()
        .unwrap_err()
        .to_string();
    assert!(message.contains("SLACK_APP_TOKEN"), "{message}");
}
