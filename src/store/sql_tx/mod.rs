//! [`InsightTx`] for both backends, written once over the transaction's [`Executor`]:
//! PostgreSQL's through sqlx, SQLite's on its direct rusqlite connection. The transaction and
//! what it refreshes before commit are here; the operations, by what they touch, in
//! `messages` (the message cache and reactions), `insights` (an insight's own row, text,
//! sources, status and merges), `engagement` (tags, votes, replies) and `workspace` (emoji
//! map, keyword rules, names, members, activity, queued work); `rows` reads the models.

mod engagement;
mod insights;
mod messages;
mod rows;
mod workspace;

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, Transaction};

use super::StoreResult;
use super::insights::{
    Activity, ActivityKind, CachedMessage, CircleCount, EmojiOverride, INSIGHT_COLUMNS, Insight,
    InsightDetails, InsightSource, InsightStatus, InsightTx, MAX_REVISIONS, Membership, MembershipChange,
    MessageRef, Named, NewInsight, NewRule, Person, Reaction, ReactionChange, Reply, Rule, TagSource, day_of,
};
use super::sql::{Dialect, Executor, FromRow, Lenient, PerDialect, Statement, in_list};
use super::sqlite_direct::DirectTransaction;
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::NewInboxItem;

/// A backend's open write transaction: the connection its statements run on, and its end.
#[async_trait]
pub(super) trait TxConnection: Send + 'static {
    type Executor: Executor;

    fn executor(&mut self) -> &mut Self::Executor;

    async fn commit(self) -> StoreResult<()>;
}

#[async_trait]
impl TxConnection for Transaction<'static, Postgres> {
    type Executor = PgConnection;

    fn executor(&mut self) -> &mut PgConnection {
        self
    }

    async fn commit(self) -> StoreResult<()> {
        Ok(Transaction::commit(self).await?)
    }
}

#[async_trait]
impl TxConnection for DirectTransaction {
    type Executor = rusqlite::Connection;

    fn executor(&mut self) -> &mut rusqlite::Connection {
        self.connection()
    }

    async fn commit(self) -> StoreResult<()> {
        DirectTransaction::commit(self).await
    }
}

/// An open transaction and what it refreshes before it commits.
pub struct SqlTx<T> {
    tx: T,
    /// Insights whose derived columns (tag list, vote and reply counts) need a refresh before
    /// commit: refreshing once per transaction keeps a batch of votes on one insight cheap.
    stale: BTreeMap<i64, Stale>,
    /// Member activity counted in this transaction, written in one statement before commit:
    /// a capture batch of reactions would otherwise upsert a row per event.
    activity: BTreeMap<ActivityKey, ActivityCounts>,
}

pub(super) type PgTx = SqlTx<Transaction<'static, Postgres>>;
pub(super) type SqliteTx = SqlTx<DirectTransaction>;

/// (team, channel, day, user) of a `member_activity` row.
type ActivityKey = (String, String, i64, String);

/// Posts, replies and reactions.
type ActivityCounts = [i64; 3];

/// Rows per statement when the counted activity is written (7 parameters each, well within
/// both engines' limit on parameters).
const ACTIVITY_ROWS_PER_STATEMENT: usize = 500;

/// An insight's tag list: distinct tags in order, joined by
/// [`TAG_SEPARATOR`](super::insights::TAG_SEPARATOR).
const TAG_LIST: PerDialect = PerDialect {
    sqlite: "COALESCE((SELECT group_concat(tag, ';') FROM \
        (SELECT DISTINCT tag FROM insight_tags WHERE insight_id = insights.id ORDER BY tag)), '')",
    postgres: "COALESCE((SELECT string_agg(DISTINCT tag, ';' ORDER BY tag) FROM insight_tags \
        WHERE insight_id = insights.id), '')",
};

/// An insight's vote and reply counts, from its rows (`forget` refreshes them too).
pub(in crate::store) const COUNTS: &str = "vote_count = \
    (SELECT COUNT(DISTINCT user_id) FROM votes WHERE insight_id = insights.id), \
    reply_count = (SELECT COUNT(*) FROM replies WHERE insight_id = insights.id)";

