//! `conversations.history` and `conversations.replies` as Slack answers them: pages of `limit`
//! messages joined by opaque cursors, thread summaries on parents, and the 2025 cap on `limit`
//! for commercially distributed apps outside the Marketplace.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::{Map, Value, json};

use super::params::{bool_param, param_str, required};
use super::store::{Channel, MAX_KEY, Slot, TsKey, msg_str, msg_ts_key, reply_thread, ts_key};
use super::{Answer, Params, Slack};

/// Slack's page size when `limit` is absent, and the most it serves in one page.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 999;
/// Slack's cursors are base64 of this and the next message's ts without its dot.
const CURSOR_PREFIX: &str = "next_ts:";
/// A parent names at most this many of its repliers in `reply_users`.
const REPLY_USERS_SHOWN: usize = 5;
const BEFORE_ALL: Slot = ((0, 0), 0);
const AFTER_ALL: Slot = (MAX_KEY, u64::MAX);
/// Clients pass cursors back as they got them, but some drop the `=` padding on the way.
const CURSOR_DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The messages a call may list: strictly between two slots, from `oldest`, `latest` and
/// `inclusive`, narrowed further by a cursor.
struct Window {
    above: Slot,
    below: Slot,
}

impl Window {
    fn from_params(params: &Params) -> Window {
        let inclusive = bool_param(params, "inclusive");
        let bound = |name| required(params, name).map(|ts| ts_key(&ts));
        // Arrival numbers start at 1: (ts, 0) lies just below a ts and (ts, MAX) just above it.
        let (oldest_arrival, latest_arrival) = if inclusive { (0, u64::MAX) } else { (u64::MAX, 0) };
        let above = bound("oldest").map_or(BEFORE_ALL, |oldest| (oldest, oldest_arrival));
        let below = bound("latest").map_or(AFTER_ALL, |latest| (latest, latest_arrival));
        Window { above, below }
    }
}

/// How many messages a page holds, and the ts it starts at when a cursor says so.
struct Paging {
    limit: usize,
    from: Option<TsKey>,
}

impl Slack {
    fn paging(&self, params: &Params) -> Result<Paging, &'static str> {
        let asked = param_str(params, "limit").and_then(|l| l.trim().parse::<usize>().ok());
        let mut limit = asked.filter(|&l| l > 0).unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        // Slack serves the smaller page without saying so.
        if let Some(cap) = self.history_limit {
            limit = limit.min(cap.max(1));
        }
        let from = required(params, "cursor")
            .map(|c| decode_cursor(&c))
            .transpose()?;
        Ok(Paging { limit, from })
    }

    /// Top-level messages, newest first.
    pub(super) fn history(&self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let paging = self.paging(params)?;
        let Some(store) = self.messages.get(&channel) else {
            return Ok(page(Vec::new(), None));
        };
        let mut window = Window::from_params(params);
        if let Some(from) = paging.from {
            window.below = window.below.min((from, u64::MAX));
        }
        let mut slots = store.top_level_newest_first(window.above, window.below);
        let shown: Vec<&Slot> = slots.by_ref().take(paging.limit).collect();
        let next = slots.next().map(|(key, _)| *key);
        let messages = shown.into_iter().filter_map(|slot| store.get(slot));
        Ok(page(messages.map(|m| present(store, m, params)).collect(), next))
    }

    /// A thread: its parent, then its replies oldest first; the parent opens the first page only.
    pub(super) fn replies(&self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = required(params, "ts").ok_or("thread_not_found")?;
        let paging = self.paging(params)?;
        let store = self.messages.get(&channel).ok_or("thread_not_found")?;
        // Like Slack, a reply's ts also names its thread.
        let thread = store
            .find(&ts)
            .and_then(reply_thread)
            .unwrap_or_else(|| ts_key(&ts));
        let parent = store.slot_at(thread).and_then(|slot| store.get(&slot));
        if parent.is_none() && !store.has_replies(thread) {
            return Err("thread_not_found");
        }
        // The parent is not held to the window, as before: callers ask for a thread by its ts.
        let mut window = Window::from_params(params);
        let parent = match paging.from {
            None => parent,
            Some(from) => {
                window.above = window.above.max((from, 0));
                None
            }
        };
        let room = paging.limit - usize::from(parent.is_some());
        let mut slots = store.replies_oldest_first(thread, window.above, window.below);
        let shown: Vec<&Slot> = slots.by_ref().take(room).collect();
        let next = slots.next().map(|(key, _)| *key);
        let replies = shown.into_iter().filter_map(|slot| store.get(slot));
        let messages = parent.into_iter().chain(replies);
        Ok(page(messages.map(|m| present(store, m, params)).collect(), next))
    }
}

/// Slack's last page says `has_more: false` with an empty `next_cursor`.
fn page(messages: Vec<Value>, next: Option<TsKey>) -> Value {
    let next_cursor = next.map(encode_cursor).unwrap_or_default();
    json!({
        "messages": messages, "has_more": next.is_some(),
        "response_metadata": {"next_cursor": next_cursor},
    })
}

fn encode_cursor((secs, micros): TsKey) -> String {
    general_purpose::STANDARD.encode(format!("{CURSOR_PREFIX}{secs}{micros:06}"))
}

fn decode_cursor(cursor: &str) -> Result<TsKey, &'static str> {
    let bytes = CURSOR_DECODER
        .decode(cursor.trim())
        .map_err(|_| "invalid_cursor")?;
    let text = String::from_utf8(bytes).map_err(|_| "invalid_cursor")?;
    let digits = text.strip_prefix(CURSOR_PREFIX).ok_or("invalid_cursor")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid_cursor");
    }
    let micros_total: u64 = digits.parse().map_err(|_| "invalid_cursor")?;
    Ok((micros_total / 1_000_000, micros_total % 1_000_000))
}

/// A message as the call shows it: without `metadata` unless `include_all_metadata`, a parent
/// with its thread's summary and a reply with its parent's author, unless stored with them.
fn present(store: &Channel, stored: &Value, params: &Params) -> Value {
    let mut message = stored.clone();
    let Some(fields) = message.as_object_mut() else {
        return message;
    };
    if !bool_param(params, "include_all_metadata") {
        fields.remove("metadata");
    }
    let key = msg_ts_key(stored);
    match reply_thread(stored) {
        None if store.has_replies(key) => summarize_thread(store, key, fields),
        None => {}
        Some(thread) => {
            let parent = store.slot_at(thread).and_then(|slot| store.get(&slot));
            if let Some(author) = parent.and_then(|p| p.get("user")) {
                fields.entry("parent_user_id").or_insert_with(|| author.clone());
            }
        }
    }
    message
}

fn summarize_thread(store: &Channel, key: TsKey, fields: &mut Map<String, Value>) {
    let (mut count, mut latest) = (0_usize, None);
    let (mut seen, mut users) = (HashSet::new(), Vec::new());
    for reply in store.replies(key) {
        count += 1;
        latest = reply.get("ts");
        if let Some(user) = msg_str(reply, "user")
            && seen.insert(user)
        {
            users.push(user);
        }
    }
    let own_ts = fields.get("ts").cloned().unwrap_or(Value::Null);
    fields.entry("thread_ts").or_insert(own_ts);
    fields.entry("reply_count").or_insert_with(|| count.into());
    fields
        .entry("reply_users_count")
        .or_insert_with(|| users.len().into());
    let shown = &users[..users.len().min(REPLY_USERS_SHOWN)];
    fields.entry("reply_users").or_insert_with(|| json!(shown));
    let latest = latest.cloned().unwrap_or(Value::Null);
    fields.entry("latest_reply").or_insert(latest);
}
