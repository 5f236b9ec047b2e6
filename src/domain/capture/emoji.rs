//! Which reactions mean something: the workspace's emoji → tag map and the vote emoji.

use std::collections::BTreeMap;

use crate::store::EmojiOverride;

/// The map every workspace starts with.
pub const DEFAULT_EMOJI_TAGS: &[(&str, &str)] = &[
    ("bulb", "idea"),
    ("bug", "bug"),
    ("heart", "praise"),
    ("confused", "pain-point"),
    ("memo", FEEDBACK),
];

/// The tag name that captures without tagging: `:memo:` marks plain feedback.
pub const FEEDBACK: &str = "feedback";

/// Reactions that vote for a captured message (Slack calls :thumbsup: `+1`).
const VOTE_EMOJI: &[&str] = &["+1", "thumbsup"];

/// The emoji without its skin tone: `+1::skin-tone-3` counts as `+1`.
pub fn base_emoji(reaction: &str) -> &str {
    reaction.split("::").next().unwrap_or(reaction)
}

pub fn is_vote(emoji: &str) -> bool {
    VOTE_EMOJI.contains(&emoji)
}

/// What a mapped reaction does to the message it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagAction<'a> {
    /// Capture and tag.
    Tag(&'a str),
    /// Capture only (plain feedback).
    Capture,
}

/// One workspace's effective emoji → tag map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiMap {
    tags: BTreeMap<String, String>,
}

impl EmojiMap {
    pub fn new(overrides: &[EmojiOverride]) -> Self {
        let mut tags: BTreeMap<String, String> = DEFAULT_EMOJI_TAGS
            .iter()
            .map(|(emoji, tag)| ((*emoji).to_owned(), (*tag).to_owned()))
            .collect();
        for change in overrides {
            match &change.tag {
                Some(tag) => tags.insert(change.emoji.clone(), tag.clone()),
                None => tags.remove(&change.emoji),
            };
        }
        Self { tags }
    }

    /// What the (base) emoji does, if anything.
    pub fn action(&self, emoji: &str) -> Option<TagAction<'_>> {
        self.tags.get(emoji).map(|tag| match tag.as_str() {
            FEEDBACK => TagAction::Capture,
            tag => TagAction::Tag(tag),
        })
    }

    /// Every emoji that gives `tag`.
    pub fn emoji_for(&self, tag: &str) -> Vec<&str> {
        self.tags
            .iter()
            .filter(|(_, t)| t.as_str() == tag)
            .map(|(emoji, _)| emoji.as_str())
            .collect()
    }

    /// (emoji, tag) pairs, by emoji.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(e, t)| (e.as_str(), t.as_str()))
    }

    /// Tag names the map gives, sorted, without the capture-only one.
    pub fn tag_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .tags
            .values()
            .map(String::as_str)
            .filter(|t| *t != FEEDBACK)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// A tag name as people may type it: lower case letters, digits and dashes, up to 30.
pub fn valid_tag_name(name: &str) -> bool {
    (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `:bulb:` or `bulb` → `bulb`; None unless it looks like an emoji name.
pub fn emoji_name(word: &str) -> Option<&str> {
    let name = base_emoji(word.trim_matches(':'));
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-+'".contains(&b));
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skin_tones_count_as_their_base_emoji() {
        assert_eq!(base_emoji("+1::skin-tone-3"), "+1");
        assert_eq!(base_emoji("bulb"), "bulb");
        assert!(is_vote(base_emoji("thumbsup::skin-tone-6")));
    }

    #[test]
    fn defaults_map_five_emoji_and_memo_captures_without_a_tag() {
        let map = EmojiMap::new(&[]);
        assert_eq!(map.action("bulb"), Some(TagAction::Tag("idea")));
        assert_eq!(map.action("confused"), Some(TagAction::Tag("pain-point")));
        assert_eq!(map.action("memo"), Some(TagAction::Capture));
        assert_eq!(map.action("tada"), None);
        assert_eq!(map.tag_names(), ["bug", "idea", "pain-point", "praise"]);
    }

    #[test]
    fn overrides_add_change_and_switch_off_emoji() {
        let map = EmojiMap::new(&[
            EmojiOverride {
                emoji: "rocket".into(),
                tag: Some("idea".into()),
            },
            EmojiOverride {
                emoji: "bug".into(),
                tag: None,
            },
            EmojiOverride {
                emoji: "heart".into(),
                tag: Some("love".into()),
            },
        ]);
        assert_eq!(map.action("bug"), None);
        assert_eq!(map.action("heart"), Some(TagAction::Tag("love")));
        assert_eq!(map.emoji_for("idea"), ["bulb", "rocket"]);
    }

    #[test]
    fn emoji_and_tag_names_are_checked() {
        assert_eq!(emoji_name(":bulb:"), Some("bulb"));
        assert_eq!(emoji_name(":+1::skin-tone-2:"), Some("+1"));
        assert_eq!(emoji_name("Bulb!"), None);
        assert!(valid_tag_name("pain-point"));
        assert!(!valid_tag_name("Pain Point"));
    }
}
