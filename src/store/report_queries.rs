//! The statements behind `/feedback report`: the breakdown by status and tag set, the most
//! voted insights, each circle's engagement and whether a tag is in use. Written once; both
//! dialects read them as they are.

use std::collections::HashMap;

use super::insights::day_of;
use super::reads::{Breakdown, CircleEngagement, Contributor, InsightFilter, InsightRow, Window};
use super::sql::{Column, Columns, Executor, FromRow, Lenient, Row, Statement};
use super::{StoreResult, TAG_SEPARATOR};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};

/// Appends the conditions `filter` sets on insights aliased `alias`, each starting with AND,
/// with the time bounds given (not the filter's own).
pub(super) fn push_conditions(
    statement: &mut Statement,
    alias: &str,
    filter: &InsightFilter,
    since: Option<Millis>,
    until: Option<Millis>,
) {
    let mut conditions = Vec::new();
    if let Some(team) = &filter.team_id {
        let teams: Vec<&TeamId> = std::iter::once(team).chain(&filter.linked_teams).collect();
        conditions.push(team_in(statement, &format!("{alias}.team_id"), &teams));
    }
    if let Some(since) = since {
        conditions.push(format!("{alias}.created_at >= {}", statement.param(since)));
    }
    if let Some(until) = until {
        conditions.push(format!("{alias}.created_at < {}", statement.param(until)));
    }
    if let Some(channel) = &filter.channel_id {
        conditions.push(format!("{alias}.channel_id = {}", statement.param(channel)));
    }
    if let Some(status) = filter.status {
        conditions.push(format!("{alias}.status = {}", statement.param(status.as_str())));
    }
    if let Some(after) = filter.after_number {
        conditions.push(format!("{alias}.number > {}", statement.param(after)));
    }
    if let Some(tag) = &filter.tag {
        let tag = statement.param(tag);
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM insight_tags t WHERE t.insight_id = {alias}.id AND t.tag = {tag})"
        ));
    }
    if !filter.include_removed {
        // Word for word the condition of the `insights_report` partial index.
        conditions.push(format!("{alias}.deleted = FALSE AND {alias}.merged_into IS NULL"));
    }
    for condition in conditions {
        statement.push(" AND ").push(&condition);
    }
}

/// `column` names one of `teams`: a plain equality for one, so the planners keep using the
/// (team_id, …) indexes as they do.
pub(super) fn team_in<T: AsRef<str>>(statement: &mut Statement, column: &str, teams: &[T]) -> String {
    match teams {
        [team] => format!("{column} = {}", statement.param(team.as_ref())),
        teams => {
            let params: Vec<String> = teams.iter().map(|team| statement.param(team.as_ref())).collect();
            format!("{column} IN ({})", params.join(", "))
        }
    }
}

/// [`InsightRow`]'s columns, in its fields' order; the export leaves the names NULL.
impl FromRow for InsightRow {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(InsightRow {
            number: c.take()?,
            created_at: c.take()?,
            team_id: c.take()?,
            channel_id: c.take()?,
            channel_name: c.take()?,
            message_ts: c.take()?,
            thread_ts: c.take()?,
            author_id: c.lenient()?,
            author_name: c.take()?,
            text: c.take()?,
            tags: c.take()?,
            votes: c.take()?,
            replies: c.take()?,
            status: c.take()?,
            source: c.take()?,
            workspace_url: c.take()?,
            author_team_id: c.take()?,
        })
    }
}

impl FromRow for Breakdown {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(Breakdown {
            current: c.take()?,
            status: c.take()?,
            tags: c.take()?,
            count: c.take()?,
        })
    }
}

/// Columns of [`InsightRow`] from insights `i` and its joins in [`ROW_JOINS`].
const ROW_COLUMNS: &str = "SELECT i.number, i.created_at, i.team_id, i.channel_id, c.name AS channel_name, \
     i.message_ts, i.thread_ts, i.author_id, p.name AS author_name, i.text, i.tags, i.vote_count AS votes, \
     i.reply_count AS replies, i.status, i.source, w.url AS workspace_url, \
     COALESCE(i.author_team_id, i.team_id) AS author_team_id FROM insights i";
