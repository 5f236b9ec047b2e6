//! `GET /api/v1/insights?format=csv|jsonl&since=&until=&tag=&channel=&status=&after_id=`:
//! the export, streamed as it is read (chunked), so memory stays flat for any size.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiError, ApiState};
use crate::domain::export::{self, ExportFormat, FilterInput};
use crate::domain::tokens::{self, TokenError};

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    format: Option<String>,
    since: Option<String>,
    until: Option<String>,
    tag: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    after_id: Option<String>,
}

pub async fn export(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let now = state.clock.now_millis();
    let tokens = state.store.tokens();
    let token = tokens::authenticate(tokens.as_ref(), token, now).await?;
    let Query(params) = params.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let format = match params.format.as_deref() {
        Some(format) => format.parse::<ExportFormat>()?,
        None => ExportFormat::Csv,
    };
    let team = tokens::workspace_of(tokens.as_ref(), &token).await?;
    let input = FilterInput {
        since: params.since.as_deref(),
        until: params.until.as_deref(),
        tag: params.tag.as_deref(),
        channel: params.channel.as_deref(),
        status: params.status.as_deref(),
        after_id: params.after_id.as_deref(),
    };
    let mut filter = input.parse(team.as_deref(), now)?;
    if team.is_none() {
        // No workspace has insights yet: an empty export, not every workspace's.
        filter.team_id = Some(String::new());
    }
    let body = export::encoded(state.store.reads().as_ref(), filter, format).map(|chunk| {
        chunk.map(|(bytes, _)| bytes).inspect_err(|err| {
            tracing::error!(error = %err, "export API stream failed; the response is cut short");
        })
    });
    let filename = format!("insights.{}", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The token of `Authorization: Bearer <token>`; any other scheme is refused.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(TokenError::Missing)?
        .to_str()
        .map_err(|_| TokenError::Unknown)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(
            "use the Bearer scheme: `Authorization: Bearer <token>`",
        ));
    }
    Ok(token.trim())
}
