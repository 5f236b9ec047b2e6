//! The outbound Slack client against the fake Slack: retries, Retry-After, timeouts, error
//! codes, metrics, and no double post when a retry follows a timeout.

use std::time::{Duration, Instant};

use circlet::slack::SlackError;
use circlet_testkit::fake_slack::Fault;
use slack_morphism::prelude::*;

use crate::helpers::{TestApp, TestDb};

fn post(channel: &str, text: &str) -> SlackApiChatPostMessageRequest {
    SlackApiChatPostMessageRequest::new(channel.into(), SlackMessageContent::new().with_text(text.into()))
}

/// An app that has learned who it is (its one auth.test call at start is over), so the calls
/// and faults below are the test's own.
async fn app() -> TestApp {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    app.bot_identity().await;
    app
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let app = app().await;
    app.fake
        .inject("chat.postMessage", Fault::RateLimited { retry_after_secs: 1 }, 1);
    let slack = &app.services.slack;
    let started = Instant::now();
    let request = &post("C1", "hello");
    let response = slack
        .call("chat.postMessage", |s| async move {
            s.chat_post_message(request).await
        })
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 2);
    assert_eq!(app.fake.messages("C1").len(), 1);
    assert!(!response.ts.to_string().is_empty());
    assert_eq!(
        app.fake.calls_to("chat.postMessage")[1].token.as_deref(),
        Some("xoxb-test-token")
    );
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains("circlet_slack_api_calls_total{method=\"chat.postMessage\",result=\"rate_limited\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("circlet_slack_api_calls_total{method=\"chat.postMessage\",result=\"ok\"} 1"));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_client_waits_is_handed_back_to_the_inbox() {
    let app = app().await;
    app.fake.inject(
        "reactions.add",
        Fault::RateLimited {
            retry_after_secs: 120,
        },
        1,
    );
    let started = Instant::now();
    let request = &SlackApiReactionsAddRequest::new(
        "C1".into(),
        SlackReactionName::new("eyes".into()),
        "1.000001".into(),
    );
    let err = app
        .services
        .slack
        .call("reactions.add", |s| async move { s.reactions_add(request).await })
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err,
        SlackError::RateLimited {
            method: "reactions.add",
            retry_after: Duration::from_secs(120)
        }
    );
    let handed_back: circlet::inbox::HandlerError = err.into();
    assert_eq!(
        handed_back,
        circlet::inbox::HandlerError::Transient {
            message: "Slack rate-limited reactions.add; retry after 120s".into(),
            retry_after: Some(Duration::from_secs(120)),
        }
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_reported_as_unavailable() {
    let app = app().await;
    app.fake.inject("auth.test", Fault::ServerError, 2);
    let ok = app
        .services
        .slack
        .call("auth.test", |s| async move { s.auth_test().await })
        .await
        .unwrap();
    assert_eq!(ok.user_id.to_string(), "UCIRCLET");
    assert_eq!(app.fake.calls_to("auth.test").len(), 1 + 3);

    app.fake.inject("auth.test", Fault::ServerError, 10);
    let err = app
        .services
        .slack
        .call("auth.test", |s| async move { s.auth_test().await })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SlackError::Unavailable {
                method: "auth.test",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(
        app.fake.calls_to("auth.test").len(),
        1 + 3 + 3,
        "bounded attempts"
    );
    assert!(app.metrics().await.contains("result=\"http_5xx\"} 5"));
}

#[tokio::test]
async fn slack_error_codes_are_surfaced_and_not_retried() {
    let app = app().await;
    app.fake
        .inject("chat.postMessage", Fault::SlackError("not_in_channel".into()), 1);
    let request = &post("C1", "hi");
    let err = app
        .services
        .slack
        .call("chat.postMessage", |s| async move {
            s.chat_post_message(request).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_in_channel"));
    assert!(!err.is_transient());
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 1);
    assert!(
        app.metrics().await.contains(
            "circlet_slack_api_calls_total{method=\"chat.postMessage\",result=\"not_in_channel\"} 1"
        )
    );
    assert!(matches!(
        circlet::inbox::HandlerError::from(err),
        circlet::inbox::HandlerError::Permanent(_)
    ));
}

#[tokio::test]
async fn a_hanging_slack_times_out_instead_of_blocking_forever() {
    let app = app().await;
    app.fake
        .inject("auth.test", Fault::Slow(Duration::from_secs(5)), 10);
    let started = Instant::now();
    let err = app
        .services
        .slack
        .call("auth.test", |s| async move { s.auth_test().await })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, SlackError::Unavailable { detail, .. } if detail.starts_with("timed out")),
        "{err:?}"
    );
    assert!(app.metrics().await.contains("result=\"timeout\"} 3"));
}

#[tokio::test]
async fn a_post_whose_answer_timed_out_is_not_posted_again() {
    let app = app().await;
    // Slack posts the message but answers after our timeout.
    app.fake
        .inject("chat.postMessage", Fault::Slow(Duration::from_secs(2)), 1);
    let ts = app
        .services
        .slack
        .post_message_once("status:42:shipped", post("C0CIRCLE", "Shipped!"), false)
        .await
        .unwrap();
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 1, "no second post");
    let messages = app.fake.messages("C0CIRCLE");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["ts"].as_str(), Some(ts.to_string().as_str()));
    assert_eq!(
        messages[0]["metadata"]["event_payload"]["key"],
        "status:42:shipped"
    );
    assert_eq!(app.fake.calls_to("conversations.history").len(), 1);
}

