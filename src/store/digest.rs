//! What the weekly digest, circle recaps, discussion prompts and App Home store and read.
//!
//! Scheduled posts are claimed by inserting their key (workspace, channel, week, kind): the
//! insert that wins queues the post in the same transaction, so however many replicas run the
//! scheduler, each post is queued once.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{Pool, Postgres, Sqlite};

use super::StoreResult;
use super::direct_sql;
use super::insights::MessageRef;
use super::reads::Window;
use super::sql_tx::{PgTx, SqliteTx};
use crate::clock::Millis;

/// What Circlet posts on the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    /// The product team's weekly digest.
    Digest,
    /// A circle's member recap.
    Recap,
    /// A discussion prompt in a circle.
    Prompt,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Digest => "digest",
            PostKind::Recap => "recap",
            PostKind::Prompt => "prompt",
        }
    }
}

impl FromStr for PostKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "digest" => Ok(PostKind::Digest),
            "recap" => Ok(PostKind::Recap),
            "prompt" => Ok(PostKind::Prompt),
            _ => Err(()),
        }
    }
}

impl fmt::Display for PostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One scheduled post: at most one per workspace, channel, week and kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostKey {
    pub team_id: String,
    pub channel_id: String,
    /// The week, as [`crate::domain::digest::Period::key`].
    pub period: String,
    pub kind: PostKind,
}

impl PostKey {
    pub fn new(team_id: &str, channel_id: &str, period: &str, kind: PostKind) -> Self {
        Self {
            team_id: team_id.to_owned(),
            channel_id: channel_id.to_owned(),
            period: period.to_owned(),
            kind,
        }
    }

    /// Unique text for the inbox row and the message metadata that finds an earlier post.
    pub fn id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.kind, self.team_id, self.channel_id, self.period
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Prompt {
    pub number: i64,
    pub question: String,
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub posted_period: Option<String>,
}

/// A circle as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecapCircle {
    pub channel_id: String,
    pub name: Option<String>,
    pub recap: bool,
    /// When it last became a circle: weeks that ended before are not recapped.
    pub since: Millis,
}

/// An insight's status change, for digests and recaps.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatusMove {
    pub insight_id: i64,
    pub number: i64,
    pub channel_id: String,
    pub text: Option<String>,
    pub author_id: Option<String>,
    pub status: String,
    pub changed_at: Millis,
}

/// An insight as App Home lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HomeInsight {
    pub number: i64,
    pub channel_id: String,
    pub text: Option<String>,
    pub status: String,
    pub votes: i64,
    pub replies: i64,
    pub created_at: Millis,
}

/// A scheduled post that Slack refused (the bot is not in the channel, the channel is gone).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FailedPost {
    pub team_id: String,
    pub channel_id: String,
    pub period: String,
    pub kind: String,
    pub error: String,
}