/// Transaction-scoped advisory locks on PostgreSQL, taken in one order (by hash) in every
/// transaction, so two batches wait for each other instead of deadlocking. SQLite has one
/// writer at a time: nothing to lock.
const LOCK_KEYS: &str = "SELECT COUNT(pg_advisory_xact_lock(h)) FROM \
    (SELECT DISTINCT hashtextextended(k, 0) AS h FROM UNNEST($1::text[]) AS k ORDER BY h) AS keys";

impl<T: TxConnection> SqlTx<T> {
    pub(super) fn new(tx: T) -> Self {
        Self {
            tx,
            stale: BTreeMap::new(),
            activity: BTreeMap::new(),
        }
    }

    /// The transaction's connection, for statements written elsewhere (`digest`).
    pub(super) fn conn(&mut self) -> &mut T::Executor {
        self.tx.executor()
    }

    fn dialect(&mut self) -> Dialect {
        self.conn().dialect()
    }

    async fn execute(&mut self, statement: Statement) -> StoreResult<u64> {
        self.conn().execute(&statement).await
    }

    async fn fetch_all<R: FromRow>(&mut self, statement: Statement) -> StoreResult<Vec<R>> {
        self.conn().fetch_all(&statement).await
    }

    async fn fetch_optional<R: FromRow>(&mut self, statement: Statement) -> StoreResult<Option<R>> {
        self.conn().fetch_optional(&statement).await
    }

    async fn fetch_one<R: FromRow>(&mut self, statement: Statement) -> StoreResult<R> {
        self.conn().fetch_one(&statement).await
    }

    fn stale_tags(&mut self, id: i64) {
        self.stale.entry(id).or_default().tags = true;
    }

    fn stale_counts(&mut self, id: i64) {
        self.stale.entry(id).or_default().counts = true;
    }

    /// Marks the insight a statement's `RETURNING insight_id` named, if any; whether there was one.
    fn counted(&mut self, returned: Option<(i64,)>) -> bool {
        match returned {
            Some((id,)) => {
                self.stale_counts(id);
                true
            }
            None => false,
        }
    }

    /// Refreshes the derived columns of the insights this transaction touched: one statement
    /// per kind of staleness, not per insight (on PostgreSQL each statement is a round trip).
    async fn refresh_stale(&mut self) -> StoreResult<()> {
        let mut groups: BTreeMap<(bool, bool), Vec<i64>> = BTreeMap::new();
        for (id, stale) in std::mem::take(&mut self.stale) {
            groups.entry((stale.tags, stale.counts)).or_default().push(id);
        }
        let dialect = self.dialect();
        for ((tags, counts), ids) in groups {
            let mut columns = Vec::new();
            if tags {
                columns.push(format!("tags = {}", TAG_LIST.of(dialect)));
            }
            if counts {
                columns.push(COUNTS.to_owned());
            }
            if columns.is_empty() {
                continue;
            }
            let statement = Statement::new(format!(
                "UPDATE insights SET {} WHERE {}",
                columns.join(", "),
                in_list(dialect, "id", "$1")
            ))
            .bind(ids);
            self.execute(statement).await?;
        }
        Ok(())
    }

    /// Writes the activity counted in this transaction, adding to what is stored.
    async fn write_activity(&mut self) -> StoreResult<()> {
        let activity: Vec<(ActivityKey, ActivityCounts)> =
            std::mem::take(&mut self.activity).into_iter().collect();
        for chunk in activity.chunks(ACTIVITY_ROWS_PER_STATEMENT) {
            let mut statement = Statement::new(
                "INSERT INTO member_activity \
                 (team_id, channel_id, day, user_id, posts, replies, reactions) VALUES ",
            );
            for (index, ((team, channel, day, user), counts)) in chunk.iter().enumerate() {
                let row = [
                    statement.param(team.as_str()),
                    statement.param(channel.as_str()),
                    statement.param(*day),
                    statement.param(user.as_str()),
                    statement.param(counts[0]),
                    statement.param(counts[1]),
                    statement.param(counts[2]),
                ];
                if index > 0 {
                    statement.push(", ");
                }
                statement.push("(").push(&row.join(", ")).push(")");
            }
            statement.push(
                " ON CONFLICT (team_id, day, channel_id, user_id) DO UPDATE SET \
                 posts = member_activity.posts + excluded.posts, \
                 replies = member_activity.replies + excluded.replies, \
                 reactions = member_activity.reactions + excluded.reactions",
            );
            self.execute(statement).await?;
        }
        Ok(())
    }
}