const ROW_JOINS: &str = " LEFT JOIN circles c ON c.team_id = i.team_id AND c.channel_id = i.channel_id \
     LEFT JOIN people p ON p.team_id = i.team_id AND p.user_id = i.author_id \
     LEFT JOIN workspaces w ON w.team_id = i.team_id WHERE 1 = 1";

/// Live insights of `window` and the period before it, grouped by status and tag set. A whole
/// workspace's periods read whole days from the day counts and only the partial days at the
/// edges from the insights themselves.
pub(super) async fn breakdown<E: Executor>(
    ex: &mut E,
    filter: &InsightFilter,
    window: Window,
) -> StoreResult<Vec<Breakdown>> {
    let whole_workspace = filter.channel_id.is_none()
        && filter.status.is_none()
        && filter.after_number.is_none()
        && !filter.include_removed;
    let (Some(team_id), true) = (&filter.team_id, whole_workspace) else {
        let statement = breakdown_statement(filter, window, window.previous().start, window.end);
        return ex.fetch_all(&statement).await;
    };
    let split = DaySplit::of(window);
    let mut groups: Vec<Breakdown> = Vec::new();
    if !split.days.is_empty() {
        let counted: Vec<Breakdown> = ex
            .fetch_all(&day_counts_statement(
                &std::iter::once(team_id)
                    .chain(&filter.linked_teams)
                    .collect::<Vec<_>>(),
                &split.days,
                day_of(window.start),
            ))
            .await?;
        groups.extend(
            counted
                .into_iter()
                .filter(|group| has_tag(group, filter.tag.as_deref())),
        );
    }
    for (since, until) in split.partial {
        groups.extend(
            ex.fetch_all::<Breakdown>(&breakdown_statement(filter, window, since, until))
                .await?,
        );
    }
    Ok(groups)
}

/// Live insights created in `[since, until)` grouped as [`Breakdown`]s, current from `window.start`.
fn breakdown_statement(filter: &InsightFilter, window: Window, since: Millis, until: Millis) -> Statement {
    let mut statement = Statement::new("");
    let current = statement.param(window.start);
    statement.push(&format!(
        "SELECT i.created_at >= {current} AS current, i.status, i.tags, COUNT(*) AS count FROM insights i WHERE 1 = 1"
    ));
    push_conditions(&mut statement, "i", filter, Some(since), Some(until));
    statement.push(" GROUP BY 1, 2, 3");
    statement
}

/// The day counts (`insight_days`) of `teams`' whole days `days`, current from `current_day`.
fn day_counts_statement(teams: &[&TeamId], days: &[DayRange], current_day: i64) -> Statement {
    let mut statement = Statement::new("");
    let team = team_in(&mut statement, "team_id", teams);
    let current = statement.param(current_day);
    let ranges: Vec<String> = days
        .iter()
        .map(|range| {
            let (first, end) = (statement.param(range.first), statement.param(range.end));
            format!("(day >= {first} AND day < {end})")
        })
        .collect();
    statement.push(&format!(
        "SELECT day >= {current} AS current, status, tags, CAST(SUM(count) AS BIGINT) AS count FROM insight_days \
         WHERE {team} AND ({}) AND count > 0 GROUP BY 1, 2, 3",
        ranges.join(" OR ")
    ));
    statement
}

