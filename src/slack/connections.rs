//! `apps.connections.open`: the app-level token (`xapp-…`) buys a temporary websocket URL for
//! one Socket Mode connection. Called directly, like `oauth.v2.access`: slack-morphism's client
//! is built around bot tokens, and this call needs the app token in the `Authorization` header
//! only (Slack refuses it as a form field, SLACK.md §9).

use std::time::Duration;

use serde::Deserialize;

use super::SlackError;
use crate::metrics::Metrics;
use crate::secret::Secret;

const METHOD: &str = "apps.connections.open";

/// How long to wait after a 429 that names no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Opens Socket Mode connections for one app.
#[derive(Clone)]
pub struct ConnectionsOpener {
    http: reqwest::Client,
    url: String,
    app_token: Secret,
    metrics: Metrics,
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

impl ConnectionsOpener {
    /// `api_url` without a trailing slash, as `SLACK_API_URL` is kept.
    pub fn new(
        api_url: &str,
        app_token: Secret,
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
            app_token,
            metrics,
        })
    }

    /// A fresh `wss://` (or, against a local fake, `ws://`) URL for one connection. The URL is
    /// a credential of its own: it is never logged.
    pub async fn open(&self) -> Result<Secret, SlackError> {
        let result = self.attempt().await;
        let label = match &result {
            Ok(_) => "ok",
            Err(err) => err.result_label(),
        };
        self.metrics.count_slack_call(METHOD, label);
        result
    }

    async fn attempt(&self) -> Result<Secret, SlackError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.app_token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .send()
            .await
            .map_err(|err| SlackError::unanswered(METHOD, &err))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse().ok())
                .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
            return Err(SlackError::RateLimited {
                method: METHOD,
                retry_after,
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
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|_| SlackError::Protocol {
            method: METHOD,
            detail: format!("HTTP {} with an unreadable body", status.as_u16()),
        })?;
        answer.into_url()
    }
}

impl Answer {
    fn into_url(self) -> Result<Secret, SlackError> {
        if !self.ok {
            return Err(SlackError::Api {
                method: METHOD,
                code: self.error.unwrap_or_else(|| "unknown_error".into()),
            });
        }
        match self.url {
            Some(url) if url.starts_with("wss://") || url.starts_with("ws://") => Ok(Secret::new(url)),
            _ => Err(SlackError::Protocol {
                method: METHOD,
                detail: "no websocket URL in a successful answer".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(body: &str) -> Result<Secret, SlackError> {
        serde_json::from_str::<Answer>(body).unwrap().into_url()
    }

    #[test]
    fn a_websocket_url_is_taken_and_anything_else_refused() {
        assert_eq!(
            url(r#"{"ok":true,"url":"wss://wss-primary.slack.com/link/?ticket=1"}"#)
                .unwrap()
                .expose(),
            "wss://wss-primary.slack.com/link/?ticket=1"
        );
        assert!(matches!(
            url(r#"{"ok":true,"url":"https://example.com"}"#),
            Err(SlackError::Protocol { .. })
        ));
        assert!(matches!(url(r#"{"ok":true}"#), Err(SlackError::Protocol { .. })));
        assert_eq!(
            url(r#"{"ok":false,"error":"not_allowed_token_type"}"#)
                .unwrap_err()
                .code(),
            Some("not_allowed_token_type")
        );
    }
}
