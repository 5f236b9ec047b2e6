//! The report's figures, computed from a handful of store reads so it stays fast at a million
//! insights (the benchmark calls [`compute`] directly).

use std::collections::BTreeMap;

use super::request::ReportRequest;
use crate::clock::Millis;
use crate::store::{CircleEngagement, InsightReads, InsightRow, InsightStatus, StoreResult, Window};

/// How many insights the report lists, ranked by votes.
pub const TOP_INSIGHTS: u32 = 10;
/// How many contributors each circle lists.
pub const TOP_CONTRIBUTORS: u32 = 3;
/// The name insights without a tag are counted under.
pub const UNTAGGED: &str = "untagged";

/// A figure in the period and in the one of the same length before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub name: String,
    pub current: i64,
    pub previous: i64,
}

impl Count {
    /// "+25%", "−10%", "no change", or, when there was nothing before, "new" (a percentage of
    /// zero means nothing).
    pub fn change(&self) -> String {
        change(self.current, self.previous)
    }
}

/// The change from `previous` to `current` in words.
pub fn change(current: i64, previous: i64) -> String {
    if current == previous {
        return "no change".to_owned();
    }
    if previous == 0 {
        return "new; none the period before".to_owned();
    }
    let percent = ((current - previous) as f64 * 100.0 / previous as f64).round() as i64;
    if percent >= 0 {
        format!("+{percent}%")
    } else {
        format!("−{}%", -percent)
    }
}

/// One circle's engagement, with the participation rate worked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub engagement: CircleEngagement,
    /// Active members per hundred members; None when the circle has no known members.
    pub participation_percent: Option<i64>,
}

/// Everything a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub request: ReportRequest,
    pub window: Window,
    /// Live insights created in the period (and before it).
    pub total: Count,
    /// Most frequent first, then by name; [`UNTAGGED`] for insights without a tag.
    pub by_tag: Vec<Count>,
    /// In lifecycle order, every status.
    pub by_status: Vec<Count>,
    /// The most voted insights of the period, most votes first.
    pub top: Vec<InsightRow>,
    /// Every active circle (or the one asked for), by name.
    pub circles: Vec<Circle>,
}

/// Computes the report for `request` over the period ending at `now`: one grouped count, one
/// ranking and the engagement reads, run concurrently.
pub async fn compute(reads: &dyn InsightReads, request: &ReportRequest, now: Millis) -> StoreResult<Report> {
    let window = request.window(now);
    let filter = request.filter();
    let (breakdown, top, engagement) = tokio::try_join!(
        reads.breakdown(&filter, window),
        reads.top_insights(&filter, window, TOP_INSIGHTS),
        reads.engagement(&filter, window, TOP_CONTRIBUTORS),
    )?;

    let mut total = Count {
        name: "insights".to_owned(),
        current: 0,
        previous: 0,
    };
    let mut tags: BTreeMap<String, Count> = BTreeMap::new();
    let mut statuses: BTreeMap<String, Count> = BTreeMap::new();
    for group in breakdown {
        let add = |count: &mut Count| {
            if group.current {
                count.current += group.count;
            } else {
                count.previous += group.count;
            }
        };
        add(&mut total);
        add(entry(&mut statuses, &group.status));
        let mut names = group
            .tags
            .split(crate::store::TAG_SEPARATOR)
            .filter(|t| !t.is_empty())
            .peekable();
        if names.peek().is_none() {
            add(entry(&mut tags, UNTAGGED));
        }
        for name in names {
            add(entry(&mut tags, name));
        }
    }
    let mut by_tag: Vec<Count> = tags.into_values().collect();
    by_tag.sort_by(|a, b| b.current.cmp(&a.current).then_with(|| a.name.cmp(&b.name)));
    let by_status = InsightStatus::ALL
        .iter()
        .map(|status| {
            statuses.remove(status.as_str()).unwrap_or(Count {
                name: status.as_str().to_owned(),
                current: 0,
                previous: 0,
            })
        })
        .collect();
    let circles = engagement
        .into_iter()
        .map(|engagement| Circle {
            participation_percent: (engagement.members > 0)
                .then(|| (engagement.active as f64 * 100.0 / engagement.members as f64).round() as i64),
            engagement,
        })
        .collect();
    Ok(Report {
        request: request.clone(),
        window,
        total,
        by_tag,
        by_status,
        top,
        circles,
    })
}

fn entry<'a>(counts: &'a mut BTreeMap<String, Count>, name: &str) -> &'a mut Count {
    counts.entry(name.to_owned()).or_insert_with(|| Count {
        name: name.to_owned(),
        current: 0,
        previous: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_people_say_them() {
        assert_eq!(change(5, 4), "+25%");
        assert_eq!(change(3, 4), "−25%");
        assert_eq!(change(4, 4), "no change");
        assert_eq!(change(0, 0), "no change");
        assert_eq!(change(3, 0), "new; none the period before");
        assert_eq!(change(0, 2), "−100%");
        assert_eq!(change(2, 3), "−33%");
    }
}
