//! Forgetting a member (ARCHITECTURE §13): `/feedback forget @member` asks for a confirmation,
//! its button runs the forget from the inbox, and Slack's `user_change` for a member it forgot
//! (`is_forgotten`) runs it by itself. `circlet forget` runs the same store operation. What is
//! removed, table by table, is listed in `store::forget`.

mod button;
mod command;
pub mod grant;
mod user_change;

use std::sync::Arc;

pub use command::FORGET_USAGE;

use crate::clock::SharedClock;
use crate::domain::Services;
use crate::domain::access::ProductAccess;
use crate::domain::settings::DomainSettings;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, HandlerRegistry, InboxKind};
use crate::slack::SlackApi;
use crate::store::{ForgetMember, Forgotten, SharedStore};

/// The answer to anyone else; it names nobody, so it reveals nothing.
pub const REFUSAL: &str = "Sorry, only the product team and workspace admins can forget a member.";

/// The confirmation button's `action_id`; its value is a sealed [`grant::ForgetGrant`].
pub const CONFIRM_ACTION: &str = "forget_member";
/// The cancel button's `action_id`.
pub const CANCEL_ACTION: &str = "forget_cancel";

/// Registers `/feedback forget`, its buttons and the `user_change` event.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    let forgetting = Forgetting {
        store: services.store.clone(),
        slack: services.slack.clone(),
        access: services.access.clone(),
        clock: services.clock.clone(),
        settings: services.settings.clone(),
    };
    registry.register(
        InboxKind::Command,
        "forget",
        Arc::new(command::ForgetCommand(forgetting.clone())),
    );
    registry.register_also(
        InboxKind::Interaction,
        "block_actions",
        Arc::new(button::ForgetButton(forgetting.clone())),
    );
    registry.register(
        InboxKind::Event,
        user_change::USER_CHANGE,
        Arc::new(user_change::UserChange(forgetting)),
    );
}

/// What the forget handlers work with.
#[derive(Clone)]
struct Forgetting {
    store: SharedStore,
    slack: SlackApi,
    access: Arc<ProductAccess>,
    clock: SharedClock,
    settings: Arc<DomainSettings>,
}

impl Forgetting {
    /// Forgets `member` in `team`; the inbox row it runs for keeps `stub` instead of its payload.
    async fn forget(
        &self,
        team: &TeamId,
        member: &UserId,
        inbox_row: Option<(i64, String)>,
    ) -> Result<Forgotten, HandlerError> {
        let request = ForgetMember {
            team_id: team,
            user_id: member,
            at: self.clock.now_millis(),
            inbox_row,
        };
        let forgotten = self.store.forgetting().forget_member(&request).await?;
        // The log names the pseudonym, never the member.
        tracing::info!(team_id = %team, pseudonym = %forgotten.pseudonym, rows = forgotten.rows(),
            again = forgotten.again, "member forgotten");
        Ok(forgotten)
    }
}

/// What the product user is told once a member is forgotten.
fn outcome_text(member: &UserId, forgotten: &Forgotten) -> String {
    if forgotten.again && forgotten.rows() == 0 {
        return format!("<@{member}> was already forgotten: Circlet holds nothing more about them.");
    }
    format!(
        "Forgot <@{member}>: {}. Insights they authored keep their votes, replies and tags and now \
         show as `{}`.",
        removed_list(forgotten),
        forgotten.pseudonym
    )
}

/// `votes deleted: 3, replies deleted: 1`, or that nothing was held.
fn removed_list(forgotten: &Forgotten) -> String {
    let lines = forgotten.summary();
    if lines.is_empty() {
        "nothing was held about them".to_owned()
    } else {
        lines.join(", ")
    }
}
