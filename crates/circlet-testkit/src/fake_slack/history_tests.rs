use std::collections::HashSet;

use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};

use super::tests::{TestResult, api, form, send, texts, url};
use super::*;

const C: &str = "C1";
const FIRST_SECS: u64 = 1_700_000_000;

/// `n` top-level messages, one a second, oldest first; returns their ts.
fn seed_channel(slack: &FakeSlack, n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let ts = format!("{}.000100", FIRST_SECS + i);
            slack.seed_message(C, json!({"ts": ts, "user": "U1", "text": format!("m{i}")}));
            ts
        })
        .collect()
}

fn ts_list(answer: &Value) -> Vec<String> {
    let messages = answer["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    messages
        .iter()
        .filter_map(|m| m["ts"].as_str().map(str::to_owned))
        .collect()
}

struct Pages {
    sizes: Vec<usize>,
    has_more: Vec<bool>,
    ts: Vec<String>,
}

/// Follows `next_cursor` until it is empty, sending `params` and the cursor each time.
async fn page_through(slack: &FakeSlack, method: &str, params: Value) -> TestResult<Pages> {
    let mut pages = Pages {
        sizes: Vec::new(),
        has_more: Vec::new(),
        ts: Vec::new(),
    };
    let mut cursor = String::new();
    loop {
        let mut request = params.clone();
        if !cursor.is_empty() {
            request["cursor"] = cursor.clone().into();
        }
        let answer = api(slack, method, request).await?;
        assert_eq!(answer["ok"], true, "{answer}");
        let ts = ts_list(&answer);
        pages.sizes.push(ts.len());
        pages.has_more.push(answer["has_more"] == true);
        pages.ts.extend(ts);
        cursor = answer["response_metadata"]["next_cursor"]
            .as_str()
            .ok_or("no next_cursor")?
            .to_owned();
        assert_eq!(cursor.is_empty(), answer["has_more"] == false, "{answer}");
        if cursor.is_empty() {
            return Ok(pages);
        }
    }
}

fn newest_first(ts: &[String]) -> Vec<String> {
    ts.iter().rev().cloned().collect()
}

#[tokio::test]
async fn history_pages_250_messages_newest_first_without_gaps() -> TestResult {
    let slack = FakeSlack::start().await?;
    let seeded = seed_channel(&slack, 250);
    let pages = page_through(
        &slack,
        "conversations.history",
        json!({"channel": C, "limit": 100}),
    )
    .await?;
    assert_eq!(pages.sizes, [100, 100, 50]);
    assert_eq!(pages.has_more, [true, true, false]);
    assert_eq!(
        pages.ts,
        newest_first(&seeded),
        "newest first, no duplicates or gaps"
    );

    // Form-encoded, as most clients send it: the cursor's base64 survives URL encoding.
    let first = api(&slack, "conversations.history", json!({"channel": C})).await?;
    assert_eq!(ts_list(&first).len(), 100, "Slack's default limit");
    let cursor = first["response_metadata"]["next_cursor"]
        .as_str()
        .ok_or("no cursor")?;
    let fields = [("channel", C), ("cursor", cursor), ("limit", "1")];
    let second = form(&url(&slack, "conversations.history"), &fields).await?;
    assert_eq!(ts_list(&second), [seeded[149].clone()]);
    Ok(())
}

#[tokio::test]
async fn limit_is_capped_at_999() -> TestResult {
    let slack = FakeSlack::start().await?;
    seed_channel(&slack, 1000);
    let pages = page_through(
        &slack,
        "conversations.history",
        json!({"channel": C, "limit": 5000}),
    )
    .await?;
    assert_eq!(pages.sizes, [999, 1]);
    Ok(())
}

#[tokio::test]
async fn oldest_and_latest_bound_every_page() -> TestResult {
    let slack = FakeSlack::start().await?;
    let seeded = seed_channel(&slack, 250);
    let between = json!({"channel": C, "oldest": seeded[49], "latest": seeded[200], "limit": 60});
    let pages = page_through(&slack, "conversations.history", between.clone()).await?;
    assert_eq!(pages.sizes, [60, 60, 30]);
    assert_eq!(pages.ts, newest_first(&seeded[50..200]));

    let mut inclusive = between;
    inclusive["inclusive"] = true.into();
    let pages = page_through(&slack, "conversations.history", inclusive).await?;
    assert_eq!(pages.ts, newest_first(&seeded[49..=200]));

    let since = json!({"channel": C, "oldest": seeded[199], "limit": 20});
    let pages = page_through(&slack, "conversations.history", since).await?;
    assert_eq!(
        (pages.sizes, pages.ts),
        (vec![20, 20, 10], newest_first(&seeded[200..]))
    );
    Ok(())
}

#[tokio::test]
async fn replies_page_the_parent_then_replies_oldest_first() -> TestResult {
    let slack = FakeSlack::start().await?;
    let parent = "1700000000.000100";
    slack.seed_message(C, json!({"ts": parent, "user": "U0", "text": "parent"}));
    let replies: Vec<String> = (1..=25)
        .map(|i| {
            let ts = format!("{}.000100", FIRST_SECS + i);
            let reply = json!({"ts": ts, "thread_ts": parent, "user": "U1", "text": format!("r{i}")});
            slack.seed_message(C, reply);
            ts
        })
        .collect();
    let thread = json!({"channel": C, "ts": parent, "limit": 10});
    let pages = page_through(&slack, "conversations.replies", thread).await?;
    assert_eq!(
        (pages.sizes, pages.has_more),
        (vec![10, 10, 6], vec![true, true, false])
    );
    let expected: Vec<String> = std::iter::once(parent.to_owned())
        .chain(replies.clone())
        .collect();
    assert_eq!(pages.ts, expected, "the parent once, then every reply in order");

    let by_reply = json!({"channel": C, "ts": replies[3], "oldest": replies[19]});
    let answer = api(&slack, "conversations.replies", by_reply).await?;
    assert_eq!(
        ts_list(&answer),
        [
            parent,
            &replies[20],
            &replies[21],
            &replies[22],
            &replies[23],
            &replies[24]
        ]
    );
    assert_eq!(answer["messages"][1]["parent_user_id"], "U0");
    let history = api(&slack, "conversations.history", json!({"channel": C})).await?;
    assert_eq!(texts(&history), ["parent"], "replies stay out of history");
    Ok(())
}

#[tokio::test]
async fn parents_carry_their_threads_summary() -> TestResult {
    let slack = FakeSlack::start().await?;
    let reply = |ts: &str, thread: &str, user: &str| json!({"ts": ts, "thread_ts": thread, "user": user});
    slack.seed_message(
        C,
        json!({"ts": "1700000001.000001", "user": "U0", "text": "asked"}),
    );
    slack.seed_message(C, reply("1700000002.000001", "1700000001.000001", "U1"));
    slack.seed_message(C, reply("1700000004.000001", "1700000001.000001", "U1"));
    slack.seed_message(C, reply("1700000003.000001", "1700000001.000001", "U2"));
    let broadcast = json!({"ts": "1700000005.000001", "thread_ts": "1700000001.000001", "user": "U3",
        "subtype": "thread_broadcast", "text": "also sent to the channel"});
    slack.seed_message(C, broadcast);
    let seeded_summary = json!({"ts": "1700000006.000001", "text": "seeded", "reply_count": 9});
    slack.seed_message(C, seeded_summary);
    slack.seed_message(C, reply("1700000007.000001", "1700000006.000001", "U1"));
    slack.seed_message(C, json!({"ts": "1700000008.000001", "text": "alone"}));

    let history = api(&slack, "conversations.history", json!({"channel": C})).await?;
    assert_eq!(
        texts(&history),
        ["alone", "seeded", "also sent to the channel", "asked"]
    );
    let asked = &history["messages"][3];
    assert_eq!(
        (
            &asked["reply_count"],
            &asked["reply_users_count"],
            &asked["latest_reply"],
            &asked["thread_ts"]
        ),
        (
            &json!(4),
            &json!(3),
            &json!("1700000005.000001"),
            &json!("1700000001.000001")
        )
    );
    assert_eq!(asked["reply_users"], json!(["U1", "U2", "U3"]));
    assert_eq!(
        history["messages"][1]["reply_count"], 9,
        "a seed's own summary stands"
    );
    assert_eq!(history["messages"][1]["latest_reply"], "1700000007.000001");
    let alone = history["messages"][0].as_object().ok_or("not an object")?;
    assert!(!alone.contains_key("reply_count") && !alone.contains_key("thread_ts"));
    let thread = api(
        &slack,
        "conversations.replies",
        json!({"channel": C, "ts": "1700000001.000001"}),
    )
    .await?;
    assert_eq!(thread["messages"][0]["reply_count"], 4);
    Ok(())
}

#[tokio::test]
async fn reactions_edits_and_deletions_show_in_history() -> TestResult {
    let slack = FakeSlack::start().await?;
    let ts = "1700000001.000001";
    slack.seed_message(C, json!({"ts": ts, "user": "U1", "text": "idea"}));
    assert!(slack.set_reactions(C, ts, &[("bug", &["U2", "U3"]), ("eyes", &["U2"])]));
    assert!(!slack.set_reactions(C, "1.000001", &[("bug", &["U2"])]));
    let reactions = |messages: Vec<Value>| messages[0]["reactions"].clone();
    let expected = json!([{"name": "bug", "users": ["U2", "U3"], "count": 2},
        {"name": "eyes", "users": ["U2"], "count": 1}]);
    assert_eq!(reactions(slack.messages(C)), expected);
    let history = api(&slack, "conversations.history", json!({"channel": C})).await?;
    assert_eq!(history["messages"][0]["reactions"], expected);

    let bug = json!({"channel": C, "timestamp": ts, "name": ":bug:"});
    assert_eq!(api(&slack, "reactions.add", bug.clone()).await?["ok"], true);
    assert_eq!(
        reactions(slack.messages(C))[0],
        json!({"name": "bug", "users": ["U2", "U3", "UCIRCLET"], "count": 3})
    );
    assert_eq!(
        api(&slack, "reactions.add", bug.clone()).await?["error"],
        "already_reacted"
    );
    assert_eq!(api(&slack, "reactions.remove", bug.clone()).await?["ok"], true);
    assert_eq!(
        api(&slack, "reactions.remove", bug).await?["error"],
        "no_reaction"
    );
    assert_eq!(reactions(slack.messages(C)), expected);
    let tada = json!({"channel": C, "timestamp": ts, "name": "tada"});
    assert_eq!(api(&slack, "reactions.add", tada).await?["ok"], true);
    assert_eq!(
        reactions(slack.messages(C))[2],
        json!({"name": "tada", "users": ["UCIRCLET"], "count": 1})
    );
    assert!(slack.set_reactions(C, ts, &[]));
    assert!(slack.messages(C)[0].get("reactions").is_none());

    assert!(slack.edit_message(C, ts, "better idea", "1700000009.000001"));
    let history = api(&slack, "conversations.history", json!({"channel": C})).await?;
    assert_eq!(texts(&history), ["better idea"]);
    assert_eq!(
        history["messages"][0]["edited"],
        json!({"user": "U1", "ts": "1700000009.000001"})
    );
    assert!(!slack.edit_message(C, "1.000001", "x", "2.000001"));

    assert!(slack.delete_message(C, ts));
    assert!(!slack.delete_message(C, ts));
    assert!(texts(&api(&slack, "conversations.history", json!({"channel": C})).await?).is_empty());
    Ok(())
}

#[tokio::test]
async fn deleting_a_parent_with_replies_leaves_a_tombstone() -> TestResult {
    let slack = FakeSlack::start().await?;
    let (parent, reply) = ("1700000001.000001", "1700000002.000001");
    slack.seed_message(C, json!({"ts": parent, "user": "U1", "text": "parent"}));
    slack.seed_message(
        C,
        json!({"ts": reply, "thread_ts": parent, "user": "U2", "text": "reply"}),
    );
    assert!(slack.delete_message(C, parent));
    let history = api(&slack, "conversations.history", json!({"channel": C})).await?;
    let tombstone = &history["messages"][0];
    assert_eq!(
        (
            &tombstone["subtype"],
            &tombstone["text"],
            &tombstone["reply_count"]
        ),
        (
            &json!("tombstone"),
            &json!("This message was deleted."),
            &json!(1)
        )
    );
    let thread = api(
        &slack,
        "conversations.replies",
        json!({"channel": C, "ts": parent}),
    )
    .await?;
    assert_eq!(texts(&thread), ["This message was deleted.", "reply"]);
    assert!(slack.delete_message(C, reply));
    let thread = api(
        &slack,
        "conversations.replies",
        json!({"channel": C, "ts": parent}),
    )
    .await?;
    assert_eq!(texts(&thread), ["This message was deleted."]);
    Ok(())
}

#[tokio::test]
async fn limit_history_serves_at_most_15_a_page_on_both_methods() -> TestResult {
    let slack = FakeSlack::start().await?;
    let seeded = seed_channel(&slack, 40);
    for i in 1..=20 {
        let ts = format!("{}.000200", FIRST_SECS + i);
        slack.seed_message(C, json!({"ts": ts, "thread_ts": seeded[0], "user": "U1"}));
    }
    slack.limit_history(Some(15));
    let pages = page_through(
        &slack,
        "conversations.history",
        json!({"channel": C, "limit": 200}),
    )
    .await?;
    assert_eq!((pages.sizes, pages.ts), (vec![15, 15, 10], newest_first(&seeded)));
    let pages = page_through(&slack, "conversations.history", json!({"channel": C, "limit": 7})).await?;
    assert_eq!(
        pages.sizes,
        [7, 7, 7, 7, 7, 5],
        "a smaller limit is served as asked"
    );
    let thread = json!({"channel": C, "ts": seeded[0]});
    assert_eq!(
        page_through(&slack, "conversations.replies", thread.clone())
            .await?
            .sizes,
        [15, 6]
    );

    slack.limit_history(None);
    assert_eq!(
        page_through(&slack, "conversations.replies", thread).await?.sizes,
        [21]
    );
    Ok(())
}

#[tokio::test]
async fn a_cursor_slack_did_not_give_is_invalid() -> TestResult {
    let slack = FakeSlack::start().await?;
    seed_channel(&slack, 3);
    let forged = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "offset:2");
    for cursor in ["not base64!", "bmV4dF90czphYmM=", forged.as_str()] {
        let history = json!({"channel": C, "cursor": cursor});
        let answer = api(&slack, "conversations.history", history).await?;
        assert_eq!(
            answer,
            json!({"ok": false, "error": "invalid_cursor"}),
            "{cursor}"
        );
        let replies = json!({"channel": C, "ts": "1700000000.000100", "cursor": cursor});
        assert_eq!(
            api(&slack, "conversations.replies", replies).await?["error"],
            "invalid_cursor"
        );
    }
    Ok(())
}

