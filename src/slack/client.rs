//! The one Slack Web API client. slack-morphism does the models and transport; this adds what
//! a production app needs on top: a timeout per call, retries (429 after `Retry-After`; 5xx,
//! timeouts and connection errors with capped exponential backoff and jitter), error codes in
//! logs and metrics, and posting that does not double-post when a retry follows a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnectorBuilder;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::SlackError;
use super::pacer::Pacer;
use crate::clock::SharedClock;
use crate::inbox::Backoff;
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Metadata `event_type` on every message Circlet posts; its payload carries the post's key.
const POST_METADATA_TYPE: &str = "circlet_post";
/// How far back a retry looks for a message an earlier attempt may have posted: longer than the
/// inbox's whole retry schedule, so a late retry still finds it.
const POST_LOOKBACK_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct SlackClientSettings {
    /// One attempt's time limit; slack-morphism itself has none.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// A `Retry-After` longer than this is not slept through here: the call fails as rate
    /// limited and the inbox retries the job later, so a worker is never parked for minutes.
    pub max_retry_after: Duration,
    /// Time between two posts to one channel (Slack: about one message per second).
    pub post_interval: Duration,
}

impl Default for SlackClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(8)),
            max_retry_after: Duration::from_secs(30),
            post_interval: Duration::from_secs(1),
        }
    }
}

type Session<'a> = SlackClientSession<'a, SlackClientHyperHttpsConnector>;

struct Inner {
    client: SlackHyperClient,
    http: reqwest::Client,
    settings: SlackClientSettings,
    metrics: Metrics,
    clock: SharedClock,
    pacer: Pacer,
}

/// Cheap to clone. The transport, pacing and retry settings are shared by every workspace; the
/// token is this handle's own ([`SlackApi::with_token`]).
#[derive(Clone)]
pub struct SlackApi(Arc<Inner>, Option<SlackApiToken>);

fn api_token(token: &Secret) -> SlackApiToken {
    SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_owned()))
}

/// A slack-morphism client for `api_url` that also speaks plain HTTP, for a local fake Slack.
pub fn make_hyper_client(api_url: &str) -> SlackHyperClient {
    let builder = match HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder,
        Err(err) => {
            tracing::warn!(error = %err, "no system root certificates; HTTPS calls to Slack will fail");
            HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        }
    };
    let connector = builder.https_or_http().enable_http1().enable_http2().build();
    SlackClient::new(SlackClientHyperConnector::from(connector).with_slack_api_url(api_url))
}

