//! `/feedback report [7d|30d|90d|since YYYY-MM-DD] [#channel] [tag:NAME]` as typed: words in any
//! order, each at most once. Only the syntax is checked here; whether the channel is a circle
//! and the tag is known is the workspace's business (see `command.rs`).

use crate::clock::Millis;
use crate::domain::export::filter::{Bound, FilterError, parse_tag, parse_time};
use crate::domain::slash::channel;
use crate::ids::{ChannelId, TeamId};
use crate::store::{InsightFilter, Window};

pub const REPORT_USAGE: &str = "/feedback report [7d|30d|90d|since YYYY-MM-DD] [#channel] [tag:NAME]";
const DAY_MILLIS: i64 = 86_400_000;

/// The period a report covers; the change is measured against the period of the same length
/// just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The last N days, up to now.
    Days(u32),
    /// From this instant (a UTC midnight) up to now.
    Since(Millis),
}

impl Period {
    /// Words for headings: "last 7 days", "since 2026-01-31".
    pub fn label(&self) -> String {
        match self {
            Period::Days(days) => format!("last {days} days"),
            Period::Since(at) => match chrono::DateTime::from_timestamp_millis(*at) {
                Some(at) => format!("since {}", at.format("%Y-%m-%d")),
                None => "since the beginning".to_owned(),
            },
        }
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub team_id: TeamId,
    /// Workspaces linked to `team_id`, whose circles its reports include.
    pub linked_teams: Vec<TeamId>,
    pub period: Period,
    pub channel_id: Option<ChannelId>,
    pub tag: Option<String>,
}

impl ReportRequest {
    /// All circles of `team_id` over the last `days` days.
    pub fn last_days(team_id: &TeamId, days: u32) -> Self {
        Self {
            team_id: team_id.clone(),
            linked_teams: Vec::new(),
            period: Period::Days(days),
            channel_id: None,
            tag: None,
        }
    }

    /// The period ending at `now`. A `since` after `now` is refused by [`parse`], so the
    /// window is never empty or reversed; it is at least one millisecond long regardless, and
    /// saturates rather than overflows for any period and `now`.
    pub fn window(&self, now: Millis) -> Window {
        let start = match self.period {
            Period::Days(days) => now.saturating_sub(i64::from(days).saturating_mul(DAY_MILLIS)),
            Period::Since(since) => since,
        };
        Window {
            start: start.min(now.saturating_sub(1)),
            end: now,
        }
    }

    /// The insights this report counts (its time bounds come from [`Self::window`]).
    pub fn filter(&self) -> InsightFilter {
        InsightFilter {
            team_id: Some(self.team_id.clone()),
            linked_teams: self.linked_teams.clone(),
            channel_id: self.channel_id.clone(),
            tag: self.tag.clone(),
            ..InsightFilter::default()
        }
    }
}

/// What is wrong with the words typed; each message says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("`{0}` is not a period I know: use 7d, 30d, 90d or since YYYY-MM-DD.")]
    UnknownPeriod(String),
    #[error("`since` needs a date, like `since 2026-01-31`.")]
    SinceWithoutDate,
    #[error("`since {0}` is not a date: write it like `since 2026-01-31`.")]
    BadSince(String),
    #[error("`since {0}` is out of range: a date goes from 0000-01-01 to 9999-12-31.")]
    SinceOutOfRange(String),
    #[error("`since {0}` is in the future: a report covers days that have already happened.")]
    SinceInFuture(String),
    #[error("Give one period only (got `{0}` and `{1}`).")]
    TwoPeriods(String, String),
    #[error(
        "`{0}` is not a channel I can read: pick it from Slack's list as you type `#`, like `#beauty-insiders`."
    )]
    BadChannel(String),
    #[error("Give one channel only; leave it out for every circle.")]
    TwoChannels,
    #[error("`{0}` is not a tag name: write it like `tag:bug` or `tag:pain-point`.")]
    BadTag(String),
    #[error("Give one tag only.")]
    TwoTags,
    #[error("<#{0}> is not a circle. `/feedback circle list` shows the circles.")]
    NotACircle(ChannelId),
    #[error("There is no tag `{0}` in this workspace. `/feedback tags` lists the emoji tags.")]
    UnknownTag(String),
}

impl RequestError {
    /// The ephemeral answer: what is wrong, then the right form.
    pub fn answer(&self) -> String {
        format!("{self}\nUsage: `{REPORT_USAGE}`")
    }
}

