//! The statements of digests, recaps, prompts and App Home, written once: [`ScheduleTx`] in a
//! capture transaction of either backend, [`DigestStore`] over an engine's runner.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::StoreResult;
use super::digest::{
    DigestStore, FailedPost, HomeInsight, PostKey, Prompt, RecapCircle, ScheduleTx, StatusMove, Voter,
};
use super::insights::MessageRef;
use super::reads::Window;
use super::runner::{RunStatement, Runner};
use super::sql::{Columns, Executor, FromRow, Lenient, Row, Statement};
use super::sql_tx::{SqlTx, TxConnection};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};

const PROMPT_COLUMNS: &str = "number, question, created_by, created_at, posted_period";
const HOME_COLUMNS: &str =
    "number, channel_id, text, status, vote_count AS votes, reply_count AS replies, created_at";
const LIVE: &str = "deleted = FALSE AND merged_into IS NULL";

impl FromRow for Prompt {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(Prompt {
            number: c.take()?,
            question: c.take()?,
            created_by: c.lenient()?,
            created_at: c.take()?,
            posted_period: c.take()?,
        })
    }
}

impl FromRow for RecapCircle {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(RecapCircle {
            channel_id: c.take()?,
            name: c.take()?,
            recap: c.take()?,
            since: c.take()?,
        })
    }
}

impl FromRow for StatusMove {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(StatusMove {
            insight_id: c.take()?,
            team_id: c.take()?,
            number: c.take()?,
            channel_id: c.take()?,
            text: c.take()?,
            author_id: c.lenient()?,
            status: c.take()?,
            changed_at: c.take()?,
        })
    }
}

impl FromRow for HomeInsight {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(HomeInsight {
            number: c.take()?,
            channel_id: c.take()?,
            text: c.take()?,
            status: c.take()?,
            votes: c.take()?,
            replies: c.take()?,
            created_at: c.take()?,
        })
    }
}

impl FromRow for FailedPost {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(FailedPost {
            team_id: c.take()?,
            channel_id: c.take()?,
            period: c.take()?,
            kind: c.take()?,
            error: c.take()?,
        })
    }
}

/// `$1`–`$4`: the post's key, for statements that find its row.
fn keyed(sql: &'static str, key: &PostKey) -> Statement {
    Statement::new(sql)
        .bind(&key.team_id)
        .bind(&key.channel_id)
        .bind(&key.period)
        .bind(key.kind.as_str())
}

async fn claim_post<E: Executor>(ex: &mut E, key: &PostKey, at: Millis) -> StoreResult<bool> {
    let statement = keyed(
        "INSERT INTO scheduled_posts (team_id, channel_id, period, kind, claimed_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        key,
    )
    .bind(at);
    Ok(ex.execute(&statement).await? > 0)
}

async fn prompt_for_period<E: Executor>(
    ex: &mut E,
    team_id: &TeamId,
    period: &str,
) -> StoreResult<Option<Prompt>> {
    let chosen = Statement::new(format!(
        "SELECT {PROMPT_COLUMNS} FROM prompts \
         WHERE team_id = $1 AND posted_period = $2 AND removed_at IS NULL"
    ))
    .bind(team_id)
    .bind(period);
    if let Some(chosen) = ex.fetch_optional(&chosen).await? {
        return Ok(Some(chosen));
    }
    let oldest_queued = Statement::new(format!(
        "UPDATE prompts SET posted_period = $2 WHERE team_id = $1 AND number = \
         (SELECT MIN(number) FROM prompts WHERE team_id = $1 AND posted_period IS NULL \
         AND removed_at IS NULL) RETURNING {PROMPT_COLUMNS}"
    ))
    .bind(team_id)
    .bind(period);
    ex.fetch_optional(&oldest_queued).await
}

async fn add_prompt<E: Executor>(
    ex: &mut E,
    team_id: &TeamId,
    question: &str,
    by: &UserId,
    at: Millis,
) -> StoreResult<Prompt> {
    let statement = Statement::new(format!(
        "INSERT INTO prompts (team_id, number, question, created_by, created_at) \
         VALUES ($1, (SELECT COALESCE(MAX(number), 0) + 1 FROM prompts WHERE team_id = $1), \
         $2, $3, $4) RETURNING {PROMPT_COLUMNS}"
    ))
    .bind(team_id)
    .bind(question)
    .bind(by)
    .bind(at);
    ex.fetch_one(&statement).await
}

async fn remove_prompt<E: Executor>(
    ex: &mut E,
    team_id: &TeamId,
    number: i64,
    at: Millis,
) -> StoreResult<Option<Prompt>> {
    let statement = Statement::new(format!(
        "UPDATE prompts SET removed_at = $3 WHERE team_id = $1 AND number = $2 \
         AND removed_at IS NULL RETURNING {PROMPT_COLUMNS}"
    ))
    .bind(team_id)
    .bind(number)
    .bind(at);
    ex.fetch_optional(&statement).await
}

