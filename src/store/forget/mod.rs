//! Forgetting one member of a workspace (ARCHITECTURE §13): everything Circlet holds about them
//! goes, written once for both backends, in short write transactions where the engine has one
//! writer (see `statements`). What happens to each table:
//!
//! | table | column(s) | on forget |
//! |---|---|---|
//! | `messages` | their rows (`user_id`): text, thread, `user_team_id` | deleted |
//! | `messages` | others' `text` naming their id (`<@U…>`) | the id replaced by their pseudonym |
//! | `reactions` | their rows (`user_id`, emoji): tags given, votes, any reaction | deleted |
//! | `votes` | their rows | deleted; the voted insights' `vote_count` refreshed |
//! | `replies` | their rows (`user_id`, `text`) | deleted; the insights' `reply_count` refreshed |
//! | `replies` | others' `text` naming their id | the id replaced by their pseudonym |
//! | `insights` they authored | `text` | "[removed at the member's request]" |
//! | | `author_id` | their pseudonym (`member-` + 12 hex of the keyed hash) |
//! | | `customer_company` | cleared: it names their employer |
//! | | counts, tags, status, product area, sentiment, source, times, `author_team_id`, channel and `message_ts` | kept: the insight still counts in reports; the ids point at a Slack message that is the member's own to delete |
//! | `insights` of others | `text` naming their id | the id replaced by their pseudonym |
//! | `insight_revisions` of their insights | `text` | "[removed at the member's request]" (the count of edits stays) |
//! | `insight_revisions` of others | `text` naming their id | the id replaced by their pseudonym |
//! | `insight_tags`, `insight_sources`, `insight_days`, `insight_numbers` | no member column | kept: a tag stays on the insight, who gave it was in `reactions` |
//! | `status_changes` | `changed_by` = them | NULL (the change itself stays) |
//! | `member_activity` | their rows | deleted |
//! | `circle_members` | their rows | deleted |
//! | `people` | their row (`name`, `user_team_id`) | deleted |
//! | `circles`, `emoji_tags` | `changed_by` = them | NULL |
//! | `rules`, `prompts` | `created_by` = them | NULL; the phrase or question is the product team's text, kept |
//! | `workspace_settings` | `updated_by` = them; their id in `product_users` | NULL; removed from the list |
//! | `installations` | `installer_user_id` = them | NULL |
//! | `inbox`, finished rows (`done`, `dead`) | `event_id` containing their id | deleted |
//! | `inbox`, finished rows (`done`, `dead`) | `payload` or `last_error` containing their id | emptied (`payload` `{}`, no error): the row stays so that Slack's late retry of a delivery already handled is recognised by its event id and not applied again (a dead row emptied can no longer be retried) |
//! | `inbox`, the row that asked for this forget (button click, `user_change`) | `payload` | replaced by a stub naming only the pseudonym (see [`ForgetMember::inbox_row`]) |
//! | `inbox`, unfinished rows of others | — | kept: their work must still run |
//! | `forgotten_members` | new row | (workspace, keyed hash): the only trace, to recognise the member again |
//! | `privacy_keys` | the workspace's key | made at its first forget; purged with the workspace |
//! | `scheduled_posts`, `prompt_posts`, `sweep_marks`, `workspaces`, `api_tokens`, `oauth_states` | no member column | untouched |
//!
//! Texts of others that name the member in words (not by id) are not rewritten: no rule can
//! find a name in free text reliably. Deleted rows must also leave the files: SQLite runs with
//! `secure_delete` and its WAL is truncated after a forget ([`super::engine::Engine::erase_freed`]).

mod pseudonym;
mod statements;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

pub use pseudonym::{PSEUDONYM_PREFIX, is_pseudonym};

use super::StoreResult;
use super::engine::Engine;
use super::runner::RunStatement;
use super::sql::Statement;
use crate::clock::Millis;
use crate::ids::{TeamId, UserId};

/// Stands for the pseudonym in a rewritten inbox payload ([`ForgetMember::inbox_row`]).
pub const PSEUDONYM_SLOT: &str = "{pseudonym}";

/// What an authored insight's text (and each of its earlier texts) becomes.
pub const REMOVED_TEXT: &str = "[removed at the member's request]";

/// One member to forget.
#[derive(Debug, Clone)]
pub struct ForgetMember<'a> {
    pub team_id: &'a TeamId,
    pub user_id: &'a UserId,
    pub at: Millis,
    /// The inbox row this forget runs for, if any, and the payload it keeps instead of the one
    /// it was stored with (which names the member), with [`PSEUDONYM_SLOT`] standing for the
    /// pseudonym: rewritten in the forget's last transaction, so a retry of the row after that
    /// finds the forget done, and one before it finishes the forget.
    pub inbox_row: Option<(i64, String)>,
}

/// What a forget did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// What their authored insights show instead of them.
    pub pseudonym: String,
    /// Whether the member had been forgotten before in this workspace.
    pub again: bool,
    /// Rows deleted or rewritten, per table and change.
    pub changes: Vec<(&'static str, u64)>,
}

impl Forgotten {
    /// Adds each change's rows to its name's (several changes may share one).
    fn add_all(&mut self, counts: statements::Counts) {
        for (what, rows) in counts {
            match self.changes.iter_mut().find(|(name, _)| *name == what) {
                Some((_, total)) => *total += rows,
                None => self.changes.push((what, rows)),
            }
        }
    }

    /// Rows deleted or rewritten in all.
    pub fn rows(&self) -> u64 {
        self.changes.iter().map(|(_, rows)| rows).sum()
    }

