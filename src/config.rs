//! Configuration: environment variables, optionally a TOML file with the same keys (env wins).
//! Every problem is reported as one line naming the setting and how to set it.
//! Over 500 lines on purpose: the table of keys and each key's parser read best side by side;
//! modes with several keys of their own live in `config/` (installs, socket).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::domain::digest::Schedule;
use crate::domain::settings::{DomainSettings, LoopTexts, ProductUsers, QuietWeek, Retention};
use crate::inbox::WorkerSettings;
use crate::secret::Secret;

mod database_url;
mod installs;
mod privacy;
mod socket;

pub use installs::InstallSettings;
use installs::parse_installs;
use privacy::parse_retention;
pub use socket::SocketConfig;
use socket::{derive_key, parse_socket};

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://circlet.db";
pub const DEFAULT_BIND: &str = "0.0.0.0:3000";

/// Every key Circlet reads, with a one-line hint for the error message when it is wrong.
const KEYS: &[(&str, &str)] = &[
    (
        "SLACK_SIGNING_SECRET",
        "the Signing Secret from your Slack app's Basic Information page",
    ),
    (
        "SLACK_BOT_TOKEN",
        "the Bot User OAuth Token (xoxb-…) from OAuth & Permissions",
    ),
    ("SLACK_API_URL", "an http(s) URL such as https://slack.com/api/"),
    (
        "SLACK_APP_TOKEN",
        "the App-Level Token (xapp-…) with the connections:write scope, from Basic Information → App-Level Tokens (Socket Mode)",
    ),
    (
        "CIRCLET_SWEEP_MINUTES",
        "minutes between sweeps of the circles' history for missed events, 0 to 1440 (0: only at start and on demand)",
    ),
    (
        "CIRCLET_RETENTION_DAYS",
        "days insights are kept before they are deleted with everything attached, 1 to 36500 (unset: kept)",
    ),
    (
        "CIRCLET_UNINSTALL_RETENTION_DAYS",
        "days an uninstalled workspace's data is kept before it is purged, 0 to 36500 (0: at once)",
    ),
    (
        "CIRCLET_SOCKET_CONNECTIONS",
        "the number of Socket Mode connections, 1 to 10",
    ),
    (
        "SLACK_CLIENT_ID",
        "the Client ID from your Slack app's Basic Information page (multi-workspace mode)",
    ),
    (
        "SLACK_CLIENT_SECRET",
        "the Client Secret from your Slack app's Basic Information page (multi-workspace mode)",
    ),
    (
        "CIRCLET_PUBLIC_URL",
        "the public https base URL Slack reaches Circlet at, e.g. https://circlet.example.com",
    ),
    (
        "CIRCLET_ENCRYPTION_KEY",
        "32 bytes as 64 hex characters or base64; make one with `circlet keygen`",
    ),
    (
        "DATABASE_URL",
        "sqlite://PATH (created if missing) or postgres://USER@HOST/DB",
    ),
    ("CIRCLET_BIND", "host:port, e.g. 0.0.0.0:3000"),
    (
        "CIRCLET_OPS_BIND",
        "host:port for /metrics, /healthz and /readyz alone, e.g. 127.0.0.1:9090",
    ),
    (
        "CIRCLET_PRODUCT_USERS",
        "comma-separated Slack user IDs (U…/W…) or one user-group ID (S…)",
    ),
    ("CIRCLET_DIGEST_CHANNEL", "a channel ID such as C0123456789"),
    ("CIRCLET_DIGEST_SCHEDULE", crate::domain::digest::SCHEDULE_FORM),
    (
        "CIRCLET_DIGEST_QUIET_WEEK",
        "post (a short \"quiet week\" recap when a circle had no activity) or skip",
    ),
    ("CIRCLET_LOG_FORMAT", "json or text"),
    ("RUST_LOG", "a tracing filter such as info or circlet=debug"),
    ("CIRCLET_WORKERS", "the number of inbox workers, 1 to 64"),
    (
        "CIRCLET_INBOX_LEASE_SECS",
        "seconds a worker's claim on an inbox row lasts, 1 to 3600",
    ),
    (
        "CIRCLET_INBOX_MAX_ATTEMPTS",
        "attempts before an inbox row is parked as dead, 1 to 100",
    ),
    (
        "CIRCLET_INBOX_RETENTION_DAYS",
        "days finished inbox rows are kept, 1 to 365",
    ),
    (
        "CIRCLET_SLACK_TIMEOUT_SECS",
        "seconds one Slack API call may take, 1 to 120",
    ),
    ("CIRCLET_ACK_EMOJI", "an emoji name without colons, e.g. eyes"),
    (
        "CIRCLET_LOOP_TEXT_PLANNED",
        "the reply posted in a thread when its insight is planned",
    ),
    (
        "CIRCLET_LOOP_TEXT_SHIPPED",
        "the reply posted in a thread when its insight has shipped",
    ),
    (
        "CIRCLET_LOOP_TEXT_DECLINED",
        "the reply posted in a thread when its insight is declined",
    ),
];