async fn queued_prompts<E: Executor>(ex: &mut E, team_id: &TeamId) -> StoreResult<Vec<Prompt>> {
    let statement = Statement::new(format!(
        "SELECT {PROMPT_COLUMNS} FROM prompts WHERE team_id = $1 AND posted_period IS NULL \
         AND removed_at IS NULL ORDER BY number"
    ))
    .bind(team_id);
    ex.fetch_all(&statement).await
}

async fn set_recap<E: Executor>(
    ex: &mut E,
    team_id: &TeamId,
    channel_id: &ChannelId,
    on: bool,
) -> StoreResult<Option<bool>> {
    let before =
        Statement::new("SELECT recap FROM circles WHERE team_id = $1 AND channel_id = $2 AND active = TRUE")
            .bind(team_id)
            .bind(channel_id);
    let before: Option<bool> = ex.fetch_optional(&before).await?;
    if before.is_some() {
        let update = Statement::new("UPDATE circles SET recap = $3 WHERE team_id = $1 AND channel_id = $2")
            .bind(team_id)
            .bind(channel_id)
            .bind(on);
        ex.execute(&update).await?;
    }
    Ok(before)
}

async fn is_prompt_thread<E: Executor>(ex: &mut E, message: MessageRef<'_>) -> StoreResult<bool> {
    let statement = Statement::new(
        "SELECT prompt_number FROM prompt_posts WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
    )
    .bind(message.team_id)
    .bind(message.channel_id)
    .bind(message.ts);
    Ok(ex.fetch_optional::<i64>(&statement).await?.is_some())
}

/// The schedule's writes join the capture transaction's connection.
#[async_trait]
impl<T: TxConnection> ScheduleTx for SqlTx<T> {
    async fn claim_post(&mut self, key: &PostKey, at: Millis) -> StoreResult<bool> {
        claim_post(self.conn(), key, at).await
    }

    async fn prompt_for_period(&mut self, team_id: &TeamId, period: &str) -> StoreResult<Option<Prompt>> {
        prompt_for_period(self.conn(), team_id, period).await
    }

    async fn add_prompt(
        &mut self,
        team_id: &TeamId,
        question: &str,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<Prompt> {
        add_prompt(self.conn(), team_id, question, by, at).await
    }

    async fn remove_prompt(
        &mut self,
        team_id: &TeamId,
        number: i64,
        at: Millis,
    ) -> StoreResult<Option<Prompt>> {
        remove_prompt(self.conn(), team_id, number, at).await
    }

    async fn queued_prompts(&mut self, team_id: &TeamId) -> StoreResult<Vec<Prompt>> {
        queued_prompts(self.conn(), team_id).await
    }

    async fn set_recap(
        &mut self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        on: bool,
    ) -> StoreResult<Option<bool>> {
        set_recap(self.conn(), team_id, channel_id, on).await
    }

    async fn is_prompt_thread(&mut self, message: MessageRef<'_>) -> StoreResult<bool> {
        is_prompt_thread(self.conn(), message).await
    }
}

/// [`DigestStore`] over an engine's runner: reads on its read connections, records of posts
/// in write transactions.
pub(super) struct SqlDigests<R> {
    runner: Arc<R>,
}

impl<R> SqlDigests<R> {
    pub(super) fn new(runner: Arc<R>) -> Self {
        Self { runner }
    }
}

#[async_trait]
impl<R: Runner> DigestStore for SqlDigests<R> {
    async fn teams_with_circles(&self) -> StoreResult<Vec<TeamId>> {
        let statement =
            Statement::new("SELECT DISTINCT team_id FROM circles WHERE active = TRUE ORDER BY team_id");
        self.runner.read_all(statement).await
    }

    async fn recap_circles(&self, team_id: &TeamId) -> StoreResult<Vec<RecapCircle>> {
        let statement = Statement::new(
            "SELECT channel_id, name, recap, updated_at AS since FROM circles \
             WHERE team_id = $1 AND active = TRUE ORDER BY channel_id",
        )
        .bind(team_id);
        self.runner.read_all(statement).await
    }

