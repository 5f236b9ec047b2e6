//! What each capture event does to the store, inside the caller's transaction.

use std::collections::HashSet;

use serde_json::json;

use super::emoji::{EmojiMap, TagAction, is_vote};
use super::events::{CaptureEvent, EditedMessage, PostedMessage, ReactionEvent, micros};
use super::rules;
use crate::clock::Millis;
use crate::domain::directory;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::inbox::NewInboxItem;
use crate::store::{
    Activity, ActivityKind, CachedMessage, Insight, InsightSource, InsightTx, MessageRef, NewInsight,
    ReactionChange, Reply, Rule, StoreResult, TagSource,
};

/// Task that adds Circlet's acknowledgement reaction to a captured message.
pub const ACK_TASK: &str = "ack_capture";
/// Task that asks Slack for a captured message's text when the cache did not have it.
pub const FETCH_TASK: &str = "fetch_message";

/// How far a chain of merges is followed (merges re-point, so one hop is the norm).
const MAX_MERGE_HOPS: usize = 8;

/// A workspace's capture settings, read once per batch of events.
#[derive(Debug, Clone)]
pub struct TeamContext {
    pub team_id: TeamId,
    pub circles: HashSet<ChannelId>,
    pub emoji: EmojiMap,
    pub rules: Vec<Rule>,
}

impl TeamContext {
    pub async fn load(tx: &mut dyn InsightTx, team_id: &TeamId) -> StoreResult<Self> {
        Ok(Self {
            team_id: team_id.clone(),
            circles: tx.circle_channels(team_id).await?.into_iter().collect(),
            emoji: EmojiMap::new(&tx.emoji_overrides(team_id).await?),
            rules: tx.rules(team_id).await?,
        })
    }

    fn message<'a>(&'a self, channel: &'a ChannelId, ts: &'a str) -> MessageRef<'a> {
        MessageRef {
            team_id: &self.team_id,
            channel_id: channel,
            ts,
        }
    }
}

/// Applies one event. `bot_user` is Circlet's own user, whose reactions are never captured.
pub async fn apply(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    bot_user: &str,
    event: &CaptureEvent,
    now: Millis,
) -> StoreResult<()> {
    match event {
        CaptureEvent::Reaction(reaction)
            if ctx.circles.contains(&reaction.channel) && reaction.user != bot_user =>
        {
            // Counted once: a reaction already recorded (a backfill found it first) is not new.
            let changed = on_reaction(tx, ctx, reaction, now).await?;
            if reaction.added && changed {
                let at = when(reaction.event_ts, now);
                record(
                    tx,
                    ctx,
                    &reaction.channel,
                    &reaction.user,
                    ActivityKind::Reaction,
                    at,
                )
                .await?;
            }
        }
        CaptureEvent::Posted(posted) if ctx.circles.contains(&posted.channel) => {
            // Counted once: a message already cached (a backfill found it first) is not new.
            let new = on_posted(tx, ctx, posted, now).await?;
            if let Some(user) = posted.user.as_ref().filter(|u| *u != bot_user && new) {
                let kind = match posted.thread_ts.as_deref() {
                    Some(parent) if parent != posted.ts => ActivityKind::Reply,
                    _ => ActivityKind::Post,
                };
                record(
                    tx,
                    ctx,
                    &posted.channel,
                    user,
                    kind,
                    when(micros(&posted.ts), now),
                )
                .await?;
            }
        }
        CaptureEvent::Edited(edited) if ctx.circles.contains(&edited.channel) => {
            on_edited(tx, ctx, edited, now).await?;
        }
        CaptureEvent::Deleted { channel, ts } => on_deleted(tx, ctx, channel, ts, now).await?,
        _ => {}
    }
    Ok(())
}

/// A Slack time in microseconds as milliseconds, or `now` when Slack gave none.
fn when(micros: i64, now: Millis) -> Millis {
    if micros > 0 { micros / 1000 } else { now }
}

