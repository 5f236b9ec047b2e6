//! [`InsightReads`] for both backends, over a connection pool. The SQL is built once with `$n`
//! parameters, which SQLite and PostgreSQL both accept.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::{Pool, Postgres, Sqlite};
use tokio::sync::mpsc;

use super::StoreResult;
use super::insights::day_of;
use super::reads::{
    Breakdown, CircleEngagement, Contributor, ExportPages, InsightFilter, InsightReads, InsightRow,
    InsightRowStream, Window,
};
use crate::clock::Millis;

/// Rows per export page: each page is one query answering one JSON value, so the driver hands
/// over one value per page instead of sixteen per row (on SQLite, sqlx copies every value
/// across threads under a lock, which made that the whole cost of a large export). Small
/// enough that memory does not depend on the export's size.
const EXPORT_PAGE: i64 = 2_000;

/// Rows per page of [`ExportPages`], whose readers may be slow: a page is what such a reader
/// holds in memory, and reading, parsing and encoding it is work done in one go, beside Slack's
/// acknowledgements.
const PAGED_EXPORT_ROWS: i64 = 500;

/// Queries over a pool of either backend that need no transaction of their own.
pub struct SqlPool<DB: sqlx::Database>(pub(super) Pool<DB>);

/// A value bound to a `$n` parameter.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text and the values of its parameters, in order.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn arg(&mut self, value: Arg) -> String {
        self.args.push(value);
        format!("${}", self.args.len())
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the conditions `filter` sets on insights aliased `alias`, each starting with AND,
    /// with the time bounds given (not the filter's own).
    fn filter(
        &mut self,
        alias: &str,
        filter: &InsightFilter,
        since: Option<i64>,
        until: Option<i64>,
    ) -> &mut Self {
        let mut conditions = Vec::new();
        if let Some(team) = &filter.team_id {
            conditions.push(format!("{alias}.team_id = {}", self.arg(Arg::Text(team.clone()))));
        }
        if let Some(since) = since {
            conditions.push(format!("{alias}.created_at >= {}", self.arg(Arg::Int(since))));
        }
        if let Some(until) = until {
            conditions.push(format!("{alias}.created_at < {}", self.arg(Arg::Int(until))));
        }
        if let Some(channel) = &filter.channel_id {
            conditions.push(format!(
                "{alias}.channel_id = {}",
                self.arg(Arg::Text(channel.clone()))
            ));
        }
        if let Some(status) = filter.status {
            conditions.push(format!(
                "{alias}.status = {}",
                self.arg(Arg::Text(status.as_str().to_owned()))
            ));
        }
        if let Some(after) = filter.after_number {
            conditions.push(format!("{alias}.number > {}", self.arg(Arg::Int(after))));
        }
        if let Some(tag) = &filter.tag {
            let tag = self.arg(Arg::Text(tag.clone()));
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM insight_tags t WHERE t.insight_id = {alias}.id AND t.tag = {tag})"
            ));
        }
        if !filter.include_removed {
            // Word for word the condition of the `insights_report` partial index.
            conditions.push(format!("{alias}.deleted = FALSE AND {alias}.merged_into IS NULL"));
        }
        for condition in conditions {
            self.text.push_str(" AND ");
            self.text.push_str(&condition);
        }
        self
    }
}

/// Columns of [`InsightRow`] from insights `i` and its joins in [`ROW_JOINS`].
const ROW_COLUMNS: &str = "SELECT i.number, i.created_at, i.team_id, i.channel_id, c.name AS channel_name, \
     i.message_ts, i.thread_ts, i.author_id, p.name AS author_name, i.text, i.tags, i.vote_count AS votes, \
     i.reply_count AS replies, i.status, i.source, w.url AS workspace_url FROM insights i";
const ROW_JOINS: &str = " LEFT JOIN circles c ON c.team_id = i.team_id AND c.channel_id = i.channel_id \
     LEFT JOIN people p ON p.team_id = i.team_id AND p.user_id = i.author_id \
     LEFT JOIN workspaces w ON w.team_id = i.team_id WHERE 1 = 1";

