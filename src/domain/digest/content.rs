//! What the product digest and a circle's member recap say, computed from the store for one
//! week. The product digest is for the product team; the recap is read by customers, so it
//! shows only that circle's own insights and people, no company fields, and nothing declined.

use std::collections::HashMap;

use super::message::{Message, Section, escape};
use super::schedule::Period;
use crate::domain::links;
use crate::domain::reports::model::change;
use crate::domain::reports::words::{circle_figures, cut, date, insight_figures, plural, reference};
use crate::domain::reports::{self, Period as ReportPeriod, Report, ReportRequest};
use crate::ids::{ChannelId, TeamId, UserId};
use crate::store::{InsightRow, InsightStatus, SharedStore, StatusMove, StoreResult};

/// Insights listed as the week's most voted.
const TOP_VOTED: usize = 5;
/// Insights a recap lists as the circle's most voted.
const RECAP_TOP: usize = 3;
/// Characters of an insight's text quoted.
const SNIPPET: usize = 140;

/// The product team's week.
#[derive(Debug, Clone)]
pub struct ProductDigest {
    pub period: Period,
    pub report: Report,
    /// The latest status change of each insight that moved this week.
    pub moves: Vec<StatusMove>,
}

/// One circle's week, as its members see it.
#[derive(Debug, Clone)]
pub struct Recap {
    pub channel_id: ChannelId,
    pub channel_name: Option<String>,
    pub period: Period,
    pub report: Report,
    /// Insights of this circle planned or shipped this week, with who voted for them.
    pub moved: Vec<(StatusMove, Vec<UserId>)>,
}

impl Recap {
    /// Nothing shared, nothing moved, nobody active.
    pub fn is_quiet(&self) -> bool {
        self.report.total.current == 0
            && self.moved.is_empty()
            && self
                .report
                .circles
                .iter()
                .all(|c| c.engagement.active == 0 && c.engagement.contributors.is_empty())
    }
}

fn request(team_id: &TeamId, channel_id: Option<&ChannelId>, period: &Period) -> ReportRequest {
    ReportRequest {
        period: ReportPeriod::Since(period.start),
        channel_id: channel_id.cloned(),
        ..ReportRequest::last_days(team_id, 7)
    }
}

/// The product team's week: the workspace's circles and those of the workspaces linked to it.
pub async fn product_digest(
    store: &SharedStore,
    team_id: &TeamId,
    period: &Period,
) -> StoreResult<ProductDigest> {
    let linked = links::covered_by(store.workspaces().as_ref(), team_id).await?[1..].to_vec();
    let request = ReportRequest {
        linked_teams: linked.clone(),
        ..request(team_id, None, period)
    };
    let report = reports::compute(store.reads().as_ref(), &request, period.end).await?;
    let window = report.window;
    let mut moves = Vec::new();
    for team in std::iter::once(team_id).chain(&linked) {
        moves.extend(store.digests().status_moves(team, None, window).await?);
    }
    let moves = latest_per_insight(moves);
    Ok(ProductDigest {
        period: period.clone(),
        report,
        moves,
    })
}

pub async fn circle_recap(
    store: &SharedStore,
    team_id: &TeamId,
    channel_id: &ChannelId,
    period: &Period,
) -> StoreResult<Recap> {
    let report = reports::compute(
        store.reads().as_ref(),
        &request(team_id, Some(channel_id), period),
        period.end,
    )
    .await?;
    let digests = store.digests();
    let moves: Vec<StatusMove> = latest_per_insight(
        digests
            .status_moves(team_id, Some(channel_id), report.window)
            .await?,
    )
    .into_iter()
    .filter(|m| m.status == InsightStatus::Shipped.as_str() || m.status == InsightStatus::Planned.as_str())
    .collect();
    let ids: Vec<i64> = moves.iter().map(|m| m.insight_id).collect();
    let mut voters: HashMap<i64, Vec<UserId>> = HashMap::new();
    for voter in digests.voters_of(&ids, channel_id).await? {
        voters.entry(voter.insight_id).or_default().push(voter.user_id);
    }
    let moved = moves
        .into_iter()
        .map(|m| {
            let who = voters.remove(&m.insight_id).unwrap_or_default();
            (m, who)
        })
        .collect();
    let channel_name = report
        .circles
        .first()
        .and_then(|c| c.engagement.channel_name.clone());
    Ok(Recap {
        channel_id: channel_id.clone(),
        channel_name,
        period: period.clone(),
        report,
        moved,
    })
}