/// The most voted live insights created in `window`, most votes first.
pub(super) fn top_statement(filter: &InsightFilter, window: Window, limit: u32) -> Statement {
    // The ranking reads only the report index; full rows are fetched for the few that win.
    let mut statement = Statement::new(ROW_COLUMNS);
    statement
        .push(ROW_JOINS)
        .push(" AND i.id IN (SELECT r.id FROM insights r WHERE 1 = 1");
    push_conditions(&mut statement, "r", filter, Some(window.start), Some(window.end));
    let limit = statement.param(i64::from(limit));
    statement
        .push(&format!(" ORDER BY r.vote_count DESC, r.id LIMIT {limit})"))
        .push(" ORDER BY i.vote_count DESC, i.number");
    statement
}

/// What the engagement of circles is asked for.
pub(super) struct EngagementQuery {
    /// A workspace and those linked to it.
    pub teams: Vec<TeamId>,
    pub channel_id: Option<ChannelId>,
    pub window: Window,
    pub contributors: u32,
}

/// Engagement per active circle of the workspace (or of one channel), by channel name.
pub(super) async fn engagement<E: Executor>(
    ex: &mut E,
    query: &EngagementQuery,
) -> StoreResult<Vec<CircleEngagement>> {
    let (team_id, channel_id, window) = (&query.teams, query.channel_id.as_ref(), query.window);
    let days = |w: Window| (day_of(w.start), day_of(w.end - 1) + 1);
    let (start, end) = days(window);
    let (start_before, end_before) = days(window.previous());
    Ok(assemble(
        ex.fetch_all(&circles_statement(team_id, channel_id)).await?,
        ex.fetch_all(&members_statement(team_id, channel_id, window))
            .await?,
        ex.fetch_all(&activity_statement(team_id, channel_id, start, end))
            .await?,
        ex.fetch_all(&activity_statement(
            team_id,
            channel_id,
            start_before,
            end_before.min(start),
        ))
        .await?,
        ex.fetch_all(&authors_statement(team_id, channel_id, window))
            .await?,
        query.contributors,
    ))
}

// PostgreSQL sums BIGINTs into NUMERIC; the casts keep both backends answering BIGINT.

/// Per channel: members at the end of the window and those who joined during it.
fn members_statement(teams: &[TeamId], channel_id: Option<&ChannelId>, window: Window) -> Statement {
    let mut statement = Statement::new("");
    let team = team_in(&mut statement, "team_id", teams);
    let (start, end) = (statement.param(window.start), statement.param(window.end));
    statement.push(&format!(
        "SELECT channel_id, \
         CAST(SUM(CASE WHEN (joined_at IS NULL OR joined_at < {end}) AND (left_at IS NULL OR left_at >= {end}) \
         THEN 1 ELSE 0 END) AS BIGINT) AS members, \
         CAST(SUM(CASE WHEN joined_at >= {start} AND joined_at < {end} THEN 1 ELSE 0 END) AS BIGINT) AS new_members \
         FROM circle_members WHERE {team}"
    ));
    push_channel(&mut statement, channel_id);
    statement.push(" GROUP BY channel_id");
    statement
}

/// Per channel and member: posts, replies and reactions over `[start_day, end_day)`.
fn activity_statement(
    teams: &[TeamId],
    channel_id: Option<&ChannelId>,
    start_day: i64,
    end_day: i64,
) -> Statement {
    let mut statement = Statement::new("");
    let team = team_in(&mut statement, "team_id", teams);
    let (start, end) = (statement.param(start_day), statement.param(end_day));
    statement.push(&format!(
        "SELECT channel_id, user_id, CAST(SUM(posts + replies + reactions) AS BIGINT) AS actions FROM member_activity \
         WHERE {team} AND day >= {start} AND day < {end}"
    ));
    push_channel(&mut statement, channel_id);
    statement.push(" GROUP BY channel_id, user_id");
    statement
}

