//! Slack's ids as types: a workspace ([`TeamId`]), a channel ([`ChannelId`]), a member
//! ([`UserId`]) and the insight number people type ([`InsightNumber`]). Payloads are parsed into
//! them once, where they arrive; past that point a channel id cannot be passed where a team id is
//! meant, and code below the edge does not re-check what it was given.
//!
//! The check is Slack's shape, not its exact grammar: a documented prefix letter, then ASCII
//! uppercase letters and digits. Slack has lengthened its ids before (9 to 11 characters), so the
//! length is not checked.
//!
//! No `Deref<Target = str>`: an id is not a string to slice or search, and `as_str()` at the few
//! places one becomes text (SQL, Slack's API, logs) keeps those places easy to find.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not an id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} {text:?} does not start with one of {prefixes}")]
    Prefix {
        kind: &'static str,
        text: String,
        prefixes: &'static str,
    },
    #[error("{kind} {text:?} has a character other than A-Z and 0-9")]
    Character { kind: &'static str, text: String },
    #[error("insight number {text:?} is not a positive whole number")]
    Number { text: String },
}

/// What every Slack id is: text of a checked shape.
pub trait SlackId {
    fn as_str(&self) -> &str;
}

/// Checks `text` against Slack's shape for ids starting with one of `prefixes`.
fn check(kind: &'static str, prefixes: &'static str, text: &str) -> Result<(), IdError> {
    let Some(first) = text.chars().next() else {
        return Err(IdError::Empty { kind });
    };
    if !prefixes.contains(first) {
        return Err(IdError::Prefix {
            kind,
            text: text.to_owned(),
            prefixes,
        });
    }
    if !text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(IdError::Character {
            kind,
            text: text.to_owned(),
        });
    }
    Ok(())
}

/// Declares a Slack id newtype whose text starts with one of `$prefixes`.
macro_rules! slack_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $prefixes:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses Slack's text for this kind of id.
            pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check($kind, $prefixes, &text)?;
                Ok(Self(text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl SlackId for $name {
            fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

slack_id! {
    /// A workspace: `T…`, or `E…` for an Enterprise Grid organization (org-wide installs key
    /// their data by it).
    TeamId, "team id", "TE"
}

slack_id! {
    /// A channel: public `C…`, private `G…` (older ones) or a direct message `D…`.
    ChannelId, "channel id", "CGD"
}

slack_id! {
    /// A member: `U…`, `W…` (Enterprise Grid) or a bot `B…`.
    UserId, "user id", "UWB"
}

/// An insight's number within its workspace, the `#12` people type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InsightNumber(i64);

impl InsightNumber {
    /// Parses `#12` or `12`; the number must be positive.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let digits = text.strip_prefix('#').unwrap_or(text);
        match digits.parse::<i64>() {
            Ok(number) if number > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(number)),
            _ => Err(IdError::Number {
                text: text.to_owned(),
            }),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for InsightNumber {
    type Error = IdError;
    fn try_from(number: i64) -> Result<Self, IdError> {
        if number > 0 {
            Ok(Self(number))
        } else {
            Err(IdError::Number {
                text: number.to_string(),
            })
        }
    }
}

impl fmt::Display for InsightNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_shaped_ids_parse() {
        for team in ["T0TEST", "T9TK3CUKW", "E12345678", "T111"] {
            assert_eq!(TeamId::parse(team).unwrap().as_str(), team);
        }
        for channel in ["C0CIRCLE", "G8PSS9T3V", "D111", "C904QB4NS"] {
            assert_eq!(ChannelId::parse(channel).unwrap().as_str(), channel);
        }
        for user in ["U0MEMBER", "W012A3CDE", "B01BOT", "U061F7AUR"] {
            assert_eq!(UserId::parse(user).unwrap().to_string(), user);
        }
    }

    #[test]
    fn an_empty_id_is_refused() {
        assert_eq!(TeamId::parse("").unwrap_err().to_string(), "team id is empty");
    }

    #[test]
    fn an_id_of_another_kind_is_refused_by_its_prefix() {
        assert_eq!(
            TeamId::parse("C0CIRCLE").unwrap_err().to_string(),
            r#"team id "C0CIRCLE" does not start with one of TE"#
        );
        assert_eq!(
            ChannelId::parse("U0MEMBER").unwrap_err().to_string(),
            r#"channel id "U0MEMBER" does not start with one of CGD"#
        );
        assert_eq!(
            UserId::parse("T0TEST").unwrap_err().to_string(),
            r#"user id "T0TEST" does not start with one of UWB"#
        );
    }

    #[test]
    fn lowercase_and_punctuation_are_refused() {
        assert_eq!(
            TeamId::parse("Team").unwrap_err().to_string(),
            r#"team id "Team" has a character other than A-Z and 0-9"#
        );
        assert!(matches!(TeamId::parse("T_X"), Err(IdError::Character { .. })));
        assert!(matches!(TeamId::parse("E-1"), Err(IdError::Character { .. })));
        assert!(matches!(ChannelId::parse("C1 "), Err(IdError::Character { .. })));
        assert!(matches!(UserId::parse("U1é"), Err(IdError::Character { .. })));
    }

    #[test]
    fn ids_are_json_strings_and_checked_when_read() {
        let id: ChannelId = serde_json::from_str(r#""C0CIRCLE""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""C0CIRCLE""#);
        let refused = serde_json::from_str::<ChannelId>(r#""c0circle""#).unwrap_err();
        assert!(refused.to_string().contains("channel id"), "{refused}");
    }

    #[test]
    fn insight_numbers_parse_with_or_without_the_hash() {
        assert_eq!(InsightNumber::parse("#12").unwrap().get(), 12);
        assert_eq!(InsightNumber::parse("12").unwrap().get(), 12);
        assert_eq!(InsightNumber::parse("7").unwrap().to_string(), "#7");
    }

    #[test]
    fn insight_numbers_are_positive_whole_numbers() {
        for text in ["", "#", "0", "#0", "-3", "+3", "1.5", "##1", "twelve", " 1"] {
            assert_eq!(
                InsightNumber::parse(text).unwrap_err().to_string(),
                format!("insight number {text:?} is not a positive whole number")
            );
        }
        assert!(InsightNumber::try_from(0).is_err());
        assert_eq!(InsightNumber::try_from(3).unwrap().get(), 3);
    }
}
