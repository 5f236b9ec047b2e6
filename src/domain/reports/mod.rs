//! `/feedback report`: counts by tag and status against the previous period, the most voted
//! insights with status buttons, and each circle's engagement, for the product team.
//!
//! `request` reads the command's words, `model` computes the figures from the store's report
//! reads, `blocks` and `text` render them for Slack and for terminals, `command` answers.

pub mod blocks;
pub mod command;
pub mod model;
pub mod request;
pub mod text;
pub(crate) mod words;

use std::sync::Arc;

pub use blocks::{Rendered, render_blocks};
pub use command::REFUSAL;
pub use model::{Circle, Count, Report, compute};
pub use request::{Period, REPORT_USAGE, ReportRequest, RequestError};
pub use text::render_text;

use crate::domain::Services;
use crate::inbox::{HandlerRegistry, InboxKind};

/// Registers `/feedback report`.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    registry.register(
        InboxKind::Command,
        "report",
        Arc::new(command::ReportCommand {
            store: services.store.clone(),
            slack: services.slack.clone(),
            access: services.access.clone(),
            clock: services.clock.clone(),
        }),
    );
}