/// Schedule writes that belong in a capture transaction (see [`super::InsightTx`]).
#[async_trait]
pub trait ScheduleTx: Send {
    /// Claims a post; true when this call claimed it (nobody had).
    async fn claim_post(&mut self, key: &PostKey, at: Millis) -> StoreResult<bool>;
    /// The prompt that goes out in `period`: the one already chosen for it, or the oldest
    /// queued one (then marked as posted in that week).
    async fn prompt_for_period(&mut self, team_id: &str, period: &str) -> StoreResult<Option<Prompt>>;
    async fn add_prompt(
        &mut self,
        team_id: &str,
        question: &str,
        by: &str,
        at: Millis,
    ) -> StoreResult<Prompt>;
    /// Removes a prompt (queued or posted); None when there is no such prompt.
    async fn remove_prompt(&mut self, team_id: &str, number: i64, at: Millis) -> StoreResult<Option<Prompt>>;
    /// Prompts waiting to be posted, oldest first.
    async fn queued_prompts(&mut self, team_id: &str) -> StoreResult<Vec<Prompt>>;
    /// Turns a circle's recap on or off; None when the channel is not a circle, else whether
    /// it was on before.
    async fn set_recap(&mut self, team_id: &str, channel_id: &str, on: bool) -> StoreResult<Option<bool>>;
    /// Whether `message` is a discussion prompt Circlet posted.
    async fn is_prompt_thread(&mut self, message: MessageRef<'_>) -> StoreResult<bool>;
}

/// Schedule reads and the records of posts made.
#[async_trait]
pub trait DigestStore: Send + Sync {
    /// Workspaces with an active circle.
    async fn teams_with_circles(&self) -> StoreResult<Vec<String>>;
    async fn recap_circles(&self, team_id: &str) -> StoreResult<Vec<RecapCircle>>;
    async fn record_post(&self, key: &PostKey, message_ts: &str, at: Millis) -> StoreResult<()>;
    async fn fail_post(&self, key: &PostKey, error: &str) -> StoreResult<()>;
    /// Posts claimed since `since` that Slack refused, newest first.
    async fn failed_posts(&self, since: Millis) -> StoreResult<Vec<FailedPost>>;
    /// The ts of a recorded post, if it was posted.
    async fn posted_ts(&self, key: &PostKey) -> StoreResult<Option<String>>;
    async fn add_prompt_post(
        &self,
        team_id: &str,
        channel_id: &str,
        ts: &str,
        prompt: i64,
        at: Millis,
    ) -> StoreResult<()>;
    /// Status changes of live insights in `window` (of one circle when given), oldest first.
    async fn status_moves(
        &self,
        team_id: &str,
        channel_id: Option<&str>,
        window: Window,
    ) -> StoreResult<Vec<StatusMove>>;
    /// Who voted on each of `insights` on a message of `channel_id`: (insight id, user), in
    /// vote order. A merge across circles moves votes from another circle's messages onto an
    /// insight; those voters belong to that circle and are not named here.
    async fn voters_of(&self, insights: &[i64], channel_id: &str) -> StoreResult<Vec<(i64, String)>>;
    /// A member's own live insights, newest first.
    async fn authored(&self, team_id: &str, user_id: &str, limit: u32) -> StoreResult<Vec<HomeInsight>>;
    /// The workspace's newest live insights.
    async fn newest(&self, team_id: &str, limit: u32) -> StoreResult<Vec<HomeInsight>>;
    /// Known names of the workspace's people and circles, by Slack id (for text renderings).
    async fn names(&self, team_id: &str) -> StoreResult<HashMap<String, String>>;
}

/// The pools a [`DigestStore`] uses: reads from `read`, records to `write` (SQLite has one
/// write connection and a pool of readers; PostgreSQL one pool for both).
pub struct DigestPools<DB: sqlx::Database> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
}

const PROMPT_COLUMNS: &str = "number, question, created_by, created_at, posted_period";
const HOME_COLUMNS: &str =
    "number, channel_id, text, status, vote_count AS votes, reply_count AS replies, created_at";
const LIVE: &str = "deleted = FALSE AND merged_into IS NULL";