/// Per channel and author: live insights created in the window.
fn authors_statement(teams: &[TeamId], channel_id: Option<&ChannelId>, window: Window) -> Statement {
    let filter = InsightFilter {
        team_id: teams.first().cloned(),
        linked_teams: teams.iter().skip(1).cloned().collect(),
        channel_id: channel_id.cloned(),
        ..InsightFilter::default()
    };
    let mut statement =
        Statement::new("SELECT i.channel_id, i.author_id, COUNT(*) AS insights FROM insights i WHERE 1 = 1");
    push_conditions(&mut statement, "i", &filter, Some(window.start), Some(window.end));
    statement.push(" AND i.author_id IS NOT NULL GROUP BY i.channel_id, i.author_id");
    statement
}

fn circles_statement(teams: &[TeamId], channel_id: Option<&ChannelId>) -> Statement {
    let mut statement = Statement::new("");
    let team = team_in(&mut statement, "team_id", teams);
    statement.push(&format!(
        "SELECT channel_id, name FROM circles WHERE {team} AND active"
    ));
    push_channel(&mut statement, channel_id);
    statement
}

/// Whether any insight of the workspace carries `tag`.
pub(super) fn tag_in_use_statement(team_id: &TeamId, tag: &str) -> Statement {
    // LIMIT 1 inside: the first match ends the scan.
    Statement::new(
        "SELECT COUNT(*) FROM (SELECT 1 FROM insight_tags t JOIN insights i ON i.id = t.insight_id \
         WHERE i.team_id = $1 AND t.tag = $2 LIMIT 1) found",
    )
    .bind(team_id)
    .bind(tag)
}

/// Whole UTC days `[first, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayRange {
    first: i64,
    end: i64,
}

/// A report's two periods as whole UTC days and the partial days' time ranges around them.
#[derive(Debug, PartialEq, Eq)]
struct DaySplit {
    days: Vec<DayRange>,
    partial: Vec<(Millis, Millis)>,
}

impl DaySplit {
    fn of(window: Window) -> Self {
        let mut split = DaySplit {
            days: Vec::new(),
            partial: Vec::new(),
        };
        for period in [window.previous(), window] {
            // The first whole day starts at or after the period's start; the last ends by its end.
            let first = day_of(period.start - 1) + 1;
            let end = day_of(period.end);
            if first >= end {
                split.partial.push((period.start, period.end));
                continue;
            }
            split.days.push(DayRange { first, end });
            for (since, until) in [(period.start, first * DAY), (end * DAY, period.end)] {
                if since < until {
                    split.partial.push((since, until));
                }
            }
        }
        split
    }
}

const DAY: Millis = 86_400_000;

/// Whether a group of the day counts holds insights tagged `tag` (any, when None).
fn has_tag(group: &Breakdown, tag: Option<&str>) -> bool {
    tag.is_none_or(|tag| group.tags.split(TAG_SEPARATOR).any(|t| t == tag))
}

fn push_channel(statement: &mut Statement, channel_id: Option<&ChannelId>) {
    if let Some(channel) = channel_id {
        let channel = statement.param(channel);
        statement.push(&format!(" AND channel_id = {channel}"));
    }
}

/// A circle of the engagement figures: its channel and name.
struct CircleName {
    channel_id: ChannelId,
    name: Option<String>,
}

impl FromRow for CircleName {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(CircleName {
            channel_id: c.take()?,
            name: c.take()?,
        })
    }
}

/// A circle's members at the end of the window, and those who joined during it.
struct MemberCount {
    channel_id: ChannelId,
    members: i64,
    new_members: i64,
}

impl FromRow for MemberCount {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(MemberCount {
            channel_id: c.take()?,
            members: c.take()?,
            new_members: c.take()?,
        })
    }
}

/// What one member did in one circle: actions, or insights authored. A member id of another
/// shape reads as None (see [`Lenient`]) and is left out of the contributors, not counted
/// under a made-up name.
struct MemberFigure {
    channel_id: ChannelId,
    user_id: Option<UserId>,
    count: i64,
}

impl FromRow for MemberFigure {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok(MemberFigure {
            channel_id: ChannelId::read(row, 0)?,
            user_id: Lenient::read(row, 1)?.0,
            count: i64::read(row, 2)?,
        })
    }
}