/// Reads the words after `report`; `now` rejects a `since` in the future.
pub fn parse(team_id: &TeamId, words: &[&str], now: Millis) -> Result<ReportRequest, RequestError> {
    let mut period: Option<(Period, String)> = None;
    let mut circle: Option<ChannelId> = None;
    let mut tag: Option<String> = None;
    let mut words = words.iter().copied();
    while let Some(word) = words.next() {
        let lower = word.to_ascii_lowercase();
        let found = if lower == "since" {
            let date = words.next().ok_or(RequestError::SinceWithoutDate)?;
            let at = parse_time("since", date, Bound::Start).map_err(|err| match err {
                FilterError::DateOutOfRange { .. } => RequestError::SinceOutOfRange(date.to_owned()),
                _ => RequestError::BadSince(date.to_owned()),
            })?;
            if at > now {
                return Err(RequestError::SinceInFuture(date.to_owned()));
            }
            (Period::Since(at), format!("since {date}"))
        } else if let Some(days) = days(&lower) {
            (Period::Days(days), word.to_owned())
        } else if let Some(name) = lower.strip_prefix("tag:") {
            if tag.is_some() {
                return Err(RequestError::TwoTags);
            }
            tag = Some(parse_tag(name).map_err(|_| RequestError::BadTag(word.to_owned()))?);
            continue;
        } else if word.starts_with("<#") || word.starts_with('#') {
            if circle.is_some() {
                return Err(RequestError::TwoChannels);
            }
            circle = Some(channel(word).ok_or_else(|| RequestError::BadChannel(word.to_owned()))?);
            continue;
        } else {
            return Err(RequestError::UnknownPeriod(word.to_owned()));
        };
        if let Some((_, before)) = &period {
            return Err(RequestError::TwoPeriods(before.clone(), found.1));
        }
        period = Some(found);
    }
    Ok(ReportRequest {
        team_id: team_id.clone(),
        linked_teams: Vec::new(),
        period: period.map_or(Period::Days(7), |(period, _)| period),
        channel_id: circle,
        tag,
    })
}

/// The periods on offer: a report's figures are only comparable between a few fixed lengths.
fn days(word: &str) -> Option<u32> {
    match word {
        "7d" => Some(7),
        "30d" => Some(30),
        "90d" => Some(90),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_790_000_000_000; // 2026-09-21

    fn parsed(text: &str) -> Result<ReportRequest, RequestError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse(&team(), &words, NOW)
    }

    fn team() -> TeamId {
        TeamId::parse("T1").unwrap()
    }

    #[test]
    fn the_default_is_the_last_seven_days_of_every_circle() {
        let request = parsed("").unwrap();
        assert_eq!(request, ReportRequest::last_days(&team(), 7));
        let window = request.window(NOW);
        assert_eq!((window.start, window.end), (NOW - 7 * DAY_MILLIS, NOW));
    }

    #[test]
    fn words_come_in_any_order() {
        let request = parsed("tag:Bug <#C0BEAUTY|beauty> 30D").unwrap();
        assert_eq!(request.period, Period::Days(30));
        assert_eq!(request.channel_id.unwrap().as_str(), "C0BEAUTY");
        assert_eq!(request.tag.as_deref(), Some("bug"));
        let since = parsed("<#C0BEAUTY> since 2026-09-01").unwrap();
        assert_eq!(since.period, Period::Since(1_788_220_800_000));
        assert_eq!(since.period.label(), "since 2026-09-01");
        assert_eq!(since.window(NOW).start, 1_788_220_800_000);
    }

    #[test]
    fn bad_words_say_what_is_wrong() {
        assert_eq!(parsed("14d"), Err(RequestError::UnknownPeriod("14d".into())));
        assert_eq!(parsed("since"), Err(RequestError::SinceWithoutDate));
        assert_eq!(
            parsed("since monday"),
            Err(RequestError::BadSince("monday".into()))
        );
        assert_eq!(
            parsed("since 2026-09-22"),
            Err(RequestError::SinceInFuture("2026-09-22".into()))
        );
        assert_eq!(
            parsed("7d 30d"),
            Err(RequestError::TwoPeriods("7d".into(), "30d".into()))
        );
        assert_eq!(
            parsed("#general"),
            Err(RequestError::BadChannel("#general".into()))
        );
        assert_eq!(parsed("tag:two!"), Err(RequestError::BadTag("tag:two!".into())));
        assert_eq!(parsed("tag:a tag:b"), Err(RequestError::TwoTags));
        for date in [
            "-150000-01-01",
            "+275760-01-01",
            "-0001-01-01",
            "+10000-01-01T00:00:00Z",
        ] {
            assert_eq!(
                parsed(&format!("since {date}")),
                Err(RequestError::SinceOutOfRange(date.into()))
            );
        }
        let answer = parsed("weekly").unwrap_err().answer();
        assert!(answer.contains("`weekly` is not a period"), "{answer}");
        assert!(answer.ends_with(&format!("Usage: `{REPORT_USAGE}`")), "{answer}");
    }

    #[test]
    fn the_earliest_date_gives_a_window_and_a_previous_window_in_range() {
        let request = parsed("since 0000-01-01").unwrap();
        let window = request.window(NOW);
        assert_eq!(window.start, -62_167_219_200_000);
        let previous = window.previous();
        assert_eq!(previous.end, window.start);
        assert_eq!(previous.start, window.start - (NOW - window.start));
    }

    #[test]
    fn windows_saturate_instead_of_overflowing() {
        let mut request = ReportRequest::last_days(&team(), u32::MAX);
        let window = request.window(i64::MIN + 1);
        assert_eq!((window.start, window.end), (i64::MIN, i64::MIN + 1));
        request.period = Period::Since(i64::MIN);
        let window = request.window(i64::MAX);
        assert_eq!(window.start, i64::MIN);
        assert_eq!(window.previous().start, i64::MIN);
        let window = request.window(i64::MIN);
        assert_eq!((window.start, window.end), (i64::MIN, i64::MIN));
    }
}