pub const DEFAULT_ACK_EMOJI: &str = "eyes";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{key} is not set: set it in the environment or in the --config file ({hint})")]
    Missing { key: &'static str, hint: &'static str },
    #[error("{key} is invalid ({value}): expected {hint}")]
    Invalid {
        key: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error(
        "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: set SLACK_BOT_TOKEN for one workspace, or SLACK_CLIENT_ID (with SLACK_CLIENT_SECRET, CIRCLET_PUBLIC_URL and CIRCLET_ENCRYPTION_KEY) for \"Add to Slack\", not both"
    )]
    BothModes,
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("unknown key {key} in config file {path}: known keys are {known}")]
    UnknownKey {
        key: String,
        path: String,
        known: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub signing_secret: Option<Secret>,
    pub bot_token: Option<Secret>,
    /// Without a trailing slash: methods are called at `{slack_api_url}/{method}`.
    pub slack_api_url: String,
    pub database_url: String,
    pub bind: SocketAddr,
    /// A listener of their own for `/metrics`, `/healthz` and `/readyz`, which the public one
    /// then no longer serves.
    pub ops_bind: Option<SocketAddr>,
    pub product_users: ProductUsers,
    pub digest_channel: Option<String>,
    pub digest_schedule: Schedule,
    /// Whether a circle with nothing to recap still gets a short "quiet week" recap.
    pub quiet_week: QuietWeek,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub workers: usize,
    pub worker: WorkerSettings,
    pub slack_timeout: Duration,
    /// The reaction Circlet adds to a message it captured.
    pub ack_emoji: String,
    pub loop_texts: LoopTexts,
    /// Multi-workspace mode ("Add to Slack"), when `SLACK_CLIENT_ID` is set.
    pub installs: Option<InstallSettings>,
    /// Socket Mode, when `SLACK_APP_TOKEN` is set.
    pub socket: Option<SocketConfig>,
    /// How often circles' history is swept for missed events; None: only at start and on demand.
    pub sweep_every: Option<Duration>,
    /// How long insights and uninstalled workspaces' data are kept.
    pub retention: Retention,
}

