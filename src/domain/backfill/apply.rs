//! Applying what history shows through capture's own service, as the live events would have:
//! a message Circlet never saw is a posted message, a newer edit an edit, a reaction Slack lists
//! and Circlet lacks an added reaction, one Circlet holds and Slack no longer lists a removed
//! one. Reactions carry the time history was read, so a live event newer than the read always
//! wins (capture keeps the newest event per reaction) and one older changes nothing.

use std::collections::BTreeSet;

use super::Recovered;
use super::history::HistoryMessage;
use crate::clock::Millis;
use crate::domain::capture::emoji::{base_emoji, is_vote};
use crate::domain::capture::events::{
    CaptureEvent, EditedMessage, PostedMessage, ReactionEvent, author_team, micros,
};
use crate::domain::capture::service::{self, TeamContext};
use crate::ids::{ChannelId, TeamId, UserId};
use crate::store::{InsightTx, MessageRef, StoreResult};

/// Message subtypes that are members' own words (as capture's live reading has them).
const POSTED_SUBTYPES: &[&str] = &["thread_broadcast", "file_share", "me_message"];

/// One page of one circle's history, applied in the caller's transaction.
pub struct Found<'a> {
    pub team: &'a TeamId,
    pub channel: &'a ChannelId,
    pub messages: &'a [HistoryMessage],
    /// When history was read, in microseconds.
    pub read_at: i64,
}

/// Applies `found`; `bot_user` is Circlet's own user, whose reactions are never captured.
pub async fn apply(
    tx: &mut dyn InsightTx,
    found: &Found<'_>,
    bot_user: &str,
    now: Millis,
) -> StoreResult<Recovered> {
    let ctx = TeamContext::load(tx, found.team).await?;
    let mut recovered = Recovered::default();
    for message in found.messages {
        let Some(posted) = posted(found.channel, message) else {
            continue;
        };
        let at = MessageRef {
            team_id: found.team,
            channel_id: found.channel,
            ts: &posted.ts,
        };
        match tx.message(at).await? {
            None => {
                let is_reply = posted
                    .thread_ts
                    .as_deref()
                    .is_some_and(|parent| parent != posted.ts);
                service::apply(tx, &ctx, bot_user, &CaptureEvent::Posted(posted.clone()), now).await?;
                if is_reply {
                    recovered.replies += 1;
                } else {
                    recovered.messages += 1;
                }
            }
            Some(cached) => {
                if let Some(edited) = &message.edited
                    && cached.text != posted.text
                {
                    let edit = EditedMessage {
                        channel: posted.channel.clone(),
                        ts: posted.ts.clone(),
                        user: posted.user.clone(),
                        user_team: posted.user_team.clone(),
                        text: posted.text.clone(),
                        thread_ts: posted.thread_ts.clone(),
                        version: micros(&edited.ts),
                    };
                    service::apply(tx, &ctx, bot_user, &CaptureEvent::Edited(edit), now).await?;
                    recovered.edits += 1;
                }
            }
        }
        reconcile_reactions(tx, &ctx, found, message, &posted, bot_user, now, &mut recovered).await?;
    }
    Ok(recovered)
}

/// The message as capture's live reading would have it, or None for what capture ignores
/// (bots' messages, joins and other system messages).
fn posted(channel: &ChannelId, message: &HistoryMessage) -> Option<PostedMessage> {
    let members_words = message
        .subtype
        .as_deref()
        .is_none_or(|subtype| POSTED_SUBTYPES.contains(&subtype));
    if !members_words || message.bot_id.is_some() {
        return None;
    }
    Some(PostedMessage {
        channel: channel.clone(),
        ts: message.ts.clone(),
        user: message.user.clone().and_then(|user| UserId::parse(user).ok()),
        user_team: author_team(message.user_team.as_deref(), message.team.as_deref()),
        text: message.text.clone().unwrap_or_default(),
        thread_ts: message.thread_ts.clone(),
    })
}

/// Brings the recorded reactions on one message in line with Slack's list: adds what Slack
/// lists and Circlet lacks, removes what Circlet holds and Slack no longer lists.
#[allow(clippy::too_many_arguments)]
async fn reconcile_reactions(
    tx: &mut dyn InsightTx,
    ctx: &TeamContext,
    found: &Found<'_>,
    message: &HistoryMessage,
    posted: &PostedMessage,
    bot_user: &str,
    now: Millis,
    recovered: &mut Recovered,
) -> StoreResult<()> {
    // Recorded reactions are the ones capture acts on, votes under one name.
    let recorded_name = |emoji: &str| -> Option<String> {
        let base = base_emoji(emoji);
        if is_vote(base) {
            Some("+1".to_owned())
        } else {
            ctx.emoji.action(base).map(|_| base.to_owned())
        }
    };
    let on_slack: BTreeSet<(String, String)> = message
        .reactions
        .iter()
        .filter_map(|reaction| recorded_name(&reaction.name).map(|name| (name, &reaction.users)))
        .flat_map(|(name, users)| users.iter().map(move |user| (user.clone(), name.clone())))
        .filter(|(user, _)| user != bot_user)
        .collect();
    let at = MessageRef {
        team_id: found.team,
        channel_id: found.channel,
        ts: &posted.ts,
    };
    let recorded: BTreeSet<(String, String)> = tx
        .reactions_on(at)
        .await?
        .into_iter()
        .map(|reaction| (reaction.user_id.into_string(), reaction.emoji))
        .collect();
    let added = on_slack.difference(&recorded).map(|reaction| (reaction, true));
    let removed = recorded.difference(&on_slack).map(|reaction| (reaction, false));
    let changes: Vec<_> = added.chain(removed).collect();
    if changes.is_empty() {
        return Ok(());
    }
    for ((user, emoji), present) in changes {
        let Ok(user) = UserId::parse(user.as_str()) else {
            continue;
        };
        let event = ReactionEvent {
            channel: found.channel.clone(),
            message_ts: posted.ts.clone(),
            user,
            emoji: emoji.clone(),
            added: present,
            item_user: posted.user.clone(),
            event_ts: found.read_at,
        };
        service::apply(tx, ctx, bot_user, &CaptureEvent::Reaction(event), now).await?;
    }
    // Counted from what is recorded now: a live event newer than the read keeps its reaction.
    let now_recorded: BTreeSet<(String, String)> = tx
        .reactions_on(at)
        .await?
        .into_iter()
        .map(|reaction| (reaction.user_id.into_string(), reaction.emoji))
        .collect();
    for (_, emoji) in now_recorded.difference(&recorded) {
        match is_vote(emoji) {
            true => recovered.votes += 1,
            false => recovered.reactions += 1,
        }
    }
    for (_, emoji) in recorded.difference(&now_recorded) {
        match is_vote(emoji) {
            true => recovered.votes += 1,
            false => recovered.reactions_removed += 1,
        }
    }
    Ok(())
}
