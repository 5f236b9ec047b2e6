//! Read-only queries for reports and exports, and their one implementation over an engine's
//! [`Runner`] (statements in `report_queries` and `export_queries`). They read on the
//! runner's read connections, not in a write transaction, so a long export never holds up
//! capture.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;

use super::StoreResult;
use super::export_queries::{self, PagedExport};
use super::insights::InsightStatus;
use super::report_queries::{self, EngagementQuery};
use super::runner::{RunStatement, Runner};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};

/// Which insights a report or export looks at. Times are milliseconds; `until` is exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsightFilter {
    /// None only for operator exports over every workspace in the database.
    pub team_id: Option<TeamId>,
    /// Workspaces linked to `team_id`, whose insights count as its own (ARCHITECTURE §9).
    pub linked_teams: Vec<TeamId>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub channel_id: Option<ChannelId>,
    pub tag: Option<String>,
    pub status: Option<InsightStatus>,
    /// Only insights numbered above this (incremental sync).
    pub after_number: Option<i64>,
    /// Deleted and merged insights too (they are left out by default).
    pub include_removed: bool,
}

/// One insight as exports and reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightRow {
    pub number: i64,
    pub created_at: Millis,
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub channel_name: Option<String>,
    pub message_ts: String,
    pub thread_ts: Option<String>,
    pub author_id: Option<UserId>,
    pub author_name: Option<String>,
    pub text: Option<String>,
    /// Sorted, separated by [`super::TAG_SEPARATOR`].
    pub tags: String,
    pub votes: i64,
    pub replies: i64,
    pub status: String,
    pub source: String,
    pub workspace_url: Option<String>,
    /// The author's own workspace: another organization's for a Slack Connect member, the
    /// installation's when Slack never said.
    pub author_team_id: TeamId,
}

impl InsightRow {
    pub fn tag_list(&self) -> impl Iterator<Item = &str> {
        self.tags.split(super::TAG_SEPARATOR).filter(|t| !t.is_empty())
    }

    /// The message's Slack permalink, when the workspace's URL is known.
    pub fn permalink(&self) -> Option<String> {
        let base = self.workspace_url.as_deref()?;
        let base = base.trim_end_matches('/');
        let mut link = format!(
            "{base}/archives/{}/p{}",
            self.channel_id,
            self.message_ts.replace('.', "")
        );
        if let Some(thread) = self.thread_ts.as_deref().filter(|t| *t != self.message_ts) {
            link.push_str(&format!("?thread_ts={thread}&cid={}", self.channel_id));
        }
        Some(link)
    }
}

/// Rows in batches, produced while they are read: memory stays flat however many there are.
pub type InsightRowStream = Pin<Box<dyn Stream<Item = StoreResult<Vec<InsightRow>>> + Send>>;

/// An export read a page at a time, each page by a short query of its own: nothing is held
/// between pages, so a reader that takes its time holds no connection meanwhile.
#[async_trait]
pub trait ExportPages: Send {
    /// The next rows in export order; empty once every row was read.
    async fn next_page(&mut self) -> StoreResult<Vec<InsightRow>>;
}

/// One group of live insights in a report's window: counted per status and tag set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    /// In the period asked for (true) or the one before it, of the same length (false).
    pub current: bool,
    pub status: String,
    pub tags: String,
    pub count: i64,
}

/// Engagement of one circle over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircleEngagement {
    pub channel_id: ChannelId,
    pub channel_name: Option<String>,
    /// Members at the end of the period.
    pub members: i64,
    /// Members who joined during the period.
    pub new_members: i64,
    /// Members who posted, replied or reacted during the period.
    pub active: i64,
    /// The same, in the period before it, of the same length.
    pub active_before: i64,
    /// Most involved first: (user, insights authored, posts + replies + reactions).
    pub contributors: Vec<Contributor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributor {
    pub user_id: UserId,
    pub insights: i64,
    pub actions: i64,
}

/// A report's window: the period `[start, end)` and the one of the same length before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Millis,
    pub end: Millis,
}

impl Window {
    /// The period of the same length just before this one; it saturates at the earliest
    /// instant rather than overflow, whatever the bounds.
    pub fn previous(&self) -> Window {
        let length = self.end.saturating_sub(self.start);
        Window {
            start: self.start.saturating_sub(length),
            end: self.start,
        }
    }
}

