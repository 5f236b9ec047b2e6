//! Socket Mode's settings: the app-level token and how many connections to keep (§11), and
//! the key that signs modal metadata when no signing secret is set.

use super::{ConfigError, hint, parse_number};
use crate::secret::Secret;

/// Socket Mode's settings (ARCHITECTURE §11).
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// The app-level token (`xapp-…`) that opens connections.
    pub app_token: Secret,
    /// Connections kept open, 1 to 10.
    pub connections: usize,
}

pub(super) fn derive_key(app_token: &str) -> String {
    use hmac::{KeyInit, Mac};
    // Any key length is accepted by HMAC: this cannot fail.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(app_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"circlet signing key");
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn parse_socket(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SocketConfig>, ConfigError> {
    let connections = parse_number(get, "CIRCLET_SOCKET_CONNECTIONS", 1, 10)?.unwrap_or(2) as usize;
    let Some(app_token) = get("SLACK_APP_TOKEN") else {
        return Ok(None);
    };
    if !app_token.starts_with("xapp-") {
        // Never echo a token-like value back.
        return Err(ConfigError::Invalid {
            key: "SLACK_APP_TOKEN",
            value: "a value not starting with xapp-".into(),
            hint: hint("SLACK_APP_TOKEN"),
        });
    }
    Ok(Some(SocketConfig {
        app_token: Secret::new(app_token),
        connections,
    }))
}
