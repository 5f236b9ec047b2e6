//! The "Capture feedback" message shortcut: a modal to capture (or edit) a circle message as an
//! insight with its tags, product area, sentiment and customer company.
//!
//! The shortcut's `message_action` goes through the inbox like every interaction; its handler
//! opens the modal at once (the trigger lives 3 s). A submission is checked in the request path,
//! so mistakes are shown in the modal, and only a valid one is stored and then saved by a worker.

pub mod form;
pub mod metadata;
pub mod open;
pub mod submit;
pub mod view;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::app::Services;
use crate::domain::capture::service::TeamContext;
use crate::inbox::{HandlerRegistry, InboxKind};

/// The shortcut's `callback_id` (manifest.yaml), also the modal's.
pub const CALLBACK_ID: &str = "capture_feedback";

/// Registers the shortcut's handler, the submission check and the handler saving submissions.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    registry.register(
        InboxKind::Interaction,
        "message_action",
        Arc::new(open::OpenFormHandler {
            store: services.store.clone(),
            slack: services.slack.clone(),
            clock: services.clock.clone(),
            settings: services.settings.clone(),
        }),
    );
    registry.register_view_check(
        CALLBACK_ID,
        Arc::new(submit::SubmissionCheck {
            store: services.store.clone(),
            clock: services.clock.clone(),
            settings: services.settings.clone(),
        }),
    );
    registry.register(
        InboxKind::Interaction,
        "view_submission",
        Arc::new(submit::SaveFormHandler {
            store: services.store.clone(),
            clock: services.clock.clone(),
            settings: services.settings.clone(),
        }),
    );
}

/// The workspace's tags: those its emoji map gives and those its keyword rules add.
pub fn workspace_tags(context: &TeamContext) -> BTreeSet<String> {
    let mut tags: BTreeSet<String> = context.emoji.tag_names().into_iter().map(str::to_owned).collect();
    tags.extend(context.rules.iter().map(|rule| rule.tag.clone()));
    tags
}
