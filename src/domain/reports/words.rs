//! Wording both renderings share, so the demo's text says what Slack shows.

use chrono::DateTime;

use super::model::{Circle, Report};
use crate::clock::Millis;
use crate::ids::TeamId;
use crate::store::{Contributor, InsightRow, InsightStatus};

/// How the product team of `home` names insight `number` of workspace `team`: `#42` in their
/// own workspace, `T…-42` in one linked to it (what `/feedback status` and the buttons take).
pub fn reference(team: &TeamId, number: i64, home: &TeamId) -> String {
    if team == home {
        format!("#{number}")
    } else {
        format!("{team}-{number}")
    }
}

/// The statuses a report offers as buttons, in lifecycle order (`new` is where insights start,
/// not where triage sends them).
pub const TRIAGE_STATUSES: [InsightStatus; 4] = [
    InsightStatus::Reviewing,
    InsightStatus::Planned,
    InsightStatus::Shipped,
    InsightStatus::Declined,
];

pub fn title(report: &Report) -> String {
    format!("Feedback report · {}", report.request.period.label())
}

/// "2026-09-14 → 2026-09-21 (UTC), compared with the 7 days before".
pub fn dates(report: &Report) -> String {
    let days = (report.window.end - report.window.start) as f64 / 86_400_000.0;
    format!(
        "{} → {} (UTC), compared with the {} days before",
        date(report.window.start),
        date(report.window.end),
        days.round() as i64
    )
}

pub fn date(at: Millis) -> String {
    DateTime::from_timestamp_millis(at).map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

pub fn plural(count: i64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// "5 votes · 2 replies · planned".
pub fn insight_figures(insight: &InsightRow) -> String {
    format!(
        "{} · {} · {}",
        plural(insight.votes, "vote", "votes"),
        plural(insight.replies, "reply", "replies"),
        insight.status
    )
}

/// The insight's text on one line, cut at `max` characters.
pub fn snippet(insight: &InsightRow, max: usize) -> String {
    let text = insight.text.as_deref().unwrap_or("(no text)");
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cut(&one_line, max)
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// "40 members · 12 active (30%) · 3 new".
pub fn circle_figures(circle: &Circle) -> String {
    let e = &circle.engagement;
    let rate = match circle.participation_percent {
        Some(percent) => format!("{percent}% participation"),
        None => "participation unknown, no members recorded".to_owned(),
    };
    format!(
        "{} · {} active ({rate}; {} the period before) · {} new",
        plural(e.members, "member", "members"),
        e.active,
        e.active_before,
        e.new_members
    )
}

/// "2 insights, 14 actions".
pub fn contribution(contributor: &Contributor) -> String {
    format!(
        "{}, {}",
        plural(contributor.insights, "insight", "insights"),
        plural(contributor.actions, "action", "actions")
    )
}
