//! The fake's HTTP side: routes, request parsing, injected faults and the answers they give.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::methods::{Caller, dispatch};
use super::params::{bearer_token, param_str, parse_params};
use super::{Fault, Params, RecordedCall, Shared, Slack};

const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/{method}", any(api))
        .route("/upload/{file_id}", post(upload))
        .route("/response/{id}", post(response_url))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

/// A request as received, before faults or method logic apply.
struct Incoming {
    method: String,
    params: Params,
    /// False when the query or body could not be parsed.
    valid: bool,
    token: Option<String>,
}

impl Incoming {
    fn parse(method: &str, query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Incoming {
        let parsed = parse_params(query, headers, body);
        let valid = parsed.is_some();
        let params = parsed.unwrap_or_default();
        let token = bearer_token(headers).or_else(|| param_str(&params, "token"));
        let method = method.to_owned();
        Incoming {
            method,
            params,
            valid,
            token,
        }
    }
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::parse(&method, query.as_deref(), &headers, &body);
    let base_url = shared.base_url.clone();
    let token = incoming.token.clone();
    // Some methods take their token only from the header (apps.connections.open).
    let bearer = bearer_token(&headers);
    respond(&shared, incoming, move |slack, params| {
        let caller = Caller {
            token: token.as_deref(),
            bearer: bearer.as_deref(),
        };
        Json(dispatch(slack, &base_url, &method, params, caller)).into_response()
    })
    .await
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut incoming = Incoming::parse("upload", None, &headers, b"");
    incoming.params.insert("file_id".into(), file_id.as_str().into());
    incoming.params.insert("length".into(), body.len().into());
    respond(&shared, incoming, move |slack, _| {
        let length = body.len();
        slack.uploads.insert(file_id, body.to_vec());
        format!("OK - {length}").into_response()
    })
    .await
}

async fn response_url(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut incoming = Incoming::parse("response_url", None, &headers, &body);
    incoming.params.insert("response_id".into(), id.into());
    respond(&shared, incoming, |_, _| ok_response()).await
}

/// Applies any injected fault, performs the call if it should be, records it and answers.
async fn respond(
    shared: &Shared,
    incoming: Incoming,
    perform: impl FnOnce(&mut Slack, &Params) -> Response,
) -> Response {
    let (response, delay) = process(shared, incoming, perform);
    if let Some(delay) = delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.shutdown_requested() => {}
        }
    }
    response
}

fn process(
    shared: &Shared,
    incoming: Incoming,
    perform: impl FnOnce(&mut Slack, &Params) -> Response,
) -> (Response, Option<Duration>) {
    let mut slack = shared.lock();
    let fault = slack.take_fault(&incoming.method);
    let perform_checked = |slack: &mut Slack| {
        if incoming.valid {
            perform(slack, &incoming.params)
        } else {
            slack_error("invalid_arguments")
        }
    };
    let (response, delay) = match fault {
        Some(Fault::RateLimited { retry_after_secs }) => (rate_limited(retry_after_secs), None),
        Some(Fault::ServerError) => (server_error(), None),
        Some(Fault::SlackError(code)) => (slack_error(&code), None),
        Some(Fault::Slow(delay)) => (perform_checked(&mut slack), Some(delay)),
        None => (perform_checked(&mut slack), None),
    };
    slack.calls.push(RecordedCall {
        method: incoming.method,
        params: Value::Object(incoming.params),
        token: incoming.token,
        http_status: response.status().as_u16(),
        at: std::time::Instant::now(),
    });
    (response, delay)
}

fn rate_limited(retry_after_secs: u64) -> Response {
    let body = Json(json!({"ok": false, "error": "ratelimited"}));
    let headers = [(header::RETRY_AFTER, retry_after_secs.to_string())];
    (StatusCode::TOO_MANY_REQUESTS, headers, body).into_response()
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

fn slack_error(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

fn ok_response() -> Response {
    Json(json!({"ok": true})).into_response()
}