#[tokio::test]
async fn injected_rate_limits_apply_to_history_and_replies() -> TestResult {
    let slack = FakeSlack::start().await?;
    let seeded = seed_channel(&slack, 2);
    slack.inject(
        "conversations.history",
        Fault::RateLimited { retry_after_secs: 30 },
        1,
    );
    slack.inject(
        "conversations.replies",
        Fault::RateLimited { retry_after_secs: 60 },
        1,
    );
    let history = json!({"channel": C});
    let limited = send(&slack, "conversations.history", history.clone()).await?;
    assert_eq!(limited.status(), 429);
    assert_eq!(
        limited.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()),
        Some("30")
    );
    assert_eq!(limited.json::<Value>().await?["error"], "ratelimited");
    assert_eq!(
        texts(&api(&slack, "conversations.history", history).await?),
        ["m1", "m0"]
    );
    let thread = json!({"channel": C, "ts": seeded[0]});
    assert_eq!(
        send(&slack, "conversations.replies", thread.clone())
            .await?
            .status(),
        429
    );
    assert_eq!(
        texts(&api(&slack, "conversations.replies", thread).await?),
        ["m0"]
    );
    Ok(())
}

#[tokio::test]
async fn ten_thousand_messages_page_through_completely() -> TestResult {
    let slack = FakeSlack::start().await?;
    let seeded = seed_channel(&slack, 10_000);
    let pages = page_through(
        &slack,
        "conversations.history",
        json!({"channel": C, "limit": 999}),
    )
    .await?;
    assert_eq!(pages.sizes.len(), 11);
    let distinct: HashSet<&String> = pages.ts.iter().collect();
    assert_eq!((pages.ts.len(), distinct.len()), (10_000, 10_000));
    assert_eq!(pages.ts, newest_first(&seeded));
    Ok(())
}
