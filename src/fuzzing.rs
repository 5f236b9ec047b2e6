//! Entry points for the fuzz targets in `fuzz/`: each runs, on arbitrary bytes, the parsing that
//! the request path or a worker runs on what Slack (or anyone who can reach the port) sends.
//! Not an API: nothing else should call these.

use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue};

use crate::clock::ManualClock;
use crate::domain::capture::emoji::{base_emoji, emoji_name, valid_tag_name};
use crate::domain::capture::{events, rules_command};
use crate::domain::feedback_command;
use crate::domain::modal::metadata::FormContext;
use crate::domain::modal::submit;
use crate::domain::slash::{SlashCommand, channel_id};
use crate::domain::triage::errors::{parse_number, parse_status};
use crate::domain::triage::{merge, status};
use crate::ids::{ChannelId, TeamId, UserId};
use crate::ingress::signature::{SIGNATURE_HEADER, SignatureVerifier, TIMESTAMP_HEADER, sign};
use crate::ingress::{commands, events as ingress_events, interactions};
use crate::secret::Secret;

/// Slack's documented signing test vector: its secret and timestamp. The verifier's clock is
/// set to that timestamp, so seeds signed with it (fuzz/seed.sh) reach the HMAC comparison.
pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const NOW: i64 = 1_531_420_618;

