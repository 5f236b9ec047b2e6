//! The report as plain text, for terminals (`circlet demo`): the same figures as the blocks,
//! with people and channels written as `@U…` and `#C…`.

use std::fmt::Write;

use super::model::{Count, Report};
use super::words;

pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", words::title(report));
    let scope = match &report.request.channel_id {
        Some(channel) => format!("#{channel}"),
        None => "All circles".to_owned(),
    };
    let tag = report
        .request
        .tag
        .as_ref()
        .map(|tag| format!(" · insights tagged {tag}"))
        .unwrap_or_default();
    let _ = writeln!(out, "{scope}{tag} · {}", words::dates(report));
    let _ = writeln!(
        out,
        "\n{} ({})",
        words::plural(report.total.current, "insight", "insights"),
        report.total.change()
    );
    counts(&mut out, "By tag", &report.by_tag);
    counts(&mut out, "By status", &report.by_status);

    let _ = writeln!(out, "\nTop insights by votes");
    if report.top.is_empty() {
        let _ = writeln!(out, "  No insights in this period.");
    }
    for insight in &report.top {
        let author = insight
            .author_id
            .as_ref()
            .map(|a| format!(" by @{a}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}{author} in #{} · {}",
            words::reference(&insight.team_id, insight.number, &report.request.team_id),
            insight.channel_id,
            words::insight_figures(insight)
        );
        let _ = writeln!(out, "    \"{}\"", words::snippet(insight, 100));
        if let Some(link) = insight.permalink() {
            let _ = writeln!(out, "    {link}");
        }
    }

    let _ = writeln!(out, "\nCircles");
    if report.circles.is_empty() {
        let _ = writeln!(out, "  No circles yet.");
    }
    for circle in &report.circles {
        let e = &circle.engagement;
        let name = e.channel_name.as_deref().unwrap_or(e.channel_id.as_str());
        let _ = writeln!(out, "  #{name} · {}", words::circle_figures(circle));
        if !e.contributors.is_empty() {
            let people: Vec<String> = e
                .contributors
                .iter()
                .map(|c| format!("@{} ({})", c.user_id, words::contribution(c)))
                .collect();
            let _ = writeln!(out, "    Top contributors: {}", people.join(", "));
        }
    }
    out
}

fn counts(out: &mut String, heading: &str, counts: &[Count]) {
    let _ = writeln!(out, "{heading}");
    if counts.is_empty() {
        let _ = writeln!(out, "  none");
    }
    let width = counts.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for count in counts {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>4}  ({})",
            count.name,
            count.current,
            count.change()
        );
    }
}