/// `$tx` runs the SQL through `$sql` (`sqlx` or `direct_sql`), as in `insight_tx`.
macro_rules! impl_schedule_tx {
    ($tx:ty, $sql:ident) => {
        #[async_trait]
        impl ScheduleTx for $tx {
            async fn claim_post(&mut self, key: &PostKey, at: Millis) -> StoreResult<bool> {
                let done = $sql::query(
                    "INSERT INTO scheduled_posts (team_id, channel_id, period, kind, claimed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&key.team_id)
                .bind(&key.channel_id)
                .bind(&key.period)
                .bind(key.kind.as_str())
                .bind(at)
                .execute(self.conn())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn prompt_for_period(&mut self, team_id: &str, period: &str) -> StoreResult<Option<Prompt>> {
                let chosen: Option<Prompt> = $sql::query_as(&format!(
                    "SELECT {PROMPT_COLUMNS} FROM prompts \
                     WHERE team_id = $1 AND posted_period = $2 AND removed_at IS NULL"
                ))
                .bind(team_id)
                .bind(period)
                .fetch_optional(self.conn())
                .await?;
                if chosen.is_some() {
                    return Ok(chosen);
                }
                Ok($sql::query_as(&format!(
                    "UPDATE prompts SET posted_period = $2 WHERE team_id = $1 AND number = \
                     (SELECT MIN(number) FROM prompts WHERE team_id = $1 AND posted_period IS NULL \
                     AND removed_at IS NULL) RETURNING {PROMPT_COLUMNS}"
                ))
                .bind(team_id)
                .bind(period)
                .fetch_optional(self.conn())
                .await?)
            }

            async fn add_prompt(
                &mut self,
                team_id: &str,
                question: &str,
                by: &str,
                at: Millis,
            ) -> StoreResult<Prompt> {
                Ok($sql::query_as(&format!(
                    "INSERT INTO prompts (team_id, number, question, created_by, created_at) \
                     VALUES ($1, (SELECT COALESCE(MAX(number), 0) + 1 FROM prompts WHERE team_id = $1), \
                     $2, $3, $4) RETURNING {PROMPT_COLUMNS}"
                ))
                .bind(team_id)
                .bind(question)
                .bind(by)
                .bind(at)
                .fetch_one(self.conn())
                .await?)
            }

            async fn remove_prompt(&mut self, team_id: &str, number: i64, at: Millis) -> StoreResult<Option<Prompt>> {
                Ok($sql::query_as(&format!(
                    "UPDATE prompts SET removed_at = $3 WHERE team_id = $1 AND number = $2 \
                     AND removed_at IS NULL RETURNING {PROMPT_COLUMNS}"
                ))
                .bind(team_id)
                .bind(number)
                .bind(at)
                .fetch_optional(self.conn())
                .await?)
            }

            async fn queued_prompts(&mut self, team_id: &str) -> StoreResult<Vec<Prompt>> {
                Ok($sql::query_as(&format!(
                    "SELECT {PROMPT_COLUMNS} FROM prompts WHERE team_id = $1 AND posted_period IS NULL \
                     AND removed_at IS NULL ORDER BY number"
                ))
                .bind(team_id)
                .fetch_all(self.conn())
                .await?)
            }

            async fn set_recap(&mut self, team_id: &str, channel_id: &str, on: bool) -> StoreResult<Option<bool>> {
                let before: Option<(bool,)> = $sql::query_as(
                    "SELECT recap FROM circles WHERE team_id = $1 AND channel_id = $2 AND active = TRUE",
                )
                .bind(team_id)
                .bind(channel_id)
                .fetch_optional(self.conn())
                .await?;
                if before.is_some() {
                    $sql::query("UPDATE circles SET recap = $3 WHERE team_id = $1 AND channel_id = $2")
                        .bind(team_id)
                        .bind(channel_id)
                        .bind(on)
                        .execute(self.conn())
                        .await?;
                }
                Ok(before.map(|(was,)| was))
            }

            async fn is_prompt_thread(&mut self, message: MessageRef<'_>) -> StoreResult<bool> {
                let found: Option<(i64,)> = $sql::query_as(
                    "SELECT prompt_number FROM prompt_posts WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
                )
                .bind(message.team_id)
                .bind(message.channel_id)
                .bind(message.ts)
                .fetch_optional(self.conn())
                .await?;
                Ok(found.is_some())
            }
        }
    };
}

impl_schedule_tx!(SqliteTx, direct_sql);
impl_schedule_tx!(PgTx, sqlx);

macro_rules! impl_digest_store {
    ($db:ty) => {
        #[async_trait]
        impl DigestStore for DigestPools<$db> {
            async fn teams_with_circles(&self) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT DISTINCT team_id FROM circles WHERE active = TRUE ORDER BY team_id")
                        .fetch_all(&self.read)
                        .await?;
                Ok(rows.into_iter().map(|(team,)| team).collect())
            }

            async fn recap_circles(&self, team_id: &str) -> StoreResult<Vec<RecapCircle>> {
                Ok(sqlx::query_as(
                    "SELECT channel_id, name, recap, updated_at AS since FROM circles \
                     WHERE team_id = $1 AND active = TRUE ORDER BY channel_id",
                )
                .bind(team_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn record_post(&self, key: &PostKey, message_ts: &str, at: Millis) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE scheduled_posts SET posted_at = $5, message_ts = $6, error = NULL \
                     WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
                )
                .bind(&key.team_id)
                .bind(&key.channel_id)
                .bind(&key.period)
                .bind(key.kind.as_str())
                .bind(at)
                .bind(message_ts)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn fail_post(&self, key: &PostKey, error: &str) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE scheduled_posts SET error = $5 \
                     WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
                )
                .bind(&key.team_id)
                .bind(&key.channel_id)
                .bind(&key.period)
                .bind(key.kind.as_str())
                .bind(error)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn failed_posts(&self, since: Millis) -> StoreResult<Vec<FailedPost>> {
                Ok(sqlx::query_as(
                    "SELECT team_id, channel_id, period, kind, error FROM scheduled_posts \
                     WHERE error IS NOT NULL AND claimed_at >= $1 ORDER BY claimed_at DESC, channel_id",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?)
            }

            async fn posted_ts(&self, key: &PostKey) -> StoreResult<Option<String>> {
                let row: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT message_ts FROM scheduled_posts \
                     WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
                )
                .bind(&key.team_id)
                .bind(&key.channel_id)
                .bind(&key.period)
                .bind(key.kind.as_str())
                .fetch_optional(&self.write)
                .await?;
                Ok(row.and_then(|(ts,)| ts))
            }

            async fn add_prompt_post(
                &self,
                team_id: &str,
                channel_id: &str,
                ts: &str,
                prompt: i64,
                at: Millis,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO prompt_posts (team_id, channel_id, ts, prompt_number, posted_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(team_id)
                .bind(channel_id)
                .bind(ts)
                .bind(prompt)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn status_moves(
                &self,
                team_id: &str,
                channel_id: Option<&str>,
                window: Window,
            ) -> StoreResult<Vec<StatusMove>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT i.id AS insight_id, i.number, i.channel_id, i.text, i.author_id, \
                     s.status, s.changed_at FROM status_changes s JOIN insights i ON i.id = s.insight_id \
                     WHERE i.team_id = $1 AND ($2 IS NULL OR i.channel_id = $2) \
                     AND s.changed_at >= $3 AND s.changed_at < $4 \
                     AND i.deleted = FALSE AND i.merged_into IS NULL ORDER BY s.changed_at, s.id"
                ))
                .bind(team_id)
                .bind(channel_id)
                .bind(window.start)
                .bind(window.end)
                .fetch_all(&self.read)
                .await?)
            }

            async fn voters_of(&self, insights: &[i64], channel_id: &str) -> StoreResult<Vec<(i64, String)>> {
                let mut voters = Vec::new();
                for id in insights {
                    let rows: Vec<(String,)> = sqlx::query_as(
                        "SELECT user_id FROM votes WHERE insight_id = $1 AND channel_id = $2 \
                         GROUP BY user_id ORDER BY MIN(message_ts), user_id",
                    )
                    .bind(id)
                    .bind(channel_id)
                    .fetch_all(&self.read)
                    .await?;
                    voters.extend(rows.into_iter().map(|(user,)| (*id, user)));
                }
                Ok(voters)
            }

            async fn authored(&self, team_id: &str, user_id: &str, limit: u32) -> StoreResult<Vec<HomeInsight>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {HOME_COLUMNS} FROM insights WHERE team_id = $1 AND author_id = $2 AND {LIVE} \
                     ORDER BY created_at DESC, number DESC LIMIT $3"
                ))
                .bind(team_id)
                .bind(user_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?)
            }

            async fn names(&self, team_id: &str) -> StoreResult<HashMap<String, String>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT user_id, name FROM people WHERE team_id = $1 \
                     UNION ALL SELECT channel_id, name FROM circles WHERE team_id = $1 AND name IS NOT NULL",
                )
                .bind(team_id)
                .fetch_all(&self.read)
                .await?;
                Ok(rows.into_iter().collect())
            }

            async fn newest(&self, team_id: &str, limit: u32) -> StoreResult<Vec<HomeInsight>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {HOME_COLUMNS} FROM insights WHERE team_id = $1 AND {LIVE} \
                     ORDER BY created_at DESC, number DESC LIMIT $2"
                ))
                .bind(team_id)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?)
            }
        }
    };
}

impl_digest_store!(Sqlite);
impl_digest_store!(Postgres);
