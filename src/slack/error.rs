//! Typed failures of Slack Web API calls.

use std::time::Duration;

use crate::inbox::HandlerError;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SlackError {
    /// Slack answered `ok:false` with this error code (`not_in_channel`, `missing_scope`, …).
    #[error("Slack {method} failed: {code}")]
    Api { method: &'static str, code: String },
    /// Still rate limited after the retries this call may make.
    #[error("Slack rate-limited {method}; retry after {}s", retry_after.as_secs())]
    RateLimited {
        method: &'static str,
        retry_after: Duration,
    },
    /// Timeouts, 5xx answers or connection failures outlasted the retries.
    #[error("Slack unavailable for {method}: {detail}")]
    Unavailable { method: &'static str, detail: String },
    /// An answer that cannot be understood, or a 4xx other than 429.
    #[error("unexpected answer from Slack {method}: {detail}")]
    Protocol { method: &'static str, detail: String },
    #[error("no Slack bot token is configured (set SLACK_BOT_TOKEN)")]
    NoToken,
    /// The workspace has no active installation: never installed, uninstalled, or its token
    /// revoked. Nothing is called on its behalf.
    #[error("Circlet is not installed in workspace {team_id}")]
    NotInstalled { team_id: String },
}

/// `ok:false` codes that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "team_added_to_org",
];

impl SlackError {
    /// A request that got no answer: it timed out, or the connection failed.
    pub fn unanswered(method: &'static str, err: &reqwest::Error) -> Self {
        let detail = if err.is_timeout() {
            "timed out"
        } else {
            "connection failed"
        };
        SlackError::Unavailable {
            method,
            detail: detail.into(),
        }
    }

    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How the failure is labelled in metrics and logs: Slack's error code, or the kind of
    /// failure (`rate_limited`, `timeout`, `http_5xx`, `connection`, `protocol`…).
    pub fn result_label(&self) -> &str {
        match self {
            SlackError::Api { code, .. } => code.as_str(),
            SlackError::RateLimited { .. } => "rate_limited",
            SlackError::Unavailable { detail, .. } if detail.starts_with("timed out") => "timeout",
            SlackError::Unavailable { detail, .. } if detail.starts_with("HTTP") => "http_5xx",
            SlackError::Unavailable { .. } => "connection",
            SlackError::Protocol { .. } => "protocol",
            SlackError::NoToken => "no_token",
            SlackError::NotInstalled { .. } => "not_installed",
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            SlackError::Api { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            SlackError::RateLimited { .. } | SlackError::Unavailable { .. } => true,
            SlackError::Protocol { .. } | SlackError::NoToken | SlackError::NotInstalled { .. } => false,
        }
    }
}

impl From<SlackError> for HandlerError {
    fn from(err: SlackError) -> Self {
        let retry_after = match &err {
            SlackError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        if err.is_transient() {
            HandlerError::Transient {
                message: err.to_string(),
                retry_after,
            }
        } else {
            HandlerError::Permanent(err.to_string())
        }
    }
}
