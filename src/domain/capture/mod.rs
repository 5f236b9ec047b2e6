//! Capture and tagging: reactions and circle messages become insights with tags, votes and
//! replies; edits and deletes follow them; Circlet acknowledges a capture with a reaction.

pub mod emoji;
pub mod events;
pub mod handler;
pub mod rules;
pub mod rules_command;
pub mod service;
pub mod tags_command;
pub mod tasks;

use std::sync::Arc;

use crate::domain::Services;
use crate::inbox::{HandlerRegistry, InboxKind};

pub use handler::{CAPTURE_EVENTS, CaptureHandler, EVENTS_PER_TRANSACTION};
pub use service::{ACK_TASK, FETCH_TASK};

/// Registers capture's event handler and its follow-up tasks.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    let capture = Arc::new(CaptureHandler {
        store: services.store.clone(),
        workspaces: services.workspaces.clone(),
        clock: services.clock.clone(),
    });
    for event in CAPTURE_EVENTS {
        registry.register(InboxKind::Event, *event, capture.clone());
    }
    registry.register(
        InboxKind::Command,
        "tags",
        Arc::new(tags_command::TagsCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register(
        InboxKind::Command,
        "rules",
        Arc::new(rules_command::RulesCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register(
        InboxKind::Task,
        ACK_TASK,
        Arc::new(tasks::AckHandler {
            workspaces: services.workspaces.clone(),
            settings: services.settings.clone(),
        }),
    );
    registry.register(
        InboxKind::Task,
        FETCH_TASK,
        Arc::new(tasks::FetchMessageHandler {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            clock: services.clock.clone(),
        }),
    );
}
