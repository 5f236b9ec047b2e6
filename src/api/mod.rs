//! The HTTP API for product teams' own tools: `GET /api/v1/insights`, authorised by API tokens.

mod error;
pub(crate) mod insights;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::tokens::LastUse;
use crate::store::SharedStore;

pub const INSIGHTS_PATH: &str = "/api/v1/insights";

#[derive(Clone)]
pub struct ApiState {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub last_use: Arc<LastUse>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(INSIGHTS_PATH, get(insights::export))
        .with_state(state)
}
