//! "Add to Slack" in multi-workspace mode (ARCHITECTURE §9): starting an install (a single-use
//! state, kept only as a hash), finishing it (the code exchanged at `oauth.v2.access`, the
//! installation stored with its tokens sealed, and served by this process at once), and keeping
//! rotating tokens fresh ([`rotation`]).
//!
//! The browser side (the redirects and the state cookie) is HTTP and lives in `crate::install`;
//! this module knows Slack's OAuth data, not requests.

pub mod rotation;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::{Millis, SharedClock};
use crate::domain::workspaces::Workspaces;
use crate::ids::{TeamId, UserId};
use crate::metrics::Metrics;
use crate::slack::{OAuthClient, OAuthGrant, SlackError};
use crate::store::{Installation, SharedStore, StoreError};
use crate::token_cipher::TokenCipher;

/// How long an install link works: Slack's consent screen is quick, and a state that lingers is
/// one more thing to steal.
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// Random bytes in a state: 256 bits, far past guessing.
const STATE_BYTES: usize = 32;

pub const AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";
pub const APP_REDIRECT_URL: &str = "https://slack.com/app_redirect";

/// The bot scopes an install asks for: manifest.yaml's `oauth_config.scopes.bot`, which
/// `tests/integration/manifest.rs` holds this list to.
pub const BOT_SCOPES: &[&str] = &[
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "groups:read",
    "im:write",
    "reactions:read",
    "reactions:write",
    "usergroups:read",
    "users:read",
];

/// The Slack app's side of the flow: its credentials' client, its client id, where Slack sends
/// installers back to, and the key tokens are sealed with.
pub struct OAuthApp {
    pub oauth: OAuthClient,
    pub client_id: String,
    /// `<CIRCLET_PUBLIC_URL>/slack/oauth_redirect`.
    pub redirect_uri: String,
    pub cipher: TokenCipher,
}

/// Installing and keeping installations' tokens fresh.
pub struct Installs {
    app: OAuthApp,
    store: SharedStore,
    workspaces: Arc<Workspaces>,
    clock: SharedClock,
    metrics: Metrics,
    refreshes: rotation::Refreshes,
}

/// An install just started: the state to hand the browser, and where to send it.
pub struct Started {
    pub state: String,
    pub authorize_url: String,
}

/// An installation stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The workspace's team id, or the enterprise id of an org-wide install.
    pub team_id: TeamId,
    pub app_id: String,
}

impl Installed {
    /// Slack's page that opens Circlet in the workspace just installed.
    pub fn app_redirect_url(&self) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("app", &self.app_id)
            .append_pair("team", self.team_id.as_str())
            .finish();
        format!("{APP_REDIRECT_URL}?{query}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the install link expired or was already used")]
    UnknownState,
    #[error("oauth.v2.access failed: {0}")]
    Exchange(#[source] SlackError),
    #[error("Slack's answer did not give {0}")]
    Incomplete(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Installs {
    pub fn new(
        app: OAuthApp,
        store: SharedStore,
        workspaces: Arc<Workspaces>,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            app,
            store,
            workspaces,
            clock,
            metrics,
            refreshes: rotation::Refreshes::default(),
        }
    }

    /// A new state, kept (hashed) for [`STATE_LIFETIME`], and Slack's authorization URL with it.
    pub async fn start(&self) -> Result<Started, StoreError> {
        let mut bytes = [0u8; STATE_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let state = URL_SAFE_NO_PAD.encode(bytes);
        let now = self.clock.now_millis();
        self.store
            .workspaces()
            .put_oauth_state(&state_hash(&state), now + millis(STATE_LIFETIME), now)
            .await?;
        Ok(Started {
            authorize_url: self.authorize_url(&state),
            state,
        })
    }

    /// Uses the state up without installing (Slack said the installer declined), so it cannot
    /// be replayed.
    pub async fn abandon(&self, state: &str) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        self.store
            .workspaces()
            .take_oauth_state(&state_hash(state), now)
            .await
            .map(drop)
    }

    /// Finishes an install: the state is used up, the code exchanged, the installation stored
    /// (installing again updates it) and served here at once. Nothing is stored on failure.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Installed, InstallError> {
        let now = self.clock.now_millis();
        if !self
            .store
            .workspaces()
            .take_oauth_state(&state_hash(state), now)
            .await?
        {
            return Err(InstallError::UnknownState);
        }
        let grant = self
            .app
            .oauth
            .exchange_code(code, &self.app.redirect_uri)
            .await
            .map_err(InstallError::Exchange)?;
        let installation = self.installation(grant, now)?;
        self.store.workspaces().save_installation(&installation).await?;
        let team = installation.team_id.clone();
        // The row is stored: another replica serves it within its next reload even if this
        // one cannot read it back now.
        if let Err(err) = self.workspaces.reload(&team).await {
            tracing::warn!(team_id = %team.as_str(), error = %err, "installed, but cannot load it here yet; the next reload will");
        }
        tracing::info!(
            team_id = %team.as_str(),
            enterprise_id = installation.enterprise_id.as_ref().map_or("", TeamId::as_str),
            org_wide = installation.is_enterprise_install,
            app_id = %installation.app_id,
            scopes = %installation.scopes,
            rotating = installation.refresh_token.is_some(),
            "installed"
        );
        Ok(Installed {
            team_id: team,
            app_id: installation.app_id,
        })
    }

    fn authorize_url(&self, state: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.app.client_id)
            .append_pair("scope", &BOT_SCOPES.join(","))
            .append_pair("redirect_uri", &self.app.redirect_uri)
            .append_pair("state", state)
            .finish();
        format!("{AUTHORIZE_URL}?{query}")
    }

    /// The row for what Slack granted, its tokens sealed for its key.
    fn installation(&self, grant: OAuthGrant, now: Millis) -> Result<Installation, InstallError> {
        let (key, name) = if grant.is_enterprise_install {
            let enterprise = grant.enterprise.as_ref();
            (
                enterprise.map(|e| e.id.clone()),
                enterprise.and_then(|e| e.name.clone()),
            )
        } else {
            let team = grant.team.as_ref();
            (team.map(|t| t.id.clone()), team.and_then(|t| t.name.clone()))
        };
        let team_id = key
            .and_then(|id| TeamId::parse(id).ok())
            .ok_or(InstallError::Incomplete("the workspace's id"))?;
        let bot_user_id = grant
            .bot_user_id
            .and_then(|id| UserId::parse(id).ok())
            .ok_or(InstallError::Incomplete("the bot user"))?;
        let app_id = grant
            .app_id
            .filter(|id| !id.is_empty())
            .ok_or(InstallError::Incomplete("the app id"))?;
        let cipher = &self.app.cipher;
        Ok(Installation {
            team_name: name,
            enterprise_id: grant.enterprise.and_then(|e| TeamId::parse(e.id).ok()),
            is_enterprise_install: grant.is_enterprise_install,
            app_id,
            bot_user_id,
            scopes: grant.scope,
            installer_user_id: grant.authed_user_id.and_then(|id| UserId::parse(id).ok()),
            bot_token: cipher.seal(team_id.as_str(), &grant.access_token),
            refresh_token: grant
                .refresh_token
                .map(|token| cipher.seal(team_id.as_str(), &token)),
            token_expires_at: grant.expires_in.map(|lifetime| now + millis(lifetime)),
            installed_at: now,
            updated_at: now,
            uninstalled_at: None,
            home_team_id: None,
            team_id,
        })
    }
}

/// What is stored of a state: its SHA-256, so a database read gives nothing to replay.
fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}
