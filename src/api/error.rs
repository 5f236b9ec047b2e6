//! API errors and the HTTP answers they become: the client's mistakes are 4xx with a message
//! that says what to fix; the store's failures are logged and answered without detail.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::export::FilterError;
use crate::domain::tokens::TokenError;
use crate::store::StoreError;

/// When a client refused for [`ApiError::Busy`] is asked to try again.
const BUSY_RETRY_AFTER_SECS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error(transparent)]
    BadFilter(#[from] FilterError),
    #[error("{0}")]
    BadRequest(String),
    #[error("too many exports are being streamed right now; try again in a few seconds")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Missing => ApiError::Unauthorized("send `Authorization: Bearer <token>`"),
            TokenError::Unknown => ApiError::Unauthorized("the token is not valid"),
            TokenError::Revoked => ApiError::Unauthorized("the token was revoked"),
            TokenError::Ambiguous => ApiError::BadRequest(err.to_string()),
            TokenError::Store(err) => ApiError::Store(err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadFilter(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Busy => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self {
            ApiError::Store(err) => {
                tracing::error!(error = %err, "export API failed");
                "the export could not be read; try again".to_owned()
            }
            other => other.to_string(),
        };
        let body = Json(serde_json::json!({ "error": message }));
        if status == StatusCode::UNAUTHORIZED {
            return (
                status,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"circlet\"")],
                body,
            )
                .into_response();
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return (status, [(header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS)], body).into_response();
        }
        (status, body).into_response()
    }
}