/// Each insight's last change, in the order those last changes happened.
fn latest_per_insight(moves: Vec<StatusMove>) -> Vec<StatusMove> {
    let mut latest: Vec<StatusMove> = Vec::new();
    for change in moves {
        latest.retain(|m| m.insight_id != change.insight_id);
        latest.push(change);
    }
    latest
}

fn week(period: &Period) -> String {
    format!("{} → {}", date(period.start), date(period.end))
}

fn quote(text: Option<&str>) -> String {
    let one_line = text
        .unwrap_or("(no text)")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("“{}”", escape(&cut(&one_line, SNIPPET)))
}

/// The insight's name for the home's product team (`T…-N` for a linked workspace's), linked to
/// its message.
fn linked_number(insight: &InsightRow, home: &TeamId) -> String {
    let reference = reference(&insight.team_id, insight.number, home);
    match insight.permalink() {
        Some(link) => format!("<{link}|{reference}>"),
        None => reference,
    }
}

pub fn digest_message(digest: &ProductDigest) -> Message {
    let report = &digest.report;
    let home = &report.request.team_id;
    let new = plural(report.total.current, "new insight", "new insights");
    let by_tag = report
        .by_tag
        .iter()
        .filter(|c| c.current > 0 || c.previous > 0)
        .map(|c| format!("• `{}`: {} ({})", c.name, c.current, c.change()))
        .collect();
    let moves = digest
        .moves
        .iter()
        .map(|m| {
            format!(
                "• {} → *{}* · {}",
                reference(&m.team_id, m.number, home),
                m.status,
                quote(m.text.as_deref())
            )
        })
        .collect();
    let top = report
        .top
        .iter()
        .filter(|i| i.votes > 0)
        .take(TOP_VOTED)
        .map(|i| {
            let author = i
                .author_id
                .as_ref()
                .map(|a| format!(" by <@{a}>"))
                .unwrap_or_default();
            format!(
                "• {}{author} in <#{}> · {}\n   {}",
                linked_number(i, home),
                i.channel_id,
                insight_figures(i),
                quote(i.text.as_deref())
            )
        })
        .collect();
    let circles = report
        .circles
        .iter()
        .map(|c| {
            let e = &c.engagement;
            let trend = match e.active_before {
                0 => "no one was active the week before".to_owned(),
                _ => format!(
                    "active members {} on the week before",
                    change(e.active, e.active_before)
                ),
            };
            format!("• <#{}> · {} · {trend}", e.channel_id, circle_figures(c))
        })
        .collect();
    let since = date(digest.period.start);
    let export = vec![
        format!("• `/feedback export csv since {since}`: this week's insights, sent to you as a file"),
        format!("• `circlet export --format csv --since {since}` on the server"),
        format!("• `GET /api/v1/insights?since={since}` with an API token (`circlet token create`)"),
    ];
    Message {
        title: format!("Weekly feedback digest · week to {}", date(digest.period.end)),
        context: format!(
            "All circles · {} (UTC) · changes against the week before",
            week(&digest.period)
        ),
        sections: vec![
            Section::new(
                format!("{new} ({})", report.total.change()),
                by_tag,
                "No new insights this week.",
            ),
            Section::new("Status changes", moves, "No status changes this week."),
            Section::new("Top voted", top, "No votes this week."),
            Section::new(
                "Circles",
                circles,
                "No circles yet: invite @circlet to a customer channel.",
            ),
            Section::new("Export", export, ""),
        ],
        fallback: format!(
            "Weekly feedback digest: {new} ({}) in the week to {}.",
            report.total.change(),
            date(digest.period.end)
        ),
    }
}