/// The export reads insights alone, names filled in from [`Names`]: three joins per row
/// would double the cost of a million-row export.
/// Every matching row, for backends whose drivers stream rows cheaply (PostgreSQL).
fn export_sql(filter: &InsightFilter) -> Sql {
    let mut sql = Sql::new(
        "SELECT i.number, i.created_at, i.team_id, i.channel_id, CAST(NULL AS TEXT) AS channel_name, \
         i.message_ts, i.thread_ts, i.author_id, CAST(NULL AS TEXT) AS author_name, i.text, i.tags, \
         i.vote_count AS votes, i.reply_count AS replies, i.status, i.source, \
         CAST(NULL AS TEXT) AS workspace_url FROM insights i WHERE 1 = 1",
    );
    sql.filter("i", filter, filter.since, filter.until)
        .push(" ORDER BY i.team_id, i.number");
    sql
}

/// Rows per batch when rows are streamed.
const EXPORT_BATCH: usize = 2_000;

/// What the export's reading task hands the stream.
enum ExportChunk {
    /// A page as JSON, parsed and named by the stream's reader.
    Json(Arc<Names>, String),
    /// Rows already read and named.
    Rows(Vec<InsightRow>),
}

/// How each backend aggregates a page of rows into one JSON array of arrays, in page order.
#[derive(Debug, Clone, Copy)]
enum JsonPage {
    Sqlite,
    Postgres,
}

/// The page of up to `rows` rows of the export after `cursor` (team, number), as one JSON text
/// and its row count.
fn export_page_sql(
    filter: &InsightFilter,
    cursor: Option<&(String, i64)>,
    syntax: JsonPage,
    rows: i64,
) -> Sql {
    const FIELDS: &str = "number, created_at, team_id, channel_id, message_ts, thread_ts, author_id, text, \
         tags, vote_count, reply_count, status, source";
    // The page's last (team, number), as one sortable text: the cursor for the next page, known
    // without parsing the page (which the reader does, while the next page is read).
    let (aggregate, last) = match syntax {
        // SQLite aggregates in the order the subquery yields (rows are re-sorted after parsing
        // regardless); its text is already JSON.
        JsonPage::Sqlite => (
            format!("json_group_array(json_array({FIELDS}))"),
            "MAX(team_id || char(31) || printf('%020d', number))",
        ),
        JsonPage::Postgres => (
            format!("json_agg(json_build_array({FIELDS}) ORDER BY team_id, number)::text"),
            "MAX(team_id || chr(31) || lpad(number::text, 20, '0'))",
        ),
    };
    let mut sql = Sql::new(&format!(
        "SELECT COALESCE({aggregate}, '[]') AS page, COUNT(*) AS rows, COALESCE({last}, '') AS last \
         FROM (SELECT i.number, i.created_at, \
         i.team_id, i.channel_id, i.message_ts, i.thread_ts, i.author_id, i.text, i.tags, i.vote_count, \
         i.reply_count, i.status, i.source FROM insights i WHERE 1 = 1"
    ));
    sql.filter("i", filter, filter.since, filter.until);
    // Written so both planners walk the (team_id, number) unique index from the cursor; an OR
    // of the two cases sent SQLite to another index and a sort of the whole workspace per page.
    match (cursor, &filter.team_id) {
        (None, _) => {}
        (Some((_, number)), Some(_)) => {
            let number = sql.arg(Arg::Int(*number));
            sql.push(&format!(" AND i.number > {number}"));
        }
        (Some((team, number)), None) => {
            let team = sql.arg(Arg::Text(team.clone()));
            let number = sql.arg(Arg::Int(*number));
            sql.push(&format!(" AND (i.team_id, i.number) > ({team}, {number})"));
        }
    }
    let limit = sql.arg(Arg::Int(rows));
    sql.push(&format!(
        " ORDER BY i.team_id, i.number LIMIT {limit}) AS page_rows"
    ));
    sql
}

/// [`ExportPages`] over a pool: the export's keyset pages ([`export_page_sql`]), each read with
/// a connection taken from the pool for that query alone.
struct PagedExport<DB: sqlx::Database> {
    reads: SqlPool<DB>,
    filter: InsightFilter,
    /// Read with the first page.
    names: Option<Arc<Names>>,
    cursor: Option<(String, i64)>,
    finished: bool,
}

/// One exported row as a page's JSON holds it, in [`export_page_sql`]'s field order.
#[derive(serde::Deserialize)]
struct PageRow(
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    String,
    String,
);

