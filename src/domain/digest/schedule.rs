//! When the weekly digest and circle recaps go out: a weekday and a local time in a time zone
//! (`CIRCLET_DIGEST_SCHEDULE`, e.g. `mon 09:00 UTC` or `fri 16:30 Europe/Paris`).
//!
//! A digest covers the week that ends at a scheduled time (its *period*). Periods are keyed by
//! the local date they end on, so every replica names the same week the same way.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::clock::Millis;

/// What the setting accepts, for error messages.
pub const SCHEDULE_FORM: &str = "a weekday and a 24-hour time with an optional IANA time zone, e.g. \"mon 09:00 UTC\" or \"fri 16:30 Europe/Paris\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub weekday: Weekday,
    pub time: NaiveTime,
    pub zone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl Default for Schedule {
    fn default() -> Self {
        Self {
            weekday: Weekday::Mon,
            time: NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time"),
            zone: Tz::UTC,
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (day, time, zone) = match words.as_slice() {
            [day, time] => (*day, *time, None),
            [day, time, zone] => (*day, *time, Some(*zone)),
            _ => return Err(ScheduleError(format!("{text:?} is not a weekday and a time"))),
        };
        let weekday = parse_weekday(day).ok_or_else(|| ScheduleError(format!("{day:?} is not a weekday")))?;
        let time = NaiveTime::parse_from_str(time, "%H:%M")
            .map_err(|_| ScheduleError(format!("{time:?} is not a time such as 09:00")))?;
        let zone = match zone {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| ScheduleError(format!("{name:?} is not a time zone name")))?,
        };
        Ok(Self { weekday, time, zone })
    }
}

fn parse_weekday(word: &str) -> Option<Weekday> {
    let lower = word.to_ascii_lowercase();
    // chrono accepts "mon" and "monday"; nothing shorter, so "m" cannot be ambiguous.
    lower.parse::<Weekday>().ok()
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = match self.weekday {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        };
        write!(f, "{day} {} {}", self.time.format("%H:%M"), self.zone.name())
    }
}

/// One week a digest covers: `[start, end)`, ending at a scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The local date the week ends on, `YYYY-MM-DD`: the key that makes a post unique.
    pub key: String,
    pub start: Millis,
    pub end: Millis,
}

impl Schedule {
    /// The week that ended at the latest scheduled time at or before `now`.
    pub fn latest_period(&self, now: Millis) -> Period {
        let now_local = self.local(now);
        let mut date = now_local.date_naive();
        // At most a week back, and one more day for a time skipped by a clock change.
        for _ in 0..9 {
            if date.weekday() == self.weekday
                && let Some(end) = self.at(date)
                && end <= now
            {
                return self.period_ending(date, end);
            }
            date = date.pred_opt().expect("dates this close to now exist");
        }
        // Unreachable for any real time zone; fall back to seven days before now.
        self.period_ending(date, now)
    }

    /// The week ending at the next scheduled time after `now`, as it stands at `now`.
    pub fn next_end(&self, now: Millis) -> Millis {
        let latest = self.latest_period(now);
        let next_date = parse_key(&latest.key)
            .and_then(|d| d.checked_add_days(Days::new(7)))
            .and_then(|d| self.at(d));
        next_date.unwrap_or(latest.end + WEEK_MILLIS)
    }

    /// The week in progress: from the latest scheduled time to the next one, keyed by the
    /// next one's date (what the next digest will cover).
    pub fn upcoming_period(&self, now: Millis) -> Period {
        let latest = self.latest_period(now);
        let end = self.next_end(now);
        let key = DateTime::<Utc>::from_timestamp_millis(end)
            .map(|t| t.with_timezone(&self.zone).format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        Period {
            key,
            start: latest.end,
            end,
        }
    }

    fn period_ending(&self, date: NaiveDate, end: Millis) -> Period {
        let start = date
            .checked_sub_days(Days::new(7))
            .and_then(|d| self.at(d))
            .unwrap_or(end - WEEK_MILLIS);
        Period {
            key: date.format("%Y-%m-%d").to_string(),
            start,
            end,
        }
    }

    /// The scheduled time on a local date, in Unix milliseconds. A time a clock change skips
    /// moves to the first instant after the gap; a repeated one takes its first occurrence.
    fn at(&self, date: NaiveDate) -> Option<Millis> {
        let local = date.and_time(self.time);
        let instant = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
            LocalResult::None => {
                let later = local + chrono::Duration::hours(1);
                self.zone.from_local_datetime(&later).earliest()?
            }
        };
        Some(instant.timestamp_millis())
    }

