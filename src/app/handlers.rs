//! The inbox handlers of the domain services, registered by what they take.

use std::sync::Arc;

use crate::domain::Services;
use crate::domain::backfill::command::BackfillCommand;
use crate::domain::backfill::task::{SWEEP_TASK, SweepHandler};
use crate::domain::circles::{CircleCommand, MembershipHandler};
use crate::domain::directory::{self, CircleLoadHandler, PersonHandler};
use crate::domain::export::command::ExportCommand;
use crate::domain::privacy::download::DownloadButton;
use crate::domain::privacy::task::{PRIVACY_TASK, PrivacyHandler};
use crate::domain::settings_command::SettingsCommand;
use crate::domain::uninstall::{UNINSTALL_EVENTS, UninstallHandler};
use crate::inbox::{HandlerRegistry, InboxKind};

/// The inbox handlers of the domain services. The capture, reporting and digest services
/// register theirs here as they land.
pub fn default_handlers(services: &Services) -> HandlerRegistry {
    let membership = Arc::new(MembershipHandler {
        store: services.store.clone(),
        workspaces: services.workspaces.clone(),
        clock: services.clock.clone(),
    });
    let circle_command = Arc::new(CircleCommand {
        store: services.store.clone(),
        slack: services.slack.clone(),
        access: services.access.clone(),
        clock: services.clock.clone(),
    });
    let mut registry = HandlerRegistry::new();
    registry.register(
        InboxKind::Task,
        SWEEP_TASK,
        Arc::new(SweepHandler {
            backfill: services.backfill.clone(),
        }),
    );
    registry.register(
        InboxKind::Command,
        "backfill",
        Arc::new(BackfillCommand {
            backfill: services.backfill.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
        }),
    );
    for event in ["member_joined_channel", "member_left_channel", "channel_archive"] {
        registry.register(InboxKind::Event, event, membership.clone());
    }
    registry.register(InboxKind::Command, "circle", circle_command);
    registry.register(
        InboxKind::Command,
        "settings",
        Arc::new(SettingsCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register(
        InboxKind::Command,
        "export",
        Arc::new(ExportCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            workspaces: services.workspaces.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register(
        InboxKind::Task,
        directory::LOAD_CIRCLE_TASK,
        Arc::new(CircleLoadHandler {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register(
        InboxKind::Task,
        directory::PERSON_TASK,
        Arc::new(PersonHandler {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            clock: services.clock.clone(),
        }),
    );
    let privacy = Arc::new(services.privacy());
    let uninstall = Arc::new(UninstallHandler {
        workspaces: services.workspaces.clone(),
        privacy: privacy.clone(),
        clock: services.clock.clone(),
    });
    registry.register(
        InboxKind::Task,
        PRIVACY_TASK,
        Arc::new(PrivacyHandler { privacy }),
    );
    for event in UNINSTALL_EVENTS {
        registry.register(InboxKind::Event, *event, uninstall.clone());
    }
    crate::domain::capture::register(services, &mut registry);
    crate::domain::triage::register(services, &mut registry);
    crate::domain::modal::register(services, &mut registry);
    crate::domain::reports::register(services, &mut registry);
    crate::domain::digest::register(services, &mut registry);
    crate::domain::forget::register(services, &mut registry);
    registry.register(
        InboxKind::Event,
        crate::domain::home::HOME_EVENT,
        Arc::new(crate::domain::home::HomeHandler {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry.register_also(
        InboxKind::Interaction,
        "block_actions",
        Arc::new(DownloadButton {
            store: services.store.clone(),
            workspaces: services.workspaces.clone(),
            clock: services.clock.clone(),
        }),
    );
    registry
}