/// Puts the per-channel figures together, circles in name order, contributors most involved first.
fn assemble(
    circles: Vec<CircleName>,
    members: Vec<MemberCount>,
    activity: Vec<MemberFigure>,
    activity_before: Vec<MemberFigure>,
    authors: Vec<MemberFigure>,
    contributors: u32,
) -> Vec<CircleEngagement> {
    let mut by_channel: HashMap<ChannelId, CircleEngagement> = circles
        .into_iter()
        .map(|circle| {
            let engagement = CircleEngagement {
                channel_id: circle.channel_id.clone(),
                channel_name: circle.name,
                members: 0,
                new_members: 0,
                active: 0,
                active_before: 0,
                contributors: Vec::new(),
            };
            (circle.channel_id, engagement)
        })
        .collect();
    for count in members {
        if let Some(e) = by_channel.get_mut(&count.channel_id) {
            e.members = count.members;
            e.new_members = count.new_members;
        }
    }
    let mut people: HashMap<(ChannelId, UserId), Contributor> = HashMap::new();
    let contributor = |user_id: UserId| Contributor {
        user_id,
        insights: 0,
        actions: 0,
    };
    for figure in activity {
        if let Some(e) = by_channel.get_mut(&figure.channel_id) {
            e.active += 1;
        }
        if let Some(user) = figure.user_id {
            people
                .entry((figure.channel_id, user.clone()))
                .or_insert_with(|| contributor(user))
                .actions += figure.count;
        }
    }
    for figure in activity_before {
        if let Some(e) = by_channel.get_mut(&figure.channel_id) {
            e.active_before += 1;
        }
    }
    for figure in authors {
        if let Some(author) = figure.user_id {
            people
                .entry((figure.channel_id, author.clone()))
                .or_insert_with(|| contributor(author))
                .insights += figure.count;
        }
    }
    for ((channel, _), contributor) in people {
        if let Some(e) = by_channel.get_mut(&channel) {
            e.contributors.push(contributor);
        }
    }
    let mut circles: Vec<CircleEngagement> = by_channel.into_values().collect();
    for circle in &mut circles {
        circle.contributors.sort_by(|a, b| {
            (b.insights, b.actions)
                .cmp(&(a.insights, a.actions))
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        circle.contributors.truncate(contributors as usize);
    }
    circles.sort_by(|a, b| {
        let name = |c: &CircleEngagement| {
            c.channel_name
                .clone()
                .unwrap_or_else(|| c.channel_id.as_str().to_owned())
        };
        name(a).cmp(&name(b))
    });
    circles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_periods_split_into_whole_days_and_partial_edges() {
        let aligned = DaySplit::of(Window {
            start: 10 * DAY,
            end: 17 * DAY,
        });
        assert_eq!(
            aligned,
            DaySplit {
                days: vec![DayRange { first: 3, end: 10 }, DayRange { first: 10, end: 17 }],
                partial: vec![],
            }
        );
        let mid_day = DaySplit::of(Window {
            start: 10 * DAY + 5,
            end: 17 * DAY + 5,
        });
        assert_eq!(
            mid_day,
            DaySplit {
                days: vec![DayRange { first: 4, end: 10 }, DayRange { first: 11, end: 17 }],
                partial: vec![
                    (3 * DAY + 5, 4 * DAY),
                    (10 * DAY, 10 * DAY + 5),
                    (10 * DAY + 5, 11 * DAY),
                    (17 * DAY, 17 * DAY + 5),
                ],
            }
        );
        let short = DaySplit::of(Window {
            start: 10 * DAY + 5,
            end: 10 * DAY + 9,
        });
        assert_eq!(short.days, vec![]);
        assert_eq!(
            short.partial,
            vec![(10 * DAY + 1, 10 * DAY + 5), (10 * DAY + 5, 10 * DAY + 9)]
        );
    }
}
