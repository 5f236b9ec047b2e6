//! Where domain services plug in: a handler per (kind, type) of inbox row.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{InboxKind, InboxRow};

/// One claimed row handed to its handler. Delivery is at least once: a handler may see the
/// same row again after a crash, so it must be idempotent.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: InboxRow,
}

impl Job {
    /// True when an earlier attempt may already have done part of the work.
    pub fn is_retry(&self) -> bool {
        self.row.attempts > 1
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HandlerError {
    /// Worth trying again later (Slack unavailable, rate limited, database busy).
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed (malformed payload, a Slack error that retrying cannot fix).
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    pub fn transient(message: impl Into<String>) -> Self {
        HandlerError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        HandlerError::Permanent(message.into())
    }
}

#[async_trait]
pub trait InboxHandler: Send + Sync + 'static {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError>;

    /// Whether the worker should hand this handler all its rows of a claimed batch at once
    /// (through [`InboxHandler::handle_batch`]) instead of one by one, concurrently.
    fn takes_batches(&self) -> bool {
        false
    }

    /// Handles rows in inbox order, one result per job. Handlers whose work gains from one
    /// shared transaction override this together with `takes_batches`.
    async fn handle_batch(&self, jobs: &[Job]) -> Vec<Result<(), HandlerError>> {
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            results.push(self.handle(job).await);
        }
        results
    }
}

/// Handlers keyed by row kind and type. Rows with no handler are finished without work.
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<(InboxKind, String), Arc<dyn InboxHandler>>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(
        &mut self,
        kind: InboxKind,
        event_type: impl Into<String>,
        handler: Arc<dyn InboxHandler>,
    ) {
        self.handlers.insert((kind, event_type.into()), handler);
    }

    pub fn with(
        mut self,
        kind: InboxKind,
        event_type: impl Into<String>,
        handler: Arc<dyn InboxHandler>,
    ) -> Self {
        self.register(kind, event_type, handler);
        self
    }

    pub fn get(&self, kind: InboxKind, event_type: &str) -> Option<&Arc<dyn InboxHandler>> {
        self.handlers.get(&(kind, event_type.to_owned()))
    }

    pub fn handles(&self, kind: InboxKind, event_type: &str) -> bool {
        self.get(kind, event_type).is_some()
    }

    /// Types with a handler for `kind`, sorted.
    pub fn types(&self, kind: InboxKind) -> Vec<&str> {
        let mut types: Vec<&str> = self
            .handlers
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.as_str())
            .collect();
        types.sort_unstable();
        types
    }
}
