//! Reading and verifying a Slack request: size cap while reading, then the signature, before
//! any byte of the body is parsed.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::IngressState;
use super::error::IngressError;

/// Interactivity and slash commands arrive as forms; events as JSON.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Slack's payloads are far smaller; anything larger is refused while reading.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body whose Slack signature checked out.
pub struct VerifiedBody {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl VerifiedBody {
    /// Refuses a content type other than `expected` (parameters such as charset allowed).
    pub fn require_content_type(&self, expected: &'static str) -> Result<(), IngressError> {
        let actual = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = actual.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(IngressError::UnsupportedMediaType { expected })
        }
    }

    /// Slack's retry number for a redelivery, if this is one.
    pub fn retry_num(&self) -> Option<u32> {
        self.headers
            .get("x-slack-retry-num")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

/// Reads at most [`MAX_BODY_BYTES`] within `deadline`: a declared length over the cap is
/// refused before reading, and a body still arriving at the deadline is answered 408 (a slow
/// client otherwise holds its connection and buffer for as long as it likes).
pub async fn read_capped(headers: &HeaderMap, body: Body, deadline: Duration) -> Result<Bytes, IngressError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(IngressError::TooLarge);
    }
    let read = tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect());
    match read.await {
        Err(_) => Err(IngressError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(IngressError::TooLarge),
        Ok(Err(_)) => Err(IngressError::BodyRead),
    }
}

impl IngressState {
    /// Reads the body under the cap, verifies its signature, then checks its content type:
    /// everything a Slack request must pass before any parsing.
    pub async fn read_verified(
        &self,
        headers: HeaderMap,
        body: Body,
        content_type: &'static str,
    ) -> Result<VerifiedBody, IngressError> {
        let body = read_capped(&headers, body, self.body_deadline).await?;
        let request = self.verify(headers, body)?;
        request.require_content_type(content_type)?;
        Ok(request)
    }

    /// Verifies an already read body, counting failures for the metrics page.
    pub fn verify(&self, headers: HeaderMap, body: Bytes) -> Result<VerifiedBody, IngressError> {
        if let Err(err) = self.verifier.verify(&headers, &body) {
            self.intake.metrics.count_signature_failure(err.reason());
            tracing::debug!(reason = err.reason(), "refused a Slack request");
            return Err(err.into());
        }
        Ok(VerifiedBody { headers, body })
    }
}
