//! Sends requests to Circlet the way Slack does: signed, with Slack's content types. Used by
//! the demo, the integration tests and the benches.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use sha2::Sha256;

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";
/// Slack's signature header, `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp`.
///
/// Written here from Slack's documented recipe rather than borrowed from Circlet's verifier, so
/// the test kit needs nothing of Circlet (which depends on it for `circlet demo`), and a verifier
/// that drifted from the recipe fails the tests instead of agreeing with itself.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Seconds since the epoch, as the sender signs them.
type NowSecs = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What Circlet answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct SignedSender {
    base_url: String,
    secret: String,
    http: reqwest::Client,
    now_secs: NowSecs,
}

impl SignedSender {
    pub fn new(base_url: impl Into<String>, secret: impl Into<String>) -> Self {
        // reqwest is built with `rustls-no-provider`: the process needs one before a client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base_url: base_url.into(),
            secret: secret.into(),
            http,
            now_secs: Arc::new(system_now_secs),
        }
    }

    /// Signs with the time `now_secs` tells (the app under test must use the same clock).
    pub fn with_clock(mut self, now_secs: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now_secs = Arc::new(now_secs);
        self
    }

    /// Now, in seconds, by the sender's clock.
    pub fn now_secs(&self) -> i64 {
        (self.now_secs)()
    }

    /// `POST /slack/events` with a JSON envelope.
    pub async fn event(&self, envelope: &serde_json::Value) -> reqwest::Result<Answer> {
        self.post("/slack/events", JSON, envelope.to_string().into_bytes(), &[])
            .await
    }

    /// `POST /slack/events` as Slack's retry number `retry` of the same delivery.
    pub async fn event_retry(&self, envelope: &serde_json::Value, retry: u32) -> reqwest::Result<Answer> {
        let retry = retry.to_string();
        let headers = [
            ("x-slack-retry-num", retry.as_str()),
            ("x-slack-retry-reason", "http_timeout"),
        ];
        self.post("/slack/events", JSON, envelope.to_string().into_bytes(), &headers)
            .await
    }

    /// `POST /slack/commands` with form fields.
    pub async fn command(&self, fields: &[(&str, &str)]) -> reqwest::Result<Answer> {
        let body = serde_urlencoded::to_string(fields).unwrap_or_default();
        self.post("/slack/commands", FORM, body.into_bytes(), &[]).await
    }

    /// `POST /slack/interactions` with `payload=<json>`.
    pub async fn interaction(&self, payload: &serde_json::Value) -> reqwest::Result<Answer> {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default();
        self.post("/slack/interactions", FORM, body.into_bytes(), &[])
            .await
    }

    /// Signs `body` now and posts it.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        extra_headers: &[(&str, &str)],
    ) -> reqwest::Result<Answer> {
        let headers = self.signed_headers(self.now_secs(), &body);
        self.post_with(path, content_type, body, headers, extra_headers)
            .await
    }

    /// Posts with the given signature headers (tests forge, age or omit them with this).
    pub async fn post_with(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        mut headers: HeaderMap,
        extra_headers: &[(&str, &str)],
    ) -> reqwest::Result<Answer> {
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(CONTENT_TYPE, value);
        }
        for (name, value) in extra_headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok(Answer { status, body })
    }

    /// The two signature headers for `body` at `timestamp`.
    pub fn signed_headers(&self, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&timestamp.to_string()) {
            headers.insert(TIMESTAMP_HEADER, value);
        }
        if let Ok(value) = HeaderValue::from_str(&sign(&self.secret, timestamp, body)) {
            headers.insert(SIGNATURE_HEADER, value);
        }
        headers
    }
}

fn system_now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
    #[test]
    fn signs_slacks_documented_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body.as_bytes()),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
