//! Circles: channels where capture is on, per workspace. Written once for both backends.

use super::runner::Runner;
use super::sql::{Columns, Executor, FromRow, Row, Statement};
use super::{Circle, CircleChange, StoreResult};
use crate::ids::{ChannelId, TeamId};

const CIRCLE_COLUMNS: &str = "team_id, channel_id, active, changed_by, updated_at";

impl FromRow for Circle {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        Ok(Circle {
            team_id: columns.take()?,
            channel_id: columns.take()?,
            active: columns.take()?,
            changed_by: columns.lenient()?,
            updated_at: columns.take()?,
        })
    }
}

/// Only a real change touches the row, so "already a circle" is visible to the caller.
fn set_statement(change: &CircleChange<'_>) -> Statement {
    Statement::new(
        "INSERT INTO circles (team_id, channel_id, active, changed_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (team_id, channel_id) DO UPDATE SET active = excluded.active, changed_by = excluded.changed_by, \
         updated_at = excluded.updated_at WHERE circles.active <> excluded.active",
    )
    .bind(change.team_id)
    .bind(change.channel_id)
    .bind(change.active)
    .bind(change.changed_by)
    .bind(change.at)
}

/// Makes a channel a circle or stops capture there; whether anything changed.
pub(super) async fn set<R: Runner>(runner: &R, change: &CircleChange<'_>) -> StoreResult<bool> {
    let statement = set_statement(change);
    runner
        .write(move |c| Box::pin(async move { Ok(c.execute(&statement).await? > 0) }))
        .await
}

/// The workspace's circles, active ones first, then by channel.
pub(super) async fn of_team<R: Runner>(runner: &R, team_id: &TeamId) -> StoreResult<Vec<Circle>> {
    let statement = Statement::new(format!(
        "SELECT {CIRCLE_COLUMNS} FROM circles WHERE team_id = $1 ORDER BY active DESC, channel_id"
    ))
    .bind(team_id);
    runner
        .read(move |c| Box::pin(async move { c.fetch_all(&statement).await }))
        .await
}

/// Whether the channel is an active circle.
pub(super) async fn is_active<R: Runner>(
    runner: &R,
    team_id: &TeamId,
    channel_id: &ChannelId,
) -> StoreResult<bool> {
    let statement = Statement::new("SELECT active FROM circles WHERE team_id = $1 AND channel_id = $2")
        .bind(team_id)
        .bind(channel_id);
    runner
        .read(move |c| Box::pin(async move { Ok(c.fetch_optional::<bool>(&statement).await? == Some(true)) }))
        .await
}
