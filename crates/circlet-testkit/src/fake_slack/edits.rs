//! Changes people make to messages after posting them, kept on the stored message as Slack shows
//! it in history: `reactions: [{name, users, count}]`, `edited: {user, ts}`, and deletions.

use serde_json::{Map, Value, json};

use super::params::required;
use super::store::{Channel, msg_ts_key, reply_thread};
use super::{Answer, Params, Slack};

/// What Slack leaves in place of a deleted thread parent that still has replies.
const TOMBSTONE_TEXT: &str = "This message was deleted.";
const SLACKBOT: &str = "USLACKBOT";

impl Slack {
    /// `reactions.add` by `user` (the calling installation's bot).
    pub(super) fn add_reaction(&mut self, params: &Params, user: &str) -> Answer {
        let (channel, timestamp, name) = reaction_target(params)?;
        let added = match self
            .messages
            .get_mut(&channel)
            .and_then(|c| c.find_mut(&timestamp))
        {
            Some(message) => add_reaction_user(message, &name, user),
            // Slack would say message_not_found; tests ack messages they never seeded, so a
            // reaction on no stored message is only remembered.
            None => self.reactions.insert((channel, timestamp, name)),
        };
        if added {
            Ok(json!({}))
        } else {
            Err("already_reacted")
        }
    }

    /// `reactions.remove` by `user` (the calling installation's bot).
    pub(super) fn remove_reaction(&mut self, params: &Params, user: &str) -> Answer {
        let (channel, timestamp, name) = reaction_target(params)?;
        let removed = match self
            .messages
            .get_mut(&channel)
            .and_then(|c| c.find_mut(&timestamp))
        {
            Some(message) => remove_reaction_user(message, &name, user),
            None => self.reactions.remove(&(channel, timestamp, name)),
        };
        if removed {
            Ok(json!({}))
        } else {
            Err("no_reaction")
        }
    }

    pub(super) fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Value> {
        self.messages.get_mut(channel)?.find_mut(ts)
    }
}

fn reaction_target(params: &Params) -> Result<(String, String, String), &'static str> {
    let channel = required(params, "channel").ok_or("channel_not_found")?;
    let timestamp = required(params, "timestamp").ok_or("no_item_specified")?;
    let name = required(params, "name").map(|n| n.trim_matches(':').to_owned());
    let name = name.filter(|n| !n.is_empty()).ok_or("invalid_name")?;
    Ok((channel, timestamp, name))
}

/// Replaces the message's reactions (emoji name → users); none removes the field.
pub(super) fn set_reactions(message: &mut Value, reactions: &[(&str, &[&str])]) {
    let Some(fields) = message.as_object_mut() else {
        return;
    };
    let list: Vec<Value> = (reactions.iter())
        .filter(|(_, users)| !users.is_empty())
        .map(|(name, users)| json!({"name": name, "users": users, "count": users.len()}))
        .collect();
    if list.is_empty() {
        fields.remove("reactions");
    } else {
        fields.insert("reactions".into(), list.into());
    }
}

/// False when `user` had already reacted with `name`.
fn add_reaction_user(message: &mut Value, name: &str, user: &str) -> bool {
    let Some(fields) = message.as_object_mut() else {
        return false;
    };
    let list = fields.entry("reactions").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return false;
    };
    let Some(reaction) = list
        .iter_mut()
        .find_map(|r| r.as_object_mut().filter(|r| r["name"] == name))
    else {
        list.push(json!({"name": name, "users": [user], "count": 1}));
        return true;
    };
    let Some(users) = reaction_users(reaction) else {
        return false;
    };
    if users.iter().any(|u| u == user) {
        return false;
    }
    users.push(user.into());
    let count = reaction_count(reaction) + 1;
    reaction.insert("count".into(), count.into());
    true
}

/// False when `user` had not reacted with `name`. A reaction nobody keeps goes, and so does
/// an empty `reactions` list, as in Slack.
fn remove_reaction_user(message: &mut Value, name: &str, user: &str) -> bool {
    let Some(list) = message.get_mut("reactions").and_then(Value::as_array_mut) else {
        return false;
    };
    let Some(index) = list.iter().position(|r| r["name"] == name) else {
        return false;
    };
    let Some(reaction) = list[index].as_object_mut() else {
        return false;
    };
    let Some(users) = reaction_users(reaction) else {
        return false;
    };
    let Some(at) = users.iter().position(|u| u == user) else {
        return false;
    };
    users.remove(at);
    let count = reaction_count(reaction).saturating_sub(1);
    reaction.insert("count".into(), count.into());
    if count == 0 {
        list.remove(index);
    }
    if list.is_empty()
        && let Some(fields) = message.as_object_mut()
    {
        fields.remove("reactions");
    }
    true
}

fn reaction_users(reaction: &mut Map<String, Value>) -> Option<&mut Vec<Value>> {
    let users = reaction.entry("users").or_insert_with(|| json!([]));
    if !users.is_array() {
        *users = json!([]);
    }
    users.as_array_mut()
}

/// Slack's `count` may exceed the users it lists; a seed without one counts its users.
fn reaction_count(reaction: &Map<String, Value>) -> u64 {
    let listed = reaction
        .get("users")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (reaction.get("count").and_then(Value::as_u64)).unwrap_or(listed as u64)
}

/// The author's edit: new text and `edited: {user, ts}`.
pub(super) fn edit(message: &mut Value, new_text: &str, edited_ts: &str) {
    let Some(fields) = message.as_object_mut() else {
        return;
    };
    let author = fields.get("user").cloned().unwrap_or(Value::Null);
    fields.insert("text".into(), new_text.into());
    fields.insert("edited".into(), json!({"user": author, "ts": edited_ts}));
}

/// Removes the message; a thread parent that still has replies becomes Slack's tombstone, which
/// history keeps listing with the thread's summary. False when there is no such message.
pub(super) fn delete(channel: &mut Channel, ts: &str) -> bool {
    let Some(slot) = channel.slot_of(ts) else {
        return false;
    };
    let is_parent =
        (channel.get(&slot)).is_some_and(|m| reply_thread(m).is_none() && channel.has_replies(msg_ts_key(m)));
    if !is_parent {
        return channel.remove(&slot).is_some();
    }
    if let Some(message) = channel.get_mut(&slot) {
        let ts = message.get("ts").cloned().unwrap_or(Value::Null);
        *message = json!({
            "type": "message", "subtype": "tombstone", "text": TOMBSTONE_TEXT, "user": SLACKBOT,
            "hidden": true, "ts": ts, "thread_ts": ts, "parent_user_id": SLACKBOT,
            "is_locked": false, "subscribed": false,
        });
    }
    true
}
