//! `/feedback merge ID INTO ID`: folds a duplicate into another insight. The target gains its
//! tags, voters, replies and sources; the duplicate points at the target and leaves reports and
//! exports, and its thread is told when the target's status later closes the loop.

use async_trait::async_trait;

use super::errors::parse_number;
use super::{Triage, TriageError, live_insight, merge_target};
use crate::domain::slash::SlashCommand;
use crate::ids::TeamId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store;

pub const MERGE_USAGE: &str = "/feedback merge ID INTO ID";

pub(super) struct MergeCommand(pub(super) Triage);

#[async_trait]
impl InboxHandler for MergeCommand {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let command = SlashCommand::from_job(job)?;
        let work = async {
            let (from, into) = parse_args(&command.args())?;
            self.0.merge(&command.team_id, from, into).await
        };
        let answer = self.0.answer(&command.team_id, &command.user_id, work).await?;
        command.reply(&self.0.slack, &answer).await
    }
}

/// `ID INTO ID`, the words after `/feedback merge`.
pub fn parse_args(args: &[&str]) -> Result<(i64, i64), TriageError> {
    match args {
        [from, word, into] if word.eq_ignore_ascii_case("into") => {
            Ok((parse_number(from)?, parse_number(into)?))
        }
        _ => Err(TriageError::Usage(MERGE_USAGE)),
    }
}

impl Triage {
    /// Merges the workspace's insight `from` into `into`; returns the answer for the user.
    async fn merge(&self, team: &TeamId, from: i64, into: i64) -> Result<String, TriageError> {
        if from == into {
            return Err(TriageError::MergeIntoItself(from));
        }
        let (team_id, now) = (team.clone(), self.clock.now_millis());
        store::transaction_with(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let source = live_insight(tx, &team_id, from).await?;
                let target = live_insight(tx, &team_id, into).await?;
                if let Some(target) = merge_target(tx, &source).await? {
                    return Err(TriageError::AlreadyMerged { number: from, target });
                }
                // A merged target would park the data one level down (or, pointing at `from`, loop).
                if let Some(further) = merge_target(tx, &target).await? {
                    return Err(TriageError::TargetMerged {
                        number: into,
                        target: further,
                    });
                }
                tx.merge(source.id, target.id, now).await?;
                Ok(())
            })
        })
        .await?;
        tracing::info!(team_id = %team, from, into, "insights merged");
        Ok(format!(
            "Merged #{from} into #{into}: its tags, votes, replies and sources now count for #{into}, \
             and #{from} no longer shows in reports and exports."
        ))
    }
}