    fn local(&self, at: Millis) -> DateTime<Tz> {
        let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
        utc.with_timezone(&self.zone)
    }
}

const WEEK_MILLIS: Millis = 7 * 24 * 3600 * 1000;

fn parse_key(key: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Millis {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    #[test]
    fn the_default_is_monday_nine_utc() {
        assert_eq!("mon 09:00 UTC".parse::<Schedule>().unwrap(), Schedule::default());
        assert_eq!("Monday 09:00".parse::<Schedule>().unwrap(), Schedule::default());
        assert_eq!(Schedule::default().to_string(), "mon 09:00 UTC");
    }

    #[test]
    fn wrong_forms_say_what_is_wrong() {
        for (text, says) in [
            ("", "is not a weekday and a time"),
            ("mon", "is not a weekday and a time"),
            ("someday 09:00", "\"someday\" is not a weekday"),
            ("mon 9am", "\"9am\" is not a time"),
            ("mon 25:00", "\"25:00\" is not a time"),
            (
                "mon 09:00 Mars/Olympus",
                "\"Mars/Olympus\" is not a time zone name",
            ),
            ("mon 09:00 UTC extra", "is not a weekday and a time"),
        ] {
            let err = text.parse::<Schedule>().unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_latest_period_ends_at_the_last_scheduled_time() {
        let schedule = Schedule::default();
        // Monday 2026-11-23 is the end of a period from 09:00 on.
        let before = schedule.latest_period(utc("2026-11-23T08:59:59Z"));
        assert_eq!(before.key, "2026-11-16");
        let at = schedule.latest_period(utc("2026-11-23T09:00:00Z"));
        assert_eq!(at.key, "2026-11-23");
        assert_eq!(at.end, utc("2026-11-23T09:00:00Z"));
        assert_eq!(at.start, utc("2026-11-16T09:00:00Z"));
        let thursday = schedule.latest_period(utc("2026-11-26T12:00:00Z"));
        assert_eq!(thursday, at, "a later day of the week still names that week");
        assert_eq!(
            schedule.next_end(utc("2026-11-26T12:00:00Z")),
            utc("2026-11-30T09:00:00Z")
        );
        let upcoming = schedule.upcoming_period(utc("2026-11-26T12:00:00Z"));
        assert_eq!(upcoming.key, "2026-11-30");
        assert_eq!(
            (upcoming.start, upcoming.end),
            (at.end, utc("2026-11-30T09:00:00Z"))
        );
    }

    #[test]
    fn time_zones_and_clock_changes_are_followed() {
        let paris: Schedule = "sun 02:30 Europe/Paris".parse().unwrap();
        // 2026-03-29: clocks jump from 02:00 to 03:00 in Paris; 02:30 does not exist.
        let period = paris.latest_period(utc("2026-03-29T12:00:00Z"));
        assert_eq!(period.key, "2026-03-29");
        assert_eq!(
            period.end,
            utc("2026-03-29T01:30:00Z"),
            "03:30 CEST, just after the gap"
        );
        assert_eq!(
            period.start,
            utc("2026-03-22T01:30:00Z"),
            "02:30 CET a week before"
        );
        let new_york: Schedule = "fri 17:00 America/New_York".parse().unwrap();
        let period = new_york.latest_period(utc("2026-11-21T00:00:00Z"));
        assert_eq!(period.key, "2026-11-20");
        assert_eq!(period.end, utc("2026-11-20T22:00:00Z"));
    }
}