#[async_trait]
pub trait InsightReads: Send + Sync {
    /// Insights matching `filter`, by workspace then number, streamed in batches. One
    /// connection is held until the stream ends: for readers that keep up (the CLI, a file).
    fn export(&self, filter: InsightFilter) -> InsightRowStream;

    /// The same rows as [`InsightReads::export`], a page per call and a query per page, holding
    /// nothing between pages: for readers that may be slow (the HTTP API).
    fn export_pages(&self, filter: InsightFilter) -> Box<dyn ExportPages>;

    /// Live insights of `window` and the period before it, grouped by status and tag set.
    /// `filter`'s own time bounds are ignored.
    async fn breakdown(&self, filter: &InsightFilter, window: Window) -> StoreResult<Vec<Breakdown>>;

    /// The most voted live insights created in `window`, most votes first.
    async fn top_insights(
        &self,
        filter: &InsightFilter,
        window: Window,
        limit: u32,
    ) -> StoreResult<Vec<InsightRow>>;

    /// Engagement per active circle of the filter's workspace and those linked to it (or just
    /// its channel), by channel name.
    async fn engagement(
        &self,
        filter: &InsightFilter,
        window: Window,
        contributors: u32,
    ) -> StoreResult<Vec<CircleEngagement>>;

    /// Whether any insight of the workspace carries `tag`, from any source (removed ones too:
    /// a tag once used is still a tag people may ask a report about).
    async fn tag_in_use(&self, team_id: &TeamId, tag: &str) -> StoreResult<bool>;
}

/// [`InsightReads`] over an engine's runner, for either backend.
pub(super) struct SqlReads<R> {
    runner: Arc<R>,
}

impl<R> SqlReads<R> {
    pub(super) fn new(runner: Arc<R>) -> Self {
        Self { runner }
    }
}

#[async_trait]
impl<R: Runner> InsightReads for SqlReads<R> {
    fn export(&self, filter: InsightFilter) -> InsightRowStream {
        export_queries::export(self.runner.clone(), filter)
    }

    fn export_pages(&self, filter: InsightFilter) -> Box<dyn ExportPages> {
        Box::new(PagedExport::new(self.runner.clone(), filter))
    }

    async fn breakdown(&self, filter: &InsightFilter, window: Window) -> StoreResult<Vec<Breakdown>> {
        let filter = filter.clone();
        self.runner
            .read(move |c| Box::pin(async move { report_queries::breakdown(c, &filter, window).await }))
            .await
    }

    async fn top_insights(
        &self,
        filter: &InsightFilter,
        window: Window,
        limit: u32,
    ) -> StoreResult<Vec<InsightRow>> {
        self.runner
            .read_all(report_queries::top_statement(filter, window, limit))
            .await
    }

    async fn engagement(
        &self,
        filter: &InsightFilter,
        window: Window,
        contributors: u32,
    ) -> StoreResult<Vec<CircleEngagement>> {
        let query = EngagementQuery {
            teams: filter
                .team_id
                .iter()
                .chain(&filter.linked_teams)
                .cloned()
                .collect(),
            channel_id: filter.channel_id.clone(),
            window,
            contributors,
        };
        self.runner
            .read(move |c| Box::pin(async move { report_queries::engagement(c, &query).await }))
            .await
    }

    async fn tag_in_use(&self, team_id: &TeamId, tag: &str) -> StoreResult<bool> {
        let found: i64 = self
            .runner
            .read_one(report_queries::tag_in_use_statement(team_id, tag))
            .await?;
        Ok(found > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_window_has_the_same_length_and_ends_where_this_one_starts() {
        let window = Window {
            start: 1_000,
            end: 1_600,
        };
        assert_eq!(
            window.previous(),
            Window {
                start: 400,
                end: 1_000
            }
        );
    }

    #[test]
    fn the_previous_window_of_any_bounds_saturates_instead_of_overflowing() {
        let cases = [
            (i64::MIN, i64::MAX),
            (i64::MIN + 1, i64::MAX),
            (-4_000_000_000_000_000_000, 4_000_000_000_000_000_000),
            (i64::MAX - 1, i64::MAX),
            (i64::MAX, i64::MIN),
        ];
        for (start, end) in cases {
            let previous = Window { start, end }.previous();
            assert_eq!(previous.end, start);
            if start <= end {
                assert!(previous.start <= previous.end, "{previous:?}");
            }
        }
        let wide = Window {
            start: -4_000_000_000_000_000_000,
            end: 4_000_000_000_000_000_000,
        };
        assert_eq!(wide.previous().start, i64::MIN);
    }
}
