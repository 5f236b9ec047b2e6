//! Export filters as people type them (CLI flags, API query parameters, `/feedback export`
//! words), parsed into an [`InsightFilter`] or a message that says what is wrong.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};

use crate::clock::Millis;
use crate::domain::capture::emoji::valid_tag_name;
use crate::domain::slash::channel;
use crate::ids::TeamId;
use crate::store::{InsightFilter, InsightStatus};

const DAY_MILLIS: i64 = 86_400_000;

/// The years a date may name: those RFC 3339 and ISO 8601 dates write with four digits. Any
/// instant in them is a few times 10^14 ms from 1970, far from overflowing what adds to it.
pub const YEARS: RangeInclusive<i64> = 0..=9999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{field} must be a date like 2026-01-31 or a time like 2026-01-31T09:00:00Z (got {value:?})")]
    BadDate { field: &'static str, value: String },
    #[error("{field} must be a date from 0000-01-01 to 9999-12-31 (got {value:?})")]
    DateOutOfRange { field: &'static str, value: String },
    #[error("since ({value}) is in the future: there is nothing to export yet")]
    SinceInFuture { value: String },
    #[error("since must be before until")]
    EmptyRange,
    #[error("status must be one of new, reviewing, planned, shipped, declined (got {0:?})")]
    UnknownStatus(String),
    #[error("tag must be a tag name like bug or pain-point (got {0:?})")]
    BadTag(String),
    #[error("channel must be a channel id like C0123ABCD or a #channel link (got {0:?})")]
    BadChannel(String),
    #[error("after_id must be an insight id, a whole number (got {0:?})")]
    BadAfterId(String),
    #[error("format must be csv or jsonl (got {0:?})")]
    UnknownFormat(String),
}

/// Filters as typed; every field optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterInput<'a> {
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub status: Option<&'a str>,
    pub after_id: Option<&'a str>,
}

impl FilterInput<'_> {
    /// The filter for `team_id` (None: every workspace), for people (the CLI, `/feedback
    /// export`): a `since` after `now` or a range that ends before it starts is surely a slip,
    /// and is answered with what is wrong.
    pub fn parse(&self, team_id: Option<&TeamId>, now: Millis) -> Result<InsightFilter, FilterError> {
        let filter = self.parse_allowing_empty(team_id)?;
        if let (Some(since), Some(value)) = (filter.since, self.since)
            && since > now
        {
            return Err(FilterError::SinceInFuture {
                value: value.to_owned(),
            });
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since >= until
        {
            return Err(FilterError::EmptyRange);
        }
        Ok(filter)
    }

    /// The filter for `team_id`, for programs (the export API): every value must be well
    /// formed, but a `since` in the future or a range that ends before it starts is a filter
    /// that selects nothing. No schema can exclude those, so a client that follows
    /// docs/openapi.yaml gets an empty export for them, never a 400.
    pub fn parse_allowing_empty(&self, team_id: Option<&TeamId>) -> Result<InsightFilter, FilterError> {
        let since = self
            .since
            .map(|v| parse_time("since", v, Bound::Start))
            .transpose()?;
        let until = self
            .until
            .map(|v| parse_time("until", v, Bound::End))
            .transpose()?;
        let tag = self.tag.map(parse_tag).transpose()?;
        let channel_id = self
            .channel
            .map(|c| channel(c.trim()).ok_or_else(|| FilterError::BadChannel(c.to_owned())))
            .transpose()?;
        let status = self.status.map(parse_status).transpose()?;
        let after_number = self
            .after_id
            .map(|v| {
                v.trim()
                    .trim_start_matches('#')
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| FilterError::BadAfterId(v.to_owned()))
            })
            .transpose()?;
        Ok(InsightFilter {
            team_id: team_id.cloned(),
            linked_teams: Vec::new(),
            since,
            until,
            channel_id,
            tag,
            status,
            after_number,
            include_removed: false,
        })
    }
}

pub fn parse_status(value: &str) -> Result<InsightStatus, FilterError> {
    value
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| FilterError::UnknownStatus(value.to_owned()))
}

pub fn parse_tag(value: &str) -> Result<String, FilterError> {
    let tag = value.trim().to_lowercase();
    if valid_tag_name(&tag) {
        Ok(tag)
    } else {
        Err(FilterError::BadTag(value.to_owned()))
    }
}

/// Which end of a day a date-only value means: `until 2026-01-31` includes that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

/// `2026-01-31` (UTC midnight, or the midnight after it for an end) or an RFC 3339 time, in
/// the [`YEARS`]. Every door (CLI, API, `/feedback export` and `report`) reads dates here.
pub fn parse_time(field: &'static str, value: &str, bound: Bound) -> Result<Millis, FilterError> {
    let trimmed = value.trim();
    let out_of_range = || FilterError::DateOutOfRange {
        field,
        value: value.to_owned(),
    };
    // chrono reads signed years of up to six digits in a date; RFC 3339 takes four only.
    if written_year(trimmed).is_some_and(|year| !YEARS.contains(&year)) {
        return Err(out_of_range());
    }
    if let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        if !YEARS.contains(&i64::from(date.year())) {
            return Err(out_of_range());
        }
        let start = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
        return Ok(match bound {
            Bound::Start => start,
            Bound::End => start + DAY_MILLIS,
        });
    }
    DateTime::parse_from_rfc3339(trimmed)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|_| FilterError::BadDate {
            field,
            value: value.to_owned(),
        })
}