    async fn record_post(&self, key: &PostKey, message_ts: &str, at: Millis) -> StoreResult<()> {
        let statement = keyed(
            "UPDATE scheduled_posts SET posted_at = $5, message_ts = $6, error = NULL \
             WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
            key,
        )
        .bind(at)
        .bind(message_ts);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn fail_post(&self, key: &PostKey, error: &str) -> StoreResult<()> {
        let statement = keyed(
            "UPDATE scheduled_posts SET error = $5 \
             WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
            key,
        )
        .bind(error);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn failed_posts(&self, since: Millis) -> StoreResult<Vec<FailedPost>> {
        let statement = Statement::new(
            "SELECT team_id, channel_id, period, kind, error FROM scheduled_posts \
             WHERE error IS NOT NULL AND claimed_at >= $1 ORDER BY claimed_at DESC, channel_id",
        )
        .bind(since);
        self.runner.read_all(statement).await
    }

    async fn posted_ts(&self, key: &PostKey) -> StoreResult<Option<String>> {
        let statement = keyed(
            "SELECT message_ts FROM scheduled_posts \
             WHERE team_id = $1 AND channel_id = $2 AND period = $3 AND kind = $4",
            key,
        );
        let row: Option<PostedTs> = self.runner.read_optional(statement).await?;
        Ok(row.and_then(|PostedTs(ts)| ts))
    }

    async fn add_prompt_post(
        &self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        ts: &str,
        prompt: i64,
        at: Millis,
    ) -> StoreResult<()> {
        let statement = Statement::new(
            "INSERT INTO prompt_posts (team_id, channel_id, ts, prompt_number, posted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(team_id)
        .bind(channel_id)
        .bind(ts)
        .bind(prompt)
        .bind(at);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn status_moves(
        &self,
        team_id: &TeamId,
        channel_id: Option<&ChannelId>,
        window: Window,
    ) -> StoreResult<Vec<StatusMove>> {
        let statement = Statement::new(
            "SELECT i.id AS insight_id, i.team_id, i.number, i.channel_id, i.text, i.author_id, \
             s.status, s.changed_at FROM status_changes s JOIN insights i ON i.id = s.insight_id \
             WHERE i.team_id = $1 AND ($2 IS NULL OR i.channel_id = $2) \
             AND s.changed_at >= $3 AND s.changed_at < $4 \
             AND i.deleted = FALSE AND i.merged_into IS NULL ORDER BY s.changed_at, s.id",
        )
        .bind(team_id)
        .bind(channel_id)
        .bind(window.start)
        .bind(window.end);
        self.runner.read_all(statement).await
    }

    async fn voters_of(&self, insights: &[i64], channel_id: &ChannelId) -> StoreResult<Vec<Voter>> {
        let (insights, channel_id) = (insights.to_vec(), channel_id.clone());
        self.runner
            .read(move |c| {
                Box::pin(async move {
                    let mut voters = Vec::new();
                    for id in insights {
                        let statement = Statement::new(
                            "SELECT user_id FROM votes WHERE insight_id = $1 AND channel_id = $2 \
                             GROUP BY user_id ORDER BY MIN(message_ts), user_id",
                        )
                        .bind(id)
                        .bind(&channel_id);
                        let users: Vec<(Lenient<UserId>,)> = c.fetch_all(&statement).await?;
                        voters.extend(users.into_iter().filter_map(|(Lenient(user),)| {
                            user.map(|user_id| Voter {
                                insight_id: id,
                                user_id,
                            })
                        }));
                    }
                    Ok(voters)
                })
            })
            .await
    }

    async fn authored(
        &self,
        team_id: &TeamId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<HomeInsight>> {
        let statement = Statement::new(format!(
            "SELECT {HOME_COLUMNS} FROM insights WHERE team_id = $1 AND author_id = $2 AND {LIVE} \
             ORDER BY created_at DESC, number DESC LIMIT $3"
        ))
        .bind(team_id)
        .bind(user_id)
        .bind(i64::from(limit));
        self.runner.read_all(statement).await
    }

    async fn newest(&self, team_id: &TeamId, limit: u32) -> StoreResult<Vec<HomeInsight>> {
        let statement = Statement::new(format!(
            "SELECT {HOME_COLUMNS} FROM insights WHERE team_id = $1 AND {LIVE} \
             ORDER BY created_at DESC, number DESC LIMIT $2"
        ))
        .bind(team_id)
        .bind(i64::from(limit));
        self.runner.read_all(statement).await
    }

    async fn names(&self, team_id: &TeamId) -> StoreResult<HashMap<String, String>> {
        let statement = Statement::new(
            "SELECT user_id, name FROM people WHERE team_id = $1 \
             UNION ALL SELECT channel_id, name FROM circles WHERE team_id = $1 AND name IS NOT NULL",
        )
        .bind(team_id);
        let rows: Vec<(String, String)> = self.runner.read_all(statement).await?;
        Ok(rows.into_iter().collect())
    }
}

/// A post's `message_ts`, NULL until it is posted.
struct PostedTs(Option<String>);

impl FromRow for PostedTs {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        Ok(PostedTs(row.text(0)?))
    }
}
