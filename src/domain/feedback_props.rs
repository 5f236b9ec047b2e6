//! Property tests of `/feedback` argument parsing: every well-formed command, however it is
//! spaced and cased, reads as the command meant. That no text makes the parsers panic is
//! checked through the fuzz targets' entry points, in `fuzzing.rs`'s tests.

use proptest::prelude::*;

use super::capture::emoji::emoji_name;
use super::capture::rules_command::parse_add;
use super::feedback_command::subcommand;
use super::slash::{SlashCommand, channel_id};
use super::triage::errors::{InsightRef, parse_number};
use super::triage::{merge, status};
use crate::ids::{TeamId, UserId};
use crate::store::InsightStatus;
use crate::store::NewRule;

fn command(text: String) -> SlashCommand {
    SlashCommand {
        team_id: TeamId::parse("T1").expect("a team id"),
        user_id: UserId::parse("U1").expect("a user id"),
        text,
        response_url: String::new(),
    }
}

/// Whitespace Slack clients may leave between words.
fn gap() -> impl Strategy<Value = String> {
    "[ \t]{1,3}"
}

/// An insight id as people type it: `42` or `#42`.
fn id() -> impl Strategy<Value = (i64, String)> {
    (1..=i64::MAX, any::<bool>())
        .prop_map(|(n, hash)| (n, if hash { format!("#{n}") } else { n.to_string() }))
}

/// `word` in a random mix of upper and lower case.
fn any_case(word: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
        word.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn a_status() -> impl Strategy<Value = InsightStatus> {
    proptest::sample::select(InsightStatus::ALL)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ids_read_the_same_with_or_without_a_hash(n in any::<i64>()) {
        let plain = parse_number(&n.to_string()).ok();
        let hashed = parse_number(&format!("#{n}")).ok();
        prop_assert_eq!(plain, hashed);
        prop_assert_eq!(plain, (n > 0).then_some(n));
    }

    #[test]
    fn status_commands_read_as_typed(
        lead in "[ \t]{0,2}", sub in any_case("status"), g1 in gap(), (n, typed) in id(), g2 in gap(),
        status in a_status(), upper in any::<bool>(), trail in "[ \t]{0,2}",
    ) {
        let word = if upper { status.as_str().to_ascii_uppercase() } else { status.as_str().to_owned() };
        let command = command(format!("{lead}{sub}{g1}{typed}{g2}{word}{trail}"));
        prop_assert_eq!(subcommand(&command.text), "status");
        prop_assert_eq!(
            status::parse_args(&command.args()).ok(),
            Some((InsightRef { team: None, number: n }, status))
        );
    }

    #[test]
    fn merge_commands_read_as_typed(
        (from, from_typed) in id(), into_word in any_case("into"), (into, into_typed) in id(),
        g1 in gap(), g2 in gap(), g3 in gap(),
    ) {
        let command = command(format!("merge{g1}{from_typed}{g2}{into_word}{g3}{into_typed}"));
        prop_assert_eq!(subcommand(&command.text), "merge");
        prop_assert_eq!(merge::parse_args(&command.args()).ok(), Some((from, into)));
    }

    #[test]
    fn status_with_a_missing_or_extra_word_is_a_usage_error(
        words in proptest::collection::vec("[a-z0-9#]{1,8}", 0..5),
    ) {
        prop_assume!(words.len() != 2);
        let command = command(format!("status {}", words.join(" ")));
        prop_assert!(status::parse_args(&command.args()).is_err());
    }

    #[test]
    fn rules_add_reads_the_phrase_tag_and_flag(
        phrase in "[a-z0-9][a-z0-9 ']{0,60}[a-z0-9]", tag in "[a-z0-9-]{1,30}", capture in any::<bool>(),
        curly in any::<bool>(), g1 in gap(), g2 in gap(),
    ) {
        let (open, close) = if curly { ('“', '”') } else { ('"', '"') };
        let flag = if capture { format!("{g2}capture") } else { String::new() };
        let command = command(format!("rules add {open}{phrase}{close}{g1}{tag}{flag}"));
        let rest = command.rest();
        let (action, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        prop_assert_eq!(action, "add");
        prop_assert_eq!(parse_add(tail), Ok(NewRule { phrase: phrase.clone(), tag: tag.clone(), capture }));
    }

    #[test]
    fn channel_mentions_read_as_their_id(
        id in "[CG][A-Z0-9]{1,12}", name in proptest::option::of("[a-z0-9_-]{1,20}"),
    ) {
        let mention = match &name {
            Some(name) => format!("<#{id}|{name}>"),
            None => format!("<#{id}>"),
        };
        prop_assert_eq!(channel_id(&mention), Some(id.as_str()));
        prop_assert_eq!(channel_id(&id), Some(id.as_str()));
    }

    #[test]
    fn emoji_are_read_with_or_without_colons(name in "[a-z0-9_+'-]{1,30}") {
        let colons = format!(":{name}:");
        prop_assert_eq!(emoji_name(&colons), Some(name.as_str()));
        prop_assert_eq!(emoji_name(&name), Some(name.as_str()));
    }
}