/// "<@A>", "<@A> and <@B>", "<@A>, <@B> and <@C>".
fn people(users: &[&UserId]) -> String {
    let mentions: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
    match mentions.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

pub fn recap_message(recap: &Recap) -> Message {
    let title = match &recap.channel_name {
        Some(name) => format!("This week in #{name}"),
        None => "This week in the circle".to_owned(),
    };
    let context = format!("{} · from the team at Circlet", week(&recap.period));
    if recap.is_quiet() {
        return Message {
            title,
            context,
            sections: vec![Section::new(
                "A quiet week",
                vec![
                    "Nothing new this week. Got an idea, a bug or something you love? Post it here, or react \
                     with :bulb: to a message to flag it for the team."
                        .to_owned(),
                ],
                "",
            )],
            fallback: "A quiet week in the circle: share an idea, a bug or something you love.".to_owned(),
        };
    }
    let report = &recap.report;
    let mut sections = Vec::new();
    let mut shared = Vec::new();
    let tags: Vec<String> = report
        .by_tag
        .iter()
        .filter(|c| c.current > 0)
        .map(|c| format!("{} `{}`", c.current, c.name))
        .collect();
    if !tags.is_empty() {
        shared.push(tags.join(" · "));
    }
    for insight in report.top.iter().take(RECAP_TOP) {
        let author = insight
            .author_id
            .as_ref()
            .map(|a| format!(" by <@{a}>"))
            .unwrap_or_default();
        shared.push(format!(
            "• {}{author} · {}",
            quote(insight.text.as_deref()),
            plural(insight.votes, "vote", "votes")
        ));
    }
    let thanks = format!(
        "You shared {} this week. Thank you!",
        plural(report.total.current, "piece of feedback", "pieces of feedback")
    );
    sections.push(Section::new(
        thanks,
        shared,
        "Every one of them reaches the product team.",
    ));

    for (status, heading, verb) in [
        (InsightStatus::Shipped, "You asked, we shipped", "asking for it"),
        (InsightStatus::Planned, "On the roadmap", "asking for it"),
    ] {
        let lines: Vec<String> = recap
            .moved
            .iter()
            .filter(|(m, _)| m.status == status.as_str())
            .map(|(m, voters)| {
                let mut who: Vec<&UserId> = m.author_id.iter().collect();
                for voter in voters {
                    if !who.contains(&voter) {
                        who.push(voter);
                    }
                }
                let thanks = if who.is_empty() {
                    String::new()
                } else {
                    format!(" · thank you {} for {verb}", people(&who))
                };
                format!("• {}{thanks}", quote(m.text.as_deref()))
            })
            .collect();
        if !lines.is_empty() {
            sections.push(Section::new(heading, lines, ""));
        }
    }

    let contributors: Vec<&UserId> = report
        .circles
        .iter()
        .flat_map(|c| c.engagement.contributors.iter().map(|p| &p.user_id))
        .collect();
    if !contributors.is_empty() {
        sections.push(Section::new(
            "Top contributors",
            vec![format!(
                "Thank you {} for leading the conversation this week!",
                people(&contributors)
            )],
            "",
        ));
    }
    Message {
        title,
        context,
        sections,
        fallback: format!(
            "This week in the circle: {} shared, thank you!",
            plural(report.total.current, "piece of feedback", "pieces of feedback")
        ),
    }
}

/// A discussion prompt as posted in a circle.
pub fn prompt_message(question: &str) -> Message {
    Message {
        title: "Question of the week".to_owned(),
        context: "Reply in this thread: every answer reaches the product team.".to_owned(),
        sections: vec![Section::new(escape(question), vec![], "")],
        fallback: format!("Question of the week: {question}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_listed_as_a_sentence() {
        let users: Vec<UserId> = ["U1", "U2", "U3"].map(|u| UserId::parse(u).unwrap()).into();
        let [u1, u2, u3] = [&users[0], &users[1], &users[2]];
        assert_eq!(people(&[]), "");
        assert_eq!(people(&[u1]), "<@U1>");
        assert_eq!(people(&[u1, u2]), "<@U1> and <@U2>");
        assert_eq!(people(&[u1, u2, u3]), "<@U1>, <@U2> and <@U3>");
    }

    #[test]
    fn only_each_insights_last_move_counts() {
        let change = |id, status: &str, at| StatusMove {
            insight_id: id,
            team_id: TeamId::parse("T1").unwrap(),
            number: id,
            channel_id: ChannelId::parse("C1").unwrap(),
            text: None,
            author_id: None,
            status: status.into(),
            changed_at: at,
        };
        let latest = latest_per_insight(vec![
            change(1, "planned", 1),
            change(2, "reviewing", 2),
            change(1, "shipped", 3),
        ]);
        let got: Vec<(i64, &str)> = latest.iter().map(|m| (m.insight_id, m.status.as_str())).collect();
        assert_eq!(got, vec![(2, "reviewing"), (1, "shipped")]);
    }
}