/// Counts what a member did for the circle's engagement figures, on the day Slack says it happened.
async fn record(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    channel: &ChannelId,
    user: &UserId,
    kind: ActivityKind,
    at: Millis,
) -> StoreResult<()> {
    let activity = Activity {
        team_id: &ctx.team_id,
        channel_id: channel,
        user_id: user,
        kind,
        at,
    };
    tx.record_activity(&activity).await
}

/// Applies a reaction; false when it changed nothing recorded (a redelivery, an older event, or
/// the same reaction found by a backfill first). Emoji Circlet does not act on are not
/// recorded, so they always count as a change.
async fn on_reaction(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    reaction: &ReactionEvent,
    now: Millis,
) -> StoreResult<bool> {
    let vote = is_vote(&reaction.emoji);
    let action = ctx.emoji.action(&reaction.emoji);
    if !vote && action.is_none() {
        return Ok(true);
    }
    let message = ctx.message(&reaction.channel, &reaction.message_ts);
    let change = ReactionChange {
        message,
        user_id: &reaction.user,
        // Votes are stored under one name so `thumbsup` and `+1` are the same vote.
        emoji: if vote { "+1" } else { &reaction.emoji },
        present: reaction.added,
        event_ts: reaction.event_ts,
    };
    if !tx.set_reaction(&change).await? {
        return Ok(false); // a redelivery, or older than what is recorded
    }
    if let Some(action) = action {
        if reaction.added {
            let Some(insight) = capture(
                tx,
                ctx,
                message,
                reaction.item_user.as_ref(),
                InsightSource::Reaction,
                None,
                now,
            )
            .await?
            else {
                return Ok(true);
            };
            if let TagAction::Tag(tag) = action {
                tx.add_tag(insight.id, tag, TagSource::Reaction).await?;
            }
        } else if let (TagAction::Tag(tag), Some(insight)) = (action, captured(tx, message).await?) {
            let givers = ctx.emoji.emoji_for(tag);
            if !tx.has_reaction(insight.id, &givers).await? {
                tx.remove_tag(insight.id, tag, TagSource::Reaction).await?;
            }
        }
        return Ok(true);
    }
    // A vote: it counts once the message is captured (capture picks up earlier ones).
    if reaction.added {
        tx.add_vote_on_message(&reaction.user, message).await?;
    } else {
        tx.remove_vote(&reaction.user, message).await?;
    }
    Ok(true)
}

async fn on_posted(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    posted: &PostedMessage,
    now: Millis,
) -> StoreResult<bool> {
    let cached = CachedMessage {
        team_id: ctx.team_id.clone(),
        channel_id: posted.channel.clone(),
        ts: posted.ts.clone(),
        user_id: posted.user.clone(),
        text: posted.text.clone(),
        thread_ts: posted.thread_ts.clone(),
        user_team_id: posted.user_team.clone(),
    };
    let new = tx.put_message(&cached, now).await?;
    if cached.is_thread_reply()
        && let Some(parent) = posted.thread_ts.as_deref()
        && let Some(insight) = captured(tx, ctx.message(&posted.channel, parent)).await?
    {
        let reply = Reply {
            channel_id: posted.channel.clone(),
            ts: posted.ts.clone(),
            user_id: posted.user.clone(),
            text: posted.text.clone(),
        };
        tx.add_reply(insight.id, &reply).await?;
    }
    let message = ctx.message(&posted.channel, &posted.ts);
    match tx.insight_by_message(message).await? {
        // A reaction got here first and Slack is being asked for the text: the event has it.
        Some(insight) if insight.text.is_none() && !insight.deleted => {
            tx.set_text(insight.id, &posted.text, 0, now).await?;
            tag_by_rules(tx, ctx, &insight, &posted.text).await?;
            queue_ack(tx, &insight, now).await?;
        }
        Some(_) => {}
        None => {
            // An answer to a discussion prompt Circlet posted is feedback by definition.
            let answers_prompt = match posted.thread_ts.as_deref() {
                Some(parent) if cached.is_thread_reply() && posted.user.is_some() => {
                    tx.is_prompt_thread(ctx.message(&posted.channel, parent)).await?
                }
                _ => false,
            };
            let wanted = Wanted {
                author: posted.user.as_ref(),
                text: &posted.text,
                answers_prompt,
            };
            capture_if_wanted(tx, ctx, message, wanted, now).await?
        }
    }
    Ok(new)
}

