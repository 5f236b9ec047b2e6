//! Every way a Slack request can be refused, and the HTTP answer for each.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::signature::SignatureError;

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("unauthorized: {0}")]
    Signature(#[from] SignatureError),
    #[error("request body is larger than 1 MiB")]
    TooLarge,
    #[error("could not read the request body")]
    BodyRead,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("unsupported content type; expected {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("storage unavailable; retry later")]
    Unavailable,
}

impl IngressError {
    pub fn malformed(what: impl Into<String>) -> Self {
        IngressError::Malformed(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            IngressError::Signature(_) => StatusCode::UNAUTHORIZED,
            IngressError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IngressError::BodyRead | IngressError::Malformed(_) => StatusCode::BAD_REQUEST,
            IngressError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngressError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        // The text names the problem class only: never the payload or a computed signature.
        let status = self.status();
        let body = match &self {
            IngressError::Signature(_) => "invalid request signature".to_owned(),
            other => other.to_string(),
        };
        let mut response = (status, body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body is never read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
