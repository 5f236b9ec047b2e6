//! The weekly loop: the product team's digest, each circle's member recap, and discussion
//! prompts, posted on the schedule exactly once however many replicas run.
//!
//! `schedule` says which week is due, `scheduler` claims and queues the week's posts, `post`
//! makes each one, `content` says what they say and `message` renders that for Slack and for
//! terminals; `command` and `prompt_command` are `/feedback digest` and `/feedback prompt`.

pub mod command;
pub mod content;
pub mod message;
pub mod post;
pub mod prompt_command;
pub mod schedule;
pub mod scheduler;

use std::sync::Arc;

pub use content::{Recap, circle_recap, digest_message, product_digest, recap_message};
pub use message::Message;
pub use schedule::{Period, SCHEDULE_FORM, Schedule, ScheduleError};
pub use scheduler::{DigestScheduler, POST_TASK};

use crate::domain::Services;
use crate::inbox::{HandlerRegistry, InboxKind};

/// Registers the scheduled-post task and `/feedback digest` and `/feedback prompt`.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    registry.register(
        InboxKind::Task,
        POST_TASK,
        Arc::new(post::PostHandler {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            metrics: services.metrics.clone(),
            clock: services.clock.clone(),
            settings: services.settings.clone(),
        }),
    );
    registry.register(
        InboxKind::Command,
        "digest",
        Arc::new(command::DigestCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
            settings: services.settings.clone(),
        }),
    );
    registry.register(
        InboxKind::Command,
        "prompt",
        Arc::new(prompt_command::PromptCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
}
