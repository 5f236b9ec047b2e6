//! The "Capture feedback" message shortcut: a modal to capture (or edit) a circle message as an
//! insight with its tags, product area, sentiment and customer company.
//!
//! The shortcut's `message_action` goes through the inbox like every interaction; its handler
//! opens the modal at once (the trigger lives 3 s). A submission is checked in the request path,
//! so mistakes are shown in the modal, and only a valid one is stored and then saved by a worker.
//!
//! Who may do what (ARCHITECTURE §5): anyone in a circle may capture a message that is not
//! captured yet, with its text and tags; a captured insight is edited only by its author or a
//! product user; only product users see and set the product-only fields. Both the opening and
//! the saving check it, since a member may submit any payload Slack allows.

pub mod form;
pub mod metadata;
pub mod open;
pub mod submit;
pub mod view;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::domain::Services;
use crate::domain::access::ProductAccess;
use crate::domain::capture::service::TeamContext;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerRegistry, InboxKind};
use crate::store::Insight;
use view::Audience;

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
            workspaces: services.workspaces.clone(),
            access: services.access.clone(),
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
            access: services.access.clone(),
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

/// Whether `user` gets the product team's form. When Slack cannot say, the member's form: it
/// shows less, never more.
pub async fn audience_of(access: &ProductAccess, team: &TeamId, user: &UserId) -> Audience {
    match access.is_product_user(team, user).await {
        Ok(true) => Audience::Product,
        Ok(false) => Audience::Member,
        Err(err) => {
            tracing::warn!(%user, error = %err, "cannot tell whether the user is on the product team; showing the member's form");
            Audience::Member
        }
    }
}

/// Whether `user` may edit `insight` (the one standing for the message, after merges): its
/// author, or a product user.
pub fn may_edit(insight: &Insight, user: &UserId, audience: Audience) -> bool {
    audience == Audience::Product || insight.author_id.as_ref() == Some(user)
}