/// Which derived columns of an insight are out of date.
#[derive(Debug, Default, Clone, Copy)]
struct Stale {
    tags: bool,
    counts: bool,
}

fn insight_query(condition: &str) -> String {
    format!("SELECT {INSIGHT_COLUMNS} FROM insights WHERE {condition}")
}

#[async_trait]
impl<T: TxConnection> InsightTx for SqlTx<T> {
    async fn put_message(&mut self, m: &CachedMessage, at: Millis) -> StoreResult<bool> {
        messages::put_message(self, m, at).await
    }

    async fn message(&mut self, at: MessageRef<'_>) -> StoreResult<Option<CachedMessage>> {
        messages::message(self, at).await
    }

    async fn thread_replies(&mut self, parent: MessageRef<'_>) -> StoreResult<Vec<CachedMessage>> {
        messages::thread_replies(self, parent).await
    }

    async fn forget_message(&mut self, at: MessageRef<'_>) -> StoreResult<()> {
        messages::forget_message(self, at).await
    }

    async fn set_reaction(&mut self, c: &ReactionChange<'_>) -> StoreResult<bool> {
        messages::set_reaction(self, c).await
    }

    async fn reactions_on(&mut self, m: MessageRef<'_>) -> StoreResult<Vec<Reaction>> {
        messages::reactions_on(self, m).await
    }

    async fn has_reaction(&mut self, insight_id: i64, emoji: &[&str]) -> StoreResult<bool> {
        messages::has_reaction(self, insight_id, emoji).await
    }

    async fn insight(&mut self, id: i64) -> StoreResult<Option<Insight>> {
        insights::insight(self, id).await
    }

    async fn insight_by_number(&mut self, team_id: &TeamId, number: i64) -> StoreResult<Option<Insight>> {
        insights::insight_by_number(self, team_id, number).await
    }

    async fn insight_by_message(&mut self, m: MessageRef<'_>) -> StoreResult<Option<Insight>> {
        insights::insight_by_message(self, m).await
    }

    async fn create_insight(&mut self, new: &NewInsight<'_>) -> StoreResult<Insight> {
        insights::create_insight(self, new).await
    }

    async fn set_text(&mut self, id: i64, text: &str, version: i64, at: Millis) -> StoreResult<bool> {
        insights::set_text(self, id, text, version, at).await
    }

    async fn set_details(&mut self, id: i64, d: &InsightDetails, at: Millis) -> StoreResult<()> {
        insights::set_details(self, id, d, at).await
    }

    async fn mark_deleted(&mut self, id: i64, at: Millis) -> StoreResult<()> {
        insights::mark_deleted(self, id, at).await
    }

    async fn discard_insight(&mut self, id: i64) -> StoreResult<()> {
        insights::discard_insight(self, id).await
    }

    async fn revisions(&mut self, id: i64) -> StoreResult<Vec<String>> {
        insights::revisions(self, id).await
    }

    async fn add_source(&mut self, id: i64, source: InsightSource) -> StoreResult<()> {
        insights::add_source(self, id, source).await
    }

    async fn sources(&mut self, id: i64) -> StoreResult<Vec<InsightSource>> {
        insights::sources(self, id).await
    }

