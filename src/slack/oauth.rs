//! `oauth.v2.access`, called directly: slack-morphism's OAuth support checks no state, has no
//! refresh grant and its answer type drops `enterprise`, `is_enterprise_install`,
//! `refresh_token` and `expires_in` (SLACK.md §11), all of which an installation needs.
//!
//! One attempt per call, under the Slack timeout: a code works once, so retrying an exchange
//! whose answer was lost would only earn `code_already_used`; a refresh is retried by the
//! refresher's next round instead. Tokens come back as [`Secret`]s and the client secret is
//! only ever written into the request body, so neither reaches a log or an error.

use std::time::Duration;

use serde::Deserialize;

use super::SlackError;
use crate::metrics::Metrics;
use crate::secret::Secret;

const METHOD: &str = "oauth.v2.access";

/// The app's OAuth credentials and where `oauth.v2.access` is.
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: Secret,
    metrics: Metrics,
}

/// A workspace or organization as `oauth.v2.access` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Named {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// What Slack granted: an installation, or a refreshed token pair (with the same fields).
#[derive(Debug, Clone)]
pub struct OAuthGrant {
    pub access_token: Secret,
    pub scope: String,
    pub bot_user_id: Option<String>,
    pub app_id: Option<String>,
    /// None for an org-wide install.
    pub team: Option<Named>,
    pub enterprise: Option<Named>,
    pub is_enterprise_install: bool,
    /// The member who installed.
    pub authed_user_id: Option<String>,
    /// Set when the app's tokens rotate.
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
}

/// Slack's answer as sent. No `Debug`: it holds the tokens in clear.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    bot_user_id: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    team: Option<Named>,
    #[serde(default)]
    enterprise: Option<Named>,
    #[serde(default)]
    is_enterprise_install: bool,
    #[serde(default)]
    authed_user: Option<AuthedUser>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct AuthedUser {
    #[serde(default)]
    id: Option<String>,
}

impl OAuthClient {
    /// `api_url` without a trailing slash, as `SLACK_API_URL` is kept.
    pub fn new(
        api_url: &str,
        client_id: &str,
        client_secret: Secret,
        timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| SlackError::Protocol {
                method: METHOD,
                detail: err.to_string(),
            })?;
        Ok(Self {
            http,
            url: format!("{}/{METHOD}", api_url.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret,
            metrics,
        })
    }

    /// Exchanges the code Slack sent the installer back with; `redirect_uri` must be the one
    /// the authorization asked for.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str) -> Result<OAuthGrant, SlackError> {
        self.call(&[("code", code), ("redirect_uri", redirect_uri)]).await
    }

    /// Trades a rotating installation's refresh token for a new token pair.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<OAuthGrant, SlackError> {
        self.call(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    async fn call(&self, fields: &[(&str, &str)]) -> Result<OAuthGrant, SlackError> {
        let result = self.attempt(fields).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(err) => err.result_label(),
        };
        self.metrics.count_slack_call(METHOD, label);
        if let Err(err) = &result {
            tracing::warn!(method = METHOD, result = label, error = %err, "Slack API call failed");
        }
        result
    }

    async fn attempt(&self, fields: &[(&str, &str)]) -> Result<OAuthGrant, SlackError> {
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        form.extend_from_slice(fields);
        let body = serde_urlencoded::to_string(&form).map_err(|_| SlackError::Protocol {
            method: METHOD,
            detail: "cannot encode the request".into(),
        })?;
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|err| SlackError::unanswered(METHOD, &err))?;
        let status = response.status();
        if status.as_u16() == 429 {
            return Err(SlackError::RateLimited {
                method: METHOD,
                retry_after: Duration::from_secs(1),
            });
        }
        if status.is_server_error() {
            return Err(SlackError::Unavailable {
                method: METHOD,
                detail: format!("HTTP {}", status.as_u16()),
            });
        }
        let bytes = response.bytes().await.map_err(|_| SlackError::Unavailable {
            method: METHOD,
            detail: "connection failed".into(),
        })?;
        // The body may hold tokens: a parse error says where, never what.
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|_| SlackError::Protocol {
            method: METHOD,
            detail: format!("HTTP {} with an unreadable body", status.as_u16()),
        })?;
        answer.into_grant()
    }
}

impl Answer {
    fn into_grant(self) -> Result<OAuthGrant, SlackError> {
        if !self.ok {
            return Err(SlackError::Api {
                method: METHOD,
                code: self.error.unwrap_or_else(|| "unknown_error".into()),
            });
        }
        let access_token = self
            .access_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| SlackError::Protocol {
                method: METHOD,
                detail: "no access_token in a successful answer".into(),
            })?;
        Ok(OAuthGrant {
            access_token: Secret::new(access_token),
            scope: self.scope.unwrap_or_default(),
            bot_user_id: self.bot_user_id,
            app_id: self.app_id,
            team: self.team,
            enterprise: self.enterprise,
            is_enterprise_install: self.is_enterprise_install,
            authed_user_id: self.authed_user.and_then(|user| user.id),
            refresh_token: self.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
            expires_in: self.expires_in.map(Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(body: &str) -> Result<OAuthGrant, SlackError> {
        serde_json::from_str::<Answer>(body).unwrap().into_grant()
    }

    #[test]
    fn an_org_wide_install_has_no_team_and_names_its_enterprise() {
        let grant = grant(
            r#"{"ok":true,"access_token":"xoxb-org","token_type":"bot","scope":"commands,chat:write",
            "bot_user_id":"U0BOT","app_id":"A0APP","team":null,"enterprise":{"id":"E0ORG","name":"Org"},
            "is_enterprise_install":true,"authed_user":{"id":"U0ADMIN"}}"#,
        )
        .unwrap();
        assert_eq!(grant.team, None);
        assert_eq!(grant.enterprise.as_ref().map(|e| e.id.as_str()), Some("E0ORG"));
        assert!(grant.is_enterprise_install);
        assert_eq!(grant.authed_user_id.as_deref(), Some("U0ADMIN"));
        assert_eq!((grant.refresh_token.is_none(), grant.expires_in), (true, None));
    }

    #[test]
    fn a_rotating_grant_carries_its_refresh_token_and_lifetime() {
        let grant = grant(
            r#"{"ok":true,"access_token":"xoxe.xoxb-1","refresh_token":"xoxe-1-r","expires_in":43200,
            "team":{"id":"T0A","name":"A"},"enterprise":null,"scope":"commands"}"#,
        )
        .unwrap();
        assert_eq!(grant.refresh_token.unwrap().expose(), "xoxe-1-r");
        assert_eq!(grant.expires_in, Some(Duration::from_secs(43_200)));
        assert!(!grant.is_enterprise_install);
    }

    #[test]
    fn a_refusal_keeps_slacks_code_and_a_grant_without_a_token_is_unreadable() {
        assert_eq!(
            grant(r#"{"ok":false,"error":"invalid_code"}"#)
                .unwrap_err()
                .code(),
            Some("invalid_code")
        );
        assert!(matches!(
            grant(r#"{"ok":true}"#).unwrap_err(),
            SlackError::Protocol { .. }
        ));
    }

    #[test]
    fn a_grant_shows_no_token_when_debugged() {
        let grant =
            grant(r#"{"ok":true,"access_token":"xoxb-secret","refresh_token":"xoxe-1-secret"}"#).unwrap();
        let shown = format!("{grant:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