impl SlackApi {
    pub fn new(
        api_url: &str,
        bot_token: Option<&Secret>,
        settings: SlackClientSettings,
        metrics: Metrics,
        clock: SharedClock,
    ) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|err| SlackError::Protocol {
                method: "client",
                detail: err.to_string(),
            })?;
        let inner = Arc::new(Inner {
            client: make_hyper_client(api_url),
            http,
            pacer: Pacer::new(settings.post_interval),
            settings,
            metrics,
            clock,
        });
        Ok(Self(inner, bot_token.map(api_token)))
    }

    /// The same client calling with `token` (an installation's bot token).
    pub fn with_token(&self, token: &Secret) -> Self {
        Self(self.0.clone(), Some(api_token(token)))
    }

    /// Calls a Web API method with the bot token, retrying what is worth retrying. `op` gets a
    /// fresh session per attempt; `method` names the call in logs and metrics:
    ///
    /// ```text
    /// let request = &request;
    /// slack.call("chat.postMessage", |s| async move { s.chat_post_message(request).await }).await?;
    /// ```
    pub async fn call<'a, T, F, Fut>(&'a self, method: &'static str, op: F) -> Result<T, SlackError>
    where
        F: Fn(Session<'a>) -> Fut,
        Fut: Future<Output = ClientResult<T>> + 'a,
    {
        let token = self.token()?;
        self.retrying(method, || {
            let attempt = op(self.0.client.open_session(token));
            async move { attempt.await.map_err(|err| classify(method, err)) }
        })
        .await
    }

    /// Posts a message at most once per `key`, even when an attempt times out after Slack
    /// posted it: before retrying such an attempt, and first of all when `check_first` (a job
    /// being re-run after a crash), it looks for a message carrying the key in its metadata.
    pub async fn post_message_once(
        &self,
        key: &str,
        mut request: SlackApiChatPostMessageRequest,
        check_first: bool,
    ) -> Result<SlackTs, SlackError> {
        const METHOD: &str = "chat.postMessage";
        let token = self.token()?;
        let since = self.0.clock.now_secs() - POST_LOOKBACK_SECS;
        request.content.metadata = Some(
            SlackMessageMetadata::new(POST_METADATA_TYPE.into())
                .with_event_payload(HashMap::from([("key".to_owned(), key.to_owned())])),
        );
        if check_first && let Some(ts) = self.find_post(&request, key, since).await? {
            return Ok(ts);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let session = self.0.client.open_session(token);
            let posted = self
                .once(METHOD, async {
                    session
                        .chat_post_message(&request)
                        .await
                        .map_err(|err| classify(METHOD, err))
                })
                .await;
            let err = match posted {
                Ok(response) => return Ok(response.ts),
                Err(err) => err,
            };
            let Some(delay) = self.retry_delay(attempt, &err) else {
                return Err(err);
            };
            tokio::time::sleep(delay).await;
            // Only a timeout, 5xx or broken connection can hide a successful post.
            if matches!(err, SlackError::Unavailable { .. })
                && let Some(ts) = self.find_post(&request, key, since).await?
            {
                tracing::info!(%key, "an earlier attempt had posted; not posting again");
                return Ok(ts);
            }
        }
    }

    /// Waits for `channel`'s next posting slot: Slack takes about one message per second per
    /// channel. Scheduled posts (digests, recaps, prompts) go through this; replies that follow
    /// a person's action are one per thread and rely on Slack's 429 and `Retry-After` instead.
    pub async fn pace(&self, channel: &str) {
        self.0.pacer.wait(channel).await;
    }

    /// Answers through a `response_url` (slash commands, message actions). These URLs are
    /// absolute and not under the API base URL.
    pub async fn respond(&self, response_url: &str, message: &serde_json::Value) -> Result<(), SlackError> {
        const METHOD: &str = "response_url";
        self.retrying(METHOD, || async {
            let sent = self.0.http.post(response_url).json(message).send().await;
            http_outcome(METHOD, sent)
        })
        .await
    }

    /// Sends a file's bytes to the upload URL `files.getUploadURLExternal` gave, streamed from
    /// disk (an export can be large); the URL is absolute, like a `response_url`.
    pub async fn upload_file(
        &self,
        upload_url: &str,
        path: &std::path::Path,
        length: u64,
    ) -> Result<(), SlackError> {
        const METHOD: &str = "files.upload_url";
        self.retrying(METHOD, || async {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|err| SlackError::Protocol {
                    method: METHOD,
                    detail: format!("cannot read the file to upload: {err}"),
                })?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let sent = self
                .0
                .http
                .post(upload_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, length)
                .body(body)
                .send()
                .await;
            http_outcome(METHOD, sent)
        })
        .await
    }

    /// Whether both call with the same token.
    pub fn same_token(&self, other: &SlackApi) -> bool {
        fn value(api: &SlackApi) -> Option<&str> {
            api.1.as_ref().map(|token| token.token_value.0.as_str())
        }
        value(self) == value(other)
    }

    /// Whether a bot token is configured.
    pub fn has_token(&self) -> bool {
        self.1.is_some()
    }

    fn token(&self) -> Result<&SlackApiToken, SlackError> {
        self.1.as_ref().ok_or(SlackError::NoToken)
    }

    /// Looks for a message this app posted under `key` since `since` (Unix seconds).
    async fn find_post(
        &self,
        request: &SlackApiChatPostMessageRequest,
        key: &str,
        since: i64,
    ) -> Result<Option<SlackTs>, SlackError> {
        let channel = request.channel.to_string();
        let oldest = format!("{since}.000000");
        let messages = match &request.thread_ts {
            Some(thread_ts) => {
                // slack-morphism's replies request has no include_all_metadata; ask directly.
                let thread_ts = thread_ts.to_string();
                let params = vec![
                    ("channel", Some(channel.as_str())),
                    ("ts", Some(thread_ts.as_str())),
                    ("oldest", Some(oldest.as_str())),
                    ("include_all_metadata", Some("true")),
                    ("limit", Some("200")),
                ];
                let replies: SlackApiConversationsRepliesResponse = self
                    .call("conversations.replies", async |s| {
                        s.http_session_api
                            .http_get("conversations.replies", &params, None)
                            .await
                    })
                    .await?;
                replies.messages
            }
            None => {
                let history_request = SlackApiConversationsHistoryRequest::new()
                    .with_channel(request.channel.clone())
                    .with_oldest(SlackTs::new(oldest))
                    .with_limit(200)
                    .with_include_all_metadata(true);
                self.call("conversations.history", async |s| {
                    s.conversations_history(&history_request).await
                })
                .await?
                .messages
            }
        };
        Ok(messages.into_iter().find_map(|message| {
            let metadata = message.content.metadata?;
            let carries_key = metadata.event_type == POST_METADATA_TYPE
                && metadata
                    .event_payload
                    .as_ref()
                    .and_then(|p| p.get("key"))
                    .map(String::as_str)
                    == Some(key);
            carries_key.then_some(message.origin.ts)
        }))
    }

    async fn retrying<T, Fut>(
        &self,
        method: &'static str,
        mut op: impl FnMut() -> Fut,
    ) -> Result<T, SlackError>
    where
        Fut: Future<Output = Result<T, SlackError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(method, op()).await {
                Ok(value) => return Ok(value),
                Err(err) => match self.retry_delay(attempt, &err) {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(err),
                },
            }
        }
    }

    /// One attempt under the timeout, logged and counted.
    async fn once<T>(
        &self,
        method: &'static str,
        attempt: impl Future<Output = Result<T, SlackError>>,
    ) -> Result<T, SlackError> {
        let timeout = self.0.settings.timeout;
        let result = tokio::time::timeout(timeout, attempt).await.unwrap_or_else(|_| {
            Err(SlackError::Unavailable {
                method,
                detail: format!("timed out after {}s", timeout.as_secs_f32()),
            })
        });
        let label = match &result {
            Ok(_) => "ok",
            Err(err) => err.result_label(),
        };
        self.0.metrics.count_slack_call(method, label);
        if let Err(err) = &result {
            tracing::warn!(method, result = label, error = %err, "Slack API call failed");
        }
        result
    }

    /// How long to wait before attempt `attempt + 1`, or None to give up now.
    fn retry_delay(&self, attempt: u32, err: &SlackError) -> Option<Duration> {
        let settings = &self.0.settings;
        if attempt >= settings.max_attempts {
            return None;
        }
        match err {
            SlackError::RateLimited { retry_after, .. } if *retry_after <= settings.max_retry_after => {
                Some(*retry_after)
            }
            SlackError::RateLimited { .. } => None,
            err if err.is_transient() => Some(settings.backoff.delay(attempt)),
            _ => None,
        }
    }
}

fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs)
}

fn classify(method: &'static str, err: SlackClientError) -> SlackError {
    match err {
        SlackClientError::ApiError(api) => SlackError::Api {
            method,
            code: api.code,
        },
        SlackClientError::RateLimitError(limit) => SlackError::RateLimited {
            method,
            retry_after: limit.retry_after.unwrap_or(Duration::from_secs(1)),
        },
        SlackClientError::HttpError(http) if http.status_code.as_u16() == 429 => SlackError::RateLimited {
            method,
            retry_after: Duration::from_secs(1),
        },
        SlackClientError::HttpError(http) if http.status_code.is_server_error() => SlackError::Unavailable {
            method,
            detail: format!("HTTP {}", http.status_code.as_u16()),
        },
        SlackClientError::HttpError(http) => SlackError::Protocol {
            method,
            detail: format!("HTTP {}", http.status_code.as_u16()),
        },
        SlackClientError::HttpProtocolError(_)
        | SlackClientError::EndOfStream(_)
        | SlackClientError::SystemError(_) => SlackError::Unavailable {
            method,
            detail: "connection failed".into(),
        },
        SlackClientError::ProtocolError(_) | SlackClientError::SocketModeProtocolError(_) => {
            SlackError::Protocol {
                method,
                detail: "unreadable answer".into(),
            }
        }
    }
}

/// A plain HTTP answer (not a Web API method) as a Slack outcome: 2xx is fine, 429 and 5xx are
/// retried, anything else is the request's fault.
fn http_outcome(method: &'static str, sent: reqwest::Result<reqwest::Response>) -> Result<(), SlackError> {
    let response = sent.map_err(|err| SlackError::unanswered(method, &err))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.as_u16() == 429 {
        Err(SlackError::RateLimited {
            method,
            retry_after: retry_after_header(response.headers()),
        })
    } else if status.is_server_error() {
        Err(SlackError::Unavailable {
            method,
            detail: format!("HTTP {}", status.as_u16()),
        })
    } else {
        Err(SlackError::Protocol {
            method,
            detail: format!("HTTP {}", status.as_u16()),
        })
    }
}