/// The year `value` starts with, sign included (`-150000` of `-150000-01-01`), when it starts
/// like a date; saturated when it has more digits than any year.
fn written_year(value: &str) -> Option<i64> {
    let (negative, rest) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.as_bytes().get(digits) != Some(&b'-') {
        return None;
    }
    let magnitude = rest[..digits].parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_790_000_000_000; // 2026-09-21

    fn parse(input: FilterInput<'_>) -> Result<InsightFilter, FilterError> {
        input.parse(Some(&team()), NOW)
    }

    fn team() -> TeamId {
        TeamId::parse("T1").unwrap()
    }

    #[test]
    fn a_date_until_includes_that_whole_day() {
        let filter = parse(FilterInput {
            since: Some("2026-01-01"),
            until: Some("2026-01-31"),
            ..FilterInput::default()
        })
        .unwrap();
        assert_eq!(filter.since, Some(1_767_225_600_000));
        assert_eq!(filter.until, Some(1_767_225_600_000 + 31 * DAY_MILLIS));
    }

    #[test]
    fn times_in_rfc_3339_are_read_to_the_second() {
        let at = parse_time("since", "2026-01-01T09:30:00+01:00", Bound::Start).unwrap();
        assert_eq!(at, 1_767_225_600_000 + 8 * 3_600_000 + 30 * 60_000);
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let bad = |input: FilterInput<'_>| parse(input).unwrap_err().to_string();
        assert!(
            bad(FilterInput {
                since: Some("yesterday"),
                ..Default::default()
            })
            .contains("2026-01-31")
        );
        assert!(
            bad(FilterInput {
                since: Some("2999-01-01"),
                ..Default::default()
            })
            .contains("future")
        );
        assert!(
            bad(FilterInput {
                status: Some("done"),
                ..Default::default()
            })
            .contains("shipped")
        );
        assert!(
            bad(FilterInput {
                tag: Some("two words"),
                ..Default::default()
            })
            .contains("tag")
        );
        assert!(
            bad(FilterInput {
                channel: Some("general"),
                ..Default::default()
            })
            .contains("C0123ABCD")
        );
        assert!(
            bad(FilterInput {
                after_id: Some("-3"),
                ..Default::default()
            })
            .contains("whole number")
        );
        let range = FilterInput {
            since: Some("2026-02-01"),
            until: Some("2026-01-01"),
            ..Default::default()
        };
        assert_eq!(parse(range).unwrap_err(), FilterError::EmptyRange);
    }

    #[test]
    fn dates_outside_the_years_0000_to_9999_are_refused_naming_the_range() {
        for value in [
            "-150000-01-01",
            "+275760-01-01",
            "-262143-01-01",
            "+262142-12-31",
            "-0001-12-31",
            "10000-01-01",
            "+10000-01-01T00:00:00Z",
            "99999-12-31T23:59:59Z",
            "-0001-12-31T23:59:59+00:00",
            "123456789012345678901234567890-01-01",
        ] {
            for input in [
                FilterInput {
                    since: Some(value),
                    ..Default::default()
                },
                FilterInput {
                    until: Some(value),
                    ..Default::default()
                },
            ] {
                let err = parse(input).unwrap_err();
                assert!(
                    matches!(err, FilterError::DateOutOfRange { .. }),
                    "{value}: {err:?}"
                );
                assert!(err.to_string().contains("from 0000-01-01 to 9999-12-31"), "{err}");
            }
        }
    }

    #[test]
    fn the_first_and_last_days_of_the_range_are_read() {
        let first = "0000-01-01";
        assert_eq!(parse_time("since", first, Bound::Start), Ok(-62_167_219_200_000));
        assert_eq!(
            parse_time("until", "9999-12-31", Bound::End),
            Ok(253_402_300_800_000)
        );
        for value in [
            "0000-01-01T00:00:00+23:59",
            "0000-02-29",
            "9999-12-31T23:59:60.999999999999-23:59",
            "2024-02-29t12:00:00z",
        ] {
            assert!(parse_time("since", value, Bound::Start).is_ok(), "{value}");
        }
    }

    #[test]
    fn a_future_since_or_an_empty_range_is_refused_for_people_and_selects_nothing_for_programs() {
        for input in [
            FilterInput {
                since: Some("2999-01-01"),
                ..Default::default()
            },
            FilterInput {
                since: Some("2026-02-01"),
                until: Some("2026-01-01"),
                ..Default::default()
            },
            FilterInput {
                since: Some("2026-01-01T10:00:00Z"),
                until: Some("2026-01-01T10:00:00Z"),
                ..Default::default()
            },
        ] {
            assert!(parse(input).is_err(), "{input:?}");
            let filter = input.parse_allowing_empty(Some(&team())).unwrap();
            let (since, until) = (filter.since.unwrap(), filter.until.unwrap_or(i64::MAX));
            assert!(since > NOW || since >= until, "{filter:?}");
        }
        let bad_date = FilterInput {
            since: Some("2999-13-01"),
            ..Default::default()
        };
        assert!(bad_date.parse_allowing_empty(None).is_err());
    }

    #[test]
    fn values_are_normalised() {
        let filter = parse(FilterInput {
            tag: Some("Bug"),
            status: Some("SHIPPED"),
            channel: Some("<#C0CIRCLE|circle>"),
            after_id: Some("#42"),
            ..FilterInput::default()
        })
        .unwrap();
        assert_eq!(filter.tag.as_deref(), Some("bug"));
        assert_eq!(filter.status, Some(InsightStatus::Shipped));
        assert_eq!(filter.channel_id.unwrap().as_str(), "C0CIRCLE");
        assert_eq!(filter.after_number, Some(42));
        assert!(!filter.include_removed);
    }
}
