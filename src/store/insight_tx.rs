//! [`InsightTx`] for both backends. The SQL is written once: both SQLite and PostgreSQL accept
//! `$n` parameters, `ON CONFLICT`, `RETURNING` and `TRUE`/`FALSE`, so one macro body serves
//! PostgreSQL through sqlx and SQLite through its direct connection (`direct_sql`, the same
//! query API over rusqlite).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, Sqlite, Transaction};

use super::StoreResult;
use super::direct_sql;
use super::insights::{
    Activity, ActivityKind, CachedMessage, EmojiOverride, INSIGHT_COLUMNS, Insight, InsightDetails,
    InsightSource, InsightStatus, InsightTx, MAX_REVISIONS, Membership, MembershipChange, MessageRef, Named,
    NewInsight, ReactionChange, Reply, Rule, TagSource, day_of,
};
use super::sqlite_direct::DirectTransaction;
use crate::clock::Millis;
use crate::inbox::NewInboxItem;

/// An open transaction: `tx` is the backend's own (sqlx's for PostgreSQL, the direct
/// connection's for SQLite).
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

/// Insights per statement when derived columns are refreshed.
const REFRESH_IDS_PER_STATEMENT: usize = 500;

/// Rows per statement when the counted activity is written (7 parameters each).
const ACTIVITY_ROWS_PER_STATEMENT: usize = 500;

impl<T> SqlTx<T> {
    pub(super) fn new(tx: T) -> Self {
        Self {
            tx,
            stale: BTreeMap::new(),
            activity: BTreeMap::new(),
        }
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
}

impl PgTx {
    /// The transaction's connection, for the statements of the macros here and in `digest`.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl SqliteTx {
    /// The transaction's connection, for the statements of the macros here and in `digest`.
    pub(super) fn conn(&mut self) -> &mut rusqlite::Connection {
        self.tx.connection()
    }
}

/// Which derived columns of an insight are out of date.
#[derive(Debug, Default, Clone, Copy)]
struct Stale {
    tags: bool,
    counts: bool,
}

type MessageParts = (String, String, String, Option<String>, String, Option<String>);

fn message_from((team_id, channel_id, ts, user_id, text, thread_ts): MessageParts) -> CachedMessage {
    CachedMessage {
        team_id,
        channel_id,
        ts,
        user_id,
        text,
        thread_ts,
    }
}

fn insight_query(condition: &str) -> String {
    format!("SELECT {INSIGHT_COLUMNS} FROM insights WHERE {condition}")
}

/// The refresh of an insight's tag list, in each backend's SQL: distinct tags in order, joined
/// by [`TAG_SEPARATOR`](super::insights::TAG_SEPARATOR).
trait TagListSql {
    const TAG_LIST: &'static str;
}

impl TagListSql for Sqlite {
    const TAG_LIST: &'static str = "COALESCE((SELECT group_concat(tag, ';') FROM \
         (SELECT DISTINCT tag FROM insight_tags WHERE insight_id = insights.id ORDER BY tag)), '')";
}

impl TagListSql for Postgres {
    const TAG_LIST: &'static str = "COALESCE((SELECT string_agg(DISTINCT tag, ';' ORDER BY tag) FROM insight_tags WHERE insight_id = insights.id), '')";
}

/// Locks on message keys for [`InsightTx::lock_messages`].
#[async_trait]
pub(super) trait LockKeys {
    async fn lock_keys(&mut self, keys: &[String]) -> StoreResult<()>;
}

#[async_trait]
impl LockKeys for Transaction<'static, Postgres> {
    /// Transaction-scoped advisory locks, taken in one order (by hash) in every transaction,
    /// so two batches wait for each other instead of deadlocking.
    async fn lock_keys(&mut self, keys: &[String]) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT COUNT(pg_advisory_xact_lock(h)) FROM \
             (SELECT DISTINCT hashtextextended(k, 0) AS h FROM UNNEST($1::text[]) AS k ORDER BY h) AS keys",
        )
        .bind(keys)
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

