//! Where domain services plug in: a handler per (kind, type) of inbox row.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::store_error::StoreError;

use super::{InboxKind, InboxRow};

/// One claimed row handed to its handler. Delivery is at least once: a handler may see the
/// same row again after a crash, so it must be idempotent.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: InboxRow,
}

impl Job {
    /// True when an earlier attempt may already have done part of the work: a second claim, or
    /// a row that failed before and was re-queued by `circlet inbox retry` (which resets its
    /// attempts but keeps its last error).
    pub fn is_retry(&self) -> bool {
        self.row.attempts > 1 || self.row.last_error.is_some()
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

/// A database failure: the row waits and runs again when that may help.
impl From<StoreError> for HandlerError {
    /// Transient only when trying again may help: a broken statement is not retried eight times.
    fn from(err: StoreError) -> Self {
        if err.is_transient() {
            HandlerError::transient(err.to_string())
        } else {
            HandlerError::permanent(err.to_string())
        }
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

/// Why a modal submission is not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewRejection {
    /// The user's input needs fixing: messages per input `block_id`, shown in the modal.
    #[error("invalid input in {} field(s)", .0.len())]
    Invalid(BTreeMap<String, String>),
    /// The submission could not be checked now (database unreachable); Slack shows an error
    /// and the user can submit again.
    #[error("cannot check the submission now: {0}")]
    Unavailable(String),
}

/// Validates a modal's `view_submission` in the request path, before it is stored, so input
/// errors are answered inline in the modal (`response_action: errors`).
#[async_trait]
pub trait ViewSubmissionCheck: Send + Sync + 'static {
    /// `payload` is the interaction JSON exactly as Slack sent it.
    async fn check(&self, team_id: &str, payload: &str) -> Result<(), ViewRejection>;
}

/// Handlers keyed by row kind and type. Rows with no handler are finished without work.
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<(InboxKind, String), Arc<dyn InboxHandler>>,
    /// Per view `callback_id`.
    view_checks: HashMap<String, Arc<dyn ViewSubmissionCheck>>,
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

    /// Adds `handler` for (kind, type) beside any handler already there: each row goes to both,
    /// in the order they were added. For rows several services share, such as `block_actions`,
    /// where each acts on its own buttons and leaves the rest.
    pub fn register_also(
        &mut self,
        kind: InboxKind,
        event_type: impl Into<String>,
        handler: Arc<dyn InboxHandler>,
    ) {
        let key = (kind, event_type.into());
        let handler = match self.handlers.remove(&key) {
            Some(first) => Arc::new(Both(first, handler)),
            None => handler,
        };
        self.handlers.insert(key, handler);
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

    /// Checks submissions of the views with this `callback_id` before they are stored.
    pub fn register_view_check(
        &mut self,
        callback_id: impl Into<String>,
        check: Arc<dyn ViewSubmissionCheck>,
    ) {
        self.view_checks.insert(callback_id.into(), check);
    }

    pub fn view_check(&self, callback_id: &str) -> Option<&Arc<dyn ViewSubmissionCheck>> {
        self.view_checks.get(callback_id)
    }
}

/// Two handlers of the same rows, run one after the other. A row one of them fails is run
/// again by both, so each must be idempotent (as every handler is).
struct Both(Arc<dyn InboxHandler>, Arc<dyn InboxHandler>);

#[async_trait]
impl InboxHandler for Both {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        self.0.handle(job).await?;
        self.1.handle(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::InboxState;

    fn job(attempts: u32, last_error: Option<&str>) -> Job {
        Job {
            row: InboxRow {
                id: 1,
                team_id: "T1".into(),
                event_id: "task:k".into(),
                kind: InboxKind::Task,
                event_type: "close_loop".into(),
                payload: "{}".into(),
                received_at: 0,
                attempts,
                state: InboxState::Running,
                last_error: last_error.map(str::to_owned),
            },
        }
    }

    #[test]
    fn a_requeued_dead_row_counts_as_a_retry() {
        assert!(!job(1, None).is_retry(), "first run");
        assert!(job(2, None).is_retry(), "claimed again after its lease lapsed");
        // `circlet inbox retry` resets attempts to 0 (claimed: 1) and keeps the error.
        assert!(job(1, Some("Slack unavailable for chat.postMessage: timed out")).is_retry());
    }

    /// Counts the rows it saw.
    struct Counting(std::sync::atomic::AtomicU32);

    #[async_trait]
    impl InboxHandler for Counting {
        async fn handle(&self, _job: &Job) -> Result<(), HandlerError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }

    #[tokio::test]
    async fn handlers_registered_also_each_see_every_row() {
        let (first, second) = (
            Arc::new(Counting(Default::default())),
            Arc::new(Counting(Default::default())),
        );
        let mut registry = HandlerRegistry::new();
        registry.register_also(InboxKind::Interaction, "block_actions", first.clone());
        registry.register_also(InboxKind::Interaction, "block_actions", second.clone());
        let handler = registry.get(InboxKind::Interaction, "block_actions").unwrap();
        handler.handle(&job(1, None)).await.unwrap();
        let seen = |c: &Counting| c.0.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!((seen(&first), seen(&second)), (1, 1));
    }
}
