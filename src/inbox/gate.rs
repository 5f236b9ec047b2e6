//! The workspace check every row passes before a handler sees it: a Circlet serves one
//! workspace, and rows for any other are dropped unread.

use async_trait::async_trait;

use super::{HandlerError, InboxKind, InboxRow};

/// The workspace of a task that belongs to no single workspace (the daily privacy run, which
/// also purges workspaces no longer installed). Only tasks Circlet queues itself carry it: no
/// Slack request is ever stored under it, so the gate is not asked about it.
pub const EVERY_WORKSPACE: &str = "*";

/// Whether the row is one of Circlet's own tasks for every workspace.
pub(super) fn is_deployment_task(row: &InboxRow) -> bool {
    row.kind == InboxKind::Task && row.team_id == EVERY_WORKSPACE
}

/// Decides whether a workspace (`team_id`, or `enterprise_id` for org-wide installs) is one this
/// Circlet serves. Ingress asks [`TeamGate::admits_now`] (never waits); workers ask
/// [`TeamGate::admits`], which may find out.
#[async_trait]
pub trait TeamGate: Send + Sync + 'static {
    /// `Some(verdict)` when already known, `None` when it would take a call to find out.
    fn admits_now(&self, team_id: &str) -> Option<bool>;

    /// The verdict, finding it out if needed; an error means "cannot tell yet", and the row is
    /// retried later.
    async fn admits(&self, team_id: &str) -> Result<bool, HandlerError>;
}

/// Admits every workspace (tests of the queue alone).
pub struct AnyTeam;

#[async_trait]
impl TeamGate for AnyTeam {
    fn admits_now(&self, _team_id: &str) -> Option<bool> {
        Some(true)
    }

    async fn admits(&self, _team_id: &str) -> Result<bool, HandlerError> {
        Ok(true)
    }
}
