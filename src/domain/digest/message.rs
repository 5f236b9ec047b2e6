//! A scheduled message (digest, recap, App Home summary) written once and rendered twice: as
//! Block Kit for Slack and as plain text for terminals (`circlet digest --dry-run`, the demo),
//! so the two always say the same.

use std::collections::HashMap;

use slack_morphism::prelude::*;

use crate::domain::reports::words::cut;

/// Lines a section shows before "…and N more".
pub const MAX_LINES: usize = 10;
/// Characters a section's text may hold: well under Slack's 3,000, so that a whole message
/// stays under the ~12k characters Slack accepts across blocks.
pub const MAX_SECTION_CHARS: usize = 1_500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header (plain text, at most 150 characters).
    pub title: String,
    /// One line under the title: what and when it covers (mrkdwn).
    pub context: String,
    pub sections: Vec<Section>,
    /// What notifications and block-less clients show.
    pub fallback: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    /// mrkdwn lines; user text in them is escaped with [`escape`].
    pub lines: Vec<String>,
    /// Said when there are no lines.
    pub empty: String,
}

impl Section {
    pub fn new(heading: impl Into<String>, lines: Vec<String>, empty: impl Into<String>) -> Self {
        Self {
            heading: heading.into(),
            lines,
            empty: empty.into(),
        }
    }

    /// The lines that fit, and how many did not.
    fn fitted(&self) -> (Vec<&str>, usize) {
        let mut shown = Vec::new();
        let mut chars = self.heading.chars().count();
        for line in &self.lines {
            let len = line.chars().count() + 1;
            if shown.len() == MAX_LINES || chars + len + 40 > MAX_SECTION_CHARS {
                break;
            }
            chars += len;
            shown.push(line.as_str());
        }
        let left = self.lines.len() - shown.len();
        (shown, left)
    }

    fn mrkdwn(&self) -> String {
        let (lines, left) = self.fitted();
        let mut text = format!("*{}*", self.heading);
        if lines.is_empty() {
            text.push('\n');
            text.push_str(&self.empty);
        }
        for line in lines {
            text.push('\n');
            text.push_str(line);
        }
        if left > 0 {
            text.push_str(&format!("\n…and {left} more"));
        }
        text
    }
}

impl Message {
    pub fn blocks(&self) -> Vec<SlackBlock> {
        let mut blocks: Vec<SlackBlock> = vec![
            SlackHeaderBlock::new(pt!(cut(&self.title, 150))).into(),
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                SlackBlockMarkDownText::new(self.context.clone()),
            )])
            .into(),
        ];
        for section in &self.sections {
            blocks.push(SlackDividerBlock::new().into());
            blocks.push(SlackSectionBlock::new().with_text(md!(section.mrkdwn())).into());
        }
        blocks
    }

    pub fn blocks_json(&self) -> serde_json::Value {
        serde_json::to_value(self.blocks()).unwrap_or_else(|_| serde_json::json!([]))
    }

    /// The same content as plain text, people and channels by id.
    pub fn text(&self) -> String {
        self.text_named(&HashMap::new())
    }

    /// The same content as plain text, people and channels by the names in `names` (by id).
    pub fn text_named(&self, names: &HashMap<String, String>) -> String {
        let plain = |text: &str| plain_named(text, names);
        let mut out = format!("{}\n{}\n", self.title, plain(&self.context));
        for section in &self.sections {
            out.push('\n');
            let mrkdwn = section.mrkdwn();
            let mut lines = mrkdwn.lines();
            if let Some(heading) = lines.next() {
                out.push_str(heading.trim_matches('*'));
                out.push('\n');
            }
            for line in lines {
                out.push_str("  ");
                out.push_str(&plain(line));
                out.push('\n');
            }
        }
        out
    }
}

/// Slack's three control characters, so a member's text cannot forge a mention or a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// mrkdwn as a terminal shows it: `<@U1>` → `@U1`, `<#C1|name>` → `#name`, `<url|label>` →
/// `label (url)`, entities decoded.
pub fn plain(mrkdwn: &str) -> String {
    plain_named(mrkdwn, &HashMap::new())
}

/// Like [`plain`], writing people and channels found in `names` by name.
pub fn plain_named(mrkdwn: &str, names: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = mrkdwn;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(label)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            out.push('@');
            out.push_str(names.get(user).map(String::as_str).or(label).unwrap_or(user));
        } else if let Some(channel) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(
                names
                    .get(channel)
                    .map(String::as_str)
                    .or(label)
                    .unwrap_or(channel),
            );
        } else {
            match label {
                Some(label) => out.push_str(&format!("{label} ({target})")),
                None => out.push_str(target),
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_reads_mentions_channels_and_links() {
        assert_eq!(
            plain("<@U0MAYA> in <#C0B|beauty> · <https://x.slack.com/p1|#3> &lt;b&gt; &amp;"),
            "@U0MAYA in #beauty · #3 (https://x.slack.com/p1) <b> &"
        );
        assert_eq!(plain("a < b"), "a < b");
        let names = HashMap::from([
            ("U0MAYA".to_owned(), "Maya".to_owned()),
            ("C0B".to_owned(), "beauty".to_owned()),
        ]);
        assert_eq!(
            plain_named("<@U0MAYA> in <#C0B>, <@U0SAM>", &names),
            "@Maya in #beauty, @U0SAM"
        );
    }

    #[test]
    fn long_sections_say_how_many_lines_they_left_out() {
        let section = Section::new("Many", (0..25).map(|n| format!("line {n}")).collect(), "none");
        let text = section.mrkdwn();
        assert!(text.ends_with("…and 15 more"), "{text}");
        let wide = Section::new("Wide", (0..8).map(|_| "x".repeat(400)).collect(), "none");
        assert!(wide.mrkdwn().chars().count() <= MAX_SECTION_CHARS, "cut to fit");
        assert!(wide.mrkdwn().ends_with("more"));
        assert_eq!(
            Section::new("None", vec![], "Nothing yet.").mrkdwn(),
            "*None*\nNothing yet."
        );
    }

    #[test]
    fn blocks_and_text_carry_the_same_content() {
        let message = Message {
            title: "Weekly digest".into(),
            context: "All circles · <#C1|beauty>".into(),
            sections: vec![Section::new("Top", vec!["<@U1> said &lt;hi&gt;".into()], "none")],
            fallback: "Weekly digest".into(),
        };
        assert_eq!(message.blocks().len(), 4);
        assert_eq!(
            message.text(),
            "Weekly digest\nAll circles · #beauty\n\nTop\n  @U1 said <hi>\n"
        );
    }
}
