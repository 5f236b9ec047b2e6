//! Backfill (ARCHITECTURE §12): after an outage longer than Slack's retries, read the circles'
//! history and apply what was missed exactly as the live events would have been applied.
//!
//! Each circle keeps a sweep mark: the Slack time up to which its history is known to be read.
//! A sweep reads from a few minutes before the mark (at most [`DEFAULT_REACH`] back unless the
//! caller names an earlier time) up to the moment it started, applies each page in one
//! transaction through capture's service ([`apply`]), and then moves the mark to that moment.
//! A sweep cut short starts again from the same mark: applying is idempotent, so pages already
//! applied change nothing the second time.

pub mod apply;
pub mod command;
pub mod history;
pub mod task;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use self::apply::Found;
use self::history::HistoryReader;
use crate::clock::{Millis, SharedClock};
use crate::domain::workspaces::Workspaces;
use crate::ids::{ChannelId, TeamId};
use crate::metrics::Metrics;
use crate::slack::{Pacer, SlackError};
use crate::store::{self, SharedStore, StoreError};

/// How far back a sweep reads at most, unless asked for an earlier time.
pub const DEFAULT_REACH: Duration = Duration::from_secs(7 * 24 * 3600);

/// How far before a circle's mark a sweep starts: a message posted just before the last sweep
/// read its history may not have been visible yet.
pub const OVERLAP: Duration = Duration::from_secs(5 * 60);

/// Slack's pace for history reads: one call a second per workspace.
pub const PACE: Duration = Duration::from_secs(1);

/// Messages asked for per page (Slack may give fewer, e.g. 15 for apps under its 2025 limits).
pub const PAGE_SIZE: usize = 200;

/// What a sweep found and applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// Circles whose history was read.
    pub circles: u64,
    /// Top-level messages Circlet had not seen.
    pub messages: u64,
    /// Thread replies Circlet had not seen.
    pub replies: u64,
    /// Messages whose newer text Circlet had not seen.
    pub edits: u64,
    /// Tag reactions added (and removed) since Circlet last saw the message.
    pub reactions: u64,
    pub reactions_removed: u64,
    /// Votes added or removed.
    pub votes: u64,
}

impl Recovered {
    /// Both counts together.
    pub fn plus(mut self, other: Recovered) -> Recovered {
        self.add(other);
        self
    }

    fn add(&mut self, other: Recovered) {
        self.circles += other.circles;
        self.messages += other.messages;
        self.replies += other.replies;
        self.edits += other.edits;
        self.reactions += other.reactions;
        self.reactions_removed += other.reactions_removed;
        self.votes += other.votes;
    }

    /// One line for people: "3 messages, 1 reply, 2 tag reactions and 4 votes recovered".
    pub fn summary(&self) -> String {
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {}, {}, {} and {} recovered from {}",
            plural(self.messages, "message", "messages"),
            plural(self.replies, "reply", "replies"),
            plural(self.edits, "edit", "edits"),
            plural(
                self.reactions + self.reactions_removed,
                "tag reaction",
                "tag reactions"
            ),
            plural(self.votes, "vote", "votes"),
            plural(self.circles, "circle", "circles"),
        )
    }
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRequest {
    pub team: TeamId,
    /// One circle, or all of the workspace's.
    pub channel: Option<ChannelId>,
    /// Read from this time (milliseconds) instead of the marks: may reach further than
    /// [`DEFAULT_REACH`].
    pub since: Option<Millis>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("<#{0}> is not a circle")]
    NotACircle(ChannelId),
}

/// Called after each page with the circle and what was applied so far (for progress bars).
pub type Progress<'a> = &'a (dyn Fn(&ChannelId, &Recovered) + Send + Sync);

/// Reads circles' history and applies what was missed.
pub struct Backfill {
    pub store: SharedStore,
    pub workspaces: Arc<Workspaces>,
    pub clock: SharedClock,
    pub metrics: Metrics,
    pub pacer: Pacer,
    pub page_size: usize,
}

