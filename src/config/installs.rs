//! Multi-workspace mode's settings ("Add to Slack"): all four together, never beside
//! `SLACK_BOT_TOKEN`.

use super::{ConfigError, hint, invalid, missing};
use crate::secret::Secret;
use crate::token_cipher::TokenCipher;

/// What multi-workspace mode needs: the app's OAuth credentials, where Slack sends installers
/// back to, and the key tokens are sealed with.
#[derive(Clone, Debug)]
pub struct InstallSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// Without a trailing slash.
    pub public_url: String,
    pub cipher: TokenCipher,
}

impl InstallSettings {
    /// Where Slack sends an installer back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/slack/oauth_redirect", self.public_url)
    }
}

/// Multi-workspace mode's settings: none without `SLACK_CLIENT_ID`; all of them with it, and
/// never beside `SLACK_BOT_TOKEN` (one line naming what is wrong).
pub(super) fn parse_installs(
    get: &impl Fn(&str) -> Option<String>,
    has_bot_token: bool,
) -> Result<Option<InstallSettings>, ConfigError> {
    let client_id = get("SLACK_CLIENT_ID");
    let Some(client_id) = client_id else {
        // Half of the OAuth settings is a mistake, not single-workspace mode.
        if ["SLACK_CLIENT_SECRET", "CIRCLET_PUBLIC_URL"]
            .iter()
            .any(|key| get(key).is_some())
        {
            return Err(missing("SLACK_CLIENT_ID"));
        }
        return Ok(None);
    };
    if has_bot_token {
        return Err(ConfigError::BothModes);
    }
    let client_secret = get("SLACK_CLIENT_SECRET").ok_or_else(|| missing("SLACK_CLIENT_SECRET"))?;
    let public_url = get("CIRCLET_PUBLIC_URL").ok_or_else(|| missing("CIRCLET_PUBLIC_URL"))?;
    let public_url = parse_public_url(&public_url)?;
    let key = get("CIRCLET_ENCRYPTION_KEY").ok_or_else(|| missing("CIRCLET_ENCRYPTION_KEY"))?;
    let cipher = TokenCipher::from_key_text(&key).map_err(|_| ConfigError::Invalid {
        key: "CIRCLET_ENCRYPTION_KEY",
        value: "(hidden)".into(),
        hint: hint("CIRCLET_ENCRYPTION_KEY"),
    })?;
    Ok(Some(InstallSettings {
        client_id,
        client_secret: Secret::new(client_secret),
        public_url,
        cipher,
    }))
}

fn parse_public_url(raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim_end_matches('/');
    let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        && trimmed.split("://").nth(1).is_some_and(|rest| !rest.is_empty())
        && !trimmed.contains(['?', '#', ' ']);
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(invalid("CIRCLET_PUBLIC_URL", raw))
    }
}
