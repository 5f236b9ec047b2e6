//! [`InsightTx`] for both backends, written once over the transaction's [`Executor`]:
//! PostgreSQL's through sqlx, SQLite's on its direct rusqlite connection.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, Transaction};

use super::StoreResult;
use super::insights::{
    Activity, ActivityKind, CachedMessage, EmojiOverride, INSIGHT_COLUMNS, Insight, InsightDetails,
    InsightSource, InsightStatus, InsightTx, MAX_REVISIONS, Membership, MembershipChange, MessageRef, Named,
    NewInsight, NewRule, ReactionChange, Reply, Rule, TagSource, day_of,
};
use super::sql::{Dialect, Executor, FromRow, PerDialect, Statement, in_list};
use super::sqlite_direct::DirectTransaction;
use crate::clock::Millis;
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

const COUNTS: &str = "vote_count = \
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
impl<T: TxConnection> InsightTx for SqlTx<T>
where
    SqlTx<T>: super::digest::ScheduleTx,
{
    async fn put_message(&mut self, m: &CachedMessage, at: Millis) -> StoreResult<()> {
        self.execute(
            Statement::new(
                "INSERT INTO messages (team_id, channel_id, ts, user_id, text, thread_ts, seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (team_id, channel_id, ts) DO UPDATE SET \
                 user_id = COALESCE(excluded.user_id, messages.user_id), text = excluded.text, \
                 thread_ts = COALESCE(excluded.thread_ts, messages.thread_ts), seen_at = excluded.seen_at",
            )
            .bind(&m.team_id)
            .bind(&m.channel_id)
            .bind(&m.ts)
            .bind(&m.user_id)
            .bind(&m.text)
            .bind(&m.thread_ts)
            .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn message(&mut self, at: MessageRef<'_>) -> StoreResult<Option<CachedMessage>> {
        let row: Option<CachedMessage> = self
            .fetch_optional(
                Statement::new(
                    "SELECT team_id, channel_id, ts, user_id, text, thread_ts FROM messages \
                     WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
                )
                .bind(at.team_id)
                .bind(at.channel_id)
                .bind(at.ts),
            )
            .await?;
        Ok(row)
    }

    async fn thread_replies(&mut self, parent: MessageRef<'_>) -> StoreResult<Vec<CachedMessage>> {
        let rows: Vec<CachedMessage> = self
            .fetch_all(
                Statement::new(
                    "SELECT team_id, channel_id, ts, user_id, text, thread_ts FROM messages \
                     WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3 AND ts <> $3 ORDER BY ts",
                )
                .bind(parent.team_id)
                .bind(parent.channel_id)
                .bind(parent.ts),
            )
            .await?;
        Ok(rows)
    }

    async fn forget_message(&mut self, at: MessageRef<'_>) -> StoreResult<()> {
        self.execute(
            Statement::new("DELETE FROM messages WHERE team_id = $1 AND channel_id = $2 AND ts = $3")
                .bind(at.team_id)
                .bind(at.channel_id)
                .bind(at.ts),
        )
        .await?;
        Ok(())
    }

    async fn set_reaction(&mut self, c: &ReactionChange<'_>) -> StoreResult<bool> {
        let done = self.execute(Statement::new(
"INSERT INTO reactions (team_id, channel_id, message_ts, user_id, emoji, present, event_ts) \
 VALUES ($1, $2, $3, $4, $5, $6, $7) \
 ON CONFLICT (team_id, channel_id, message_ts, user_id, emoji) DO UPDATE SET \
 present = excluded.present, event_ts = excluded.event_ts \
 WHERE reactions.event_ts < excluded.event_ts",
        )
        .bind(c.message.team_id)
        .bind(c.message.channel_id)
        .bind(c.message.ts)
        .bind(c.user_id)
        .bind(c.emoji)
        .bind(c.present)
        .bind(c.event_ts))
                .await?;
        Ok(done > 0)
    }

    async fn reactions_on(&mut self, m: MessageRef<'_>) -> StoreResult<Vec<(String, String)>> {
        Ok(self
            .fetch_all(
                Statement::new(
                    "SELECT user_id, emoji FROM reactions \
                     WHERE team_id = $1 AND channel_id = $2 AND message_ts = $3 AND present \
                     ORDER BY user_id, emoji",
                )
                .bind(m.team_id)
                .bind(m.channel_id)
                .bind(m.ts),
            )
            .await?)
    }

    async fn has_reaction(&mut self, insight_id: i64, emoji: &[&str]) -> StoreResult<bool> {
        for one in emoji {
            let found: Option<(i64,)> = self
                .fetch_optional(
                    Statement::new(
                        "SELECT 1 FROM reactions r JOIN insights i \
                         ON i.team_id = r.team_id AND i.channel_id = r.channel_id \
                         AND i.message_ts = r.message_ts \
                         WHERE (i.id = $1 OR i.merged_into = $1) AND r.emoji = $2 AND r.present LIMIT 1",
                    )
                    .bind(insight_id)
                    .bind(*one),
                )
                .await?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn insight(&mut self, id: i64) -> StoreResult<Option<Insight>> {
        Ok(self
            .fetch_optional(Statement::new(insight_query("id = $1")).bind(id))
            .await?)
    }

    async fn insight_by_number(&mut self, team_id: &str, number: i64) -> StoreResult<Option<Insight>> {
        Ok(self
            .fetch_optional(
                Statement::new(insight_query("team_id = $1 AND number = $2"))
                    .bind(team_id)
                    .bind(number),
            )
            .await?)
    }

    async fn insight_by_message(&mut self, m: MessageRef<'_>) -> StoreResult<Option<Insight>> {
        Ok(self
            .fetch_optional(
                Statement::new(insight_query(
                    "team_id = $1 AND channel_id = $2 AND message_ts = $3",
                ))
                .bind(m.team_id)
                .bind(m.channel_id)
                .bind(m.ts),
            )
            .await?)
    }

    async fn create_insight(&mut self, new: &NewInsight<'_>) -> StoreResult<Insight> {
        let (number,): (i64,) = self
            .fetch_one(
                Statement::new(
                    "INSERT INTO insight_numbers (team_id, last_number) VALUES ($1, 1) \
                     ON CONFLICT (team_id) DO UPDATE SET last_number = insight_numbers.last_number + 1 \
                     RETURNING last_number",
                )
                .bind(new.message.team_id),
            )
            .await?;
        let sql = format!(
            "INSERT INTO insights (team_id, number, channel_id, message_ts, thread_ts, author_id, text, \
             text_version, source, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (team_id, channel_id, message_ts) DO NOTHING RETURNING {INSIGHT_COLUMNS}"
        );
        let created: Option<Insight> = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(new.message.team_id)
                    .bind(number)
                    .bind(new.message.channel_id)
                    .bind(new.message.ts)
                    .bind(new.thread_ts)
                    .bind(new.author_id)
                    .bind(new.text)
                    .bind(new.text_version)
                    .bind(new.source.as_str())
                    .bind(new.at),
            )
            .await?;
        let insight = match created {
            Some(insight) => insight,
            // Captured already (by an earlier event, or another replica a moment ago).
            None => self
                .insight_by_message(new.message)
                .await?
                .ok_or_else(|| super::StoreError::Corrupt("insight vanished while creating it".into()))?,
        };
        self.add_source(insight.id, new.source).await?;
        Ok(insight)
    }

    async fn set_text(&mut self, id: i64, text: &str, version: i64, at: Millis) -> StoreResult<bool> {
        self.execute(
            Statement::new(
                "INSERT INTO insight_revisions (insight_id, text, replaced_at) \
                 SELECT id, text, $3 FROM insights \
                 WHERE id = $1 AND text IS NOT NULL AND text <> $2 AND text_version <= $4 AND NOT deleted",
            )
            .bind(id)
            .bind(text)
            .bind(at)
            .bind(version),
        )
        .await?;
        self.execute(
            Statement::new(
                "DELETE FROM insight_revisions WHERE insight_id = $1 AND id <= \
                 (SELECT id FROM insight_revisions WHERE insight_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(id)
            .bind(MAX_REVISIONS),
        )
        .await?;
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE insights SET text = $2, text_version = $3, updated_at = $4 \
                     WHERE id = $1 AND text_version <= $3 AND NOT deleted AND (text IS NULL OR text <> $2)",
                )
                .bind(id)
                .bind(text)
                .bind(version)
                .bind(at),
            )
            .await?;
        Ok(changed > 0)
    }

    async fn set_details(&mut self, id: i64, d: &InsightDetails, at: Millis) -> StoreResult<()> {
        self.execute(Statement::new(
"UPDATE insights SET product_area = $2, sentiment = $3, customer_company = $4, updated_at = $5 \
 WHERE id = $1",
        )
        .bind(id)
        .bind(&d.product_area)
        .bind(&d.sentiment)
        .bind(&d.customer_company)
        .bind(at))
                .await?;
        Ok(())
    }

    async fn mark_deleted(&mut self, id: i64, at: Millis) -> StoreResult<()> {
        self.execute(Statement::new("DELETE FROM insight_revisions WHERE insight_id = $1").bind(id))
            .await?;
        self.execute(
            Statement::new("UPDATE insights SET deleted = TRUE, text = '', updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn discard_insight(&mut self, id: i64) -> StoreResult<()> {
        for table in [
            "insight_revisions",
            "insight_tags",
            "insight_sources",
            "votes",
            "replies",
            "status_changes",
        ] {
            self.execute(Statement::new(format!("DELETE FROM {table} WHERE insight_id = $1")).bind(id))
                .await?;
        }
        self.execute(Statement::new("DELETE FROM insights WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }

    async fn revisions(&mut self, id: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new("SELECT text FROM insight_revisions WHERE insight_id = $1 ORDER BY id")
                    .bind(id),
            )
            .await?;
        Ok(rows.into_iter().map(|(text,)| text).collect())
    }

    async fn add_source(&mut self, id: i64, source: InsightSource) -> StoreResult<()> {
        self.execute(
            Statement::new(
                "INSERT INTO insight_sources (insight_id, source) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(source.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn sources(&mut self, id: i64) -> StoreResult<Vec<InsightSource>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new("SELECT source FROM insight_sources WHERE insight_id = $1 ORDER BY source")
                    .bind(id),
            )
            .await?;
        Ok(rows.into_iter().filter_map(|(s,)| s.parse().ok()).collect())
    }

    async fn add_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
        let done = self.execute(Statement::new(
"INSERT INTO insight_tags (insight_id, tag, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(tag)
        .bind(source.as_str()))
                .await?;
        self.stale_tags(id);
        Ok(done > 0)
    }

    async fn remove_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
        let done = self
            .execute(
                Statement::new("DELETE FROM insight_tags WHERE insight_id = $1 AND tag = $2 AND source = $3")
                    .bind(id)
                    .bind(tag)
                    .bind(source.as_str()),
            )
            .await?;
        self.stale_tags(id);
        Ok(done > 0)
    }

    async fn replace_tags(&mut self, id: i64, source: TagSource, tags: &[String]) -> StoreResult<()> {
        self.execute(
            Statement::new("DELETE FROM insight_tags WHERE insight_id = $1 AND source = $2")
                .bind(id)
                .bind(source.as_str()),
        )
        .await?;
        self.stale_tags(id);
        for tag in tags {
            self.add_tag(id, tag, source).await?;
        }
        Ok(())
    }

    async fn tags(&mut self, id: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new("SELECT DISTINCT tag FROM insight_tags WHERE insight_id = $1 ORDER BY tag")
                    .bind(id),
            )
            .await?;
        Ok(rows.into_iter().map(|(tag,)| tag).collect())
    }

    async fn add_vote(&mut self, id: i64, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
        let done = self
            .execute(
                Statement::new(
                    "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(user_id)
                .bind(on.channel_id)
                .bind(on.ts),
            )
            .await?;
        self.stale_counts(id);
        Ok(done > 0)
    }

    async fn add_vote_on_message(&mut self, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
        // One statement: votes are most of a busy circle's reactions. Merges re-point
        // whole chains, so one hop through merged_into reaches the target.
        let done: Option<(i64,)> = self
            .fetch_optional(
                Statement::new(
                    "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) \
                     SELECT COALESCE(merged_into, id), $1, channel_id, message_ts FROM insights \
                     WHERE team_id = $2 AND channel_id = $3 AND message_ts = $4 AND NOT deleted \
                     AND (author_id IS NULL OR author_id <> $1) \
                     ON CONFLICT DO NOTHING RETURNING insight_id",
                )
                .bind(user_id)
                .bind(on.team_id)
                .bind(on.channel_id)
                .bind(on.ts),
            )
            .await?;
        Ok(self.counted(done))
    }

    async fn remove_vote(&mut self, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
        let done: Vec<(i64,)> = self
            .fetch_all(
                Statement::new(
                    "DELETE FROM votes WHERE channel_id = $1 AND message_ts = $2 AND user_id = $3 \
                     AND EXISTS (SELECT 1 FROM insights i WHERE i.id = votes.insight_id AND i.team_id = $4) \
                     RETURNING insight_id",
                )
                .bind(on.channel_id)
                .bind(on.ts)
                .bind(user_id)
                .bind(on.team_id),
            )
            .await?;
        let removed = !done.is_empty();
        for (id,) in done {
            self.stale_counts(id);
        }
        Ok(removed)
    }

    async fn voters(&mut self, id: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new("SELECT DISTINCT user_id FROM votes WHERE insight_id = $1 ORDER BY user_id")
                    .bind(id),
            )
            .await?;
        Ok(rows.into_iter().map(|(user,)| user).collect())
    }

    async fn voters_on(&mut self, id: i64, m: MessageRef<'_>) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new(
                    "SELECT DISTINCT user_id FROM votes \
                     WHERE insight_id = $1 AND channel_id = $2 AND message_ts = $3 ORDER BY user_id",
                )
                .bind(id)
                .bind(m.channel_id)
                .bind(m.ts),
            )
            .await?;
        Ok(rows.into_iter().map(|(user,)| user).collect())
    }

    async fn add_reply(&mut self, id: i64, reply: &Reply) -> StoreResult<bool> {
        let done = self.execute(Statement::new(
"INSERT INTO replies (insight_id, channel_id, ts, user_id, text) VALUES ($1, $2, $3, $4, $5) \
 ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&reply.channel_id)
        .bind(&reply.ts)
        .bind(&reply.user_id)
        .bind(&reply.text))
                .await?;
        self.stale_counts(id);
        Ok(done > 0)
    }

    async fn edit_reply(&mut self, channel_id: &str, ts: &str, text: Option<&str>) -> StoreResult<()> {
        let query = match text {
            Some(text) => Statement::new("UPDATE replies SET text = $3 WHERE channel_id = $1 AND ts = $2")
                .bind(channel_id)
                .bind(ts)
                .bind(text),
            None => {
                let removed: Vec<(i64,)> = self
                    .fetch_all(
                        Statement::new(
                            "DELETE FROM replies WHERE channel_id = $1 AND ts = $2 RETURNING insight_id",
                        )
                        .bind(channel_id)
                        .bind(ts),
                    )
                    .await?;
                for (id,) in removed {
                    self.stale_counts(id);
                }
                return Ok(());
            }
        };
        self.execute(query).await?;
        Ok(())
    }

    async fn replies(&mut self, id: i64) -> StoreResult<Vec<Reply>> {
        Ok(self
            .fetch_all(
                Statement::new(
                    "SELECT channel_id, ts, user_id, text FROM replies WHERE insight_id = $1 ORDER BY ts",
                )
                .bind(id),
            )
            .await?)
    }

    async fn change_status(
        &mut self,
        id: i64,
        status: InsightStatus,
        by: Option<&str>,
        at: Millis,
    ) -> StoreResult<Option<i64>> {
        let changed = self
            .execute(
                Statement::new(
                    "UPDATE insights SET status = $2, updated_at = $3 \
                     WHERE id = $1 AND status <> $2 AND merged_into IS NULL",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(at),
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        let (change,): (i64,) = self
            .fetch_one(
                Statement::new(
                    "INSERT INTO status_changes (insight_id, status, changed_by, changed_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(by)
                .bind(at),
            )
            .await?;
        Ok(Some(change))
    }

    async fn merge(&mut self, from: i64, into: i64, at: Millis) -> StoreResult<()> {
        for table in ["insight_tags", "insight_sources", "votes", "replies"] {
            // Rows the target already has stay once; the rest move.
            self.execute(
                Statement::new(format!(
                    "UPDATE {table} SET insight_id = $2 WHERE insight_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.insight_id = $2 AND {same})",
                    same = match table {
                        "insight_tags" => "t.tag = {table}.tag AND t.source = {table}.source",
                        "insight_sources" => "t.source = {table}.source",
                        "votes" =>
                            "t.user_id = {table}.user_id AND t.channel_id = {table}.channel_id \
                             AND t.message_ts = {table}.message_ts",
                        _ => "t.channel_id = {table}.channel_id AND t.ts = {table}.ts",
                    }
                    .replace("{table}", table),
                ))
                .bind(from)
                .bind(into),
            )
            .await?;
            self.execute(Statement::new(format!("DELETE FROM {table} WHERE insight_id = $1")).bind(from))
                .await?;
        }
        for id in [from, into] {
            self.stale_tags(id);
            self.stale_counts(id);
        }
        self.execute(
            Statement::new(
                "UPDATE insights SET merged_into = $2, updated_at = $3 WHERE id = $1 OR merged_into = $1",
            )
            .bind(from)
            .bind(into)
            .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn merged_into(&mut self, id: i64) -> StoreResult<Vec<Insight>> {
        Ok(self
            .fetch_all(Statement::new(insight_query("merged_into = $1 ORDER BY number")).bind(id))
            .await?)
    }

    async fn emoji_overrides(&mut self, team_id: &str) -> StoreResult<Vec<EmojiOverride>> {
        Ok(self
            .fetch_all(
                Statement::new("SELECT emoji, tag FROM emoji_tags WHERE team_id = $1 ORDER BY emoji")
                    .bind(team_id),
            )
            .await?)
    }

    async fn set_emoji_tag(
        &mut self,
        team_id: &str,
        emoji: &str,
        tag: Option<&str>,
        by: &str,
        at: Millis,
    ) -> StoreResult<()> {
        self.execute(Statement::new(
"INSERT INTO emoji_tags (team_id, emoji, tag, changed_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
 ON CONFLICT (team_id, emoji) DO UPDATE SET tag = excluded.tag, \
 changed_by = excluded.changed_by, updated_at = excluded.updated_at",
        )
        .bind(team_id)
        .bind(emoji)
        .bind(tag)
        .bind(by)
        .bind(at))
                .await?;
        Ok(())
    }

    async fn rules(&mut self, team_id: &str) -> StoreResult<Vec<Rule>> {
        Ok(self
            .fetch_all(
                Statement::new(
                    "SELECT number, phrase, tag, capture FROM rules WHERE team_id = $1 ORDER BY number",
                )
                .bind(team_id),
            )
            .await?)
    }

    async fn add_rule(&mut self, team_id: &str, rule: &NewRule, by: &str, at: Millis) -> StoreResult<Rule> {
        Ok(self
            .fetch_one(
                Statement::new(
                    "INSERT INTO rules (team_id, number, phrase, tag, capture, created_by, created_at) \
                     SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6 \
                     FROM rules WHERE team_id = $1 \
                     RETURNING number, phrase, tag, capture",
                )
                .bind(team_id)
                .bind(&rule.phrase)
                .bind(&rule.tag)
                .bind(rule.capture)
                .bind(by)
                .bind(at),
            )
            .await?)
    }

    async fn remove_rule(&mut self, team_id: &str, number: i64) -> StoreResult<Option<Rule>> {
        Ok(self.fetch_optional(Statement::new(
"DELETE FROM rules WHERE team_id = $1 AND number = $2 RETURNING number, phrase, tag, capture",
        )
        .bind(team_id)
        .bind(number))
                .await?)
    }

    async fn circle_channels(&mut self, team_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::new(
                    "SELECT channel_id FROM circles WHERE team_id = $1 AND active ORDER BY channel_id",
                )
                .bind(team_id),
            )
            .await?;
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }

    async fn insight_counts(&mut self, team_id: &str) -> StoreResult<Vec<(String, i64)>> {
        Ok(self
            .fetch_all(
                Statement::new(
                    "SELECT channel_id, COUNT(*) FROM insights \
                     WHERE team_id = $1 AND NOT deleted AND merged_into IS NULL \
                     GROUP BY channel_id ORDER BY channel_id",
                )
                .bind(team_id),
            )
            .await?)
    }

    async fn record_activity(&mut self, a: &Activity<'_>) -> StoreResult<()> {
        let kind = match a.kind {
            ActivityKind::Post => 0,
            ActivityKind::Reply => 1,
            ActivityKind::Reaction => 2,
        };
        let key = (
            a.team_id.to_owned(),
            a.channel_id.to_owned(),
            day_of(a.at),
            a.user_id.to_owned(),
        );
        self.activity.entry(key).or_default()[kind] += 1;
        Ok(())
    }

    async fn set_membership(&mut self, m: &Membership<'_>) -> StoreResult<()> {
        // A member found in the channel's list keeps a known join time; a join or a leave
        // event is the newer truth.
        let (joined_at, left_at, on_conflict) = match m.change {
            MembershipChange::Present => (None, None, "left_at = NULL"),
            MembershipChange::Joined => (Some(m.at), None, "joined_at = excluded.joined_at, left_at = NULL"),
            MembershipChange::Left => (None, Some(m.at), "left_at = excluded.left_at"),
        };
        let statement = Statement::new(format!(
            "INSERT INTO circle_members (team_id, channel_id, user_id, joined_at, left_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (team_id, channel_id, user_id) DO UPDATE SET {on_conflict}"
        ))
        .bind(m.team_id)
        .bind(m.channel_id)
        .bind(m.user_id)
        .bind(joined_at)
        .bind(left_at);
        self.execute(statement).await?;
        Ok(())
    }

    async fn set_name(&mut self, named: Named<'_>, name: &str, at: Millis) -> StoreResult<()> {
        let query = match named {
            Named::Person { team_id, user_id } => Statement::new(
                "INSERT INTO people (team_id, user_id, name, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (team_id, user_id) DO UPDATE SET \
                 name = excluded.name, updated_at = excluded.updated_at",
            )
            .bind(team_id)
            .bind(user_id)
            .bind(name)
            .bind(at),
            // A circle's row records its on/off changes; a rename is not one.
            Named::Channel { team_id, channel_id } => {
                Statement::new("UPDATE circles SET name = $3 WHERE team_id = $1 AND channel_id = $2")
                    .bind(team_id)
                    .bind(channel_id)
                    .bind(name)
            }
            Named::Workspace { team_id } => Statement::new(
                "INSERT INTO workspaces (team_id, url, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
            )
            .bind(team_id)
            .bind(name)
            .bind(at),
        };
        self.execute(query).await?;
        Ok(())
    }

    async fn has_name(&mut self, named: Named<'_>) -> StoreResult<bool> {
        let query = match named {
            Named::Person { team_id, user_id } => {
                Statement::new("SELECT 1 FROM people WHERE team_id = $1 AND user_id = $2")
                    .bind(team_id)
                    .bind(user_id)
            }
            Named::Channel { team_id, channel_id } => Statement::new(
                "SELECT 1 FROM circles WHERE team_id = $1 AND channel_id = $2 AND name IS NOT NULL",
            )
            .bind(team_id)
            .bind(channel_id),
            Named::Workspace { team_id } => {
                Statement::new("SELECT 1 FROM workspaces WHERE team_id = $1").bind(team_id)
            }
        };
        let found: Option<(i64,)> = self.fetch_optional(query).await?;
        Ok(found.is_some())
    }

    async fn enqueue(&mut self, item: &NewInboxItem) -> StoreResult<bool> {
        let done = self.execute(Statement::new(
"INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&item.team_id)
        .bind(&item.event_id)
        .bind(item.kind.as_str())
        .bind(&item.event_type)
        .bind(&item.payload)
        .bind(item.received_at))
                .await?;
        Ok(done > 0)
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
