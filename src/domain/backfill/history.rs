//! Reading a circle's history from Slack: `conversations.history` from a time on, page by page
//! (`cursor`), and `conversations.replies` for threads with newer replies. Every call waits for
//! the workspace's turn (one a second by default) and the Slack client honours `Retry-After`.

use std::time::Duration;

use serde::Deserialize;

use crate::ids::{ChannelId, TeamId};
use crate::slack::{Pacer, SlackApi, SlackError};

/// A message as `conversations.history` and `conversations.replies` give it, as far as backfill
/// reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryMessage {
    pub ts: String,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub user_team: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub reply_count: Option<u64>,
    #[serde(default)]
    pub latest_reply: Option<String>,
    #[serde(default)]
    pub edited: Option<Edited>,
    #[serde(default)]
    pub reactions: Vec<HistoryReaction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Edited {
    pub ts: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryReaction {
    pub name: String,
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<HistoryMessage>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

/// One page and where the next one starts, if there is one.
pub struct HistoryPage {
    pub messages: Vec<HistoryMessage>,
    pub next_cursor: Option<String>,
}

/// Slack's `1665102362.013600` form of a time in microseconds.
pub fn slack_ts(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

/// Reads one workspace's history for backfill, paced per workspace.
pub struct HistoryReader<'a> {
    pub slack: &'a SlackApi,
    pub pacer: &'a Pacer,
    pub team: &'a TeamId,
    /// Messages asked for per page.
    pub page_size: usize,
    /// The wait Slack last asked for with a 429: kept between the rest of this sweep's calls,
    /// so an app under Slack's 2025 limits (one call a minute) reads slowly instead of being
    /// refused on every other call.
    pub slowed_to: std::sync::Mutex<Option<Duration>>,
}

impl HistoryReader<'_> {
    /// One page of the channel's top-level messages between `oldest` and `latest`
    /// (microseconds). Both bounds are given: with `oldest` alone Slack has answered with the
    /// messages closest to it rather than the newest.
    pub async fn history(
        &self,
        channel: &ChannelId,
        (oldest, latest): (i64, i64),
        cursor: Option<&str>,
    ) -> Result<HistoryPage, SlackError> {
        let (oldest, latest, limit) = (slack_ts(oldest), slack_ts(latest), self.page_size.to_string());
        let params = vec![
            ("channel", Some(channel.as_str())),
            ("oldest", Some(oldest.as_str())),
            ("latest", Some(latest.as_str())),
            ("inclusive", Some("true")),
            ("limit", Some(limit.as_str())),
            ("cursor", cursor),
        ];
        self.page("conversations.history", &params).await
    }

    /// One page of a thread's messages newer than `oldest`: the parent (Slack always sends it)
    /// and its replies.
    pub async fn replies(
        &self,
        channel: &ChannelId,
        thread_ts: &str,
        oldest: i64,
        cursor: Option<&str>,
    ) -> Result<HistoryPage, SlackError> {
        let (oldest, limit) = (slack_ts(oldest), self.page_size.to_string());
        let params = vec![
            ("channel", Some(channel.as_str())),
            ("ts", Some(thread_ts)),
            ("oldest", Some(oldest.as_str())),
            ("limit", Some(limit.as_str())),
            ("cursor", cursor),
        ];
        self.page("conversations.replies", &params).await
    }

    async fn page(
        &self,
        method: &'static str,
        params: &[(&str, Option<&str>)],
    ) -> Result<HistoryPage, SlackError> {
        let page: Page = loop {
            self.pacer.wait(self.team.as_str()).await;
            if let Some(wait) = self.slowed() {
                tokio::time::sleep(wait).await;
            }
            let answer = self
                .slack
                .call(method, |s| async move {
                    s.http_session_api.http_get(method, &params.to_vec(), None).await
                })
                .await;
            match answer {
                Ok(page) => break page,
                // Slow down and ask again: a sweep is background work, and starting it over
                // would only spend the calls again.
                Err(SlackError::RateLimited { retry_after, .. }) => {
                    tracing::info!(team = %self.team, method, ?retry_after, "Slack asks backfill to slow down");
                    *self
                        .slowed_to
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(retry_after);
                }
                Err(err) => return Err(err),
            }
        };
        Ok(HistoryPage {
            messages: page.messages,
            next_cursor: page
                .response_metadata
                .and_then(|metadata| metadata.next_cursor)
                .filter(|cursor| !cursor.is_empty()),
        })
    }
}

impl HistoryReader<'_> {
    fn slowed(&self) -> Option<Duration> {
        *self
            .slowed_to
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_slack_writes_them() {
        assert_eq!(slack_ts(1_665_102_362_013_600), "1665102362.013600");
        assert_eq!(slack_ts(5), "0.000005");
    }
}
