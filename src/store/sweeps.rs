//! Sweep marks: per circle, the Slack time up to which its history is known to be read, so a
//! backfill starts where the last one ended (ARCHITECTURE §12). Written once for both backends.

use super::StoreResult;
use super::runner::Runner;
use super::sql::{Columns, Executor, FromRow, Row, Statement};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId};

/// How far one circle's history has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepMark {
    pub team_id: String,
    pub channel_id: String,
    /// Slack time in microseconds: every message before it has been read from history.
    pub swept_to: i64,
    /// When the sweep that set it finished.
    pub swept_at: Millis,
}

impl FromRow for SweepMark {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(SweepMark {
            team_id: columns.take()?,
            channel_id: columns.take()?,
            swept_to: columns.take()?,
            swept_at: columns.take()?,
        })
    }
}

/// The marks of one workspace's circles, or of every workspace.
pub(super) async fn marks<R: Runner>(runner: &R, team_id: Option<&TeamId>) -> StoreResult<Vec<SweepMark>> {
    let statement = match team_id {
        Some(team_id) => Statement::new(
            "SELECT team_id, channel_id, swept_to, swept_at FROM sweep_marks WHERE team_id = $1 ORDER BY channel_id",
        )
        .bind(team_id),
        None => Statement::new(
            "SELECT team_id, channel_id, swept_to, swept_at FROM sweep_marks ORDER BY team_id, channel_id",
        ),
    };
    runner
        .read(move |c| Box::pin(async move { c.fetch_all(&statement).await }))
        .await
}

/// Moves a circle's mark forward (never back: a sweep of an older window, or a replica that
/// finished later with an older read, leaves a newer mark alone); whether it moved.
pub(super) async fn advance<R: Runner>(
    runner: &R,
    team_id: &TeamId,
    channel_id: &ChannelId,
    swept_to: i64,
    swept_at: Millis,
) -> StoreResult<bool> {
    let statement = Statement::new(
        "INSERT INTO sweep_marks (team_id, channel_id, swept_to, swept_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (team_id, channel_id) DO UPDATE SET swept_to = excluded.swept_to, swept_at = excluded.swept_at \
         WHERE sweep_marks.swept_to < excluded.swept_to",
    )
    .bind(team_id)
    .bind(channel_id)
    .bind(swept_to)
    .bind(swept_at);
    runner
        .write(move |c| Box::pin(async move { Ok(c.execute(&statement).await? > 0) }))
        .await
}