impl Backfill {
    pub fn new(
        store: SharedStore,
        workspaces: Arc<Workspaces>,
        clock: SharedClock,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            workspaces,
            clock,
            metrics,
            pacer: Pacer::new(PACE),
            page_size: PAGE_SIZE,
        }
    }

    /// History calls spaced `pace` apart per workspace instead of [`PACE`] (zero: no pacing,
    /// for a fake Slack that answers at once).
    pub fn with_pace(mut self, pace: Duration) -> Self {
        self.pacer = Pacer::new(pace);
        self
    }

    /// Sweeps the circles `request` names; see the module documentation.
    pub async fn sweep(
        &self,
        request: &SweepRequest,
        progress: Progress<'_>,
    ) -> Result<Recovered, BackfillError> {
        let circles: Vec<ChannelId> = self
            .store
            .circles(&request.team)
            .await?
            .into_iter()
            .filter(|circle| circle.active)
            .map(|circle| circle.channel_id)
            .collect();
        let circles = match &request.channel {
            Some(channel) if !circles.contains(channel) => {
                return Err(BackfillError::NotACircle(channel.clone()));
            }
            Some(channel) => vec![channel.clone()],
            None => circles,
        };
        let workspace = self.workspaces.get(&request.team).await?;
        let bot_user = workspace.bot().user_id().await?.as_str().to_owned();
        let reader = HistoryReader {
            slack: workspace.slack(),
            pacer: &self.pacer,
            team: &request.team,
            page_size: self.page_size,
            slowed_to: std::sync::Mutex::new(None),
        };
        let marks = self.store.sweep_marks(Some(&request.team)).await?;
        let mut recovered = Recovered::default();
        for channel in circles {
            // Read up to now: what is newer comes live, or to the next sweep.
            let read_at = self.clock.now_millis() * 1000;
            let mark = marks
                .iter()
                .find(|mark| mark.channel_id == channel.as_str())
                .map(|mark| mark.swept_to);
            let reach = read_at - DEFAULT_REACH.as_micros() as i64;
            let from = match request.since {
                Some(since) => since * 1000,
                None => mark
                    .map_or(reach, |mark| mark - OVERLAP.as_micros() as i64)
                    .max(reach),
            };
            let found = self
                .sweep_circle(
                    &reader,
                    &request.team,
                    &channel,
                    from,
                    read_at,
                    &bot_user,
                    progress,
                )
                .await?;
            recovered.add(found);
            self.store
                .advance_sweep_mark(&request.team, &channel, read_at, self.clock.now_millis())
                .await?;
        }
        self.count(&recovered);
        Ok(recovered)
    }

    #[allow(clippy::too_many_arguments)]
    async fn sweep_circle(
        &self,
        reader: &HistoryReader<'_>,
        team: &TeamId,
        channel: &ChannelId,
        from: i64,
        read_at: i64,
        bot_user: &str,
        progress: Progress<'_>,
    ) -> Result<Recovered, BackfillError> {
        let mut recovered = Recovered {
            circles: 1,
            ..Recovered::default()
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = reader
                .history(channel, (from, read_at), cursor.as_deref())
                .await?;
            // Oldest first, as they happened; then the threads with replies newer than `from`.
            let mut messages = page.messages;
            messages.reverse();
            let threads: Vec<String> = messages
                .iter()
                .filter(|m| m.reply_count.unwrap_or(0) > 0)
                .filter(|m| {
                    m.latest_reply
                        .as_deref()
                        .is_some_and(|latest| crate::domain::capture::events::micros(latest) > from)
                })
                .map(|m| m.ts.clone())
                .collect();
            recovered.add(self.apply(team, channel, messages, read_at, bot_user).await?);
            for thread in threads {
                let mut thread_cursor: Option<String> = None;
                loop {
                    let page = reader
                        .replies(channel, &thread, from, thread_cursor.as_deref())
                        .await?;
                    let replies: Vec<_> = page.messages.into_iter().filter(|m| m.ts != thread).collect();
                    recovered.add(self.apply(team, channel, replies, read_at, bot_user).await?);
                    thread_cursor = page.next_cursor;
                    if thread_cursor.is_none() {
                        break;
                    }
                }
            }
            progress(channel, &recovered);
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(recovered);
            }
        }
    }

    /// Applies one page in one transaction.
    async fn apply(
        &self,
        team: &TeamId,
        channel: &ChannelId,
        messages: Vec<crate::domain::backfill::history::HistoryMessage>,
        read_at: i64,
        bot_user: &str,
    ) -> Result<Recovered, BackfillError> {
        if messages.is_empty() {
            return Ok(Recovered::default());
        }
        let keys: Vec<String> = messages
            .iter()
            .flat_map(|m| std::iter::once(&m.ts).chain(m.thread_ts.as_ref()))
            .map(|ts| format!("{team}\u{1f}{channel}\u{1f}{ts}"))
            .collect();
        let (team, channel, bot_user) = (team.clone(), channel.clone(), bot_user.to_owned());
        let now = self.clock.now_millis();
        let recovered = store::transaction(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.lock_messages(&keys).await?;
                let found = Found {
                    team: &team,
                    channel: &channel,
                    messages: &messages,
                    read_at,
                };
                apply::apply(tx, &found, &bot_user, now).await
            })
        })
        .await?;
        Ok(recovered)
    }

    fn count(&self, recovered: &Recovered) {
        for (kind, n) in [
            ("message", recovered.messages),
            ("reply", recovered.replies),
            ("edit", recovered.edits),
            ("reaction", recovered.reactions + recovered.reactions_removed),
            ("vote", recovered.votes),
        ] {
            if n > 0 {
                self.metrics.count_backfill_recovered(kind, n);
            }
        }
    }
}
