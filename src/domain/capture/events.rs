//! The Slack events capture acts on, read from a stored `event_callback`: only the fields
//! capture needs, so a payload with fields Slack adds later still reads.

use serde::Deserialize;

use super::emoji::base_emoji;
use crate::ids::{ChannelId, TeamId, UserId};

/// What one stored event means for capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEvent {
    Reaction(ReactionEvent),
    Posted(PostedMessage),
    Edited(EditedMessage),
    Deleted {
        channel: ChannelId,
        ts: String,
    },
    /// Not for capture (a reaction on a file, a bot's message, a channel join…).
    Ignored(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionEvent {
    pub channel: ChannelId,
    pub message_ts: String,
    pub user: UserId,
    /// Base emoji (no skin tone).
    pub emoji: String,
    pub added: bool,
    /// The message's author, as Slack tells it.
    pub item_user: Option<UserId>,
    /// `event_ts` in microseconds: orders an add and a remove of the same reaction.
    pub event_ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: ChannelId,
    pub ts: String,
    pub user: Option<UserId>,
    /// The author's own workspace (`user_team`, else `team`): in a Slack Connect circle, a
    /// partner organization's.
    pub user_team: Option<TeamId>,
    pub text: String,
    pub thread_ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedMessage {
    pub channel: ChannelId,
    pub ts: String,
    pub user: Option<UserId>,
    /// The author's own workspace, as [`PostedMessage::user_team`].
    pub user_team: Option<TeamId>,
    pub text: String,
    pub thread_ts: Option<String>,
    /// `event_ts` in microseconds: a late older edit never overwrites a newer one.
    pub version: i64,
}

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    user: Option<String>,
    user_team: Option<String>,
    team: Option<String>,
    bot_id: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
    text: Option<String>,
    event_ts: Option<String>,
    reaction: Option<String>,
    item: Option<Item>,
    item_user: Option<String>,
    message: Option<Inner>,
    previous_message: Option<Inner>,
    deleted_ts: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type")]
    kind: String,
    channel: Option<String>,
    ts: Option<String>,
}

#[derive(Deserialize)]
struct Inner {
    user: Option<String>,
    user_team: Option<String>,
    team: Option<String>,
    bot_id: Option<String>,
    subtype: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("unreadable capture event: {0}")]
pub struct UnreadableEvent(String);

/// Slack's `1665102362.013600` as microseconds; 0 when absent or unreadable.
pub fn micros(ts: &str) -> i64 {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: i64 = secs.parse().unwrap_or(0);
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    // Saturating: a timestamp Slack would never send must not overflow (or panic) here.
    secs.saturating_mul(1_000_000)
        .saturating_add(frac.parse::<i64>().unwrap_or(0))
}

pub fn parse(payload: &str) -> Result<CaptureEvent, UnreadableEvent> {
    let envelope: Envelope = serde_json::from_str(payload).map_err(|err| UnreadableEvent(err.to_string()))?;
    let event = envelope.event;
    let missing = |field: &str| UnreadableEvent(format!("{} without {field}", event_name(&event)));
    match event.kind.as_str() {
        "reaction_added" | "reaction_removed" => {
            let item = event.item.as_ref().ok_or_else(|| missing("item"))?;
            if item.kind != "message" {
                return Ok(CaptureEvent::Ignored(
                    "a reaction on something other than a message",
                ));
            }
            let channel = item.channel.clone().ok_or_else(|| missing("item.channel"))?;
            let user = event.user.clone().ok_or_else(|| missing("user"))?;
            // Ids of another shape name no circle and no member (Slack's schema samples blank
            // them): nothing to capture, as before they were typed.
            let (Ok(channel), Ok(user)) = (ChannelId::parse(channel), UserId::parse(user)) else {
                return Ok(CaptureEvent::Ignored("a reaction without Slack ids"));
            };
            Ok(CaptureEvent::Reaction(ReactionEvent {
                channel,
                message_ts: item.ts.clone().ok_or_else(|| missing("item.ts"))?,
                user,
                emoji: base_emoji(event.reaction.as_deref().ok_or_else(|| missing("reaction"))?).to_owned(),
                added: event.kind == "reaction_added",
                item_user: member(event.item_user),
                event_ts: event.event_ts.as_deref().map(micros).unwrap_or(0),
            }))
        }
        "message" => message(event),
        _ => Ok(CaptureEvent::Ignored("not a capture event")),
    }
}

/// A message's author; text of another shape names no one.
fn member(user: Option<String>) -> Option<UserId> {
    user.and_then(|user| UserId::parse(user).ok())
}

/// A message author's own workspace: `user_team` where Slack sends it (shared channels), else
/// `team`; text of another shape names none. Message events, `conversations.history` and the
/// shortcut's message all carry these two fields.
pub fn author_team(user_team: Option<&str>, team: Option<&str>) -> Option<TeamId> {
    [user_team, team]
        .into_iter()
        .flatten()
        .find_map(|team| TeamId::parse(team).ok())
}

fn event_name(event: &Event) -> String {
    match &event.subtype {
        Some(subtype) => format!("{} ({subtype})", event.kind),
        None => event.kind.clone(),
    }
}

fn message(event: Event) -> Result<CaptureEvent, UnreadableEvent> {
    let channel = event
        .channel
        .clone()
        .ok_or_else(|| UnreadableEvent("message without channel".into()))?;
    let Ok(channel) = ChannelId::parse(channel) else {
        return Ok(CaptureEvent::Ignored("a message outside any Slack channel"));
    };
    match event.subtype.as_deref() {
        None | Some("thread_broadcast" | "file_share" | "me_message") => {
            if event.bot_id.is_some() {
                return Ok(CaptureEvent::Ignored("a bot's message"));
            }
            let ts = event
                .ts
                .ok_or_else(|| UnreadableEvent("message without ts".into()))?;
            Ok(CaptureEvent::Posted(PostedMessage {
                channel,
                ts,
                user: member(event.user),
                user_team: author_team(event.user_team.as_deref(), event.team.as_deref()),
                text: event.text.unwrap_or_default(),
                thread_ts: event.thread_ts,
            }))
        }
        Some("message_changed") => {
            let message = event
                .message
                .ok_or_else(|| UnreadableEvent("message_changed without message".into()))?;
            if message.bot_id.is_some() || message.subtype.as_deref() == Some("bot_message") {
                return Ok(CaptureEvent::Ignored("a bot's message"));
            }
            // Slack has sent edits whose inner message lacks `ts`; the previous one has it.
            let previous = event.previous_message.as_ref();
            let user_team = author_team(message.user_team.as_deref(), message.team.as_deref())
                .or_else(|| previous.and_then(|p| author_team(p.user_team.as_deref(), p.team.as_deref())));
            let ts = message
                .ts
                .or_else(|| previous.and_then(|p| p.ts.clone()))
                .ok_or_else(|| UnreadableEvent("message_changed without ts".into()))?;
            Ok(CaptureEvent::Edited(EditedMessage {
                channel,
                ts,
                user: member(message.user.or_else(|| previous.and_then(|p| p.user.clone()))),
                user_team,
                text: message.text.unwrap_or_default(),
                thread_ts: message
                    .thread_ts
                    .or_else(|| previous.and_then(|p| p.thread_ts.clone())),
                version: event
                    .event_ts
                    .as_deref()
                    .or(event.ts.as_deref())
                    .map(micros)
                    .unwrap_or(0),
            }))
        }
        Some("message_deleted") => {
            let ts = event
                .deleted_ts
                .or_else(|| event.previous_message.and_then(|p| p.ts))
                .ok_or_else(|| UnreadableEvent("message_deleted without deleted_ts".into()))?;
            Ok(CaptureEvent::Deleted { channel, ts })
        }
        Some(_) => Ok(CaptureEvent::Ignored("a message subtype capture does not use")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_timestamps_become_microseconds() {
        assert_eq!(micros("1665102362.013600"), 1_665_102_362_013_600);
        assert_eq!(micros("1665102362.0136"), 1_665_102_362_013_600);
        assert_eq!(micros("1665102362"), 1_665_102_362_000_000);
    }

    #[test]
    fn absurd_timestamps_saturate_instead_of_overflowing() {
        assert_eq!(micros("99999999999999999.999999"), i64::MAX);
        assert_eq!(micros("-99999999999999999"), i64::MIN);
    }

    #[test]
    fn a_reaction_on_a_file_is_ignored() {
        let payload = r#"{"event":{"type":"reaction_added","user":"U1","reaction":"bulb",
            "item":{"type":"file","file":"F1"},"event_ts":"1.2"}}"#;
        assert!(matches!(parse(payload).unwrap(), CaptureEvent::Ignored(_)));
    }

    #[test]
    fn a_message_carries_its_authors_own_workspace() {
        // message_thread_reply__boltpy.json: a Slack Connect reply names the author's team.
        let shared = r#"{"event":{"type":"message","user":"W222","team":"T111","user_team":"T222",
            "source_team":"T111","channel":"C1","ts":"2.000100","text":"hi"}}"#;
        let CaptureEvent::Posted(posted) = parse(shared).unwrap() else {
            panic!()
        };
        assert_eq!(posted.user_team.as_ref().map(TeamId::as_str), Some("T222"));
        // message_plain__boltpy.json: only `team`.
        let plain =
            r#"{"event":{"type":"message","user":"W1","team":"T111","channel":"C1","ts":"2.1","text":"x"}}"#;
        let CaptureEvent::Posted(posted) = parse(plain).unwrap() else {
            panic!()
        };
        assert_eq!(posted.user_team.as_ref().map(TeamId::as_str), Some("T111"));
        let edit = r#"{"event":{"type":"message","subtype":"message_changed","channel":"C1","event_ts":"3.1",
            "message":{"user":"W1","text":"y","ts":"2.1"},"previous_message":{"user":"W1","user_team":"T9","ts":"2.1"}}}"#;
        let CaptureEvent::Edited(edited) = parse(edit).unwrap() else {
            panic!()
        };
        assert_eq!(edited.user_team.as_ref().map(TeamId::as_str), Some("T9"));
    }

    #[test]
    fn skin_tones_are_dropped_from_reactions() {
        let payload = r#"{"event":{"type":"reaction_added","user":"U1","reaction":"+1::skin-tone-2",
            "item":{"type":"message","channel":"C1","ts":"1.000100"},"item_user":"U2","event_ts":"2.5"}}"#;
        let CaptureEvent::Reaction(reaction) = parse(payload).unwrap() else {
            panic!()
        };
        assert_eq!(reaction.emoji, "+1");
        assert_eq!(reaction.event_ts, 2_500_000);
    }
}
