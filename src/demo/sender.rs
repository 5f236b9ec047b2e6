//! Sends requests to Circlet the way Slack does: signed, with Slack's content types. Used by
//! the demo, the integration tests and the load generator.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use std::sync::Arc;

use crate::clock::{SharedClock, SystemClock};
use crate::ingress::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::secret::Secret;

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";

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
    secret: Secret,
    http: reqwest::Client,
    clock: SharedClock,
}

impl SignedSender {
    pub fn new(base_url: impl Into<String>, secret: Secret) -> Self {
        crate::telemetry::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base_url: base_url.into(),
            secret,
            http,
            clock: Arc::new(SystemClock),
        }
    }

    /// Signs with this clock's time (the app under test must use the same one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in seconds, by the sender's clock.
    pub fn now_secs(&self) -> i64 {
        self.clock.now_secs()
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
        let headers = self.signed_headers(self.clock.now_secs(), &body);
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