/// Written out so the database password is hidden too (secrets already are, by [`Secret`]).
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("signing_secret", &self.signing_secret)
            .field("bot_token", &self.bot_token)
            .field("slack_api_url", &self.slack_api_url)
            .field("database_url", &self.database_url_redacted())
            .field("bind", &self.bind)
            .field("ops_bind", &self.ops_bind)
            .field("product_users", &self.product_users)
            .field("digest_channel", &self.digest_channel)
            .field("digest_schedule", &self.digest_schedule)
            .field("quiet_week", &self.quiet_week)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("workers", &self.workers)
            .field("worker", &self.worker)
            .field("slack_timeout", &self.slack_timeout)
            .field("ack_emoji", &self.ack_emoji)
            .field("loop_texts", &self.loop_texts)
            .field("installs", &self.installs)
            .field("socket", &self.socket)
            .field("sweep_every", &self.sweep_every)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Config {
    /// Reads the process environment and, when given, a TOML file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |key| std::env::var(key).ok())
    }

    /// Like [`Config::load`] with an explicit environment, for tests.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file_values = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let get = |key: &str| {
            env(key)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| file_values.get(key).cloned())
                .map(|v| v.trim().to_owned())
        };
        let mut worker = WorkerSettings::default();
        if let Some(secs) = parse_number(&get, "CIRCLET_INBOX_LEASE_SECS", 1, 3600)? {
            worker.lease = Duration::from_secs(secs);
        }
        if let Some(n) = parse_number(&get, "CIRCLET_INBOX_MAX_ATTEMPTS", 1, 100)? {
            worker.max_attempts = n as u32;
        }
        if let Some(days) = parse_number(&get, "CIRCLET_INBOX_RETENTION_DAYS", 1, 365)? {
            worker.retention = Duration::from_secs(days * 24 * 3600);
        }
        let bot_token = get("SLACK_BOT_TOKEN").map(parse_bot_token).transpose()?;
        let installs = parse_installs(&get, bot_token.is_some())?;
        let socket = parse_socket(&get)?;
        let sweep_minutes = parse_number(&get, "CIRCLET_SWEEP_MINUTES", 0, 1440)?.unwrap_or(10);
        Ok(Config {
            retention: parse_retention(&get)?,
            socket,
            sweep_every: (sweep_minutes > 0).then(|| Duration::from_secs(sweep_minutes * 60)),
            signing_secret: get("SLACK_SIGNING_SECRET").map(Secret::new),
            bot_token,
            installs,
            slack_api_url: parse_api_url(get("SLACK_API_URL"))?,
            database_url: parse_database_url(get("DATABASE_URL"))?,
            bind: parse_bind(get("CIRCLET_BIND"))?,
            ops_bind: parse_ops_bind(get("CIRCLET_OPS_BIND"))?,
            product_users: parse_product_users(get("CIRCLET_PRODUCT_USERS"))?,
            digest_channel: parse_digest_channel(get("CIRCLET_DIGEST_CHANNEL"))?,
            digest_schedule: parse_schedule(get("CIRCLET_DIGEST_SCHEDULE"))?,
            quiet_week: parse_quiet_week(get("CIRCLET_DIGEST_QUIET_WEEK"))?,
            log_format: parse_log_format(get("CIRCLET_LOG_FORMAT"))?,
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info".into()),
            workers: parse_number(&get, "CIRCLET_WORKERS", 1, 64)?.unwrap_or(2) as usize,
            worker,
            slack_timeout: Duration::from_secs(
                parse_number(&get, "CIRCLET_SLACK_TIMEOUT_SECS", 1, 120)?.unwrap_or(10),
            ),
            ack_emoji: parse_emoji(get("CIRCLET_ACK_EMOJI"))?,
            loop_texts: {
                let defaults = LoopTexts::default();
                LoopTexts {
                    planned: get("CIRCLET_LOOP_TEXT_PLANNED").unwrap_or(defaults.planned),
                    shipped: get("CIRCLET_LOOP_TEXT_SHIPPED").unwrap_or(defaults.shipped),
                    declined: get("CIRCLET_LOOP_TEXT_DECLINED").unwrap_or(defaults.declined),
                }
            },
        })
    }

    /// `DATABASE_URL` fit for logs and terminals: the userinfo password and every parameter
    /// that may hold a secret (`password`, `sslpassword`, any case or encoding) shown as `***`.
    pub fn database_url_redacted(&self) -> String {
        database_url::redacted(&self.database_url)
    }

    /// What the domain services read of this configuration; `signing_key` signs what they
    /// hand Slack to give back later.
    pub fn domain_settings(&self, signing_key: Secret) -> DomainSettings {
        DomainSettings {
            ack_emoji: self.ack_emoji.clone(),
            loop_texts: self.loop_texts.clone(),
            signing_key,
            // Channel ids are the workspace's own: in multi-workspace mode each sets its own.
            digest_channel: self.digest_channel.clone().filter(|_| self.installs.is_none()),
            schedule: self.digest_schedule,
            quiet_week: self.quiet_week,
            retention: self.retention,
        }
    }

    /// The signing secret, which `serve` cannot run without unless Socket Mode brings Slack's
    /// deliveries (then the HTTP routes for them are not served).
    pub fn require_signing_secret(&self) -> Result<Option<&Secret>, ConfigError> {
        match (&self.signing_secret, &self.socket) {
            (Some(secret), _) => Ok(Some(secret)),
            (None, Some(_)) => Ok(None),
            (None, None) => Err(ConfigError::Missing {
                key: "SLACK_SIGNING_SECRET",
                hint: "the Signing Secret from your Slack app's Basic Information page; or set SLACK_APP_TOKEN to receive everything over Socket Mode",
            }),
        }
    }

    /// The key that signs what Circlet hands Slack to give back later (a modal's metadata):
    /// the signing secret, else one derived from the app-level token, so every replica and
    /// every restart derives the same key.
    pub fn signing_key(&self) -> Result<Secret, ConfigError> {
        if let Some(secret) = self.require_signing_secret()? {
            return Ok(secret.clone());
        }
        let app_token = self
            .socket
            .as_ref()
            .map(|socket| socket.app_token.expose())
            .unwrap_or_default();
        Ok(Secret::new(derive_key(app_token)))
    }
}

pub(super) fn missing(key: &'static str) -> ConfigError {
    ConfigError::Missing { key, hint: hint(key) }
}

fn parse_schedule(value: Option<String>) -> Result<Schedule, ConfigError> {
    let Some(value) = value else {
        return Ok(Schedule::default());
    };
    value
        .parse()
        .map_err(|err: crate::domain::digest::ScheduleError| ConfigError::Invalid {
            key: "CIRCLET_DIGEST_SCHEDULE",
            value: err.to_string(),
            hint: hint("CIRCLET_DIGEST_SCHEDULE"),
        })
}

