//! Slack ingress: verify, persist, acknowledge. Nothing slow happens here; workers do the rest.

pub mod body;
pub mod commands;
pub mod error;
pub mod events;
pub mod interactions;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;

pub use events::SUBSCRIBED_EVENTS;
pub use interactions::HANDLED_INTERACTIONS;

use self::error::IngressError;
use self::signature::SignatureVerifier;
use crate::clock::SharedClock;
use crate::inbox::{HandlerRegistry, InboxWriter, NewInboxItem, TeamGate};
use crate::metrics::Metrics;

pub const EVENTS_PATH: &str = "/slack/events";
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
pub const COMMANDS_PATH: &str = "/slack/commands";

#[derive(Clone)]
pub struct IngressState {
    pub(crate) verifier: Arc<SignatureVerifier>,
    pub(crate) writer: InboxWriter,
    pub(crate) registry: Arc<HandlerRegistry>,
    pub(crate) metrics: Metrics,
    pub(crate) clock: SharedClock,
    pub(crate) gate: Arc<dyn TeamGate>,
    /// How long a request's whole body may take to arrive.
    pub(crate) body_deadline: Duration,
}

impl IngressState {
    pub fn new(
        verifier: SignatureVerifier,
        writer: InboxWriter,
        registry: Arc<HandlerRegistry>,
        metrics: Metrics,
        clock: SharedClock,
        gate: Arc<dyn TeamGate>,
        body_deadline: Duration,
    ) -> Self {
        Self {
            verifier: Arc::new(verifier),
            writer,
            registry,
            metrics,
            clock,
            gate,
            body_deadline,
        }
    }

    /// False when `team_id` is known not to be the installed workspace (counted and logged for
    /// `route`). Unknown yet counts as true: the worker checks again before anything reads it.
    fn admits(&self, team_id: &str, route: &'static str) -> bool {
        if self.gate.admits_now(team_id) == Some(false) {
            tracing::info!(%team_id, route, "ignored a request for a workspace Circlet is not installed in");
            self.metrics.count_foreign_team(route);
            return false;
        }
        true
    }

    /// Stores `item` durably before the caller acknowledges. A repeat of a stored delivery
    /// (Slack's retries keep the event_id) succeeds without storing anything new.
    async fn store_item(&self, item: NewInboxItem, retry_num: Option<u32>) -> Result<(), IngressError> {
        let event_id = item.event_id.clone();
        match self.writer.write(item).await {
            Ok(()) => {
                if retry_num.is_some() {
                    tracing::debug!(%event_id, ?retry_num, "Slack redelivery acknowledged; stored once");
                }
                Ok(())
            }
            Err(err) => {
                tracing::warn!(%event_id, error = %err, "could not store a Slack delivery; answering 503 so Slack retries");
                Err(IngressError::Unavailable)
            }
        }
    }
}

pub fn router(state: IngressState) -> Router {
    Router::new()
        .route(EVENTS_PATH, post(events::receive))
        .route(INTERACTIONS_PATH, post(interactions::receive))
        .route(COMMANDS_PATH, post(commands::receive))
        .with_state(state)
}
