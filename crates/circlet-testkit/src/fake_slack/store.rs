//! One channel's messages, kept in timestamp order with indexes for what history and threads list,
//! so a page of `conversations.history` or `conversations.replies` is a range read, not a scan and
//! sort of the whole channel (benches page through tens of thousands of messages).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::params::value_string;

/// A Slack timestamp as (seconds, microseconds), so "1700000000.0001" and "1700000000.000100"
/// name the same message and sort correctly.
pub(super) type TsKey = (u64, u64);

/// Where a message sits: its timestamp, then its arrival number. Arrivals start at 1, so
/// `(key, 0)` lies below and `(key, u64::MAX)` above every message at `key`; they also keep apart
/// seeds that share a ts, which Slack itself never has.
pub(super) type Slot = (TsKey, u64);

#[derive(Default)]
pub(super) struct Channel {
    messages: BTreeMap<Slot, Value>,
    /// What `conversations.history` lists: messages outside threads, thread parents and replies
    /// also sent to the channel.
    top_level: BTreeSet<Slot>,
    /// Each thread's replies, by the thread's ts.
    threads: HashMap<TsKey, BTreeSet<Slot>>,
    arrivals: u64,
}

impl Channel {
    pub(super) fn insert(&mut self, message: Value) {
        self.arrivals += 1;
        let slot = (msg_ts_key(&message), self.arrivals);
        if is_top_level(&message) {
            self.top_level.insert(slot);
        }
        if let Some(thread) = reply_thread(&message) {
            self.threads.entry(thread).or_default().insert(slot);
        }
        self.messages.insert(slot, message);
    }

    /// The first message stored with timestamp `key`.
    pub(super) fn slot_at(&self, key: TsKey) -> Option<Slot> {
        let mut at_key = self.messages.range((key, 0)..=(key, u64::MAX));
        at_key.next().map(|(slot, _)| *slot)
    }

    pub(super) fn slot_of(&self, ts: &str) -> Option<Slot> {
        self.slot_at(ts_key(ts))
    }

    pub(super) fn get_mut(&mut self, slot: &Slot) -> Option<&mut Value> {
        self.messages.get_mut(slot)
    }

    pub(super) fn get(&self, slot: &Slot) -> Option<&Value> {
        self.messages.get(slot)
    }

    pub(super) fn find(&self, ts: &str) -> Option<&Value> {
        self.get(&self.slot_of(ts)?)
    }

    /// The message with timestamp `ts`, to change its content. Callers must leave `ts`,
    /// `thread_ts` and `subtype` alone: the indexes were built from them.
    pub(super) fn find_mut(&mut self, ts: &str) -> Option<&mut Value> {
        let slot = self.slot_of(ts)?;
        self.messages.get_mut(&slot)
    }

    pub(super) fn remove(&mut self, slot: &Slot) -> Option<Value> {
        let message = self.messages.remove(slot)?;
        self.top_level.remove(slot);
        if let Some(thread) = reply_thread(&message)
            && let Some(replies) = self.threads.get_mut(&thread)
        {
            replies.remove(slot);
            if replies.is_empty() {
                self.threads.remove(&thread);
            }
        }
        Some(message)
    }

    /// Every message, thread replies included, in the order it was posted or seeded.
    pub(super) fn in_arrival_order(&self) -> Vec<Value> {
        let mut all: Vec<(&Slot, &Value)> = self.messages.iter().collect();
        all.sort_unstable_by_key(|((_, arrival), _)| *arrival);
        all.into_iter().map(|(_, message)| message.clone()).collect()
    }

    /// The top-level messages strictly between `above` and `below`, newest first.
    pub(super) fn top_level_newest_first(&self, above: Slot, below: Slot) -> impl Iterator<Item = &Slot> {
        range(&self.top_level, above, below).rev()
    }

    /// The replies in thread `thread` strictly between `above` and `below`, oldest first.
    pub(super) fn replies_oldest_first(
        &self,
        thread: TsKey,
        above: Slot,
        below: Slot,
    ) -> impl Iterator<Item = &Slot> {
        let replies = self.threads.get(&thread);
        replies.into_iter().flat_map(move |set| range(set, above, below))
    }

    /// Every reply in thread `thread`, oldest first.
    pub(super) fn replies(&self, thread: TsKey) -> impl Iterator<Item = &Value> {
        let all = self.replies_oldest_first(thread, ((0, 0), 0), (MAX_KEY, u64::MAX));
        all.filter_map(|slot| self.messages.get(slot))
    }

    pub(super) fn has_replies(&self, thread: TsKey) -> bool {
        self.threads
            .get(&thread)
            .is_some_and(|replies| !replies.is_empty())
    }
}

/// Above every real timestamp.
pub(super) const MAX_KEY: TsKey = (u64::MAX, u64::MAX);

/// `set`'s slots strictly between `above` and `below`; empty when they leave no room (a
/// `BTreeSet` range would panic).
fn range(set: &BTreeSet<Slot>, above: Slot, below: Slot) -> std::collections::btree_set::Range<'_, Slot> {
    use std::ops::Bound::Excluded;
    if above < below {
        set.range((Excluded(above), Excluded(below)))
    } else {
        set.range(below..below)
    }
}

/// Messages outside threads, thread parents (`thread_ts` equal to their own ts) and replies
/// broadcast to the channel appear in `conversations.history`.
pub(super) fn is_top_level(message: &Value) -> bool {
    match msg_str(message, "thread_ts") {
        None => true,
        Some(thread_ts) => {
            ts_key(thread_ts) == msg_ts_key(message)
                || msg_str(message, "subtype") == Some("thread_broadcast")
        }
    }
}

/// The thread `message` replies in, if it is a reply.
pub(super) fn reply_thread(message: &Value) -> Option<TsKey> {
    let thread = ts_key(msg_str(message, "thread_ts")?);
    (thread != msg_ts_key(message)).then_some(thread)
}

pub(super) fn msg_str<'a>(message: &'a Value, key: &str) -> Option<&'a str> {
    message.get(key).and_then(Value::as_str)
}

pub(super) fn msg_ts_key(message: &Value) -> TsKey {
    message.get("ts").map_or((0, 0), |ts| ts_key(&value_string(ts)))
}

/// Parses "1700000000.000100"; anything unparseable counts as 0.
pub(super) fn ts_key(ts: &str) -> TsKey {
    let ts = ts.trim();
    let (secs, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    let digits = fraction.bytes().take(6).take_while(u8::is_ascii_digit);
    let (micros, places) = digits.fold((0, 0), |(n, places), d| {
        (n * 10 + u64::from(d - b'0'), places + 1)
    });
    (secs.parse().unwrap_or(0), micros * 10u64.pow(6 - places))
}