/// A new circle message, as capture decides whether to keep it.
struct Wanted<'a> {
    author: Option<&'a UserId>,
    text: &'a str,
    /// A reply in the thread of a discussion prompt.
    answers_prompt: bool,
}

/// A message not captured yet is captured when it answers a discussion prompt, when a capture
/// rule matches it, or when members already reacted with a tag emoji (their reaction outran
/// the message, and the fetch it queued may have found nothing yet).
async fn capture_if_wanted(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    message: MessageRef<'_>,
    wanted: Wanted<'_>,
    now: Millis,
) -> StoreResult<()> {
    let Wanted {
        author,
        text,
        answers_prompt,
    } = wanted;
    let reactions = tx.reactions_on(message).await?;
    let actions: Vec<TagAction> = reactions
        .iter()
        .filter_map(|reaction| ctx.emoji.action(&reaction.emoji))
        .collect();
    let source = if answers_prompt {
        InsightSource::Prompt
    } else if !actions.is_empty() {
        InsightSource::Reaction
    } else if rules::evaluate(&ctx.rules, text).captures {
        InsightSource::Rule
    } else {
        return Ok(());
    };
    let Some(insight) = capture(tx, ctx, message, author, source, None, now).await? else {
        return Ok(());
    };
    for action in actions {
        if let TagAction::Tag(tag) = action {
            tx.add_tag(insight.id, tag, TagSource::Reaction).await?;
        }
    }
    Ok(())
}

async fn on_edited(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    edited: &EditedMessage,
    now: Millis,
) -> StoreResult<()> {
    let message = ctx.message(&edited.channel, &edited.ts);
    if tx.message(message).await?.is_some() {
        let cached = CachedMessage {
            team_id: ctx.team_id.clone(),
            channel_id: edited.channel.clone(),
            ts: edited.ts.clone(),
            user_id: edited.user.clone(),
            text: edited.text.clone(),
            thread_ts: edited.thread_ts.clone(),
            user_team_id: edited.user_team.clone(),
        };
        tx.put_message(&cached, now).await?;
    }
    tx.edit_reply(&edited.channel, &edited.ts, Some(&edited.text))
        .await?;
    match tx.insight_by_message(message).await? {
        Some(insight) if !insight.deleted => {
            if tx.set_text(insight.id, &edited.text, edited.version, now).await? {
                tag_by_rules(tx, ctx, &insight, &edited.text).await?;
            }
        }
        Some(_) => {}
        None => {
            let wanted = Wanted {
                author: edited.user.as_ref(),
                text: &edited.text,
                answers_prompt: false,
            };
            capture_if_wanted(tx, ctx, message, wanted, now).await?
        }
    }
    Ok(())
}

async fn on_deleted(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    channel: &ChannelId,
    ts: &str,
    now: Millis,
) -> StoreResult<()> {
    let message = ctx.message(channel, ts);
    tx.forget_message(message).await?;
    tx.edit_reply(channel, ts, None).await?;
    if let Some(insight) = tx.insight_by_message(message).await? {
        tx.mark_deleted(insight.id, now).await?;
    }
    Ok(())
}

