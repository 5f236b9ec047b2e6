//! The inbox: durable queue of Slack deliveries. The request path writes to it (group commit),
//! workers drain it and dispatch each row to the handler registered for its type.

mod backoff;
mod gate;
mod registry;
mod store;
mod worker;
mod writer;

use std::fmt;
use std::str::FromStr;

pub use backoff::Backoff;
pub use gate::{AnyTeam, EVERY_WORKSPACE, TeamGate};
pub use registry::{HandlerError, HandlerRegistry, InboxHandler, Job};
pub use registry::{ViewRejection, ViewSubmissionCheck};
pub use store::{Claim, InboxAppender, InboxStore, Requeue, Settlement};
pub use worker::{DrainStep, Worker, WorkerSettings};
pub use writer::{InboxWriter, WriteError};

use crate::clock::Millis;

/// Which Slack endpoint a row came from, or `Task` for follow-up work Circlet queued itself
/// (acknowledging a capture, fetching a message, closing the loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxKind {
    Event,
    Command,
    Interaction,
    Task,
}

impl InboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxKind::Event => "event",
            InboxKind::Command => "command",
            InboxKind::Interaction => "interaction",
            InboxKind::Task => "task",
        }
    }
}

impl FromStr for InboxKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "event" => Ok(InboxKind::Event),
            "command" => Ok(InboxKind::Command),
            "interaction" => Ok(InboxKind::Interaction),
            "task" => Ok(InboxKind::Task),
            _ => Err(()),
        }
    }
}

impl fmt::Display for InboxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboxState {
    Pending,
    Running,
    Done,
    Dead,
}

impl InboxState {
    pub const ALL: [InboxState; 4] = [Self::Pending, Self::Running, Self::Done, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::Pending => "pending",
            InboxState::Running => "running",
            InboxState::Done => "done",
            InboxState::Dead => "dead",
        }
    }
}

impl FromStr for InboxState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pending" => Ok(InboxState::Pending),
            "running" => Ok(InboxState::Running),
            "done" => Ok(InboxState::Done),
            "dead" => Ok(InboxState::Dead),
            _ => Err(()),
        }
    }
}

impl fmt::Display for InboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A verified delivery about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    pub team_id: String,
    /// Slack's `event_id` for events; a key of our own for commands and interactions.
    pub event_id: String,
    pub kind: InboxKind,
    /// The inner event type (`reaction_added`), interaction type, or slash command name.
    pub event_type: String,
    /// The payload exactly as Slack sent it (JSON for events and interactions, the form body
    /// for commands).
    pub payload: String,
    pub received_at: Millis,
}

impl NewInboxItem {
    /// Follow-up work, queued once per `key` (a second item with the same key is not stored).
    pub fn task(
        team_id: &str,
        key: String,
        task_type: &str,
        payload: &serde_json::Value,
        now: Millis,
    ) -> Self {
        Self {
            team_id: team_id.to_owned(),
            event_id: format!("task:{key}"),
            kind: InboxKind::Task,
            event_type: task_type.to_owned(),
            payload: payload.to_string(),
            received_at: now,
        }
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    pub id: i64,
    pub team_id: String,
    pub event_id: String,
    pub kind: InboxKind,
    pub event_type: String,
    pub payload: String,
    pub received_at: Millis,
    pub attempts: u32,
    pub state: InboxState,
    pub last_error: Option<String>,
}

/// Rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    pub pending: u64,
    pub running: u64,
    pub done: u64,
    pub dead: u64,
}

impl InboxCounts {
    pub fn get(&self, state: InboxState) -> u64 {
        match state {
            InboxState::Pending => self.pending,
            InboxState::Running => self.running,
            InboxState::Done => self.done,
            InboxState::Dead => self.dead,
        }
    }

    pub(crate) fn set(&mut self, state: InboxState, n: u64) {
        match state {
            InboxState::Pending => self.pending = n,
            InboxState::Running => self.running = n,
            InboxState::Done => self.done = n,
            InboxState::Dead => self.dead = n,
        }
    }

    /// Work not yet finished: what "inbox depth" means on the metrics page.
    pub fn unfinished(&self) -> u64 {
        self.pending + self.running
    }
}
