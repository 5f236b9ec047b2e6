//! The report as a Block Kit message, within Slack's limits: what does not fit is summed up as
//! "and N more" rather than sent and refused.

use slack_morphism::prelude::*;

use super::model::{Count, Report};
use super::words::{self, TRIAGE_STATUSES};
use crate::domain::triage::STATUS_ACTION;
use crate::ids::TeamId;
use crate::store::InsightRow;

/// Blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Characters per section text.
pub const MAX_TEXT: usize = 3000;
/// Slack refuses a message whose blocks hold about 12–13k characters in all
/// (`msg_blocks_too_long`), below every per-field limit; stay well under it.
pub const MAX_TOTAL_TEXT: usize = 10_000;
/// Characters of an insight's text shown in the report.
const SNIPPET: usize = 200;
/// Tags listed in the counts, and on each insight; the rest are summed up.
const TAG_LINES: usize = 20;
const TAGS_PER_INSIGHT: usize = 5;

/// The report's blocks and the fallback `text` notifications show.
pub struct Rendered {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

impl Rendered {
    pub fn blocks_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.blocks).unwrap_or_else(|_| serde_json::json!([]))
    }
}

/// Blocks added so far and the characters they hold.
struct Budget {
    blocks: Vec<SlackBlock>,
    chars: usize,
}

impl Budget {
    fn room(&self, blocks: usize, chars: usize) -> bool {
        self.blocks.len() + blocks <= MAX_BLOCKS && self.chars + chars <= MAX_TOTAL_TEXT
    }

    fn section(&mut self, text: String) {
        self.chars += text.chars().count();
        self.blocks
            .push(SlackSectionBlock::new().with_text(md!(text)).into());
    }

    fn context(&mut self, text: String) {
        self.chars += text.chars().count();
        self.blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(text),
            )])
            .into(),
        );
    }

    fn divider(&mut self) {
        self.blocks.push(SlackDividerBlock::new().into());
    }
}

pub fn render_blocks(report: &Report) -> Rendered {
    let title = words::title(report);
    let mut budget = Budget {
        blocks: vec![SlackHeaderBlock::new(pt!(words::cut(&title, 150))).into()],
        chars: title.len(),
    };
    budget.context(scope(report));
    budget.section(fit_lines(
        &format!(
            "*{}* ({})",
            words::plural(report.total.current, "insight", "insights"),
            report.total.change()
        ),
        report.by_tag.iter().map(|c| count_line(c, true)),
        "tags",
    ));
    budget.section(fit_lines(
        "*By status*",
        report.by_status.iter().map(|c| count_line(c, false)),
        "statuses",
    ));

    // The circles come after the top insights; keep room for their divider, heading, first
    // circle and "and N more" note, so many insights cannot crowd them all out.
    let circles = circle_sections(report);
    let circles_chars = circles.first().map_or(0, |text| text.chars().count()) + 200;
    budget.divider();
    if report.top.is_empty() {
        budget.section("*Top insights by votes*\nNo insights in this period.".to_owned());
    } else {
        budget.section("*Top insights by votes*".to_owned());
        let mut shown = 0;
        for insight in &report.top {
            let reference = reference(insight, &report.request.team_id);
            let text = insight_text(insight, &reference);
            if !budget.room(2 + 1 + 4, text.chars().count() + 100 + circles_chars) {
                break;
            }
            budget.section(text);
            budget.blocks.push(status_buttons(insight, &reference));
            shown += 1;
        }
        if shown < report.top.len() {
            budget.context(format!("…and {} more", report.top.len() - shown));
        }
    }

    budget.divider();
    if circles.is_empty() {
        budget.section("*Circles*\nNo circles yet: invite @circlet to a customer channel.".to_owned());
    } else {
        budget.section("*Circles*".to_owned());
        let total = circles.len();
        for (shown, text) in circles.into_iter().enumerate() {
            let left = total - shown;
            // The last block may be the "and N more" note, unless this is the last circle.
            let reserve = if left > 1 { 1 } else { 0 };
            if !budget.room(1 + reserve, text.chars().count() + 80) {
                budget.context(format!(
                    "…and {left} more circles: ask for one with `/feedback report #channel`."
                ));
                break;
            }
            budget.section(text);
        }
    }
    Rendered {
        text: fallback(report),
        blocks: budget.blocks,
    }
}

/// Which insights and circles the figures cover, and when.
fn scope(report: &Report) -> String {
    let mut scope = match &report.request.channel_id {
        Some(channel) => format!("<#{channel}>"),
        None => "All circles".to_owned(),
    };
    if let Some(tag) = &report.request.tag {
        scope.push_str(&format!(" · insights tagged `{tag}`"));
    }
    format!("{scope} · {}", words::dates(report))
}

