//! The export's reads: insights in (workspace, number) order, a keyset page per statement,
//! names filled in from the workspace's names read once per export. Both ways to read it
//! ([`export`] streamed, [`ExportPages`] paged) read the same pages, so memory depends on the
//! page, never on the export's size.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::StoreResult;
use super::reads::{ExportPages, InsightFilter, InsightRow, InsightRowStream};
use super::report_queries::{push_conditions, team_in};
use super::runner::Runner;
use super::sql::{Executor, Statement};
use crate::ids::TeamId;

/// Rows per page of the streamed export: small enough that memory does not depend on the
/// export's size, large enough that a page's statement costs little beside its rows.
const EXPORT_PAGE: usize = 2_000;

/// Rows per page of [`ExportPages`], whose readers may be slow: a page is what such a reader
/// holds in memory, and reading and encoding it is work done in one go, beside Slack's
/// acknowledgements.
const PAGED_EXPORT_ROWS: usize = 500;

/// Pages the streamed export reads ahead of its consumer.
const PAGES_AHEAD: usize = 2;

/// (team, number) of the last row read: the next page starts after it.
type Cursor = (TeamId, i64);

/// The page of up to `rows` rows of the export after `cursor`. The export reads insights
/// alone, the names left NULL for [`Names`] to fill: three joins per row would double the
/// cost of a million-row export.
fn page_statement(filter: &InsightFilter, cursor: Option<&Cursor>, rows: usize) -> Statement {
    let mut statement = Statement::new(
        "SELECT i.number, i.created_at, i.team_id, i.channel_id, CAST(NULL AS TEXT) AS channel_name, \
         i.message_ts, i.thread_ts, i.author_id, \
         CASE WHEN i.author_id LIKE 'member-%' THEN i.author_id END AS author_name, i.text, i.tags, \
         i.vote_count AS votes, i.reply_count AS replies, i.status, i.source, \
         CAST(NULL AS TEXT) AS workspace_url, COALESCE(i.author_team_id, i.team_id) AS author_team_id \
         FROM insights i WHERE 1 = 1",
    );
    push_conditions(&mut statement, "i", filter, filter.since, filter.until);
    // Written so both planners walk the (team_id, number) unique index from the cursor; an OR
    // of the two cases sent SQLite to another index and a sort of the whole workspace per page.
    match (cursor, &filter.team_id) {
        (None, _) => {}
        (Some((_, number)), Some(_)) if filter.linked_teams.is_empty() => {
            let number = statement.param(*number);
            statement.push(&format!(" AND i.number > {number}"));
        }
        (Some((team, number)), _) => {
            let (team, number) = (statement.param(team), statement.param(*number));
            statement.push(&format!(" AND (i.team_id, i.number) > ({team}, {number})"));
        }
    }
    let limit = statement.param(rows as i64);
    statement.push(&format!(" ORDER BY i.team_id, i.number LIMIT {limit}"));
    statement
}

/// The page after `cursor`, and the cursor after it.
async fn read_page<E: Executor>(
    ex: &mut E,
    filter: &InsightFilter,
    cursor: Option<&Cursor>,
    rows: usize,
) -> StoreResult<(Vec<InsightRow>, Option<Cursor>)> {
    let page: Vec<InsightRow> = ex.fetch_page(&page_statement(filter, cursor, rows), rows).await?;
    let next = page.last().map(|row| (row.team_id.clone(), row.number));
    Ok((page, next))
}

/// Names of the filter's workspace (or of all): team → channel → channel name, team → user →
/// person, team → URL. A few thousand rows at most.
#[derive(Debug, Default)]
struct Names {
    channels: HashMap<String, HashMap<String, String>>,
    people: HashMap<String, HashMap<String, String>>,
    workspaces: HashMap<String, String>,
}

impl Names {
    /// Names of the filter's workspaces (or of all, for an export over every workspace).
    async fn read<E: Executor>(ex: &mut E, filter: &InsightFilter) -> StoreResult<Self> {
        let teams: Vec<&TeamId> = filter.team_id.iter().chain(&filter.linked_teams).collect();
        let team_id = &teams;
        let by_team = |rows: Vec<(String, String, String)>| {
            let mut by_team: HashMap<String, HashMap<String, String>> = HashMap::new();
            for (team, key, value) in rows {
                by_team.entry(team).or_default().insert(key, value);
            }
            by_team
        };
        let workspaces: Vec<(String, String, String)> = ex
            .fetch_all(&names_statement("workspaces", "team_id", "url", team_id))
            .await?;
        Ok(Names {
            channels: by_team(
                ex.fetch_all(&names_statement("circles", "channel_id", "name", team_id))
                    .await?,
            ),
            people: by_team(
                ex.fetch_all(&names_statement("people", "user_id", "name", team_id))
                    .await?,
            ),
            workspaces: workspaces.into_iter().map(|(team, _, url)| (team, url)).collect(),
        })
    }

    fn fill(&self, rows: &mut [InsightRow]) {
        for row in rows {
            let team = row.team_id.as_str();
            row.channel_name = self
                .channels
                .get(team)
                .and_then(|channels| channels.get(row.channel_id.as_str()))
                .cloned();
            // A forgotten member's insights have no author id: their pseudonym is the name read.
            if let Some(author) = &row.author_id {
                row.author_name = self
                    .people
                    .get(team)
                    .and_then(|people| people.get(author.as_str()))
                    .cloned();
            }
            row.workspace_url = self.workspaces.get(team).cloned();
        }
    }
}