impl From<PageRow> for InsightRow {
    fn from(row: PageRow) -> Self {
        let PageRow(
            number,
            created_at,
            team_id,
            channel_id,
            message_ts,
            thread_ts,
            author_id,
            text,
            tags,
            votes,
            replies,
            status,
            source,
        ) = row;
        InsightRow {
            number,
            created_at,
            team_id,
            channel_id,
            channel_name: None,
            message_ts,
            thread_ts,
            author_id,
            author_name: None,
            text,
            tags,
            votes,
            replies,
            status,
            source,
            workspace_url: None,
        }
    }
}

/// The cursor in a page's `last` column: team, separator, zero-padded number.
fn parse_last(last: &str) -> Option<(String, i64)> {
    let (team, number) = last.rsplit_once('\u{1f}')?;
    Some((team.to_owned(), number.parse().ok()?))
}

/// A page's rows, in export order.
fn parse_page(json: &str) -> StoreResult<Vec<InsightRow>> {
    let rows: Vec<PageRow> = serde_json::from_str(json)
        .map_err(|err| super::StoreError::Corrupt(format!("export page: {err}")))?;
    let mut rows: Vec<InsightRow> = rows.into_iter().map(InsightRow::from).collect();
    if !rows.is_sorted_by(|a, b| (&a.team_id, a.number) <= (&b.team_id, b.number)) {
        rows.sort_by(|a, b| (&a.team_id, a.number).cmp(&(&b.team_id, b.number)));
    }
    Ok(rows)
}

/// Names of the filter's workspace (or of all): (team, channel) → channel name, (team, user)
/// → person, team → URL. A few thousand rows at most.
#[derive(Debug, Default)]
struct Names {
    channels: HashMap<(String, String), String>,
    people: HashMap<(String, String), String>,
    workspaces: HashMap<String, String>,
}

impl Names {
    fn fill(&self, row: &mut InsightRow) {
        let team = row.team_id.clone();
        row.channel_name = self
            .channels
            .get(&(team.clone(), row.channel_id.clone()))
            .cloned();
        row.author_name = row
            .author_id
            .as_ref()
            .and_then(|author| self.people.get(&(team.clone(), author.clone())).cloned());
        row.workspace_url = self.workspaces.get(&team).cloned();
    }

    /// Parses a page's JSON and names its rows.
    fn page(&self, json: &str) -> StoreResult<Vec<InsightRow>> {
        let mut rows = parse_page(json)?;
        for row in &mut rows {
            self.fill(row);
        }
        Ok(rows)
    }
}

fn names_sql(table: &str, key: &str, value: &str, team_id: Option<&str>) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT team_id, {key}, {value} FROM {table} WHERE {value} IS NOT NULL"
    ));
    if let Some(team) = team_id {
        let team = sql.arg(Arg::Text(team.to_owned()));
        sql.push(&format!(" AND team_id = {team}"));
    }
    sql
}

/// Live insights created in `[since, until)` grouped as [`Breakdown`]s, current from `window.start`.
fn breakdown_sql(filter: &InsightFilter, window: Window, since: Millis, until: Millis) -> Sql {
    let mut sql = Sql::new("");
    let current = sql.arg(Arg::Int(window.start));
    sql.push(&format!(
        "SELECT i.created_at >= {current} AS current, i.status, i.tags, COUNT(*) AS count FROM insights i WHERE 1 = 1"
    ))
    .filter("i", filter, Some(since), Some(until))
    .push(" GROUP BY 1, 2, 3");
    sql
}

/// The day counts (`insight_days`) of `team_id`'s whole days `days`, current from `current_day`.
fn day_counts_sql(team_id: &str, days: &[DayRange], current_day: i64) -> Sql {
    let mut sql = Sql::new("");
    let team = sql.arg(Arg::Text(team_id.to_owned()));
    let current = sql.arg(Arg::Int(current_day));
    let ranges: Vec<String> = days
        .iter()
        .map(|range| {
            let (first, end) = (sql.arg(Arg::Int(range.first)), sql.arg(Arg::Int(range.end)));
            format!("(day >= {first} AND day < {end})")
        })
        .collect();
    sql.push(&format!(
        "SELECT day >= {current} AS current, status, tags, CAST(SUM(count) AS BIGINT) AS count FROM insight_days \
         WHERE team_id = {team} AND ({}) AND count > 0 GROUP BY 1, 2, 3",
        ranges.join(" OR ")
    ));
    sql
}

