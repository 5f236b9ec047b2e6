//! Slack ingress: verify, persist, acknowledge. Nothing slow happens here; workers do the rest.
//! HTTP requests are verified here; Socket Mode envelopes (`crate::socket`) share the [`Intake`].

pub mod body;
pub mod commands;
pub mod error;
pub mod events;
pub mod intake;
pub mod interactions;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;

pub use events::SUBSCRIBED_EVENTS;
pub use interactions::HANDLED_INTERACTIONS;

pub use self::intake::{Intake, Reply};
use self::signature::SignatureVerifier;

pub const EVENTS_PATH: &str = "/slack/events";
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
pub const COMMANDS_PATH: &str = "/slack/commands";

/// The HTTP side of ingress: proving a request came from Slack, then the shared [`Intake`].
#[derive(Clone)]
pub struct IngressState {
    pub(crate) verifier: Arc<SignatureVerifier>,
    pub(crate) intake: Intake,
    /// How long a request's whole body may take to arrive.
    pub(crate) body_deadline: Duration,
}

impl IngressState {
    pub fn new(verifier: SignatureVerifier, intake: Intake, body_deadline: Duration) -> Self {
        Self {
            verifier: Arc::new(verifier),
            intake,
            body_deadline,
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