#[tokio::test]
async fn a_thread_reply_whose_answer_timed_out_is_found_in_the_thread() {
    let app = app().await;
    let parent = app
        .services
        .slack
        .post_message_once("parent", post("C0CIRCLE", "Idea"), false)
        .await
        .unwrap();
    app.fake
        .inject("chat.postMessage", Fault::Slow(Duration::from_secs(2)), 1);
    let reply = post("C0CIRCLE", "Planned!").with_thread_ts(parent.clone());
    app.services
        .slack
        .post_message_once("reply-1", reply, false)
        .await
        .unwrap();
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 2);
    assert_eq!(app.fake.messages("C0CIRCLE").len(), 2);
    assert_eq!(app.fake.calls_to("conversations.replies").len(), 1);
}

#[tokio::test]
async fn a_post_retried_after_a_5xx_that_did_not_post_is_posted_once() {
    let app = app().await;
    app.fake.inject("chat.postMessage", Fault::ServerError, 1);
    app.services
        .slack
        .post_message_once("k-5xx", post("C2", "once"), false)
        .await
        .unwrap();
    assert_eq!(app.fake.messages("C2").len(), 1);
    assert_eq!(app.fake.calls_to("chat.postMessage").len(), 2);
}

#[tokio::test]
async fn a_rerun_job_checks_for_its_earlier_post_first() {
    let app = app().await;
    let slack = &app.services.slack;
    let first = slack
        .post_message_once("digest:C3:2026-W48", post("C3", "Digest"), false)
        .await
        .unwrap();
    // The process crashed before recording the post; the job runs again.
    let again = slack
        .post_message_once("digest:C3:2026-W48", post("C3", "Digest"), true)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(app.fake.messages("C3").len(), 1);
    let other = slack
        .post_message_once("digest:C3:2026-W49", post("C3", "Next digest"), true)
        .await
        .unwrap();
    assert_ne!(first, other);
    assert_eq!(app.fake.messages("C3").len(), 2);
}

#[tokio::test]
async fn without_a_bot_token_calls_fail_clearly() {
    let db = TestDb::sqlite();
    let app = TestApp::builder(db).env("SLACK_BOT_TOKEN", "").start().await;
    let err = app
        .services
        .slack
        .call("auth.test", |s| async move { s.auth_test().await })
        .await;
    // An empty variable counts as unset.
    assert_eq!(err.unwrap_err(), SlackError::NoToken);
    assert!(app.fake.calls().is_empty());
}

#[tokio::test]
async fn response_url_answers_are_retried_on_429_and_5xx() {
    let app = app().await;
    app.fake.inject("response_url", Fault::ServerError, 1);
    let url = app.fake.response_url("r1");
    app.services
        .slack
        .respond(&url, &serde_json::json!({"text": "done"}))
        .await
        .unwrap();
    let calls = app.fake.calls_to("response_url");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].params["text"], "done");
}
