//! The HTTP API for product teams' own tools: `GET /api/v1/insights`, authorised by API tokens.

mod error;
pub(crate) mod insights;
mod paged_body;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;
pub use paged_body::ExportCut;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::clock::SharedClock;
use crate::domain::tokens::LastUse;
use crate::store::SharedStore;

pub const INSIGHTS_PATH: &str = "/api/v1/insights";

/// Export streams one process serves at once; more are answered 429. Each holds no database
/// connection between pages, but reading and encoding a page is work the Slack path shares.
pub const EXPORT_STREAMS: usize = 4;

#[derive(Clone)]
pub struct ApiState {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub last_use: Arc<LastUse>,
    /// [`EXPORT_STREAMS`] slots.
    pub exports: Arc<Semaphore>,
}

impl ApiState {
    pub fn new(store: SharedStore, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            last_use: Arc::default(),
            exports: Arc::new(Semaphore::new(EXPORT_STREAMS)),
        }
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(INSIGHTS_PATH, get(insights::export))
        .with_state(state)
}