    async fn add_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
        engagement::add_tag(self, id, tag, source).await
    }

    async fn remove_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
        engagement::remove_tag(self, id, tag, source).await
    }

    async fn replace_tags(&mut self, id: i64, source: TagSource, tags: &[String]) -> StoreResult<()> {
        engagement::replace_tags(self, id, source, tags).await
    }

    async fn tags(&mut self, id: i64) -> StoreResult<Vec<String>> {
        engagement::tags(self, id).await
    }

    async fn add_vote(&mut self, id: i64, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool> {
        engagement::add_vote(self, id, user_id, on).await
    }

    async fn add_vote_on_message(&mut self, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool> {
        engagement::add_vote_on_message(self, user_id, on).await
    }

    async fn remove_vote(&mut self, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool> {
        engagement::remove_vote(self, user_id, on).await
    }

    async fn voters(&mut self, id: i64) -> StoreResult<Vec<UserId>> {
        engagement::voters(self, id).await
    }

    async fn voters_on(&mut self, id: i64, m: MessageRef<'_>) -> StoreResult<Vec<UserId>> {
        engagement::voters_on(self, id, m).await
    }

    async fn add_reply(&mut self, id: i64, reply: &Reply) -> StoreResult<bool> {
        engagement::add_reply(self, id, reply).await
    }

    async fn edit_reply(&mut self, channel_id: &ChannelId, ts: &str, text: Option<&str>) -> StoreResult<()> {
        engagement::edit_reply(self, channel_id, ts, text).await
    }

    async fn replies(&mut self, id: i64) -> StoreResult<Vec<Reply>> {
        engagement::replies(self, id).await
    }

    async fn change_status(
        &mut self,
        id: i64,
        status: InsightStatus,
        by: Option<&UserId>,
        at: Millis,
    ) -> StoreResult<Option<i64>> {
        insights::change_status(self, id, status, by, at).await
    }

    async fn merge(&mut self, from: i64, into: i64, at: Millis) -> StoreResult<()> {
        insights::merge(self, from, into, at).await
    }

    async fn merged_into(&mut self, id: i64) -> StoreResult<Vec<Insight>> {
        insights::merged_into(self, id).await
    }

    async fn emoji_overrides(&mut self, team_id: &TeamId) -> StoreResult<Vec<EmojiOverride>> {
        workspace::emoji_overrides(self, team_id).await
    }

    async fn set_emoji_tag(
        &mut self,
        team_id: &TeamId,
        emoji: &str,
        tag: Option<&str>,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<()> {
        workspace::set_emoji_tag(self, team_id, emoji, tag, by, at).await
    }

    async fn rules(&mut self, team_id: &TeamId) -> StoreResult<Vec<Rule>> {
        workspace::rules(self, team_id).await
    }

    async fn add_rule(
        &mut self,
        team_id: &TeamId,
        rule: &NewRule,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<Rule> {
        workspace::add_rule(self, team_id, rule, by, at).await
    }

    async fn remove_rule(&mut self, team_id: &TeamId, number: i64) -> StoreResult<Option<Rule>> {
        workspace::remove_rule(self, team_id, number).await
    }

    async fn circle_channels(&mut self, team_id: &TeamId) -> StoreResult<Vec<ChannelId>> {
        workspace::circle_channels(self, team_id).await
    }

    async fn insight_counts(&mut self, team_id: &TeamId) -> StoreResult<Vec<CircleCount>> {
        workspace::insight_counts(self, team_id).await
    }

    async fn record_activity(&mut self, a: &Activity<'_>) -> StoreResult<()> {
        workspace::record_activity(self, a).await
    }

    async fn set_membership(&mut self, m: &Membership<'_>) -> StoreResult<()> {
        workspace::set_membership(self, m).await
    }

    async fn set_name(&mut self, named: Named<'_>, name: &str, at: Millis) -> StoreResult<()> {
        workspace::set_name(self, named, name, at).await
    }

    async fn has_name(&mut self, named: Named<'_>) -> StoreResult<bool> {
        workspace::has_name(self, named).await
    }

    async fn person(&mut self, team_id: &TeamId, user_id: &UserId) -> StoreResult<Option<Person>> {
        workspace::person(self, team_id, user_id).await
    }

    async fn set_person_team(
        &mut self,
        team_id: &TeamId,
        user_id: &UserId,
        user_team: &TeamId,
    ) -> StoreResult<()> {
        workspace::set_person_team(self, team_id, user_id, user_team).await
    }

    async fn set_author_team(&mut self, id: i64, author_team: &TeamId) -> StoreResult<()> {
        insights::set_author_team(self, id, author_team).await
    }

    async fn enqueue(&mut self, item: &NewInboxItem) -> StoreResult<bool> {
        workspace::enqueue(self, item).await
    }

    async fn lock_messages(&mut self, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() || self.dialect() == Dialect::Sqlite {
            return Ok(());
        }
        self.execute(Statement::new(LOCK_KEYS).bind(keys)).await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.refresh_stale().await?;
        self.write_activity().await?;
        self.tx.commit().await
    }
}