fn top_sql(filter: &InsightFilter, window: Window, limit: u32) -> Sql {
    // The ranking reads only the report index; full rows are fetched for the few that win.
    let mut sql = Sql::new(ROW_COLUMNS);
    sql.push(ROW_JOINS)
        .push(" AND i.id IN (SELECT r.id FROM insights r WHERE 1 = 1")
        .filter("r", filter, Some(window.start), Some(window.end));
    let limit = sql.arg(Arg::Int(limit.into()));
    sql.push(&format!(" ORDER BY r.vote_count DESC, r.id LIMIT {limit})"))
        .push(" ORDER BY i.vote_count DESC, i.number");
    sql
}

// PostgreSQL sums BIGINTs into NUMERIC; the casts keep both backends answering BIGINT.

/// Per channel: members at the end of the window and those who joined during it.
fn members_sql(team_id: &str, channel_id: Option<&str>, window: Window) -> Sql {
    let mut sql = Sql::new("");
    let team = sql.arg(Arg::Text(team_id.to_owned()));
    let (start, end) = (sql.arg(Arg::Int(window.start)), sql.arg(Arg::Int(window.end)));
    sql.push(&format!(
        "SELECT channel_id, \
         CAST(SUM(CASE WHEN (joined_at IS NULL OR joined_at < {end}) AND (left_at IS NULL OR left_at >= {end}) \
         THEN 1 ELSE 0 END) AS BIGINT) AS members, \
         CAST(SUM(CASE WHEN joined_at >= {start} AND joined_at < {end} THEN 1 ELSE 0 END) AS BIGINT) AS new_members \
         FROM circle_members WHERE team_id = {team}"
    ));
    channel_condition(&mut sql, "channel_id", channel_id);
    sql.push(" GROUP BY channel_id");
    sql
}

/// Per channel and member: posts, replies and reactions over `[start_day, end_day)`. The sum
/// is cast because PostgreSQL sums BIGINT columns as NUMERIC.
fn activity_sql(team_id: &str, channel_id: Option<&str>, start_day: i64, end_day: i64) -> Sql {
    let mut sql = Sql::new("");
    let team = sql.arg(Arg::Text(team_id.to_owned()));
    let (start, end) = (sql.arg(Arg::Int(start_day)), sql.arg(Arg::Int(end_day)));
    sql.push(&format!(
        "SELECT channel_id, user_id, CAST(SUM(posts + replies + reactions) AS BIGINT) AS actions FROM member_activity \
         WHERE team_id = {team} AND day >= {start} AND day < {end}"
    ));
    channel_condition(&mut sql, "channel_id", channel_id);
    sql.push(" GROUP BY channel_id, user_id");
    sql
}

/// Per channel and author: live insights created in the window.
fn authors_sql(team_id: &str, channel_id: Option<&str>, window: Window) -> Sql {
    let filter = InsightFilter {
        team_id: Some(team_id.to_owned()),
        channel_id: channel_id.map(str::to_owned),
        ..InsightFilter::default()
    };
    let mut sql =
        Sql::new("SELECT i.channel_id, i.author_id, COUNT(*) AS insights FROM insights i WHERE 1 = 1");
    sql.filter("i", &filter, Some(window.start), Some(window.end))
        .push(" AND i.author_id IS NOT NULL GROUP BY i.channel_id, i.author_id");
    sql
}

fn circles_sql(team_id: &str, channel_id: Option<&str>) -> Sql {
    let mut sql = Sql::new("");
    let team = sql.arg(Arg::Text(team_id.to_owned()));
    sql.push(&format!(
        "SELECT channel_id, name FROM circles WHERE team_id = {team} AND active"
    ));
    channel_condition(&mut sql, "channel_id", channel_id);
    sql
}

fn tag_in_use_sql(team_id: &str, tag: &str) -> Sql {
    let mut sql = Sql::new("");
    let (team, tag) = (
        sql.arg(Arg::Text(team_id.to_owned())),
        sql.arg(Arg::Text(tag.to_owned())),
    );
    // LIMIT 1 inside: the first match ends the scan.
    sql.push(&format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM insight_tags t JOIN insights i ON i.id = t.insight_id \
         WHERE i.team_id = {team} AND t.tag = {tag} LIMIT 1) found"
    ));
    sql
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
    tag.is_none_or(|tag| group.tags.split(crate::store::TAG_SEPARATOR).any(|t| t == tag))
}

fn channel_condition(sql: &mut Sql, column: &str, channel_id: Option<&str>) {
    if let Some(channel) = channel_id {
        let channel = sql.arg(Arg::Text(channel.to_owned()));
        sql.push(&format!(" AND {column} = {channel}"));
    }
}

