//! Triage: product users move insights through `new → reviewing → planned → shipped | declined`
//! (`/feedback status`, or the status buttons of a report) and merge duplicates
//! (`/feedback merge`). Moving one to planned, shipped or declined tells the people behind it,
//! in its thread and in the thread of every insight merged into it (close the loop).

mod close_loop;
pub mod errors;
pub mod merge;
pub mod status;

use std::future::Future;
use std::sync::Arc;

pub use close_loop::CLOSE_LOOP_TASK;
pub use errors::TriageError;
pub use status::{STATUS_ACTION, is_status_action};

use super::access::ProductAccess;
use super::settings::DomainSettings;
use crate::clock::SharedClock;
use crate::domain::Services;
use crate::ids::{TeamId, UserId};
use crate::inbox::{HandlerError, HandlerRegistry, InboxKind};
use crate::slack::SlackApi;
use crate::store::{Insight, InsightTx, SharedStore, StoreError};

/// The answer to anyone else; it names no insight, so it reveals nothing about them.
pub const REFUSAL: &str =
    "Sorry, only the product team and workspace admins can change an insight's status or merge insights.";

/// Registers `/feedback status`, `/feedback merge`, the status buttons and the close-the-loop
/// task. The status buttons see every `block_actions` row and ignore other actions.
pub fn register(services: &Services, registry: &mut HandlerRegistry) {
    let triage = Triage {
        store: services.store.clone(),
        slack: services.slack.clone(),
        access: services.access.clone(),
        clock: services.clock.clone(),
        settings: services.settings.clone(),
    };
    let close_loop = close_loop::CloseLoopTask {
        workspaces: services.workspaces.clone(),
    };
    registry.register(InboxKind::Task, CLOSE_LOOP_TASK, Arc::new(close_loop));
    registry.register(
        InboxKind::Command,
        "merge",
        Arc::new(merge::MergeCommand(triage.clone())),
    );
    registry.register_also(
        InboxKind::Interaction,
        "block_actions",
        Arc::new(status::StatusButton(triage.clone())),
    );
    registry.register(
        InboxKind::Command,
        "status",
        Arc::new(status::StatusCommand(triage)),
    );
}

/// What the triage handlers work with.
#[derive(Clone)]
struct Triage {
    store: SharedStore,
    slack: SlackApi,
    access: Arc<ProductAccess>,
    clock: SharedClock,
    settings: Arc<DomainSettings>,
}

impl Triage {
    /// Runs `work` for product users and admins only, and turns its outcome into the answer
    /// for `user`: a refusal is answered, a store failure is retried by the inbox.
    async fn answer(
        &self,
        team: &TeamId,
        user: &UserId,
        work: impl Future<Output = Result<String, TriageError>>,
    ) -> Result<String, HandlerError> {
        if !self.access.is_product_user(team, user).await? {
            return Ok(REFUSAL.to_owned());
        }
        work.await.or_else(TriageError::into_answer)
    }
}

impl Triage {
    /// The workspace `reference` names from `team`: `team` itself, or a workspace linked to it.
    /// Any other is answered as not found, which tells nothing about it.
    async fn workspace_of(
        &self,
        team: &TeamId,
        reference: &errors::InsightRef,
    ) -> Result<TeamId, TriageError> {
        let Some(named) = &reference.team else {
            return Ok(team.clone());
        };
        let covered = crate::domain::links::covered_by(self.store.workspaces().as_ref(), team).await?;
        if covered.contains(named) {
            Ok(named.clone())
        } else {
            Err(TriageError::NotFound(reference.number))
        }
    }
}

/// The workspace's insight `number`, unless it is unknown there or its message was deleted.
async fn live_insight(tx: &mut dyn InsightTx, team: &TeamId, number: i64) -> Result<Insight, TriageError> {
    let insight = tx
        .insight_by_number(team, number)
        .await?
        .ok_or(TriageError::NotFound(number))?;
    if insight.deleted {
        return Err(TriageError::Deleted(number));
    }
    Ok(insight)
}

/// The number of the insight `insight` was merged into, if it was.
async fn merge_target(tx: &mut dyn InsightTx, insight: &Insight) -> Result<Option<i64>, TriageError> {
    let Some(target_id) = insight.merged_into else {
        return Ok(None);
    };
    let target = tx
        .insight(target_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("insight {} is merged into a missing one", insight.id)))?;
    Ok(Some(target.number))
}