    /// One line per change that touched rows, e.g. `votes deleted: 3`.
    pub fn summary(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter(|(_, rows)| *rows > 0)
            .map(|(what, rows)| format!("{what}: {rows}"))
            .collect()
    }
}

/// What Circlet knows of a member in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// It holds something about them (names, messages, insights, reactions, activity).
    Held,
    /// Nothing, and they were forgotten before.
    Forgotten,
    /// Nothing, and it never forgot them: unknown here.
    Unknown,
}

#[async_trait]
pub trait ForgetStore: Send + Sync {
    /// Whether anything is held about `user` in `team`, or they were forgotten.
    async fn member_state(&self, team: &TeamId, user: &UserId) -> StoreResult<MemberState>;

    /// Removes everything held about one member of one workspace (see the table above), then
    /// makes sure deleted data leaves the database files. The member is recorded as forgotten
    /// first; the rest may take several transactions, and a forget cut short between two is
    /// finished by forgetting again. Forgetting again changes nothing more and says so.
    async fn forget_member(&self, member: &ForgetMember<'_>) -> StoreResult<Forgotten>;

    /// The workspaces holding anything about `user` (names, messages, insights, reactions,
    /// activity, membership), by team id: which one `circlet forget` means when not told.
    async fn teams_holding(&self, user: &UserId) -> StoreResult<Vec<TeamId>>;
}

/// [`ForgetStore`] over an engine.
pub(super) struct SqlForget<E> {
    engine: Arc<E>,
}

impl<E> SqlForget<E> {
    pub(super) fn new(engine: Arc<E>) -> Self {
        Self { engine }
    }
}

impl<E: Engine> SqlForget<E> {
    /// One write transaction of a forget: a step ([`super::runner::Runner::write_step`])
    /// unless it is the last, whose commit makes every step before it durable.
    async fn turn<T, F>(
        &self,
        forgetting: &Arc<statements::Forgetting>,
        last: bool,
        work: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut E::Conn, Arc<statements::Forgetting>) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let forgetting = Arc::clone(forgetting);
        if last {
            self.engine.write(move |c| work(c, forgetting)).await
        } else {
            self.engine.write_step(move |c| work(c, forgetting)).await
        }
    }

    /// The rowid windows a scanned table is walked in: one turn of
    /// [`statements::ROWS_PER_TURN`] rows each, or, unless `in_turns`, the whole table at once.
    async fn rowid_windows(&self, table: &str, in_turns: bool) -> StoreResult<Vec<Option<(i64, i64)>>> {
        if !in_turns {
            return Ok(vec![None]);
        }
        let (before_first, last): (Option<i64>, Option<i64>) =
            self.engine.read_one(statements::rowid_bounds(table)).await?;
        let (Some(mut after), Some(last)) = (before_first, last) else {
            return Ok(Vec::new());
        };
        let mut windows = Vec::new();
        while after < last {
            let upto = after.saturating_add(statements::ROWS_PER_TURN).min(last);
            windows.push(Some((after, upto)));
            after = upto;
        }
        Ok(windows)
    }
}

#[async_trait]
impl<E: Engine> ForgetStore for SqlForget<E> {
    async fn forget_member(&self, member: &ForgetMember<'_>) -> StoreResult<Forgotten> {
        let (pseudonym, again) = {
            let starting = Arc::new(statements::Forgetting::new(member));
            self.turn(&starting, false, |c, f| {
                Box::pin(async move { statements::begin(c, &f).await })
            })
            .await?
        };
        let forgetting = Arc::new(statements::Forgetting::new(member).with_pseudonym(&pseudonym));
        let mut forgotten = Forgotten {
            pseudonym,
            again,
            changes: statements::change_names()
                .into_iter()
                .map(|what| (what, 0))
                .collect(),
        };
        let in_turns = self.engine.one_writer();
        let mut after = in_turns.then_some(0);
        loop {
            let (last, counts) = self
                .turn(&forgetting, false, move |c, f| {
                    Box::pin(async move { statements::attached(c, &f, after).await })
                })
                .await?;
            forgotten.add_all(counts);
            match last {
                Some(last) if in_turns => after = Some(last),
                _ => break,
            }
        }
        for table in statements::scanned_tables() {
            for rowids in self.rowid_windows(table, in_turns).await? {
                let counts = self
                    .turn(&forgetting, false, move |c, f| {
                        Box::pin(async move { statements::scanned(c, &f, table, rowids).await })
                    })
                    .await?;
                forgotten.add_all(counts);
            }
        }
        let counts = self
            .turn(&forgetting, true, |c, f| {
                Box::pin(async move { statements::finish(c, &f).await })
            })
            .await?;
        forgotten.add_all(counts);
        if !self.engine.erase_freed().await? {
            tracing::warn!(
                "the WAL still holds pages of the forget: readers kept it; upkeep truncates it when idle"
            );
        }
        Ok(forgotten)
    }

    async fn member_state(&self, team: &TeamId, user: &UserId) -> StoreResult<MemberState> {
        let (team, user) = (team.clone(), user.clone());
        self.engine
            .read(move |c| Box::pin(async move { statements::member_state(c, &team, &user).await }))
            .await
    }

    async fn teams_holding(&self, user: &UserId) -> StoreResult<Vec<TeamId>> {
        let statement = Statement::new(statements::TEAMS_HOLDING).bind(user);
        self.engine.read_all(statement).await
    }
}