/// Captures a circle message (once): creates its insight from the cached message when there
/// is one, picks up earlier votes and thread replies, tags it by the rules, and queues the
/// acknowledgement (or, without the text, a fetch). Returns the insight that collects the
/// message's tags and votes (the merge target, if it was merged), or None if the message was
/// deleted.
pub async fn capture(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    message: MessageRef<'_>,
    author_hint: Option<&UserId>,
    source: InsightSource,
    text_override: Option<&str>,
    now: Millis,
) -> StoreResult<Option<Insight>> {
    if let Some(existing) = tx.insight_by_message(message).await? {
        if existing.deleted {
            return Ok(None);
        }
        if existing.source() != source {
            tx.add_source(existing.id, source).await?;
        }
        return Ok(Some(follow_merges(tx, existing).await?));
    }
    let cached = tx.message(message).await?;
    let text = text_override.or(cached.as_ref().map(|m| m.text.as_str()));
    let author = cached.as_ref().and_then(|m| m.user_id.as_ref()).or(author_hint);
    // The author's own workspace, as the message says, else as the directory knows it; when
    // neither does, the message fetched or users.info fills it in later.
    let known_team = match author {
        Some(author) => directory::learn_person(tx, &ctx.team_id, author, now).await?,
        None => None,
    };
    let author_team = cached
        .as_ref()
        .and_then(|m| m.user_team_id.as_ref())
        .or(known_team.as_ref());
    let insight = tx
        .create_insight(&NewInsight {
            message,
            thread_ts: cached.as_ref().and_then(|m| m.thread_ts.as_deref()),
            author_id: author,
            author_team_id: author_team,
            text,
            text_version: 0,
            source,
            at: now,
        })
        .await?;
    for reaction in tx.reactions_on(message).await? {
        if is_vote(&reaction.emoji) && Some(&reaction.user_id) != author {
            tx.add_vote(insight.id, &reaction.user_id, message).await?;
        }
    }
    for reply in tx.thread_replies(message).await? {
        let reply = Reply {
            channel_id: reply.channel_id,
            ts: reply.ts,
            user_id: reply.user_id,
            text: reply.text,
        };
        tx.add_reply(insight.id, &reply).await?;
    }
    match text {
        Some(text) => {
            // A new insight has no rule tags to replace yet: only add what matches.
            for tag in rules::evaluate(&ctx.rules, text).tags {
                tx.add_tag(insight.id, &tag, TagSource::Rule).await?;
            }
            queue_ack(tx, &insight, now).await?;
        }
        None => {
            // Keyed by the insight's number (never handed out twice), not only the message: a
            // capture dropped because Slack could not find the message leaves its finished task
            // behind, and a later capture of the same message must queue a fetch of its own.
            let task = NewInboxItem::task(
                message.team_id.as_str(),
                format!(
                    "fetch:{}:{}:{}:{}",
                    message.team_id, message.channel_id, message.ts, insight.number
                ),
                FETCH_TASK,
                &json!({ "channel": message.channel_id, "ts": message.ts }),
                now,
            );
            tx.enqueue(&task).await?;
        }
    }
    Ok(Some(insight))
}

/// Re-applies the keyword rules to an insight's text: rule tags become exactly the matching ones.
pub async fn tag_by_rules(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    insight: &Insight,
    text: &str,
) -> StoreResult<()> {
    let verdict = rules::evaluate(&ctx.rules, text);
    let target = follow_merges(tx, insight.clone()).await?;
    tx.replace_tags(target.id, TagSource::Rule, &verdict.tags).await
}

/// Queues Circlet's reaction on the captured message, once per message.
pub async fn queue_ack(tx: &mut dyn InsightTx, insight: &Insight, now: Millis) -> StoreResult<()> {
    let task = NewInboxItem::task(
        insight.team_id.as_str(),
        format!(
            "ack:{}:{}:{}",
            insight.team_id, insight.channel_id, insight.message_ts
        ),
        ACK_TASK,
        &json!({ "channel": insight.channel_id, "ts": insight.message_ts }),
        now,
    );
    tx.enqueue(&task).await?;
    Ok(())
}

/// The captured (not deleted) insight of a message, as its merge target.
async fn captured(tx: &mut dyn InsightTx, message: MessageRef<'_>) -> StoreResult<Option<Insight>> {
    match tx.insight_by_message(message).await? {
        Some(insight) if !insight.deleted => Ok(Some(follow_merges(tx, insight).await?)),
        _ => Ok(None),
    }
}

/// The insight that now stands for `insight`: itself, or what it was merged into.
pub async fn follow_merges(tx: &mut dyn InsightTx, mut insight: Insight) -> StoreResult<Insight> {
    for _ in 0..MAX_MERGE_HOPS {
        let Some(target) = insight.merged_into else { break };
        match tx.insight(target).await? {
            Some(next) => insight = next,
            None => break,
        }
    }
    Ok(insight)
}
