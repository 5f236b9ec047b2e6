use axum::http::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};

use super::*;

pub(super) type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// reqwest is built with `rustls-no-provider`, so a process-wide crypto provider must exist first.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
    client().get(url).send().await
}

pub(super) fn url(slack: &FakeSlack, method: &str) -> String {
    format!("{}/{method}", slack.api_url())
}

pub(super) async fn send(slack: &FakeSlack, method: &str, body: Value) -> TestResult<reqwest::Response> {
    let request = client().post(url(slack, method)).bearer_auth("xoxb-test");
    Ok(request.json(&body).send().await?)
}

pub(super) async fn api(slack: &FakeSlack, method: &str, body: Value) -> TestResult<Value> {
    Ok(send(slack, method, body).await?.json().await?)
}

pub(super) async fn form(url: &str, fields: &[(&str, &str)]) -> TestResult<Value> {
    let request = client()
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    Ok(request
        .body(serde_urlencoded::to_string(fields)?)
        .send()
        .await?
        .json()
        .await?)
}

pub(super) fn texts(answer: &Value) -> Vec<&str> {
    let messages = answer["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    messages.iter().filter_map(|m| m["text"].as_str()).collect()
}

#[tokio::test]
async fn records_json_form_and_query_params_with_tokens() -> TestResult {
    let slack = FakeSlack::start().await?;
    api(&slack, "auth.test", json!({"limit": 5, "flag": true})).await?;
    let fields = [
        ("token", "xoxb-form"),
        ("channel", "C1"),
        ("blocks", r#"[{"type":"divider"}]"#),
    ];
    form(&url(&slack, "chat.postMessage"), &fields).await?;
    let user: Value = get(&url(&slack, "users.info?user=U9&x=1")).await?.json().await?;
    assert_eq!(user["user"]["real_name"], "User U9");

    let calls = slack.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].params, json!({"limit": 5, "flag": true}));
    assert_eq!(calls[0].token.as_deref(), Some("xoxb-test"));
    assert_eq!(calls[1].params["blocks"], json!([{"type": "divider"}]));
    assert_eq!(
        (calls[1].params["channel"].as_str(), calls[1].token.as_deref()),
        (Some("C1"), Some("xoxb-form"))
    );
    assert_eq!(calls[2].params, json!({"user": "U9", "x": "1"}));
    assert_eq!((calls[2].token.as_ref(), calls[2].http_status), (None, 200));
    assert_eq!(slack.messages("C1")[0]["blocks"][0]["type"], "divider");
    Ok(())
}

#[tokio::test]
async fn odd_input_and_unknown_methods_answer_errors() -> TestResult {
    let slack = FakeSlack::start().await?;
    let request = client().post(url(&slack, "chat.postMessage"));
    let response = request
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await?["error"], "invalid_arguments");
    assert_eq!(
        api(&slack, "chat.postMessage", json!({"text": "x"})).await?["error"],
        "channel_not_found"
    );
    assert_eq!(
        api(&slack, "no.such.method", json!({})).await?["error"],
        "unknown_method"
    );
    assert_eq!(api(&slack, "auth.test", json!({})).await?["user_id"], "UCIRCLET");
    assert_eq!(slack.calls().len(), 4);
    assert!(slack.messages("C1").is_empty());
    Ok(())
}