/// Puts the per-channel figures together, circles in name order, contributors most involved first.
fn assemble(
    circles: Vec<(String, Option<String>)>,
    members: Vec<(String, i64, i64)>,
    activity: Vec<(String, String, i64)>,
    activity_before: Vec<(String, String, i64)>,
    authors: Vec<(String, String, i64)>,
    contributors: u32,
) -> Vec<CircleEngagement> {
    let mut by_channel: HashMap<String, CircleEngagement> = circles
        .into_iter()
        .map(|(channel_id, channel_name)| {
            let engagement = CircleEngagement {
                channel_id: channel_id.clone(),
                channel_name,
                ..CircleEngagement::default()
            };
            (channel_id, engagement)
        })
        .collect();
    for (channel, members, new_members) in members {
        if let Some(e) = by_channel.get_mut(&channel) {
            e.members = members;
            e.new_members = new_members;
        }
    }
    let mut people: HashMap<(String, String), Contributor> = HashMap::new();
    for (channel, user, actions) in activity {
        if let Some(e) = by_channel.get_mut(&channel) {
            e.active += 1;
        }
        people
            .entry((channel, user.clone()))
            .or_insert_with(|| Contributor {
                user_id: user,
                insights: 0,
                actions: 0,
            })
            .actions += actions;
    }
    for (channel, _, _) in activity_before {
        if let Some(e) = by_channel.get_mut(&channel) {
            e.active_before += 1;
        }
    }
    for (channel, author, insights) in authors {
        people
            .entry((channel, author.clone()))
            .or_insert_with(|| Contributor {
                user_id: author,
                insights: 0,
                actions: 0,
            })
            .insights += insights;
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
        let name = |c: &CircleEngagement| c.channel_name.clone().unwrap_or_else(|| c.channel_id.clone());
        name(a).cmp(&name(b))
    });
    circles
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Text(text) => query.bind(text),
                Arg::Int(int) => query.bind(int),
            };
        }
        query
    }};
}

