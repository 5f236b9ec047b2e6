//! What capture and tagging store: cached circle messages, reactions, insights with their tags,
//! votes, replies and status, per-workspace emoji maps and keyword rules. All writes go through
//! one [`InsightTx`], so a Slack event's effects (and the follow-up jobs it queues) commit
//! together or not at all.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::NewInboxItem;

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display` and `ALL`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

string_enum! {
    /// How an insight came to be.
    InsightSource {
        Reaction => "reaction",
        Shortcut => "shortcut",
        Rule => "rule",
        Prompt => "prompt",
    }
}

string_enum! {
    /// `new → reviewing → planned → shipped | declined`.
    InsightStatus {
        New => "new",
        Reviewing => "reviewing",
        Planned => "planned",
        Shipped => "shipped",
        Declined => "declined",
    }
}

impl InsightStatus {
    /// Whether moving to this status tells the author and voters (close the loop).
    pub fn closes_the_loop(self) -> bool {
        matches!(self, Self::Planned | Self::Shipped | Self::Declined)
    }
}

string_enum! {
    /// What put a tag on an insight; a tag stays while any source still gives it.
    TagSource {
        Reaction => "reaction",
        Rule => "rule",
        Modal => "modal",
    }
}

/// A circle message as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMessage {
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub ts: String,
    pub user_id: Option<UserId>,
    pub text: String,
    /// The parent's ts for a thread reply (Slack also sets it on a thread's parent).
    pub thread_ts: Option<String>,
    /// The author's own workspace (`user_team`), when Slack said: in a Slack Connect circle,
    /// a partner organization's.
    pub user_team_id: Option<TeamId>,
}

impl CachedMessage {
    /// A reply inside a thread, not the thread's parent.
    pub fn is_thread_reply(&self) -> bool {
        self.thread_ts.as_deref().is_some_and(|parent| parent != self.ts)
    }
}

/// A message in a workspace's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef<'a> {
    pub team_id: &'a TeamId,
    pub channel_id: &'a ChannelId,
    pub ts: &'a str,
}

/// A member's reaction appearing or going away, as of Slack's `event_ts` (microseconds).
#[derive(Debug, Clone, Copy)]
pub struct ReactionChange<'a> {
    pub message: MessageRef<'a>,
    pub user_id: &'a UserId,
    /// The base emoji name (no skin tone).
    pub emoji: &'a str,
    pub present: bool,
    pub event_ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insight {
    pub id: i64,
    pub team_id: TeamId,
    /// The id people type, per workspace.
    pub number: i64,
    pub channel_id: ChannelId,
    pub message_ts: String,
    pub thread_ts: Option<String>,
    /// Read leniently (see [`super::sql::Lenient`]).
    pub author_id: Option<UserId>,
    /// The author's own workspace; None while unknown, which counts as the installation's.
    pub author_team_id: Option<TeamId>,
    /// None until the message's text is known.
    pub text: Option<String>,
    pub text_version: i64,
    pub source: InsightSourceColumn,
    pub status: InsightStatusColumn,
    pub product_area: Option<String>,
    pub sentiment: Option<String>,
    pub customer_company: Option<String>,
    pub deleted: bool,
    pub merged_into: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Insight {
    pub fn source(&self) -> InsightSource {
        self.source.0
    }

    pub fn status(&self) -> InsightStatus {
        self.status.0
    }

    pub fn message(&self) -> MessageRef<'_> {
        MessageRef {
            team_id: &self.team_id,
            channel_id: &self.channel_id,
            ts: &self.message_ts,
        }
    }
}

/// Column adapters so `Insight` decodes straight from a row on both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsightSourceColumn(pub InsightSource);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsightStatusColumn(pub InsightStatus);

impl TryFrom<String> for InsightSourceColumn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value
            .parse()
            .map(Self)
            .map_err(|_| format!("unknown insight source {value:?}"))
    }
}

impl TryFrom<String> for InsightStatusColumn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value
            .parse()
            .map(Self)
            .map_err(|_| format!("unknown insight status {value:?}"))
    }
}

pub(crate) const INSIGHT_COLUMNS: &str = "id, team_id, number, channel_id, message_ts, thread_ts, author_id, \
     author_team_id, text, text_version, source, status, product_area, sentiment, customer_company, deleted, merged_into, \
     created_at, updated_at";

#[derive(Debug, Clone, Copy)]
pub struct NewInsight<'a> {
    pub message: MessageRef<'a>,
    pub thread_ts: Option<&'a str>,
    pub author_id: Option<&'a UserId>,
    /// The author's own workspace, if known.
    pub author_team_id: Option<&'a TeamId>,
    pub text: Option<&'a str>,
    pub text_version: i64,
    pub source: InsightSource,
    pub at: Millis,
}

/// The modal's extra fields; None clears one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsightDetails {
    pub product_area: Option<String>,
    pub sentiment: Option<String>,
    pub customer_company: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub channel_id: ChannelId,
    pub ts: String,
    /// Read leniently (see [`super::sql::Lenient`]).
    pub user_id: Option<UserId>,
    pub text: String,
}

/// A member's present reaction on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub user_id: UserId,
    /// The base emoji name (no skin tone).
    pub emoji: String,
}

/// How many live insights a circle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircleCount {
    pub channel_id: ChannelId,
    pub insights: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub number: i64,
    pub phrase: String,
    pub tag: String,
    pub capture: bool,
}

/// A keyword rule to add: messages containing `phrase` are tagged `tag` (and, with `capture`,
/// captured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    pub phrase: String,
    pub tag: String,
    pub capture: bool,
}

/// A workspace's change to the default emoji map: `tag: None` switches the emoji off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiOverride {
    pub emoji: String,
    pub tag: Option<String>,
}

/// Separates tags in an insight's stored tag list and in CSV exports.
pub const TAG_SEPARATOR: &str = ";";

/// Earlier texts an insight keeps: edits by members must not grow storage without bound.
pub const MAX_REVISIONS: i64 = 10;

/// The tables whose rows belong to one insight (by `insight_id`), deleted before it.
pub(crate) const INSIGHT_CHILDREN: &[&str] = &[
    "insight_revisions",
    "insight_tags",
    "insight_sources",
    "votes",
    "replies",
    "status_changes",
];

/// The UTC day (days since the Unix epoch) of a time in milliseconds.
pub fn day_of(at: Millis) -> i64 {
    at.div_euclid(86_400_000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Post,
    Reply,
    Reaction,
}

/// Something a member did in a circle, counted for engagement figures.
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a> {
    pub team_id: &'a TeamId,
    pub channel_id: &'a ChannelId,
    pub user_id: &'a UserId,
    pub kind: ActivityKind,
    pub at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// Found in the channel's member list: there since before Circlet looked (no join time).
    Present,
    Joined,
    Left,
}

#[derive(Debug, Clone, Copy)]
pub struct Membership<'a> {
    pub team_id: &'a TeamId,
    pub channel_id: &'a ChannelId,
    pub user_id: &'a UserId,
    pub change: MembershipChange,
    pub at: Millis,
}

/// Something Circlet keeps a name for.
#[derive(Debug, Clone, Copy)]
pub enum Named<'a> {
    Person {
        team_id: &'a TeamId,
        user_id: &'a UserId,
    },
    Channel {
        team_id: &'a TeamId,
        channel_id: &'a ChannelId,
    },
    /// The workspace's URL (`https://acme.slack.com/`), which permalinks start with.
    Workspace { team_id: &'a TeamId },
}