#[tokio::test]
async fn posted_messages_show_in_history_and_replies() -> TestResult {
    let slack = FakeSlack::start().await?;
    let metadata = json!({"event_type": "circle", "event_payload": {"id": 7}});
    let parent = json!({"channel": "C1", "text": "parent", "metadata": metadata});
    let parent = api(&slack, "chat.postMessage", parent).await?;
    let ts = parent["ts"].as_str().ok_or("no ts")?;
    assert!(ts.ends_with(".000100"), "{ts}");
    assert_eq!(&parent["message"]["user"], &json!("UCIRCLET"));
    api(
        &slack,
        "chat.postMessage",
        json!({"channel": "C1", "text": "reply", "thread_ts": ts}),
    )
    .await?;
    api(
        &slack,
        "chat.postMessage",
        json!({"channel": "C1", "text": "second"}),
    )
    .await?;

    let history = api(&slack, "conversations.history", json!({"channel": "C1"})).await?;
    assert_eq!(
        (texts(&history), &history["has_more"]),
        (vec!["second", "parent"], &json!(false))
    );
    assert!(history["messages"][1].get("metadata").is_none());
    let newer = json!({"channel": "C1", "include_all_metadata": "true", "limit": 1, "oldest": ts});
    assert_eq!(
        texts(&api(&slack, "conversations.history", newer).await?),
        ["second"]
    );
    let all = json!({"channel": "C1", "include_all_metadata": true, "oldest": ts, "inclusive": true});
    let history = api(&slack, "conversations.history", all).await?;
    assert_eq!(history["messages"][1]["metadata"], metadata);

    let thread = api(
        &slack,
        "conversations.replies",
        json!({"channel": "C1", "ts": ts}),
    )
    .await?;
    assert_eq!(texts(&thread), ["parent", "reply"]);
    assert!(thread["messages"][0].get("metadata").is_none());
    let missing = api(
        &slack,
        "conversations.replies",
        json!({"channel": "C1", "ts": "1.000001"}),
    )
    .await?;
    assert_eq!(missing["error"], "thread_not_found");
    let empty = api(&slack, "conversations.history", json!({"channel": "C404"})).await?;
    assert_eq!((&empty["ok"], texts(&empty).len()), (&json!(true), 0));
    Ok(())
}

#[tokio::test]
async fn seeded_messages_users_updates_and_views() -> TestResult {
    let slack = FakeSlack::start().await?;
    let old_ts = "1600000000.000001";
    slack.seed_message("C2", json!({"ts": old_ts, "text": "old", "user": "U1"}));
    slack.set_user(json!({"id": "U1", "name": "ana", "is_admin": true}));
    let update = json!({"channel": "C2", "ts": old_ts, "text": "new"});
    assert_eq!(api(&slack, "chat.update", update).await?["text"], "new");
    assert_eq!(slack.messages("C2")[0]["text"], "new");
    let missing = json!({"channel": "C2", "ts": "1.2", "text": "x"});
    assert_eq!(
        api(&slack, "chat.update", missing).await?["error"],
        "message_not_found"
    );
    assert_eq!(
        api(&slack, "users.info", json!({"user": "U1"})).await?["user"]["name"],
        "ana"
    );
    let link = api(
        &slack,
        "chat.getPermalink",
        json!({"channel": "C2", "message_ts": old_ts}),
    )
    .await?;
    assert_eq!(
        link["permalink"],
        "https://circle.slack.com/archives/C2/p1600000000000001"
    );
    let info = api(&slack, "conversations.info", json!({"channel": "C2"})).await?;
    assert_eq!(info["channel"]["name"], "circle-c2");
    let view = api(
        &slack,
        "views.open",
        json!({"view": {"type": "modal", "title": "t"}}),
    )
    .await?;
    assert_eq!(
        (&view["view"]["id"], &view["view"]["title"]),
        (&json!("V1"), &json!("t"))
    );
    Ok(())
}

#[tokio::test]
async fn rate_limited_answers_429_and_is_not_performed() -> TestResult {
    let slack = FakeSlack::start().await?;
    slack.inject("chat.postMessage", Fault::RateLimited { retry_after_secs: 7 }, 1);
    let response = send(&slack, "chat.postMessage", json!({"channel": "C1"})).await?;
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(
        response.json::<Value>().await?,
        json!({"ok": false, "error": "ratelimited"})
    );
    assert!(slack.messages("C1").is_empty());
    assert_eq!(
        api(&slack, "chat.postMessage", json!({"channel": "C1"})).await?["ok"],
        true
    );
    let statuses: Vec<u16> = slack
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| c.http_status)
        .collect();
    assert_eq!(statuses, [429, 200]);
    Ok(())
}

#[tokio::test]
async fn server_error_answers_500_and_is_not_performed() -> TestResult {
    let slack = FakeSlack::start().await?;
    slack.inject("chat.postMessage", Fault::ServerError, 1);
    let response = send(&slack, "chat.postMessage", json!({"channel": "C1"})).await?;
    assert_eq!(
        (response.status(), response.text().await?),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    );
    assert!(slack.messages("C1").is_empty());
    assert_eq!(slack.calls()[0].http_status, 500);
    Ok(())
}