macro_rules! impl_insight_reads {
    ($db:ty, $syntax:expr) => {
        #[async_trait]
        impl ExportPages for PagedExport<$db> {
            async fn next_page(&mut self) -> StoreResult<Vec<InsightRow>> {
                if self.finished {
                    return Ok(Vec::new());
                }
                let names = match &self.names {
                    Some(names) => names.clone(),
                    None => {
                        let names = Arc::new(self.reads.names(self.filter.team_id.as_deref()).await?);
                        self.names.insert(names).clone()
                    }
                };
                let Sql { text, args } = export_page_sql(
                    &self.filter,
                    self.cursor.as_ref(),
                    $syntax,
                    PAGED_EXPORT_ROWS,
                );
                let query = bind_all!(sqlx::query_as::<_, (String, i64, String)>(&text), args);
                let (json, rows, last) = query.fetch_one(&self.reads.0).await?;
                self.cursor = parse_last(&last);
                self.finished = rows < PAGED_EXPORT_ROWS || self.cursor.is_none();
                // Milliseconds of parsing: kept off the async workers that answer Slack.
                tokio::task::spawn_blocking(move || names.page(&json))
                    .await
                    .map_err(|err| super::StoreError::Corrupt(format!("export page: {err}")))?
            }
        }

        impl SqlPool<$db> {
            async fn names(&self, team_id: Option<&str>) -> StoreResult<Names> {
                let pairs = |rows: Vec<(String, String, String)>| {
                    rows.into_iter()
                        .map(|(team, key, value)| ((team, key), value))
                        .collect()
                };
                let workspaces: Vec<(String, String, String)> = self
                    .all(names_sql("workspaces", "team_id", "url", team_id))
                    .await?;
                Ok(Names {
                    channels: pairs(
                        self.all(names_sql("circles", "channel_id", "name", team_id))
                            .await?,
                    ),
                    people: pairs(
                        self.all(names_sql("people", "user_id", "name", team_id))
                            .await?,
                    ),
                    workspaces: workspaces
                        .into_iter()
                        .map(|(team, _, url)| (team, url))
                        .collect(),
                })
            }

            async fn all<T>(&self, sql: Sql) -> StoreResult<Vec<T>>
            where
                T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                let Sql { text, args } = sql;
                let query = bind_all!(sqlx::query_as::<_, T>(&text), args);
                Ok(query.fetch_all(&self.0).await?)
            }
        }

        #[async_trait]
        impl InsightReads for SqlPool<$db> {
            fn export(&self, filter: InsightFilter) -> InsightRowStream {
                let pool = self.0.clone();
                // SQLite pages travel as JSON text: the reader parses one while the database
                // builds the next, so the two cores share the work. PostgreSQL builds JSON
                // more slowly than it sends rows (14 ms against 7 ms a page of 2,000), so it
                // streams rows.
                let (sender, receiver) = mpsc::channel::<StoreResult<ExportChunk>>(2);
                // The query runs in its own task so the stream owns nothing borrowed; the bounded
                // channel stops reading while the consumer is behind.
                tokio::spawn(async move {
                    let reads = SqlPool(pool.clone());
                    let names = match reads.names(filter.team_id.as_deref()).await {
                        Ok(names) => Arc::new(names),
                        Err(err) => {
                            let _ = sender.send(Err(err)).await;
                            return;
                        }
                    };
                    // Every page on one connection: pages spread over the pool would fill each
                    // connection's page cache with the same table.
                    let mut conn = match pool.acquire().await {
                        Ok(conn) => conn,
                        Err(err) => {
                            let _ = sender.send(Err(err.into())).await;
                            return;
                        }
                    };
                    if matches!($syntax, JsonPage::Postgres) {
                        let Sql { text, args } = export_sql(&filter);
                        let query = bind_all!(sqlx::query_as::<_, InsightRow>(&text), args);
                        let mut rows = query.fetch(&mut *conn);
                        let mut batch = Vec::with_capacity(EXPORT_BATCH);
                        while let Some(row) = rows.next().await {
                            match row {
                                Ok(mut row) => {
                                    names.fill(&mut row);
                                    batch.push(row);
                                    if batch.len() == EXPORT_BATCH {
                                        let full =
                                            std::mem::replace(&mut batch, Vec::with_capacity(EXPORT_BATCH));
                                        if sender.send(Ok(ExportChunk::Rows(full))).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                                Err(err) => {
                                    let _ = sender.send(Err(err.into())).await;
                                    return;
                                }
                            }
                        }
                        if !batch.is_empty() {
                            let _ = sender.send(Ok(ExportChunk::Rows(batch))).await;
                        }
                        return;
                    }
                    let mut cursor: Option<(String, i64)> = None;
                    loop {
                        let Sql { text, args } =
                            export_page_sql(&filter, cursor.as_ref(), $syntax, EXPORT_PAGE);
                        let query = bind_all!(sqlx::query_as::<_, (String, i64, String)>(&text), args);
                        let (json, rows, last) = match query.fetch_one(&mut *conn).await {
                            Ok(page) => page,
                            Err(err) => {
                                let _ = sender.send(Err(err.into())).await;
                                return;
                            }
                        };
                        if rows == 0 {
                            return;
                        }
                        cursor = parse_last(&last);
                        let page = ExportChunk::Json(names.clone(), json);
                        if sender.send(Ok(page)).await.is_err() || rows < EXPORT_PAGE || cursor.is_none() {
                            return;
                        }
                    }
                });
                Box::pin(
                    futures_util::stream::unfold(receiver, |mut receiver| async move {
                        receiver.recv().await.map(|item| (item, receiver))
                    })
                    .map(|chunk| match chunk? {
                        ExportChunk::Json(names, json) => names.page(&json),
                        ExportChunk::Rows(rows) => Ok(rows),
                    }),
                )
            }

            fn export_pages(&self, filter: InsightFilter) -> Box<dyn ExportPages> {
                Box::new(PagedExport {
                    reads: SqlPool(self.0.clone()),
                    filter,
                    names: None,
                    cursor: None,
                    finished: false,
                })
            }

            async fn breakdown(&self, filter: &InsightFilter, window: Window) -> StoreResult<Vec<Breakdown>> {
                let whole_workspace = filter.channel_id.is_none()
                    && filter.status.is_none()
                    && filter.after_number.is_none()
                    && !filter.include_removed;
                let (Some(team_id), true) = (&filter.team_id, whole_workspace) else {
                    return self
                        .all(breakdown_sql(
                            filter,
                            window,
                            window.previous().start,
                            window.end,
                        ))
                        .await;
                };
                // A whole workspace's periods: whole days from the day counts, the partial days
                // at the edges from the insights themselves.
                let split = DaySplit::of(window);
                let mut groups: Vec<Breakdown> = Vec::new();
                if !split.days.is_empty() {
                    let counted: Vec<Breakdown> = self
                        .all(day_counts_sql(team_id, &split.days, day_of(window.start)))
                        .await?;
                    groups.extend(
                        counted
                            .into_iter()
                            .filter(|group| has_tag(group, filter.tag.as_deref())),
                    );
                }
                for (since, until) in split.partial {
                    groups.extend(
                        self.all::<Breakdown>(breakdown_sql(filter, window, since, until))
                            .await?,
                    );
                }
                Ok(groups)
            }

            async fn top_insights(
                &self,
                filter: &InsightFilter,
                window: Window,
                limit: u32,
            ) -> StoreResult<Vec<InsightRow>> {
                self.all(top_sql(filter, window, limit)).await
            }

            async fn engagement(
                &self,
                team_id: &str,
                channel_id: Option<&str>,
                window: Window,
                contributors: u32,
            ) -> StoreResult<Vec<CircleEngagement>> {
                let days = |w: Window| (day_of(w.start), day_of(w.end - 1) + 1);
                let (start, end) = days(window);
                let (start_before, end_before) = days(window.previous());
                Ok(assemble(
                    self.all(circles_sql(team_id, channel_id)).await?,
                    self.all(members_sql(team_id, channel_id, window)).await?,
                    self.all(activity_sql(team_id, channel_id, start, end))
                        .await?,
                    self.all(activity_sql(
                        team_id,
                        channel_id,
                        start_before,
                        end_before.min(start),
                    ))
                    .await?,
                    self.all(authors_sql(team_id, channel_id, window)).await?,
                    contributors,
                ))
            }

            async fn tag_in_use(&self, team_id: &str, tag: &str) -> StoreResult<bool> {
                let found: Vec<(i64,)> = self.all(tag_in_use_sql(team_id, tag)).await?;
                Ok(found.first().is_some_and(|(count,)| *count > 0))
            }
        }
    };
}

impl_insight_reads!(Sqlite, JsonPage::Sqlite);
impl_insight_reads!(Postgres, JsonPage::Postgres);

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

    #[test]
    fn filters_number_their_parameters_in_order() {
        let filter = InsightFilter {
            team_id: Some("T1".into()),
            channel_id: Some("C1".into()),
            tag: Some("bug".into()),
            ..InsightFilter::default()
        };
        let sql = export_page_sql(&filter, None, JsonPage::Sqlite, EXPORT_PAGE);
        assert!(sql.text.contains("i.team_id = $1"), "{}", sql.text);
        assert!(sql.text.contains("i.channel_id = $2"), "{}", sql.text);
        assert!(sql.text.contains("t.tag = $3"), "{}", sql.text);
        assert!(sql.text.contains("i.deleted = FALSE AND i.merged_into IS NULL"));
        assert!(sql.text.contains("LIMIT $4"), "{}", sql.text);
        assert_eq!(sql.args.len(), 4);
    }

    #[test]
    fn later_pages_start_after_the_cursor_on_the_unique_index() {
        let cursor = ("T1".to_owned(), 2_000);
        let one = InsightFilter {
            team_id: Some("T1".into()),
            ..InsightFilter::default()
        };
        let sql = export_page_sql(&one, Some(&cursor), JsonPage::Postgres, EXPORT_PAGE);
        assert!(
            sql.text
                .contains("AND i.number > $2 ORDER BY i.team_id, i.number LIMIT $3"),
            "{}",
            sql.text
        );
        let all = export_page_sql(
            &InsightFilter::default(),
            Some(&cursor),
            JsonPage::Sqlite,
            EXPORT_PAGE,
        );
        assert!(
            all.text.contains("AND (i.team_id, i.number) > ($1, $2)"),
            "{}",
            all.text
        );
        assert_eq!(parse_last("T1\u{1f}00000000000000002000"), Some(cursor));
        assert_eq!(parse_last(""), None);
    }

    #[test]
    fn removed_insights_are_only_read_when_asked_for() {
        let filter = InsightFilter {
            include_removed: true,
            ..InsightFilter::default()
        };
        assert!(
            !export_page_sql(&filter, None, JsonPage::Sqlite, EXPORT_PAGE)
                .text
                .contains("deleted")
        );
    }
}