/// What the directory knows of a person (named from `users.info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their own workspace, which `users.info` names (another organization's for a Slack
    /// Connect member); None when it did not say, or for people named before it was kept.
    pub user_team_id: Option<TeamId>,
}

/// One transaction over capture and tagging data. Dropping it without `commit` rolls back.
#[async_trait]
pub trait InsightTx: super::digest::ScheduleTx + Send {
    // --- the message cache
    /// Caches a message; true when it was not cached before.
    async fn put_message(&mut self, message: &CachedMessage, at: Millis) -> StoreResult<bool>;
    async fn message(&mut self, at: MessageRef<'_>) -> StoreResult<Option<CachedMessage>>;
    /// Cached replies in the thread under `parent`, oldest first.
    async fn thread_replies(&mut self, parent: MessageRef<'_>) -> StoreResult<Vec<CachedMessage>>;
    async fn forget_message(&mut self, at: MessageRef<'_>) -> StoreResult<()>;

    // --- reactions
    /// Records the change unless a newer event for the same reaction is already recorded;
    /// returns whether it was applied.
    async fn set_reaction(&mut self, change: &ReactionChange<'_>) -> StoreResult<bool>;
    /// Present reactions on a message, by user then emoji (a user id of another shape left
    /// out, see [`super::sql::Lenient`]).
    async fn reactions_on(&mut self, message: MessageRef<'_>) -> StoreResult<Vec<Reaction>>;
    /// Whether any member still has one of `emoji` on the insight's message or on a message of an
    /// insight merged into it.
    async fn has_reaction(&mut self, insight_id: i64, emoji: &[&str]) -> StoreResult<bool>;

    // --- insights
    async fn insight(&mut self, id: i64) -> StoreResult<Option<Insight>>;
    async fn insight_by_number(&mut self, team_id: &TeamId, number: i64) -> StoreResult<Option<Insight>>;
    async fn insight_by_message(&mut self, message: MessageRef<'_>) -> StoreResult<Option<Insight>>;
    /// Creates the insight with the workspace's next number, or returns the one already
    /// capturing this message (callers look first: that case spends a number).
    async fn create_insight(&mut self, new: &NewInsight<'_>) -> StoreResult<Insight>;
    /// Sets the text unless a newer version is stored, keeping the previous text as a revision
    /// (the newest [`MAX_REVISIONS`] of them).
    /// Returns whether it changed.
    async fn set_text(&mut self, id: i64, text: &str, version: i64, at: Millis) -> StoreResult<bool>;
    async fn set_details(&mut self, id: i64, details: &InsightDetails, at: Millis) -> StoreResult<()>;
    /// The message was deleted in Slack: its text and revisions are redacted; the insight is
    /// marked deleted and leaves reports and exports.
    async fn mark_deleted(&mut self, id: i64, at: Millis) -> StoreResult<()>;
    /// Removes an insight that never really was (its message could not be found).
    async fn discard_insight(&mut self, id: i64) -> StoreResult<()>;
    async fn revisions(&mut self, id: i64) -> StoreResult<Vec<String>>;
    async fn add_source(&mut self, id: i64, source: InsightSource) -> StoreResult<()>;
    async fn sources(&mut self, id: i64) -> StoreResult<Vec<InsightSource>>;

    // --- tags
    async fn add_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool>;
    async fn remove_tag(&mut self, id: i64, tag: &str, source: TagSource) -> StoreResult<bool>;
    /// Makes `tags` exactly the tags `source` gives.
    async fn replace_tags(&mut self, id: i64, source: TagSource, tags: &[String]) -> StoreResult<()>;
    /// Distinct tags from every source, sorted.
    async fn tags(&mut self, id: i64) -> StoreResult<Vec<String>>;

    // --- votes and replies
    async fn add_vote(&mut self, id: i64, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool>;
    /// Counts a member's vote on a message for its insight (or what that was merged into),
    /// unless the message is not captured, its insight was deleted, or the member wrote it.
    async fn add_vote_on_message(&mut self, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool>;
    async fn remove_vote(&mut self, user_id: &UserId, on: MessageRef<'_>) -> StoreResult<bool>;
    /// Distinct voters, sorted (a voter id of another shape left out, see
    /// [`super::sql::Lenient`]).
    async fn voters(&mut self, id: i64) -> StoreResult<Vec<UserId>>;
    /// Distinct members whose vote for insight `id` was given on `message` (its own message or
    /// one merged into it), sorted, like [`InsightTx::voters`].
    async fn voters_on(&mut self, id: i64, message: MessageRef<'_>) -> StoreResult<Vec<UserId>>;
    async fn add_reply(&mut self, id: i64, reply: &Reply) -> StoreResult<bool>;
    /// Updates (Some) or removes (None) a reply wherever it is attached.
    async fn edit_reply(&mut self, channel_id: &ChannelId, ts: &str, text: Option<&str>) -> StoreResult<()>;
    async fn replies(&mut self, id: i64) -> StoreResult<Vec<Reply>>;

    // --- status and merge
    /// Records a change to `status` unless the insight already has it (or was merged meanwhile);
    /// returns the change's id, or None when nothing changed. The conditional update locks the
    /// row, so two people setting the same status at once record (and announce) one change.
    async fn change_status(
        &mut self,
        id: i64,
        status: InsightStatus,
        by: Option<&UserId>,
        at: Millis,
    ) -> StoreResult<Option<i64>>;
    /// Moves tags, votes, replies and sources of `from` into `into`; `from` (and whatever was
    /// merged into it) then points at `into`.
    async fn merge(&mut self, from: i64, into: i64, at: Millis) -> StoreResult<()>;
    /// Insights merged into `id`.
    async fn merged_into(&mut self, id: i64) -> StoreResult<Vec<Insight>>;

    // --- per-workspace settings
    async fn emoji_overrides(&mut self, team_id: &TeamId) -> StoreResult<Vec<EmojiOverride>>;
    async fn set_emoji_tag(
        &mut self,
        team_id: &TeamId,
        emoji: &str,
        tag: Option<&str>,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<()>;
    async fn rules(&mut self, team_id: &TeamId) -> StoreResult<Vec<Rule>>;
    async fn add_rule(
        &mut self,
        team_id: &TeamId,
        rule: &NewRule,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<Rule>;
    async fn remove_rule(&mut self, team_id: &TeamId, number: i64) -> StoreResult<Option<Rule>>;
    /// Active circles of the workspace.
    async fn circle_channels(&mut self, team_id: &TeamId) -> StoreResult<Vec<ChannelId>>;
    /// Insights (not deleted or merged) per circle channel.
    async fn insight_counts(&mut self, team_id: &TeamId) -> StoreResult<Vec<CircleCount>>;

    // --- circle members and names (for reports and exports)
    /// Counts one post, thread reply or reaction of a member on its UTC day.
    async fn record_activity(&mut self, activity: &Activity<'_>) -> StoreResult<()>;
    async fn set_membership(&mut self, membership: &Membership<'_>) -> StoreResult<()>;
    /// Records a person's display name, a circle's channel name or a workspace's URL.
    async fn set_name(&mut self, named: Named<'_>, name: &str, at: Millis) -> StoreResult<()>;
    async fn has_name(&mut self, named: Named<'_>) -> StoreResult<bool>;
    /// The person, if the directory has named them.
    async fn person(&mut self, team_id: &TeamId, user_id: &UserId) -> StoreResult<Option<Person>>;
    /// Records a named person's own workspace, and gives it to their insights whose author's
    /// workspace is not known yet.
    async fn set_person_team(
        &mut self,
        team_id: &TeamId,
        user_id: &UserId,
        user_team: &TeamId,
    ) -> StoreResult<()>;
    /// Sets an insight's author workspace, as its message says.
    async fn set_author_team(&mut self, id: i64, author_team: &TeamId) -> StoreResult<()>;

    // --- follow-up work
    /// Queues a job in the inbox as part of this transaction; a job whose key (`event_id`) is
    /// already queued is not queued again. Returns whether it was queued.
    async fn enqueue(&mut self, item: &NewInboxItem) -> StoreResult<bool>;

    /// Waits until no other transaction holds any of these message keys, then holds them until
    /// this one ends. Capture takes the keys of the messages its events touch first, so a vote
    /// and the capture it counts toward never run side by side unseen by each other (on
    /// PostgreSQL, where workers of several replicas write at once; SQLite has one writer).
    async fn lock_messages(&mut self, keys: &[String]) -> StoreResult<()>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
