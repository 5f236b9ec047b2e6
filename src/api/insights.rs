//! `GET /api/v1/insights?format=csv|jsonl&since=&until=&tag=&channel=&status=&after_id=`:
//! the export, streamed a page at a time as the client takes it (chunked), so memory stays
//! flat for any size and a slow client holds no database connection.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::paged_body::PagedBody;
use super::{ApiError, ApiState};
use crate::domain::export::{ExportFormat, FilterError, FilterInput};
use crate::domain::links;
use crate::domain::tokens::{self, TokenError};
use crate::store::{ExportPages, InsightRow, StoreResult};

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

impl ExportParams {
    /// The format asked for; CSV when none.
    pub fn format(&self) -> Result<ExportFormat, FilterError> {
        match self.format.as_deref() {
            Some(format) => format.parse::<ExportFormat>(),
            None => Ok(ExportFormat::Csv),
        }
    }

    pub fn filter_input(&self) -> FilterInput<'_> {
        FilterInput {
            since: self.since.as_deref(),
            until: self.until.as_deref(),
            tag: self.tag.as_deref(),
            channel: self.channel.as_deref(),
            status: self.status.as_deref(),
            after_id: self.after_id.as_deref(),
        }
    }
}

pub async fn export(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let now = state.clock.now_millis();
    let tokens = state.store.tokens();
    let token = tokens::authenticate(&tokens, &state.last_use, token, now).await?;
    let Query(params) = params.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let format = params.format()?;
    let team = tokens::workspace_of(tokens.as_ref(), &token).await?;
    let mut filter = params.filter_input().parse_allowing_empty(team.as_ref())?;
    let pages: Box<dyn ExportPages> = match &team {
        // The token's workspace and the workspaces linked to it.
        Some(team) => {
            let covered = links::covered_by(state.store.workspaces().as_ref(), team).await?;
            filter.linked_teams = covered[1..].to_vec();
            state.store.reads().export_pages(filter)
        }
        // Nothing to read (no workspace has insights yet): an empty export, not every
        // workspace's.
        None => Box::new(NoPages),
    };
    let slot = state
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy)?;
    let body = PagedBody {
        pages,
        format,
        tokens,
        token,
        _slot: slot,
    };
    let filename = format!("insights.{}", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body.into_stream()),
    )
        .into_response())
}

/// An export with no rows: the header alone.
struct NoPages;

#[async_trait::async_trait]
impl ExportPages for NoPages {
    async fn next_page(&mut self) -> StoreResult<Vec<InsightRow>> {
        Ok(Vec::new())
    }
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
