//! Keyword rules: a phrase found as whole words (any case) tags an insight, and a rule marked
//! `capture` also captures the circle message by itself.

use crate::store::Rule;

/// Whether `phrase` occurs in `text` as whole words, ignoring case.
pub fn matches(phrase: &str, text: &str) -> bool {
    let phrase = phrase.trim().to_lowercase();
    if phrase.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&phrase).any(|(start, found)| {
        let before = text[..start].chars().next_back();
        let after = text[start + found.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// What the workspace's rules say about a text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RuleVerdict {
    /// Tags of every matching rule, sorted, without repeats.
    pub tags: Vec<String>,
    /// Whether a matching rule captures by itself.
    pub captures: bool,
}

pub fn evaluate(rules: &[Rule], text: &str) -> RuleVerdict {
    let mut verdict = RuleVerdict::default();
    for rule in rules.iter().filter(|rule| matches(&rule.phrase, text)) {
        verdict.tags.push(rule.tag.clone());
        verdict.captures |= rule.capture;
    }
    verdict.tags.sort_unstable();
    verdict.tags.dedup();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_in_any_case() {
        assert!(matches("dark mode", "Please add DARK MODE!"));
        assert!(matches("refund", "refund, please"));
        assert!(!matches("refund", "refunds take ages"));
        assert!(!matches("app", "the happy path"));
        assert!(matches("crème", "La Crème is great"));
        assert!(!matches("", "anything"));
    }

    #[test]
    fn rules_give_tags_and_may_capture() {
        let rules = vec![
            Rule {
                number: 1,
                phrase: "shipping".into(),
                tag: "logistics".into(),
                capture: false,
            },
            Rule {
                number: 2,
                phrase: "broken".into(),
                tag: "bug".into(),
                capture: true,
            },
            Rule {
                number: 3,
                phrase: "late".into(),
                tag: "logistics".into(),
                capture: false,
            },
        ];
        let verdict = evaluate(&rules, "Shipping was late and the box was broken");
        assert_eq!(verdict.tags, ["bug", "logistics"]);
        assert!(verdict.captures);
        assert_eq!(evaluate(&rules, "love it"), RuleVerdict::default());
    }
}
