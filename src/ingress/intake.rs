//! What every Slack delivery goes through once it is known to come from Slack, whichever way it
//! arrived (a signed HTTP request or a Socket Mode envelope): attribute it to an installation,
//! store it durably in the inbox, and say what Slack gets back. The transports differ only in
//! how they prove the sender and how the [`Reply`] travels.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::IngressError;
use crate::clock::SharedClock;
use crate::inbox::{HandlerRegistry, InboxWriter, NewInboxItem, TeamGate};
use crate::metrics::Metrics;

/// What Slack is answered once a delivery is stored (or knowingly ignored).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An empty acknowledgement.
    Empty,
    /// An answer Slack shows or acts on: a challenge, a modal's inline errors, a slash
    /// command's immediate message, an empty options list.
    Json(serde_json::Value),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Empty => StatusCode::OK.into_response(),
            Reply::Json(body) => Json(body).into_response(),
        }
    }
}

/// The parts of the app a delivery needs after it was proven to come from Slack.
#[derive(Clone)]
pub struct Intake {
    pub(crate) writer: InboxWriter,
    pub(crate) registry: Arc<HandlerRegistry>,
    pub(crate) metrics: Metrics,
    pub(crate) clock: SharedClock,
    pub(crate) gate: Arc<dyn TeamGate>,
}

impl Intake {
    pub fn new(
        writer: InboxWriter,
        registry: Arc<HandlerRegistry>,
        metrics: Metrics,
        clock: SharedClock,
        gate: Arc<dyn TeamGate>,
    ) -> Self {
        Self {
            writer,
            registry,
            metrics,
            clock,
            gate,
        }
    }

    /// False when `team_id` is known not to be an installed workspace (counted and logged for
    /// `route`). Unknown yet counts as true: the worker checks again before anything reads it.
    pub(crate) fn admits(&self, team_id: &str, route: &'static str) -> bool {
        if self.gate.admits_now(team_id) == Some(false) {
            tracing::info!(%team_id, route, "ignored a request for a workspace Circlet is not installed in");
            self.metrics.count_foreign_team(route);
            return false;
        }
        true
    }

    /// Stores `item` durably before the caller acknowledges. A repeat of a stored delivery
    /// (Slack's retries keep the event_id) succeeds without storing anything new.
    pub(crate) async fn store_item(
        &self,
        item: NewInboxItem,
        retry_num: Option<u32>,
    ) -> Result<(), IngressError> {
        let event_id = item.event_id.clone();
        match self.writer.write(item).await {
            Ok(()) => {
                if retry_num.is_some() {
                    tracing::debug!(%event_id, ?retry_num, "Slack redelivery acknowledged; stored once");
                }
                Ok(())
            }
            Err(err) => {
                tracing::warn!(%event_id, error = %err, "could not store a Slack delivery; not acknowledging it so Slack retries");
                Err(IngressError::Unavailable)
            }
        }
    }
}