/// Signature checking on raw header bytes: `timestamp`, `signature` and `body` as they arrive.
/// Also checks that a body signed by [`sign`] with a fuzzed timestamp verifies exactly when that
/// timestamp is within the window.
pub fn signature(timestamp: &[u8], signature: &[u8], body: &[u8]) {
    let verifier = SignatureVerifier::new(Secret::new(SECRET), ManualClock::at_secs(NOW));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(timestamp) {
        headers.insert(TIMESTAMP_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_bytes(signature) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    let _ = verifier.verify(&headers, body);

    if let Some(ts) = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
    {
        let signed = sign(&Secret::new(SECRET), ts, body);
        let verdict = verifier.verify_parts(&ts.to_string(), &signed, body);
        let in_window = NOW.abs_diff(ts) <= crate::ingress::signature::MAX_SKEW_SECS as u64;
        assert_eq!(verdict.is_ok(), in_window, "ts {ts}: {verdict:?}");
    }
}

/// The Events API body: the ingress routing parse, then what the workers parse from a stored
/// event (capture's fields and slack-morphism's model for channel membership).
pub fn event_body(body: &[u8]) {
    let delivery = ingress_events::classify(body);
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    if let Ok(ingress_events::EventDelivery::Callback { .. }) = delivery {
        let _ = events::parse(text);
        let _ = serde_json::from_str::<slack_morphism::prelude::SlackPushEvent>(text);
    }
    // Workers parse stored payloads whatever ingress made of them; parse every body too.
    let _ = events::parse(text);
    if let Some((secs, _)) = text.split_once('\n') {
        let _ = events::micros(secs);
    }
}

/// The interactivity body (`payload=` form): the ingress parse, then a view submission's
/// offline checks (signed `private_metadata`, form fields).
pub fn interaction_body(body: &[u8]) {
    let Ok(request) = interactions::read(body) else {
        return;
    };
    let team = request.team_id.as_deref().unwrap_or_default();
    let tags: BTreeSet<String> = ["idea", "bug", "praise"]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    let _ = submit::read_offline(team, &request.payload, &Secret::new(SECRET), NOW, &tags);
}

/// A modal's `private_metadata` as submitted: must open only if it was sealed with the key.
pub fn private_metadata(raw: &str, now: i64) {
    let key = Secret::new(SECRET);
    if let Ok(context) = FormContext::open(raw, &key, now) {
        // Anything that opens must survive a seal/open round trip unchanged.
        let resealed = context.seal(&key);
        assert_eq!(FormContext::open(&resealed, &key, now), Ok(context));
    }
}

/// A slash command body: the ingress parse, then `/feedback`'s argument parsing, every
/// subcommand's parser run on the text whatever the subcommand.
pub fn command_body(body: &[u8]) {
    let _ = commands::is_ssl_check(body);
    let Ok(form) = commands::read_form(body) else {
        return;
    };
    feedback_text(&form.text);
    if let Ok(stored) = std::str::from_utf8(body)
        && let Ok(command) = serde_urlencoded::from_str::<SlashCommand>(stored)
    {
        feedback_text(&command.text);
    }
}

/// `/feedback` command text through every argument parser.
pub fn feedback_text(text: &str) {
    let _ = feedback_command::subcommand(text);
    let command = SlashCommand {
        team_id: TeamId::parse("T1").expect("a team id"),
        user_id: UserId::parse("U1").expect("a user id"),
        text: text.to_owned(),
        response_url: String::new(),
    };
    let args = command.args();
    let rest = command.rest();
    let _ = status::parse_args(&args);
    let _ = merge::parse_args(&args);
    let _ = rules_command::parse_add(rest);
    let (_, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let _ = rules_command::parse_add(tail);
    let _ = crate::domain::digest::prompt_command::parse(rest);
    let _ = crate::domain::digest::command::parse(&args);
    let _ = crate::domain::slash::quoted(rest);
    for word in &args {
        let _ = parse_number(word);
        let _ = parse_status(word);
        let _ = channel_id(word);
        let _ = emoji_name(word);
        let _ = valid_tag_name(word);
        let _ = base_emoji(word);
    }
    let _ = feedback_command::unknown_text(&feedback_command::subcommand(text), &[]);
}

/// Seals a context made of fuzzed fields and opens it at `now`: it must open exactly when its
/// age is within the form's lifetime (and the clock skew allowed), unchanged.
pub fn sealed_metadata([team_id, channel_id, message_ts, user_id]: [&str; 4], issued_at: i64, now: i64) {
    use crate::domain::modal::metadata::{CLOCK_SKEW_SECS, FORM_LIFETIME_SECS};
    let key = Secret::new(SECRET);
    // Circlet seals only ids it parsed: the fuzzed text becomes one of Slack's shape, of any
    // length, as the hex digits of its bytes.
    let shaped = |prefix: char, text: &str| format!("{prefix}{}", hex::encode_upper(text));
    let (Ok(team), Ok(channel), Ok(user)) = (
        TeamId::parse(shaped('T', team_id)),
        ChannelId::parse(shaped('C', channel_id)),
        UserId::parse(shaped('U', user_id)),
    ) else {
        return;
    };
    let context = FormContext {
        team_id: team,
        channel_id: channel,
        message_ts: message_ts.to_owned(),
        user_id: user,
        issued_at,
        product_fields: issued_at % 2 == 0,
    };
    let opened = FormContext::open(&context.seal(&key), &key, now);
    let age = i128::from(now) - i128::from(issued_at);
    let fresh = (-i128::from(CLOCK_SKEW_SECS)..=i128::from(FORM_LIFETIME_SECS)).contains(&age);
    assert_eq!(
        opened.as_ref().ok(),
        fresh.then_some(&context),
        "age {age}: {opened:?}"
    );
    if let Ok(opened) = opened {
        assert!(
            opened
                .check_submitter(context.team_id.as_str(), context.user_id.as_str())
                .is_ok()
        );
    }
}

/// Export filters as each door takes them: an API query string, `/feedback export` and
/// `/feedback report` words, and the CLI's flag values (the same parser as the query). A filter
/// people typed never starts in the future nor ends before it starts; the API's may (it then
/// selects nothing), but its dates are in the years 0000 to 9999 too.
pub fn export_filter(data: &[u8]) {
    let now = NOW * 1000;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(params) = serde_urlencoded::from_str::<crate::api::insights::ExportParams>(text) {
        let _ = params.format();
        let team = TeamId::parse("T1").expect("a team id");
        for team in [Some(&team), None] {
            if let Ok(filter) = params.filter_input().parse(team, now) {
                check_filter(&filter, now);
            }
            if let Ok(filter) = params.filter_input().parse_allowing_empty(team) {
                filter
                    .since
                    .into_iter()
                    .chain(filter.until)
                    .for_each(check_in_years);
            }
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let team = TeamId::parse("T1").expect("a team id");
    if let Ok(request) = crate::domain::export::command::parse_words(&words, &team, now) {
        check_filter(&request.filter, now);
    }
    if let Ok(report) = crate::domain::reports::request::parse(&team, &words, now) {
        let window = report.window(now);
        assert!(window.start < window.end, "{window:?}");
        check_previous(window);
    }
    // Two numbers as a window's bounds: the period before it, whatever they are.
    if let [start, end] = words[..]
        && let (Ok(start), Ok(end)) = (start.parse(), end.parse())
    {
        check_previous(crate::store::Window { start, end });
    }
    for word in &words {
        use crate::domain::export::filter::{Bound, parse_status, parse_tag, parse_time};
        let _ = parse_status(word);
        let _ = parse_tag(word);
        for (field, bound) in [("since", Bound::Start), ("until", Bound::End)] {
            if let Ok(at) = parse_time(field, word, bound) {
                check_in_years(at);
            }
        }
    }
}

/// The period before `window` ends where it starts and, for a window in order, is in order.
fn check_previous(window: crate::store::Window) {
    let previous = window.previous();
    assert_eq!(previous.end, window.start, "{window:?}");
    if window.start <= window.end {
        assert!(previous.start <= previous.end, "{window:?} → {previous:?}");
    }
}

/// A date read as written in the years 0000 to 9999 lands, in UTC, at most a day outside them.
fn check_in_years(at: i64) {
    use chrono::Datelike;
    let year = chrono::DateTime::from_timestamp_millis(at).map(|t| t.year());
    assert!(
        year.is_some_and(|year| (-1..=10_000).contains(&year)),
        "{at} ms is year {year:?}"
    );
}

fn check_filter(filter: &crate::store::InsightFilter, now: i64) {
    if let Some(since) = filter.since {
        assert!(since <= now, "since in the future: {filter:?}");
        if let Some(until) = filter.until {
            assert!(since < until, "empty range: {filter:?}");
        }
    }
}

/// The fuzz targets' entry points, run as property tests so `cargo test` finds a panic too. They
/// live here, not beside the parsers: these entry points reach through ingress and domain.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn no_text_makes_the_parsers_panic(text in any::<String>()) {
            super::feedback_text(&text);
        }

        #[test]
        fn no_form_body_makes_command_parsing_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            super::command_body(&body);
        }

        #[test]
        fn no_date_or_window_makes_report_or_export_overflow(
            years in proptest::collection::vec(prop_oneof![-300_000..=300_000i64, any::<i64>()], 2),
            month in 0..=13u32, day in 0..=32u32,
            bounds in proptest::collection::vec(any::<i64>(), 2),
        ) {
            let dates: Vec<String> = years
                .iter()
                .map(|year| format!("{}{year:04}-{month:02}-{day:02}", if *year > 0 { "+" } else { "" }))
                .collect();
            for text in [
                format!("since {} until {}", dates[0], dates[1]),
                format!("since={}&until={}", dates[0], dates[1]),
                format!("since {}T00:00:00Z", dates[0]),
                format!("{} {}", bounds[0], bounds[1]),
            ] {
                super::export_filter(text.as_bytes());
            }
        }
    }
}