/// `$tx` runs the SQL through `$sql` (`sqlx` or `direct_sql`), `$builder` is that module's
/// query builder, `$db` names the SQL dialect.
macro_rules! impl_insight_tx {
    ($tx:ty, $db:ty, $sql:ident, $builder:ty) => {
        #[async_trait]
        impl InsightTx for $tx {
            async fn put_message(&mut self, m: &CachedMessage, at: Millis) -> StoreResult<()> {
                $sql::query(
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
                .bind(at)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn message(&mut self, at: MessageRef<'_>) -> StoreResult<Option<CachedMessage>> {
                let row: Option<MessageParts> = $sql::query_as(
                    "SELECT team_id, channel_id, ts, user_id, text, thread_ts FROM messages \
                     WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
                )
                .bind(at.team_id)
                .bind(at.channel_id)
                .bind(at.ts)
                .fetch_optional(self.conn())
                .await?;
                Ok(row.map(message_from))
            }

            async fn thread_replies(&mut self, parent: MessageRef<'_>) -> StoreResult<Vec<CachedMessage>> {
                let rows: Vec<MessageParts> = $sql::query_as(
                    "SELECT team_id, channel_id, ts, user_id, text, thread_ts FROM messages \
                     WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3 AND ts <> $3 ORDER BY ts",
                )
                .bind(parent.team_id)
                .bind(parent.channel_id)
                .bind(parent.ts)
                .fetch_all(self.conn())
                .await?;
                Ok(rows.into_iter().map(message_from).collect())
            }

            async fn forget_message(&mut self, at: MessageRef<'_>) -> StoreResult<()> {
                $sql::query("DELETE FROM messages WHERE team_id = $1 AND channel_id = $2 AND ts = $3")
                    .bind(at.team_id)
                    .bind(at.channel_id)
                    .bind(at.ts)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn set_reaction(&mut self, c: &ReactionChange<'_>) -> StoreResult<bool> {
                let done = $sql::query(
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
                .bind(c.event_ts)
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn reactions_on(&mut self, m: MessageRef<'_>) -> StoreResult<Vec<(String, String)>> {
                Ok($sql::query_as(
                    "SELECT user_id, emoji FROM reactions \
                     WHERE team_id = $1 AND channel_id = $2 AND message_ts = $3 AND present \
                     ORDER BY user_id, emoji",
                )
                .bind(m.team_id)
                .bind(m.channel_id)
                .bind(m.ts)
                .fetch_all(self.conn())
                .await?)
            }

            async fn has_reaction(&mut self, insight_id: i64, emoji: &[&str]) -> StoreResult<bool> {
                for one in emoji {
                    let found: Option<(i64,)> = $sql::query_as(
                        "SELECT 1 FROM reactions r JOIN insights i \
                         ON i.team_id = r.team_id AND i.channel_id = r.channel_id AND i.message_ts = r.message_ts \
                         WHERE (i.id = $1 OR i.merged_into = $1) AND r.emoji = $2 AND r.present LIMIT 1",
                    )
                    .bind(insight_id)
                    .bind(*one)
                    .fetch_optional(self.conn())
                    .await?;
                    if found.is_some() {
                        return Ok(true);
                    }
                }
                Ok(false)
            }

            async fn insight(&mut self, id: i64) -> StoreResult<Option<Insight>> {
                Ok($sql::query_as(&insight_query("id = $1"))
                    .bind(id)
                    .fetch_optional(self.conn())
                    .await?)
            }

            async fn insight_by_number(&mut self, team_id: &str, number: i64) -> StoreResult<Option<Insight>> {
                Ok($sql::query_as(&insight_query("team_id = $1 AND number = $2"))
                    .bind(team_id)
                    .bind(number)
                    .fetch_optional(self.conn())
                    .await?)
            }

            async fn insight_by_message(&mut self, m: MessageRef<'_>) -> StoreResult<Option<Insight>> {
                Ok(
                    $sql::query_as(&insight_query("team_id = $1 AND channel_id = $2 AND message_ts = $3"))
                        .bind(m.team_id)
                        .bind(m.channel_id)
                        .bind(m.ts)
                        .fetch_optional(self.conn())
                        .await?,
                )
            }

            async fn create_insight(&mut self, new: &NewInsight<'_>) -> StoreResult<Insight> {
                let (number,): (i64,) = $sql::query_as(
                    "INSERT INTO insight_numbers (team_id, last_number) VALUES ($1, 1) \
                     ON CONFLICT (team_id) DO UPDATE SET last_number = insight_numbers.last_number + 1 \
                     RETURNING last_number",
                )
                .bind(new.message.team_id)
                .fetch_one(self.conn())
                .await?;
                let sql = format!(
                    "INSERT INTO insights (team_id, number, channel_id, message_ts, thread_ts, author_id, text, \
                     text_version, source, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                     ON CONFLICT (team_id, channel_id, message_ts) DO NOTHING RETURNING {INSIGHT_COLUMNS}"
                );
                let created: Option<Insight> = $sql::query_as(&sql)
                    .bind(new.message.team_id)
                    .bind(number)
                    .bind(new.message.channel_id)
                    .bind(new.message.ts)
                    .bind(new.thread_ts)
                    .bind(new.author_id)
                    .bind(new.text)
                    .bind(new.text_version)
                    .bind(new.source.as_str())
                    .bind(new.at)
                    .fetch_optional(self.conn())
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
                $sql::query(
                    "INSERT INTO insight_revisions (insight_id, text, replaced_at) \
                     SELECT id, text, $3 FROM insights \
                     WHERE id = $1 AND text IS NOT NULL AND text <> $2 AND text_version <= $4 AND NOT deleted",
                )
                .bind(id)
                .bind(text)
                .bind(at)
                .bind(version)
                .execute(self.conn())
                .await?;
                $sql::query(
                    "DELETE FROM insight_revisions WHERE insight_id = $1 AND id <= \
                     (SELECT id FROM insight_revisions WHERE insight_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                )
                .bind(id)
                .bind(MAX_REVISIONS)
                .execute(self.conn())
                .await?;
                let changed = $sql::query(
                    "UPDATE insights SET text = $2, text_version = $3, updated_at = $4 \
                     WHERE id = $1 AND text_version <= $3 AND NOT deleted AND (text IS NULL OR text <> $2)",
                )
                .bind(id)
                .bind(text)
                .bind(version)
                .bind(at)
                .execute(self.conn())
                .await?;
                Ok(changed.rows_affected() > 0)
            }

            async fn set_details(&mut self, id: i64, d: &InsightDetails, at: Millis) -> StoreResult<()> {
                $sql::query(
                    "UPDATE insights SET product_area = $2, sentiment = $3, customer_company = $4, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&d.product_area)
                .bind(&d.sentiment)
                .bind(&d.customer_company)
                .bind(at)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn mark_deleted(&mut self, id: i64, at: Millis) -> StoreResult<()> {
                $sql::query("DELETE FROM insight_revisions WHERE insight_id = $1")
                    .bind(id)
                    .execute(self.conn())
                    .await?;
                $sql::query("UPDATE insights SET deleted = TRUE, text = '', updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn discard_insight(&mut self, id: i64) -> StoreResult<()> {
                for table in ["insight_revisions", "insight_tags", "insight_sources", "votes", "replies", "status_changes"] {
                    $sql::query(&format!("DELETE FROM {table} WHERE insight_id = $1"))
                        .bind(id)
                        .execute(self.conn())
                        .await?;
                }
                $sql::query("DELETE FROM insights WHERE id = $1")
                    .bind(id)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn revisions(&mut self, id: i64) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    $sql::query_as("SELECT text FROM insight_revisions WHERE insight_id = $1 ORDER BY id")
                        .bind(id)
                        .fetch_all(self.conn())
                        .await?;
                Ok(rows.into_iter().map(|(text,)| text).collect())
            }

            async fn add_source(&mut self, id: i64, source: InsightSource) -> StoreResult<()> {
                $sql::query(
                    "INSERT INTO insight_sources (insight_id, source) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(source.as_str())
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn sources(&mut self, id: i64) -> StoreResult<Vec<InsightSource>> {
                let rows: Vec<(String,)> =
                    $sql::query_as("SELECT source FROM insight_sources WHERE insight_id = $1 ORDER BY source")
                        .bind(id)
                        .fetch_all(self.conn())
                        .await?;
                Ok(rows.into_iter().filter_map(|(s,)| s.parse().ok()).collect())
            }

            async fn add_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
                let done = $sql::query(
                    "INSERT INTO insight_tags (insight_id, tag, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(tag)
                .bind(source.as_str())
                .execute(self.conn())
                .await?;
                self.stale_tags(id);
                Ok(done.rows_affected() > 0)
            }

            async fn remove_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool> {
                let done =
                    $sql::query("DELETE FROM insight_tags WHERE insight_id = $1 AND tag = $2 AND source = $3")
                        .bind(id)
                        .bind(tag)
                        .bind(source.as_str())
                        .execute(self.conn())
                        .await?;
                self.stale_tags(id);
                Ok(done.rows_affected() > 0)
            }

            async fn replace_tags(&mut self, id: i64, source: TagSource, tags: &[String]) -> StoreResult<()> {
                $sql::query("DELETE FROM insight_tags WHERE insight_id = $1 AND source = $2")
                    .bind(id)
                    .bind(source.as_str())
                    .execute(self.conn())
                    .await?;
                self.stale_tags(id);
                for tag in tags {
                    self.add_tag(id, tag, source).await?;
                }
                Ok(())
            }

            async fn tags(&mut self, id: i64) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    $sql::query_as("SELECT DISTINCT tag FROM insight_tags WHERE insight_id = $1 ORDER BY tag")
                        .bind(id)
                        .fetch_all(self.conn())
                        .await?;
                Ok(rows.into_iter().map(|(tag,)| tag).collect())
            }

            async fn add_vote(&mut self, id: i64, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
                let done = $sql::query(
                    "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(user_id)
                .bind(on.channel_id)
                .bind(on.ts)
                .execute(self.conn())
                .await?;
                self.stale_counts(id);
                Ok(done.rows_affected() > 0)
            }

            async fn add_vote_on_message(&mut self, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
                // One statement: votes are most of a busy circle's reactions. Merges re-point
                // whole chains, so one hop through merged_into reaches the target.
                let done: Option<(i64,)> = $sql::query_as(
                    "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) \
                     SELECT COALESCE(merged_into, id), $1, channel_id, message_ts FROM insights \
                     WHERE team_id = $2 AND channel_id = $3 AND message_ts = $4 AND NOT deleted \
                     AND (author_id IS NULL OR author_id <> $1) \
                     ON CONFLICT DO NOTHING RETURNING insight_id",
                )
                .bind(user_id)
                .bind(on.team_id)
                .bind(on.channel_id)
                .bind(on.ts)
                .fetch_optional(self.conn())
                .await?;
                Ok(self.counted(done))
            }

            async fn remove_vote(&mut self, user_id: &str, on: MessageRef<'_>) -> StoreResult<bool> {
                let done: Vec<(i64,)> = $sql::query_as(
                    "DELETE FROM votes WHERE channel_id = $1 AND message_ts = $2 AND user_id = $3 \
                     AND EXISTS (SELECT 1 FROM insights i WHERE i.id = votes.insight_id AND i.team_id = $4) \
                     RETURNING insight_id",
                )
                .bind(on.channel_id)
                .bind(on.ts)
                .bind(user_id)
                .bind(on.team_id)
                .fetch_all(self.conn())
                .await?;
                let removed = !done.is_empty();
                for (id,) in done {
                    self.stale_counts(id);
                }
                Ok(removed)
            }

            async fn voters(&mut self, id: i64) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    $sql::query_as("SELECT DISTINCT user_id FROM votes WHERE insight_id = $1 ORDER BY user_id")
                        .bind(id)
                        .fetch_all(self.conn())
                        .await?;
                Ok(rows.into_iter().map(|(user,)| user).collect())
            }

            async fn voters_on(&mut self, id: i64, m: MessageRef<'_>) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = $sql::query_as(
                    "SELECT DISTINCT user_id FROM votes \
                     WHERE insight_id = $1 AND channel_id = $2 AND message_ts = $3 ORDER BY user_id",
                )
                .bind(id)
                .bind(m.channel_id)
                .bind(m.ts)
                .fetch_all(self.conn())
                .await?;
                Ok(rows.into_iter().map(|(user,)| user).collect())
            }

            async fn add_reply(&mut self, id: i64, reply: &Reply) -> StoreResult<bool> {
                let done = $sql::query(
                    "INSERT INTO replies (insight_id, channel_id, ts, user_id, text) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(&reply.channel_id)
                .bind(&reply.ts)
                .bind(&reply.user_id)
                .bind(&reply.text)
                .execute(self.conn())
                .await?;
                self.stale_counts(id);
                Ok(done.rows_affected() > 0)
            }

            async fn edit_reply(&mut self, channel_id: &str, ts: &str, text: Option<&str>) -> StoreResult<()> {
                let query = match text {
                    Some(text) => $sql::query("UPDATE replies SET text = $3 WHERE channel_id = $1 AND ts = $2")
                        .bind(channel_id)
                        .bind(ts)
                        .bind(text),
                    None => {
                        let removed: Vec<(i64,)> =
                            $sql::query_as("DELETE FROM replies WHERE channel_id = $1 AND ts = $2 RETURNING insight_id")
                                .bind(channel_id)
                                .bind(ts)
                                .fetch_all(self.conn())
                                .await?;
                        for (id,) in removed {
                            self.stale_counts(id);
                        }
                        return Ok(());
                    }
                };
                query.execute(self.conn()).await?;
                Ok(())
            }

            async fn replies(&mut self, id: i64) -> StoreResult<Vec<Reply>> {
                Ok($sql::query_as(
                    "SELECT channel_id, ts, user_id, text FROM replies WHERE insight_id = $1 ORDER BY ts",
                )
                .bind(id)
                .fetch_all(self.conn())
                .await?)
            }

            async fn change_status(
                &mut self,
                id: i64,
                status: InsightStatus,
                by: Option<&str>,
                at: Millis,
            ) -> StoreResult<Option<i64>> {
                let changed = $sql::query(
                    "UPDATE insights SET status = $2, updated_at = $3 \
                     WHERE id = $1 AND status <> $2 AND merged_into IS NULL",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(at)
                .execute(self.conn())
                .await?;
                if changed.rows_affected() == 0 {
                    return Ok(None);
                }
                let (change,): (i64,) = $sql::query_as(
                    "INSERT INTO status_changes (insight_id, status, changed_by, changed_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(by)
                .bind(at)
                .fetch_one(self.conn())
                .await?;
                Ok(Some(change))
            }

            async fn merge(&mut self, from: i64, into: i64, at: Millis) -> StoreResult<()> {
                for table in ["insight_tags", "insight_sources", "votes", "replies"] {
                    // Rows the target already has stay once; the rest move.
                    $sql::query(&format!(
                        "UPDATE {table} SET insight_id = $2 WHERE insight_id = $1 \
                         AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.insight_id = $2 AND {same})",
                        same = match table {
                            "insight_tags" => "t.tag = {table}.tag AND t.source = {table}.source",
                            "insight_sources" => "t.source = {table}.source",
                            "votes" => "t.user_id = {table}.user_id AND t.channel_id = {table}.channel_id \
                                        AND t.message_ts = {table}.message_ts",
                            _ => "t.channel_id = {table}.channel_id AND t.ts = {table}.ts",
                        }
                        .replace("{table}", table),
                    ))
                    .bind(from)
                    .bind(into)
                    .execute(self.conn())
                    .await?;
                    $sql::query(&format!("DELETE FROM {table} WHERE insight_id = $1"))
                        .bind(from)
                        .execute(self.conn())
                        .await?;
                }
                for id in [from, into] {
                    self.stale_tags(id);
                    self.stale_counts(id);
                }
                $sql::query("UPDATE insights SET merged_into = $2, updated_at = $3 WHERE id = $1 OR merged_into = $1")
                    .bind(from)
                    .bind(into)
                    .bind(at)
                    .execute(self.conn())
                    .await?;
                Ok(())
            }

            async fn merged_into(&mut self, id: i64) -> StoreResult<Vec<Insight>> {
                Ok($sql::query_as(&insight_query("merged_into = $1 ORDER BY number"))
                    .bind(id)
                    .fetch_all(self.conn())
                    .await?)
            }

            async fn emoji_overrides(&mut self, team_id: &str) -> StoreResult<Vec<EmojiOverride>> {
                Ok($sql::query_as("SELECT emoji, tag FROM emoji_tags WHERE team_id = $1 ORDER BY emoji")
                    .bind(team_id)
                    .fetch_all(self.conn())
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
                $sql::query(
                    "INSERT INTO emoji_tags (team_id, emoji, tag, changed_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (team_id, emoji) DO UPDATE SET tag = excluded.tag, \
                     changed_by = excluded.changed_by, updated_at = excluded.updated_at",
                )
                .bind(team_id)
                .bind(emoji)
                .bind(tag)
                .bind(by)
                .bind(at)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn rules(&mut self, team_id: &str) -> StoreResult<Vec<Rule>> {
                Ok($sql::query_as(
                    "SELECT number, phrase, tag, capture FROM rules WHERE team_id = $1 ORDER BY number",
                )
                .bind(team_id)
                .fetch_all(self.conn())
                .await?)
            }

            async fn add_rule(
                &mut self,
                team_id: &str,
                (phrase, tag, capture): (&str, &str, bool),
                by: &str,
                at: Millis,
            ) -> StoreResult<Rule> {
                Ok($sql::query_as(
                    "INSERT INTO rules (team_id, number, phrase, tag, capture, created_by, created_at) \
                     SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6 FROM rules WHERE team_id = $1 \
                     RETURNING number, phrase, tag, capture",
                )
                .bind(team_id)
                .bind(phrase)
                .bind(tag)
                .bind(capture)
                .bind(by)
                .bind(at)
                .fetch_one(self.conn())
                .await?)
            }

            async fn remove_rule(&mut self, team_id: &str, number: i64) -> StoreResult<Option<Rule>> {
                Ok($sql::query_as(
                    "DELETE FROM rules WHERE team_id = $1 AND number = $2 RETURNING number, phrase, tag, capture",
                )
                .bind(team_id)
                .bind(number)
                .fetch_optional(self.conn())
                .await?)
            }

            async fn circle_channels(&mut self, team_id: &str) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    $sql::query_as("SELECT channel_id FROM circles WHERE team_id = $1 AND active ORDER BY channel_id")
                        .bind(team_id)
                        .fetch_all(self.conn())
                        .await?;
                Ok(rows.into_iter().map(|(c,)| c).collect())
            }

            async fn insight_counts(&mut self, team_id: &str) -> StoreResult<Vec<(String, i64)>> {
                Ok($sql::query_as(
                    "SELECT channel_id, COUNT(*) FROM insights \
                     WHERE team_id = $1 AND NOT deleted AND merged_into IS NULL \
                     GROUP BY channel_id ORDER BY channel_id",
                )
                .bind(team_id)
                .fetch_all(self.conn())
                .await?)
            }

            async fn record_activity(&mut self, a: &Activity<'_>) -> StoreResult<()> {
                let kind = match a.kind {
                    ActivityKind::Post => 0,
                    ActivityKind::Reply => 1,
                    ActivityKind::Reaction => 2,
                };
                let key = (a.team_id.to_owned(), a.channel_id.to_owned(), day_of(a.at), a.user_id.to_owned());
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
                $sql::query(&format!(
                    "INSERT INTO circle_members (team_id, channel_id, user_id, joined_at, left_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, channel_id, user_id) DO UPDATE SET {on_conflict}"
                ))
                .bind(m.team_id)
                .bind(m.channel_id)
                .bind(m.user_id)
                .bind(joined_at)
                .bind(left_at)
                .execute(self.conn())
                .await?;
                Ok(())
            }

            async fn set_name(&mut self, named: Named<'_>, name: &str, at: Millis) -> StoreResult<()> {
                let query = match named {
                    Named::Person { team_id, user_id } => $sql::query(
                        "INSERT INTO people (team_id, user_id, name, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (team_id, user_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
                    )
                    .bind(team_id)
                    .bind(user_id)
                    .bind(name)
                    .bind(at),
                    // A circle's row records its on/off changes; a rename is not one.
                    Named::Channel { team_id, channel_id } => {
                        $sql::query("UPDATE circles SET name = $3 WHERE team_id = $1 AND channel_id = $2")
                            .bind(team_id)
                            .bind(channel_id)
                            .bind(name)
                    }
                    Named::Workspace { team_id } => $sql::query(
                        "INSERT INTO workspaces (team_id, url, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
                    )
                    .bind(team_id)
                    .bind(name)
                    .bind(at),
                };
                query.execute(self.conn()).await?;
                Ok(())
            }

            async fn has_name(&mut self, named: Named<'_>) -> StoreResult<bool> {
                let query = match named {
                    Named::Person { team_id, user_id } => {
                        $sql::query_as("SELECT 1 FROM people WHERE team_id = $1 AND user_id = $2")
                            .bind(team_id)
                            .bind(user_id)
                    }
                    Named::Channel { team_id, channel_id } => $sql::query_as(
                        "SELECT 1 FROM circles WHERE team_id = $1 AND channel_id = $2 AND name IS NOT NULL",
                    )
                    .bind(team_id)
                    .bind(channel_id),
                    Named::Workspace { team_id } => {
                        $sql::query_as("SELECT 1 FROM workspaces WHERE team_id = $1").bind(team_id)
                    }
                };
                let found: Option<(i32,)> = query.fetch_optional(self.conn()).await?;
                Ok(found.is_some())
            }

            async fn enqueue(&mut self, item: &NewInboxItem) -> StoreResult<bool> {
                let done = $sql::query(
                    "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(&item.team_id)
                .bind(&item.event_id)
                .bind(item.kind.as_str())
                .bind(&item.event_type)
                .bind(&item.payload)
                .bind(item.received_at)
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn lock_messages(&mut self, keys: &[String]) -> StoreResult<()> {
                self.tx.lock_keys(keys).await
            }

            async fn commit(mut self: Box<Self>) -> StoreResult<()> {
                // One statement per kind of staleness, not per insight: on PostgreSQL each
                // statement is a round trip.
                let mut groups: BTreeMap<(bool, bool), Vec<i64>> = BTreeMap::new();
                for (id, stale) in std::mem::take(&mut self.stale) {
                    groups.entry((stale.tags, stale.counts)).or_default().push(id);
                }
                for ((tags, counts), ids) in groups {
                    let mut columns = Vec::new();
                    if tags {
                        columns.push(format!("tags = {}", <$db as TagListSql>::TAG_LIST));
                    }
                    if counts {
                        columns.push(
                            "vote_count = (SELECT COUNT(DISTINCT user_id) FROM votes WHERE insight_id = insights.id), \
                             reply_count = (SELECT COUNT(*) FROM replies WHERE insight_id = insights.id)"
                                .to_owned(),
                        );
                    }
                    if columns.is_empty() {
                        continue;
                    }
                    for chunk in ids.chunks(REFRESH_IDS_PER_STATEMENT) {
                        let mut query = <$builder>::new(format!(
                            "UPDATE insights SET {} WHERE id IN (",
                            columns.join(", ")
                        ));
                        let mut list = query.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        query.push(")");
                        query.build().execute(self.conn()).await?;
                    }
                }
                let activity: Vec<(ActivityKey, ActivityCounts)> = std::mem::take(&mut self.activity).into_iter().collect();
                for chunk in activity.chunks(ACTIVITY_ROWS_PER_STATEMENT) {
                    let mut query = <$builder>::new(
                        "INSERT INTO member_activity (team_id, channel_id, day, user_id, posts, replies, reactions) ",
                    );
                    query.push_values(chunk, |mut row, ((team, channel, day, user), counts)| {
                        row.push_bind(team.as_str())
                            .push_bind(channel.as_str())
                            .push_bind(*day)
                            .push_bind(user.as_str())
                            .push_bind(counts[0])
                            .push_bind(counts[1])
                            .push_bind(counts[2]);
                    });
                    query.push(
                        " ON CONFLICT (team_id, day, channel_id, user_id) DO UPDATE SET \
                         posts = member_activity.posts + excluded.posts, \
                         replies = member_activity.replies + excluded.replies, \
                         reactions = member_activity.reactions + excluded.reactions",
                    );
                    query.build().execute(self.conn()).await?;
                }
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

impl_insight_tx!(SqliteTx, Sqlite, direct_sql, direct_sql::QueryBuilder);
impl_insight_tx!(PgTx, Postgres, sqlx, sqlx::QueryBuilder<Postgres>);