fn count_line(count: &Count, code: bool) -> String {
    let name = if code {
        format!("`{}`", count.name)
    } else {
        count.name.clone()
    };
    format!("• {name}: {} ({})", count.current, count.change())
}

/// `heading` then as many `lines` as fit in a section, then how many were left out.
fn fit_lines(heading: &str, lines: impl ExactSizeIterator<Item = String>, what: &str) -> String {
    let total = lines.len();
    let mut text = heading.to_owned();
    for (shown, line) in lines.enumerate() {
        // Room for this line and for the note about the rest.
        if shown == TAG_LINES || text.chars().count() + line.chars().count() + 60 > MAX_TEXT {
            text.push_str(&format!("\n…and {} more {what}", total - shown));
            break;
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// How the product team names `insight`: `#42` in their own workspace, `T…-42` in one linked
/// to it (what `/feedback status` and the buttons take).
fn reference(insight: &InsightRow, home: &TeamId) -> String {
    words::reference(&insight.team_id, insight.number, home)
}

fn insight_text(insight: &InsightRow, reference: &str) -> String {
    let number = match insight.permalink() {
        Some(link) => format!("<{link}|{reference}>"),
        None => reference.to_owned(),
    };
    let author = match &insight.author_id {
        Some(author) => format!(" by <@{author}>"),
        None => String::new(),
    };
    let mut tags: Vec<String> = insight.tag_list().map(|t| format!("`{t}`")).collect();
    if tags.len() > TAGS_PER_INSIGHT {
        let more = tags.len() - TAGS_PER_INSIGHT;
        tags.truncate(TAGS_PER_INSIGHT);
        tags.push(format!("+{more}"));
    }
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!(" · {}", tags.join(" "))
    };
    format!(
        "*{number}*{author} in <#{}> · {}{tags}\n>{}",
        insight.channel_id,
        words::insight_figures(insight),
        escape(&words::snippet(insight, SNIPPET))
    )
}

/// The statuses `insight` can move to, as buttons the triage handler understands.
fn status_buttons(insight: &InsightRow, reference: &str) -> SlackBlock {
    let id = reference.trim_start_matches('#');
    let elements = TRIAGE_STATUSES
        .iter()
        .filter(|status| status.as_str() != insight.status)
        .map(|status| {
            let value = format!("{id}:{status}");
            let label = status.as_str();
            let label = format!("{}{}", label[..1].to_uppercase(), &label[1..]);
            // Suffixed with the value: Slack wants a message's action ids to differ.
            SlackBlockButtonElement::new(pt!(label))
                .with_action_id(format!("{STATUS_ACTION}:{value}").into())
                .with_value(value)
                .into()
        })
        .collect();
    SlackActionsBlock::new(elements)
        .with_block_id(format!("report_status_{id}").into())
        .into()
}

fn circle_sections(report: &Report) -> Vec<String> {
    report
        .circles
        .iter()
        .map(|circle| {
            let e = &circle.engagement;
            let mut text = format!("*<#{}>* · {}", e.channel_id, words::circle_figures(circle));
            if !e.contributors.is_empty() {
                let people: Vec<String> = e
                    .contributors
                    .iter()
                    .map(|c| format!("<@{}> ({})", c.user_id, words::contribution(c)))
                    .collect();
                text.push_str(&format!("\nTop contributors: {}", people.join(", ")));
            }
            text
        })
        .collect()
}

/// Slack's three control characters, so an insight's text cannot forge a mention or link.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What notifications and block-less clients show.
fn fallback(report: &Report) -> String {
    format!(
        "{}: {} ({}).",
        words::title(report),
        words::plural(report.total.current, "insight", "insights"),
        report.total.change()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reports::model::Circle;
    use crate::domain::reports::request::ReportRequest;
    use crate::ids::{ChannelId, UserId};
    use crate::store::{CircleEngagement, Contributor, Window};

    fn insight(number: i64) -> InsightRow {
        InsightRow {
            number,
            created_at: 0,
            team_id: TeamId::parse("T1").unwrap(),
            channel_id: ChannelId::parse("C0CIRCLE").unwrap(),
            channel_name: None,
            message_ts: format!("1700000000.{number:06}"),
            thread_ts: None,
            author_id: Some(UserId::parse("U0MAYA").unwrap()),
            author_name: None,
            text: Some("word ".repeat(2_000)),
            tags: (0..40).map(|t| format!("tag-{t}")).collect::<Vec<_>>().join(";"),
            votes: 100 - number,
            replies: 1,
            status: "new".into(),
            source: "reaction".into(),
            workspace_url: Some("https://circle.slack.com/".into()),
            author_team_id: TeamId::parse("T0CIRCLE").unwrap(),
        }
    }

    fn circle(n: usize) -> Circle {
        Circle {
            engagement: CircleEngagement {
                channel_id: ChannelId::parse(format!("C{n:08}")).unwrap(),
                channel_name: Some(format!("circle-{n}")),
                members: 40,
                new_members: 2,
                active: 10,
                active_before: 8,
                contributors: (0..3)
                    .map(|c| Contributor {
                        user_id: UserId::parse(format!("U{n:04}{c:04}")).unwrap(),
                        insights: 3,
                        actions: 20,
                    })
                    .collect(),
            },
            participation_percent: Some(25),
        }
    }

    fn count(name: String) -> Count {
        Count {
            name,
            current: 1_000,
            previous: 900,
        }
    }

    fn report(insights: usize, circles: usize, tags: usize) -> Report {
        Report {
            request: ReportRequest::last_days(&TeamId::parse("T1").unwrap(), 30),
            window: Window {
                start: 0,
                end: 30 * 86_400_000,
            },
            total: count("insights".into()),
            by_tag: (0..tags)
                .map(|t| count(format!("a-rather-long-tag-name-{t}")))
                .collect(),
            by_status: Vec::new(),
            top: (1..=insights as i64).map(insight).collect(),
            circles: (0..circles).map(circle).collect(),
        }
    }

    fn check_limits(rendered: &Rendered) -> serde_json::Value {
        let blocks = rendered.blocks_json();
        let blocks = blocks.as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        let mut total = 0;
        for block in blocks {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= MAX_TEXT, "{} chars", text.chars().count());
                total += text.chars().count();
            }
            let elements = block["elements"].as_array().map_or(0, Vec::len);
            assert!(elements <= if block["type"] == "actions" { 25 } else { 10 });
        }
        assert!(total <= MAX_TOTAL_TEXT, "{total} chars in all");
        assert!(rendered.text.chars().count() <= 4_000);
        serde_json::Value::Array(blocks.clone())
    }

    fn texts(blocks: &serde_json::Value) -> Vec<String> {
        let mut texts = Vec::new();
        for block in blocks.as_array().unwrap() {
            if let Some(text) = block["text"]["text"].as_str() {
                texts.push(text.to_owned());
            }
            for element in block["elements"].as_array().into_iter().flatten() {
                if let Some(text) = element["text"].as_str() {
                    texts.push(text.to_owned());
                }
            }
        }
        texts
    }

    #[test]
    fn a_small_report_shows_everything() {
        let blocks = check_limits(&render_blocks(&report(3, 2, 3)));
        let texts = texts(&blocks);
        assert_eq!(texts.iter().filter(|t| t.starts_with("*<https://")).count(), 3);
        assert_eq!(texts.iter().filter(|t| t.starts_with("*<#C")).count(), 2);
        assert!(!texts.iter().any(|t| t.contains("more")), "{texts:#?}");
    }

    #[test]
    fn a_big_report_stays_within_slacks_limits_and_says_what_it_left_out() {
        let blocks = check_limits(&render_blocks(&report(10, 200, 500)));
        let texts = texts(&blocks);
        let tags = texts.iter().find(|t| t.starts_with("*1000 insights*")).unwrap();
        assert!(tags.contains("more tags"), "{tags}");
        let circles_shown = texts.iter().filter(|t| t.starts_with("*<#C")).count();
        assert!(circles_shown >= 1, "some circles are shown");
        let note = format!("…and {} more circles", 200 - circles_shown);
        assert!(texts.iter().any(|t| t.starts_with(&note)), "{note} in {texts:#?}");
        // Each insight's text is cut, and the buttons stay.
        let first = texts.iter().find(|t| t.starts_with("*<https://")).unwrap();
        assert!(first.chars().count() < 1_000 && first.ends_with('…'), "{first}");
        let actions = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .count();
        assert!(actions >= 1);
    }

    #[test]
    fn circles_keep_room_however_many_insights_there_are() {
        let mut big = report(10, 30, 2);
        big.top = (1..=200).map(insight).collect();
        let blocks = check_limits(&render_blocks(&big));
        let texts = texts(&blocks);
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("…and ") && t.ends_with(" more")),
            "{texts:#?}"
        );
        assert!(
            texts.iter().any(|t| t.starts_with("*<#C")),
            "at least one circle: {texts:#?}"
        );
    }

    #[test]
    fn buttons_offer_the_other_statuses_with_values_triage_reads() {
        let mut planned = insight(7);
        planned.status = "planned".into();
        let block = serde_json::to_value(status_buttons(&planned, "#7")).unwrap();
        let values: Vec<&str> = block["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["7:reviewing", "7:shipped", "7:declined"]);
        for element in block["elements"].as_array().unwrap() {
            assert!(crate::domain::triage::is_status_action(
                element["action_id"].as_str().unwrap()
            ));
        }
    }
}
