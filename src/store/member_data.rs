//! "Download my data" (ARCHITECTURE §13): everything Circlet holds about one member in one
//! workspace. Only the member's own words and acts: an insight they voted on or replied to is
//! named by its number, never by another member's text.

use serde::Serialize;

use super::StoreResult;
use super::sql::{Columns, Executor, FromRow, Row, Statement};
use crate::ids::{TeamId, UserId};

/// Everything held about one member in one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemberData {
    /// Their name as Slack told it, and their own workspace.
    pub person: Option<PersonRecord>,
    /// Insights of their messages, with the earlier texts kept.
    pub insights: Vec<AuthoredInsight>,
    /// Their thread replies kept as context of an insight.
    pub replies: Vec<ReplyRecord>,
    /// Their votes (:+1:), by insight number.
    pub votes: Vec<VoteRecord>,
    /// Their tag and vote reactions on circle messages, captured or not.
    pub reactions: Vec<ReactionRecord>,
    /// What they did in each circle per UTC day.
    pub activity: Vec<ActivityRecord>,
    /// The circles they are or were in.
    pub circles: Vec<CircleRecord>,
    /// Their recent circle messages, kept briefly so a reaction needs no call to Slack.
    pub cached_messages: Vec<MessageRecord>,
    /// Status changes they made (product users).
    pub status_changes: Vec<StatusRecord>,
    /// Keyword rules they added (product users).
    pub rules: Vec<RuleRecord>,
    /// Discussion prompts they queued (product users).
    pub prompts: Vec<PromptRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRecord {
    pub name: String,
    pub user_team_id: Option<String>,
    pub updated_at: i64,
}
impl FromRow for PersonRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(PersonRecord {
            name: c.take()?,
            user_team_id: c.take()?,
            updated_at: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthoredInsight {
    #[serde(skip)]
    pub id: i64,
    pub number: i64,
    pub channel_id: String,
    pub message_ts: String,
    pub thread_ts: Option<String>,
    pub text: Option<String>,
    pub status: String,
    pub tags: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
    /// The number of the insight it was merged into.
    pub merged_into: Option<i64>,
    /// Earlier texts, oldest first.
    pub revisions: Vec<RevisionRecord>,
}

impl FromRow for AuthoredInsight {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(AuthoredInsight {
            id: c.take()?,
            number: c.take()?,
            channel_id: c.take()?,
            message_ts: c.take()?,
            thread_ts: c.take()?,
            text: c.take()?,
            status: c.take()?,
            tags: c.take()?,
            source: c.take()?,
            created_at: c.take()?,
            updated_at: c.take()?,
            deleted: c.take()?,
            merged_into: c.take()?,
            revisions: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRecord {
    #[serde(skip)]
    pub insight_id: i64,
    pub text: String,
    pub replaced_at: i64,
}
impl FromRow for RevisionRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(RevisionRecord {
            insight_id: c.take()?,
            text: c.take()?,
            replaced_at: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyRecord {
    pub insight_number: i64,
    pub channel_id: String,
    pub ts: String,
    pub text: String,
}
impl FromRow for ReplyRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(ReplyRecord {
            insight_number: c.take()?,
            channel_id: c.take()?,
            ts: c.take()?,
            text: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoteRecord {
    pub insight_number: i64,
    pub channel_id: String,
    pub message_ts: String,
}
impl FromRow for VoteRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(VoteRecord {
            insight_number: c.take()?,
            channel_id: c.take()?,
            message_ts: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionRecord {
    pub channel_id: String,
    pub message_ts: String,
    pub emoji: String,
    /// False once they removed it.
    pub present: bool,
    /// The insight of that message, when it was captured.
    pub insight_number: Option<i64>,
}
impl FromRow for ReactionRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(ReactionRecord {
            channel_id: c.take()?,
            message_ts: c.take()?,
            emoji: c.take()?,
            present: c.take()?,
            insight_number: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRecord {
    pub channel_id: String,
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub posts: i64,
    pub replies: i64,
    pub reactions: i64,
}
impl FromRow for ActivityRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(ActivityRecord {
            channel_id: c.take()?,
            day: c.take()?,
            posts: c.take()?,
            replies: c.take()?,
            reactions: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircleRecord {
    pub channel_id: String,
    pub joined_at: Option<i64>,
    pub left_at: Option<i64>,
}
impl FromRow for CircleRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(CircleRecord {
            channel_id: c.take()?,
            joined_at: c.take()?,
            left_at: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    pub channel_id: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
}
impl FromRow for MessageRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(MessageRecord {
            channel_id: c.take()?,
            ts: c.take()?,
            thread_ts: c.take()?,
            text: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRecord {
    pub insight_number: i64,
    pub status: String,
    pub changed_at: i64,
}
impl FromRow for StatusRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(StatusRecord {
            insight_number: c.take()?,
            status: c.take()?,
            changed_at: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRecord {
    pub number: i64,
    pub phrase: String,
    pub tag: String,
    pub created_at: i64,
}
impl FromRow for RuleRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(RuleRecord {
            number: c.take()?,
            phrase: c.take()?,
            tag: c.take()?,
            created_at: c.take()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptRecord {
    pub number: i64,
    pub question: String,
    pub created_at: i64,
}
impl FromRow for PromptRecord {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(PromptRecord {
            number: c.take()?,
            question: c.take()?,
            created_at: c.take()?,
        })
    }
}

/// Of an insight of this workspace.
const OF_INSIGHT: &str = "JOIN insights i ON i.id = x.insight_id AND i.team_id = $1";

/// Reads sections of one member's data: each query reads workspace `$1`, member `$2`.
struct Sections<'a, C> {
    c: &'a mut C,
    team: &'a TeamId,
    user: &'a UserId,
}

impl<C: Executor> Sections<'_, C> {
    async fn rows<T: FromRow>(&mut self, sql: &str) -> StoreResult<Vec<T>> {
        let statement = Statement::new(sql.to_owned()).bind(self.team).bind(self.user);
        self.c.fetch_all(&statement).await
    }
}

/// Reads every section for member `$2` of workspace `$1`.
pub(super) async fn read<C: Executor>(c: &mut C, team: &TeamId, user: &UserId) -> StoreResult<MemberData> {
    let mut sections = Sections { c, team, user };
    let mut insights: Vec<AuthoredInsight> = sections.rows("SELECT i.id, i.number, i.channel_id, i.message_ts, i.thread_ts, i.text, i.status, i.tags, i.source, \
         i.created_at, i.updated_at, i.deleted, (SELECT m.number FROM insights m WHERE m.id = i.merged_into) \
         FROM insights i WHERE i.team_id = $1 AND i.author_id = $2 ORDER BY i.number",
    )
    .await?;
    let revisions: Vec<RevisionRecord> = sections
        .rows(&format!(
            "SELECT x.insight_id, x.text, x.replaced_at FROM insight_revisions x {OF_INSIGHT} \
             WHERE i.author_id = $2 ORDER BY x.id"
        ))
        .await?;
    for revision in revisions {
        if let Some(insight) = insights.iter_mut().find(|i| i.id == revision.insight_id) {
            insight.revisions.push(revision);
        }
    }
    let person: Vec<PersonRecord> = sections
        .rows("SELECT name, user_team_id, updated_at FROM people WHERE team_id = $1 AND user_id = $2")
        .await?;
    Ok(MemberData {
        person: person.into_iter().next(),
        insights,
        replies: sections.rows(&format!(
                "SELECT i.number, x.channel_id, x.ts, x.text FROM replies x {OF_INSIGHT} \
                 WHERE x.user_id = $2 ORDER BY x.ts"
            ),
        )
        .await?,
        votes: sections.rows(&format!(
                "SELECT i.number, x.channel_id, x.message_ts FROM votes x {OF_INSIGHT} \
                 WHERE x.user_id = $2 ORDER BY i.number, x.message_ts"
            ),
        )
        .await?,
        reactions: sections.rows("SELECT r.channel_id, r.message_ts, r.emoji, r.present, (SELECT i.number FROM insights i \
             WHERE i.team_id = r.team_id AND i.channel_id = r.channel_id AND i.message_ts = r.message_ts) \
             FROM reactions r WHERE r.team_id = $1 AND r.user_id = $2 ORDER BY r.message_ts, r.emoji",
        )
        .await?,
        activity: sections.rows("SELECT channel_id, day, posts, replies, reactions FROM member_activity \
             WHERE team_id = $1 AND user_id = $2 ORDER BY day, channel_id",
        )
        .await?,
        circles: sections.rows("SELECT channel_id, joined_at, left_at FROM circle_members WHERE team_id = $1 AND user_id = $2 \
             ORDER BY channel_id",
        )
        .await?,
        cached_messages: sections.rows("SELECT channel_id, ts, thread_ts, text FROM messages WHERE team_id = $1 AND user_id = $2 ORDER BY ts",
        )
        .await?,
        status_changes: sections.rows(&format!(
                "SELECT i.number, x.status, x.changed_at FROM status_changes x {OF_INSIGHT} \
                 WHERE x.changed_by = $2 ORDER BY x.id"
            ),
        )
        .await?,
        rules: sections.rows("SELECT number, phrase, tag, created_at FROM rules WHERE team_id = $1 AND created_by = $2 ORDER BY number",
        )
        .await?,
        prompts: sections.rows("SELECT number, question, created_at FROM prompts WHERE team_id = $1 AND created_by = $2 \
             ORDER BY number",
        )
        .await?,
    })
}