fn parse_digest_channel(value: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    match crate::domain::slash::channel_id(&value) {
        Some(id) => Ok(Some(id.to_owned())),
        None => Err(invalid("CIRCLET_DIGEST_CHANNEL", &value)),
    }
}

fn parse_quiet_week(value: Option<String>) -> Result<QuietWeek, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("post") => Ok(QuietWeek::Post),
        Some("skip") => Ok(QuietWeek::Skip),
        Some(_) => Err(invalid(
            "CIRCLET_DIGEST_QUIET_WEEK",
            value.as_deref().unwrap_or_default(),
        )),
    }
}

fn parse_emoji(value: Option<String>) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok(DEFAULT_ACK_EMOJI.to_owned());
    };
    let name = value.trim_matches(':');
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-+'".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(invalid("CIRCLET_ACK_EMOJI", &value))
    }
}

pub(super) fn hint(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, h)| *h)
        .unwrap_or("see the README")
}

fn key_name(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map(|(k, _)| *k)
        .unwrap_or("setting")
}

pub(super) fn invalid(key: &str, value: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key_name(key),
        value: format!("{value:?}"),
        hint: hint(key),
    }
}

/// Keys in the file may be written as the environment variable (`DATABASE_URL`) or in lower
/// case (`database_url`); values may be strings, numbers or booleans.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
        path: shown.clone(),
        reason: err.to_string(),
    })?;
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| ConfigError::File {
        path: shown.clone(),
        reason: err.message().to_owned(),
    })?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let upper = key.to_ascii_uppercase();
        if !KEYS.iter().any(|(k, _)| *k == upper) {
            return Err(ConfigError::UnknownKey {
                key,
                path: shown,
                known: KEYS
                    .iter()
                    .map(|(k, _)| k.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(ConfigError::File {
                    path: shown,
                    reason: format!("{key} must be a string or number, not {}", other.type_str()),
                });
            }
        };
        values.insert(upper, text);
    }
    Ok(values)
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    get(key)
        .map(|raw| match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid(key, &raw)),
        })
        .transpose()
}

fn parse_bot_token(raw: String) -> Result<Secret, ConfigError> {
    if raw.starts_with("xoxb-") || raw.starts_with("xoxe.xoxb-") {
        Ok(Secret::new(raw))
    } else {
        // Never echo a token-like value back.
        Err(ConfigError::Invalid {
            key: "SLACK_BOT_TOKEN",
            value: "a value not starting with xoxb-".into(),
            hint: hint("SLACK_BOT_TOKEN"),
        })
    }
}

fn parse_api_url(raw: Option<String>) -> Result<String, ConfigError> {
    let raw = raw.unwrap_or_else(|| DEFAULT_SLACK_API_URL.into());
    let parsed = reqwest::Url::parse(&raw).map_err(|_| invalid("SLACK_API_URL", &raw))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid("SLACK_API_URL", &raw));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The URL may hold a password: an error names the scheme or the part that is wrong, never the
/// URL itself.
fn parse_database_url(raw: Option<String>) -> Result<String, ConfigError> {
    let raw = raw.unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    let invalid = |value: String| ConfigError::Invalid {
        key: "DATABASE_URL",
        value,
        hint: hint("DATABASE_URL"),
    };
    if raw.starts_with("sqlite:") {
        return Ok(raw);
    }
    if !["postgres://", "postgresql://"]
        .iter()
        .any(|prefix| raw.starts_with(prefix))
    {
        let scheme = raw.split(':').next().unwrap_or_default();
        return Err(invalid(format!("scheme {scheme:?}")));
    }
    match database_url::postgres_problem(&raw) {
        Some(problem) => Err(invalid(problem)),
        None => Ok(raw),
    }
}

fn parse_bind(raw: Option<String>) -> Result<SocketAddr, ConfigError> {
    let raw = raw.unwrap_or_else(|| DEFAULT_BIND.into());
    raw.parse().map_err(|_| invalid("CIRCLET_BIND", &raw))
}

fn parse_ops_bind(raw: Option<String>) -> Result<Option<SocketAddr>, ConfigError> {
    raw.map(|raw| raw.parse().map_err(|_| invalid("CIRCLET_OPS_BIND", &raw)))
        .transpose()
}

fn parse_product_users(raw: Option<String>) -> Result<ProductUsers, ConfigError> {
    match raw {
        None => Ok(ProductUsers::AdminsOnly),
        Some(raw) => ProductUsers::parse(&raw).ok_or_else(|| invalid("CIRCLET_PRODUCT_USERS", &raw)),
    }
}

fn parse_log_format(raw: Option<String>) -> Result<LogFormat, ConfigError> {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(_) => Err(invalid("CIRCLET_LOG_FORMAT", raw.as_deref().unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests;
