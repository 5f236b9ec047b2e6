//! What the weekly digest, circle recaps, discussion prompts and App Home store and read.
//!
//! Scheduled posts are claimed by inserting their key (workspace, channel, week, kind): the
//! insert that wins queues the post in the same transaction, so however many replicas run the
//! scheduler, each post is queued once. The statements are in `digest_queries`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::StoreResult;
use super::insights::MessageRef;
use super::reads::Window;
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};

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
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    /// The week, as [`crate::domain::digest::Period::key`].
    pub period: String,
    pub kind: PostKind,
}

impl PostKey {
    pub fn new(team_id: &TeamId, channel_id: &ChannelId, period: &str, kind: PostKind) -> Self {
        Self {
            team_id: team_id.clone(),
            channel_id: channel_id.clone(),
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub number: i64,
    pub question: String,
    /// Read leniently (see [`super::sql::Lenient`]).
    pub created_by: Option<UserId>,
    pub created_at: Millis,
    pub posted_period: Option<String>,
}

/// A circle as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecapCircle {
    pub channel_id: ChannelId,
    pub name: Option<String>,
    pub recap: bool,
    /// When it last became a circle: weeks that ended before are not recapped.
    pub since: Millis,
}

/// An insight's status change, for digests and recaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMove {
    pub insight_id: i64,
    /// The insight's own workspace (a linked one's, in a home's digest).
    pub team_id: TeamId,
    pub number: i64,
    pub channel_id: ChannelId,
    pub text: Option<String>,
    /// Read leniently (see [`super::sql::Lenient`]).
    pub author_id: Option<UserId>,
    pub status: String,
    pub changed_at: Millis,
}

/// An insight as App Home lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeInsight {
    pub number: i64,
    pub channel_id: ChannelId,
    pub text: Option<String>,
    pub status: String,
    pub votes: i64,
    pub replies: i64,
    pub created_at: Millis,
}

/// A scheduled post that Slack refused (the bot is not in the channel, the channel is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPost {
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub period: String,
    pub kind: String,
    pub error: String,
}

/// A member who voted for an insight (see [`DigestStore::voters_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub insight_id: i64,
    pub user_id: UserId,
}

/// Schedule writes that belong in a capture transaction (see [`super::InsightTx`]).
#[async_trait]
pub trait ScheduleTx: Send {
    /// Claims a post; true when this call claimed it (nobody had).
    async fn claim_post(&mut self, key: &PostKey, at: Millis) -> StoreResult<bool>;
    /// The prompt that goes out in `period`: the one already chosen for it, or the oldest
    /// queued one (then marked as posted in that week).
    async fn prompt_for_period(&mut self, team_id: &TeamId, period: &str) -> StoreResult<Option<Prompt>>;
    async fn add_prompt(
        &mut self,
        team_id: &TeamId,
        question: &str,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<Prompt>;
    /// Removes a prompt (queued or posted); None when there is no such prompt.
    async fn remove_prompt(
        &mut self,
        team_id: &TeamId,
        number: i64,
        at: Millis,
    ) -> StoreResult<Option<Prompt>>;
    /// Prompts waiting to be posted, oldest first.
    async fn queued_prompts(&mut self, team_id: &TeamId) -> StoreResult<Vec<Prompt>>;
    /// Turns a circle's recap on or off; None when the channel is not a circle, else whether
    /// it was on before.
    async fn set_recap(
        &mut self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        on: bool,
    ) -> StoreResult<Option<bool>>;
    /// Whether `message` is a discussion prompt Circlet posted.
    async fn is_prompt_thread(&mut self, message: MessageRef<'_>) -> StoreResult<bool>;
}

/// Schedule reads and the records of posts made.
#[async_trait]
pub trait DigestStore: Send + Sync {
    /// Workspaces with an active circle.
    async fn teams_with_circles(&self) -> StoreResult<Vec<TeamId>>;
    async fn recap_circles(&self, team_id: &TeamId) -> StoreResult<Vec<RecapCircle>>;
    async fn record_post(&self, key: &PostKey, message_ts: &str, at: Millis) -> StoreResult<()>;
    async fn fail_post(&self, key: &PostKey, error: &str) -> StoreResult<()>;
    /// Posts claimed since `since` that Slack refused, newest first.
    async fn failed_posts(&self, since: Millis) -> StoreResult<Vec<FailedPost>>;
    /// The ts of a recorded post, if it was posted.
    async fn posted_ts(&self, key: &PostKey) -> StoreResult<Option<String>>;
    async fn add_prompt_post(
        &self,
        team_id: &TeamId,
        channel_id: &ChannelId,
        ts: &str,
        prompt: i64,
        at: Millis,
    ) -> StoreResult<()>;
    /// Status changes of live insights in `window` (of one circle when given), oldest first.
    async fn status_moves(
        &self,
        team_id: &TeamId,
        channel_id: Option<&ChannelId>,
        window: Window,
    ) -> StoreResult<Vec<StatusMove>>;
    /// Who voted on each of `insights` on a message of `channel_id`, in vote order (a voter
    /// whose stored id is of another shape left out, see [`super::sql::Lenient`]). A merge
    /// across circles moves votes from another circle's messages onto an insight; those voters
    /// belong to that circle and are not named here.
    async fn voters_of(&self, insights: &[i64], channel_id: &ChannelId) -> StoreResult<Vec<Voter>>;
    /// A member's own live insights, newest first.
    async fn authored(&self, team_id: &TeamId, user_id: &UserId, limit: u32)
    -> StoreResult<Vec<HomeInsight>>;
    /// The workspace's newest live insights.
    async fn newest(&self, team_id: &TeamId, limit: u32) -> StoreResult<Vec<HomeInsight>>;
    /// Known names of the workspace's people and circles, by the text of their Slack id: a
    /// member's and a channel's side by side, for text renderings to put in place of mentions.
    async fn names(&self, team_id: &TeamId) -> StoreResult<HashMap<String, String>>;
}