#[tokio::test]
async fn slow_performs_the_call_then_delays_the_answer() -> TestResult {
    let slack = FakeSlack::start().await?;
    let delay = Duration::from_millis(300);
    slack.inject("chat.postMessage", Fault::Slow(delay), 1);
    let started = Instant::now();
    let request = api(&slack, "chat.postMessage", json!({"channel": "C1"}));
    let check = async {
        let recorded = slack.wait_for_calls("chat.postMessage", 1, delay / 2).await.len();
        (recorded, slack.messages("C1").len(), started.elapsed() < delay)
    };
    let (answer, before_answer) = tokio::join!(request, check);
    assert_eq!(answer?["ok"], true);
    assert!(started.elapsed() >= delay);
    assert_eq!(
        before_answer,
        (1, 1, true),
        "recorded and performed before the delayed answer"
    );
    Ok(())
}

#[tokio::test]
async fn slack_error_is_not_performed_and_times_is_respected() -> TestResult {
    let slack = FakeSlack::start().await?;
    slack.inject("*", Fault::SlackError("channel_not_found".into()), 2);
    assert_eq!(
        api(&slack, "auth.test", json!({})).await?["error"],
        "channel_not_found"
    );
    let failed = api(&slack, "chat.postMessage", json!({"channel": "C1"})).await?;
    assert_eq!(failed, json!({"ok": false, "error": "channel_not_found"}));
    assert!(slack.messages("C1").is_empty());
    assert_eq!(
        api(&slack, "chat.postMessage", json!({"channel": "C1"})).await?["ok"],
        true
    );
    assert_eq!(slack.messages("C1").len(), 1);
    assert!(slack.calls().iter().all(|c| c.http_status == 200));
    Ok(())
}

#[tokio::test]
async fn reactions_are_remembered() -> TestResult {
    let slack = FakeSlack::start().await?;
    let eyes = json!({"channel": "C1", "timestamp": "1700000000.000100", "name": "eyes"});
    assert_eq!(api(&slack, "reactions.add", eyes.clone()).await?["ok"], true);
    assert_eq!(
        api(&slack, "reactions.add", eyes).await?["error"],
        "already_reacted"
    );
    let tada = json!({"channel": "C1", "timestamp": "1700000000.000100", "name": "tada"});
    assert_eq!(api(&slack, "reactions.add", tada).await?["ok"], true);
    Ok(())
}

#[tokio::test]
async fn external_upload_flow() -> TestResult {
    let slack = FakeSlack::start().await?;
    let fields = [("filename", "report.csv"), ("length", "5")];
    let answer = form(&url(&slack, "files.getUploadURLExternal"), &fields).await?;
    let file_id = answer["file_id"].as_str().ok_or("no file_id")?;
    let upload_url = answer["upload_url"].as_str().ok_or("no upload_url")?;
    assert_eq!(upload_url, format!("{}/upload/{file_id}", slack.base_url()));
    let response = client().post(upload_url).body("a,b\n1").send().await?;
    assert_eq!(response.text().await?, "OK - 5");
    assert_eq!(slack.uploaded(file_id).as_deref(), Some(&b"a,b\n1"[..]));
    let upload = &slack.calls_to("upload")[0];
    assert_eq!(upload.params, json!({"file_id": file_id, "length": 5}));

    let files = json!([{"id": file_id, "title": "Report"}]).to_string();
    let complete = url(&slack, "files.completeUploadExternal");
    let done = form(&complete, &[("files", &files), ("channel_id", "C1")]).await?;
    assert_eq!(
        done,
        json!({"ok": true, "files": [{"id": file_id, "title": "Report"}]})
    );
    Ok(())
}

#[tokio::test]
async fn response_url_posts_are_recorded() -> TestResult {
    let slack = FakeSlack::start().await?;
    let body = json!({"text": "done", "replace_original": true});
    let response = client().post(slack.response_url("r1")).json(&body).send().await?;
    assert_eq!(response.json::<Value>().await?, json!({"ok": true}));
    let calls = slack
        .wait_for_calls("response_url", 1, Duration::from_secs(1))
        .await;
    assert_eq!(
        calls[0].params,
        json!({"text": "done", "replace_original": true, "response_id": "r1"})
    );
    Ok(())
}

#[tokio::test]
async fn dropping_stops_the_server() -> TestResult {
    let slack = FakeSlack::start().await?;
    let auth = url(&slack, "auth.test");
    assert!(get(&auth).await.is_ok());
    drop(slack);
    for _ in 0..100 {
        if get(&auth).await.is_err() {
            return Ok(());
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
    Err("server still answers after drop".into())
}