fn names_statement(table: &str, key: &str, value: &str, teams: &[&TeamId]) -> Statement {
    let mut statement = Statement::new(format!(
        "SELECT team_id, {key}, {value} FROM {table} WHERE {value} IS NOT NULL"
    ));
    if !teams.is_empty() {
        let team = team_in(&mut statement, "team_id", teams);
        statement.push(&format!(" AND {team}"));
    }
    statement
}

/// The export streamed: every page read on one connection (pages spread over several would
/// fill each connection's page cache with the same table) by a task of its own, a bounded
/// channel ahead of the consumer. The consumer names the rows, so the two share the work.
pub(super) fn export<R: Runner>(runner: Arc<R>, filter: InsightFilter) -> InsightRowStream {
    type Page = StoreResult<(Arc<Names>, Vec<InsightRow>)>;
    let (sender, receiver) = mpsc::channel::<Page>(PAGES_AHEAD);
    let failed = sender.clone();
    tokio::spawn(async move {
        let read = runner
            .read(move |c| {
                Box::pin(async move {
                    let names = Arc::new(Names::read(c, &filter).await?);
                    let mut cursor = None;
                    loop {
                        let (page, next) = read_page(c, &filter, cursor.as_ref(), EXPORT_PAGE).await?;
                        let last = page.len() < EXPORT_PAGE;
                        if page.is_empty() || sender.send(Ok((names.clone(), page))).await.is_err() || last {
                            return Ok(());
                        }
                        cursor = next;
                    }
                })
            })
            .await;
        if let Err(err) = read {
            let _ = failed.send(Err(err)).await;
        }
    });
    Box::pin(
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|page| (page, receiver))
        })
        .map(|page: Page| {
            let (names, mut rows) = page?;
            names.fill(&mut rows);
            Ok(rows)
        }),
    )
}

/// [`ExportPages`] over a runner: a read of its own per page, so nothing is held between pages.
pub(super) struct PagedExport<R> {
    runner: Arc<R>,
    filter: Arc<InsightFilter>,
    /// Read with the first page.
    names: Option<Arc<Names>>,
    cursor: Option<Cursor>,
    finished: bool,
}

impl<R> PagedExport<R> {
    pub(super) fn new(runner: Arc<R>, filter: InsightFilter) -> Self {
        Self {
            runner,
            filter: Arc::new(filter),
            names: None,
            cursor: None,
            finished: false,
        }
    }
}

#[async_trait]
impl<R: Runner> ExportPages for PagedExport<R> {
    async fn next_page(&mut self) -> StoreResult<Vec<InsightRow>> {
        if self.finished {
            return Ok(Vec::new());
        }
        let (filter, names, cursor) = (self.filter.clone(), self.names.clone(), self.cursor.clone());
        // Read, decoded and named where the runner reads (SQLite: a blocking thread), not on
        // the async workers that answer Slack.
        let (names, page, next) = self
            .runner
            .read(move |c| {
                Box::pin(async move {
                    let names = match names {
                        Some(names) => names,
                        None => Arc::new(Names::read(c, &filter).await?),
                    };
                    let (mut page, next) = read_page(c, &filter, cursor.as_ref(), PAGED_EXPORT_ROWS).await?;
                    names.fill(&mut page);
                    Ok((names, page, next))
                })
            })
            .await?;
        self.finished = page.len() < PAGED_EXPORT_ROWS;
        self.names = Some(names);
        self.cursor = next;
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChannelId;

    fn team(text: &str) -> TeamId {
        TeamId::parse(text).unwrap()
    }

    #[test]
    fn filters_number_their_parameters_in_order() {
        let filter = InsightFilter {
            team_id: Some(team("T1")),
            channel_id: Some(ChannelId::parse("C1").unwrap()),
            tag: Some("bug".into()),
            ..InsightFilter::default()
        };
        let statement = page_statement(&filter, None, EXPORT_PAGE);
        let sql = statement.sql();
        assert!(sql.contains("i.team_id = $1"), "{sql}");
        assert!(sql.contains("i.channel_id = $2"), "{sql}");
        assert!(sql.contains("t.tag = $3"), "{sql}");
        assert!(sql.contains("i.deleted = FALSE AND i.merged_into IS NULL"));
        assert!(sql.contains("LIMIT $4"), "{sql}");
        assert_eq!(statement.values().len(), 4);
    }

    #[test]
    fn later_pages_start_after_the_cursor_on_the_unique_index() {
        let cursor = (team("T1"), 2_000);
        let one = InsightFilter {
            team_id: Some(team("T1")),
            ..InsightFilter::default()
        };
        let statement = page_statement(&one, Some(&cursor), EXPORT_PAGE);
        assert!(
            statement
                .sql()
                .contains("AND i.number > $2 ORDER BY i.team_id, i.number LIMIT $3"),
            "{}",
            statement.sql()
        );
        let all = page_statement(&InsightFilter::default(), Some(&cursor), EXPORT_PAGE);
        assert!(
            all.sql().contains("AND (i.team_id, i.number) > ($1, $2)"),
            "{}",
            all.sql()
        );
    }

    #[test]
    fn removed_insights_are_only_read_when_asked_for() {
        let filter = InsightFilter {
            include_removed: true,
            ..InsightFilter::default()
        };
        assert!(
            !page_statement(&filter, None, EXPORT_PAGE)
                .sql()
                .contains("deleted")
        );
    }
}
