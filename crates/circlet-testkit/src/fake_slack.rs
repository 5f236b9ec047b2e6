//! A fake Slack Web API server: a test double shared by the integration tests, the benches and
//! `circlet demo`.
//!
//! [`FakeSlack::start`] binds an ephemeral port on 127.0.0.1 only (never any other interface) and serves
//! a small, stateful imitation of the Slack Web API under `/api/{method}`, a stand-in for Slack's
//! `response_url` under `/response/{id}`, and the external file-upload target under `/upload/{file_id}`.
//! Every request is recorded as a [`RecordedCall`]; faults (rate limits, server errors, slow answers,
//! Slack error codes) can be injected per method with [`FakeSlack::inject`]. The server shuts down when
//! its [`FakeSlack`] is dropped.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

const TEAM_URL: &str = "https://circle.slack.com/";
const BOT_USER_ID: &str = "UCIRCLET";
const BOT_ID: &str = "BCIRCLET";
/// The workspace the bot token belongs to, as `auth.test` says, unless [`FakeSlack::set_team`].
pub const DEFAULT_TEAM_ID: &str = "T0CIRCLE";
const FIRST_TS_SECS: u64 = 1_700_000_000;
const TS_STEP_MICROS: u64 = 100;
const DEFAULT_LIMIT: usize = 100;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const WAIT_POLL: Duration = Duration::from_millis(10);

type Params = Map<String, Value>;
/// The fields of a successful answer (without `ok`), or a Slack error code.
type Answer = Result<Value, &'static str>;

/// One request the fake received (API method, `response_url` post or file upload), in arrival order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedCall {
    /// The Slack method name, or `"response_url"` / `"upload"` for those endpoints.
    pub method: String,
    /// A JSON object merging query-string params, form fields and JSON body fields.
    pub params: Value,
    /// The bearer token from the `Authorization` header, or else a `token` param.
    pub token: Option<String>,
    /// The HTTP status the fake answered with.
    pub http_status: u16,
    /// When the call arrived.
    #[serde(skip)]
    pub at: std::time::Instant,
}

/// A failure to inject into upcoming calls with [`FakeSlack::inject`].
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}`; the call is not performed.
    RateLimited {
        /// Seconds announced in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// HTTP 500 with body `internal error`; the call is not performed.
    ServerError,
    /// The call is performed (recorded, state changed), then the answer is delayed by this long.
    Slow(Duration),
    /// HTTP 200 `{"ok":false,"error":"<code>"}`; the call is not performed.
    SlackError(String),
}

struct FaultSlot {
    method: String,
    fault: Fault,
    remaining: usize,
}

/// The fake workspace's state.
#[derive(Default)]
struct Slack {
    calls: Vec<RecordedCall>,
    faults: Vec<FaultSlot>,
    messages: HashMap<String, Vec<Value>>,
    reactions: HashSet<(String, String, String)>,
    users: HashMap<String, Value>,
    usergroups: HashMap<String, Vec<String>>,
    members: HashMap<String, Vec<String>>,
    channel_names: HashMap<String, String>,
    uploads: HashMap<String, Vec<u8>>,
    ts_counter: u64,
    first_ts_secs: u64,
    id_counter: u64,
    /// The workspace `auth.test` names; [`DEFAULT_TEAM_ID`] unless set.
    team_id: Option<String>,
}

struct Shared {
    base_url: String,
    slack: Mutex<Slack>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slack> {
        self.slack.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutting down.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// A running fake Slack server on 127.0.0.1; it shuts down when dropped.
pub struct FakeSlack {
    shared: Arc<Shared>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        // Stops accepting, closes idle connections and cuts short any `Slow` delay in progress.
        self.shared.shutdown.send_replace(true);
    }
}

impl FakeSlack {
    /// Binds 127.0.0.1 on an ephemeral port and serves the fake API on a spawned task.
    pub async fn start() -> std::io::Result<FakeSlack> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            slack: Mutex::default(),
            shutdown: watch::Sender::new(false),
        });
        let app = router(Arc::clone(&shared));
        let signal_source = Arc::clone(&shared);
        tokio::spawn(async move {
            let signal = async move { signal_source.shutdown_requested().await };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                eprintln!("fake slack server on {addr} stopped: {e}");
            }
        });
        Ok(FakeSlack { shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/api`; methods are called at `{api_url}/{method}`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.shared.base_url)
    }

    /// `http://127.0.0.1:PORT/response/{id}`, a stand-in for Slack's `response_url`.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.shared.base_url)
    }

    /// Every call received so far, in arrival order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    /// The calls to `method` (`"response_url"` and `"upload"` name those endpoints), in arrival order.
    pub fn calls_to(&self, method: &str) -> Vec<RecordedCall> {
        let slack = self.shared.lock();
        slack
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }

    /// Makes the next `times` calls to `method` get `fault`; `"*"` matches any call, `"upload"` and
    /// `"response_url"` included. When several injections match, the earliest one is used first.
    pub fn inject(&self, method: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        let slot = FaultSlot {
            method: method.to_owned(),
            fault,
            remaining: times,
        };
        self.shared.lock().faults.push(slot);
    }

    /// Removes every injected fault that has not fired yet: Slack has recovered.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The messages posted or seeded in `channel`, in insertion order (including thread replies).
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.shared.lock().channel_messages(channel).to_vec()
    }

    /// Adds an existing message (a JSON object) to `channel`; one without `ts` is given a fresh one.
    pub fn seed_message(&self, channel: &str, message: Value) {
        let Value::Object(mut message) = message else {
            return;
        };
        let mut slack = self.shared.lock();
        if param_str(&message, "ts").is_none() {
            message.insert("ts".into(), slack.next_ts().into());
        }
        message.entry("type").or_insert_with(|| "message".into());
        slack.store(channel, Value::Object(message));
    }

    /// Makes `auth.test` say the bot token belongs to workspace `team_id`.
    pub fn set_team(&self, team_id: &str) {
        self.shared.lock().team_id = Some(team_id.to_owned());
    }

    /// `usergroups.users.list` answers with these members for `group`.
    pub fn set_usergroup(&self, group: &str, users: &[&str]) {
        let users = users.iter().map(|u| (*u).to_owned()).collect();
        self.shared.lock().usergroups.insert(group.to_owned(), users);
    }

    /// `conversations.members` answers with these members of `channel` (none unless set).
    pub fn set_members(&self, channel: &str, users: &[&str]) {
        let users = users.iter().map(|u| (*u).to_owned()).collect();
        self.shared.lock().members.insert(channel.to_owned(), users);
    }

    /// Timestamps of posted messages start at `secs` instead of the current time (a replay on
    /// a clock of its own, like the demo's).
    pub fn start_timestamps_at(&self, secs: u64) {
        self.shared.lock().first_ts_secs = secs;
    }

    /// `conversations.info` names `channel` so (`circle-<id>` unless set).
    pub fn set_channel_name(&self, channel: &str, name: &str) {
        self.shared
            .lock()
            .channel_names
            .insert(channel.to_owned(), name.to_owned());
    }

    /// Makes `users.info` answer with `user` for its `"id"` (a user without an id is ignored).
    pub fn set_user(&self, user: Value) {
        if let Some(id) = user.get("id").and_then(Value::as_str).map(str::to_owned) {
            self.shared.lock().users.insert(id, user);
        }
    }

    /// The bytes uploaded to `file_id`'s upload URL, if any.
    pub fn uploaded(&self, file_id: &str) -> Option<Vec<u8>> {
        self.shared.lock().uploads.get(file_id).cloned()
    }

    /// Polls until at least `count` calls to `method` arrived or `timeout` passed; returns those calls.
    pub async fn wait_for_calls(&self, method: &str, count: usize, timeout: Duration) -> Vec<RecordedCall> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.calls_to(method);
            if calls.len() >= count || Instant::now() >= deadline {
                return calls;
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
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
    respond(&shared, incoming, move |slack, params| {
        Json(dispatch(slack, &base_url, &method, params)).into_response()
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

fn dispatch(slack: &mut Slack, base_url: &str, method: &str, params: &Params) -> Value {
    let answer = match method {
        "auth.test" => Ok(auth_test(slack.team_id.as_deref().unwrap_or(DEFAULT_TEAM_ID))),
        "chat.postMessage" => slack.post_message(params),
        "chat.postEphemeral" => slack.post_ephemeral(params),
        "chat.update" => slack.update_message(params),
        "chat.getPermalink" => permalink(params),
        "conversations.history" => slack.history(params),
        "conversations.replies" => slack.replies(params),
        "conversations.info" => slack.conversation_info(params),
        "conversations.members" => slack.channel_members(params),
        "conversations.open" => open_dm(params),
        "reactions.add" => slack.add_reaction(params),
        "users.info" => slack.user_info(params),
        "usergroups.users.list" => slack.usergroup_users(params),
        "views.open" | "views.update" | "views.push" | "views.publish" => slack.view(method, params),
        "files.getUploadURLExternal" => slack.upload_url(base_url, params),
        "files.completeUploadExternal" => complete_upload(params),
        _ => Err("unknown_method"),
    };
    match answer {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".into(), true.into());
            Value::Object(fields)
        }
        Ok(_) => json!({"ok": true}),
        Err(code) => json!({"ok": false, "error": code}),
    }
}

fn auth_test(team_id: &str) -> Value {
    json!({
        "url": TEAM_URL, "team": "Circle", "user": "circlet", "team_id": team_id,
        "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": false,
    })
}

fn permalink(params: &Params) -> Answer {
    let channel = required(params, "channel").ok_or("channel_not_found")?;
    let ts = required(params, "message_ts").ok_or("message_not_found")?;
    let link = format!("{TEAM_URL}archives/{channel}/p{}", ts.replace('.', ""));
    Ok(json!({"channel": channel, "permalink": link}))
}

/// A direct-message channel with `users`: `D` plus the user id, stable per user.
/// `users` may come comma-separated (form) or as a JSON array (slack-morphism's JSON body).
fn open_dm(params: &Params) -> Answer {
    let first = match params.get("users") {
        Some(Value::Array(users)) => users.first().and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(users)) => users.split(',').next().map(str::to_owned),
        _ => None,
    };
    let user = first.filter(|u| !u.is_empty()).ok_or("users_list_not_supplied")?;
    Ok(json!({"channel": {"id": format!("D{user}")}}))
}

impl Slack {
    fn conversation_info(&self, params: &Params) -> Answer {
        let id = required(params, "channel").ok_or("channel_not_found")?;
        let name = self
            .channel_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("circle-{}", id.to_lowercase()));
        Ok(json!({"channel": {
            "id": id, "name": name, "created": 1_700_000_000, "is_channel": true, "is_member": true,
            "is_archived": false,
        }}))
    }

    fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let matches = |slot: &FaultSlot| slot.method == method || slot.method == "*";
        let index = self.faults.iter().position(matches)?;
        let slot = &mut self.faults[index];
        slot.remaining -= 1;
        let fault = slot.fault.clone();
        if slot.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    /// Timestamps start at the current time, as Slack's do, so clients that look back a few
    /// minutes (`oldest`) find what was just posted.
    fn next_ts(&mut self) -> String {
        if self.ts_counter == 0 && self.first_ts_secs == 0 {
            self.first_ts_secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(FIRST_TS_SECS, |d| d.as_secs().max(FIRST_TS_SECS));
        }
        self.ts_counter += 1;
        let micros = self.ts_counter * TS_STEP_MICROS;
        format!(
            "{}.{:06}",
            self.first_ts_secs + micros / 1_000_000,
            micros % 1_000_000
        )
    }

    fn next_id(&mut self) -> u64 {
        self.id_counter += 1;
        self.id_counter
    }

    fn channel_messages(&self, channel: &str) -> &[Value] {
        self.messages.get(channel).map(Vec::as_slice).unwrap_or_default()
    }

    fn store(&mut self, channel: &str, message: Value) {
        self.messages.entry(channel.to_owned()).or_default().push(message);
    }

    fn post_message(&mut self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = self.next_ts();
        let text = param_str(params, "text").unwrap_or_default();
        let mut message =
            json!({"type": "message", "ts": ts, "text": text, "user": BOT_USER_ID, "bot_id": BOT_ID});
        if let (Some(thread_ts), Some(fields)) = (required(params, "thread_ts"), message.as_object_mut()) {
            fields.insert("thread_ts".into(), thread_ts.into());
        }
        copy_present(params, &mut message);
        self.store(&channel, message.clone());
        Ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn post_ephemeral(&mut self, params: &Params) -> Answer {
        required(params, "channel").ok_or("channel_not_found")?;
        Ok(json!({"message_ts": self.next_ts()}))
    }

    fn update_message(&mut self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = required(params, "ts").ok_or("message_not_found")?;
        let messages = self.messages.get_mut(&channel).ok_or("message_not_found")?;
        let message = messages.iter_mut().find(|m| msg_str(m, "ts") == Some(&ts));
        let message = message.ok_or("message_not_found")?;
        if let (Some(text), Some(fields)) = (param_str(params, "text"), message.as_object_mut()) {
            fields.insert("text".into(), text.into());
        }
        copy_present(params, message);
        let text = message.get("text").cloned().unwrap_or_else(|| "".into());
        Ok(json!({"channel": channel, "ts": ts, "text": text, "message": message}))
    }

    fn history(&self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let messages = self.channel_messages(&channel).iter();
        let mut top: Vec<&Value> = messages
            .filter(|m| is_top_level(m) && in_window(params, m))
            .collect();
        top.sort_by_key(|m| std::cmp::Reverse(msg_ts_key(m)));
        Ok(json!({"messages": present(top, params), "has_more": false}))
    }

    fn replies(&self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let ts = required(params, "ts").ok_or("thread_not_found")?;
        let messages = self.channel_messages(&channel);
        // Like Slack, a reply's ts also names its thread.
        let ts = (messages.iter())
            .find(|m| msg_str(m, "ts") == Some(ts.as_str()))
            .and_then(|m| msg_str(m, "thread_ts"))
            .map(str::to_owned)
            .unwrap_or(ts);
        let parent = messages.iter().find(|m| msg_str(m, "ts") == Some(ts.as_str()));
        let mut replies: Vec<&Value> = (messages.iter())
            .filter(|m| msg_str(m, "thread_ts") == Some(ts.as_str()) && msg_str(m, "ts") != Some(ts.as_str()))
            .collect();
        if parent.is_none() && replies.is_empty() {
            return Err("thread_not_found");
        }
        replies.retain(|m| in_window(params, m));
        replies.sort_by_key(|m| msg_ts_key(m));
        let thread: Vec<&Value> = parent.into_iter().chain(replies).collect();
        Ok(json!({"messages": present(thread, params), "has_more": false}))
    }

    fn add_reaction(&mut self, params: &Params) -> Answer {
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let timestamp = required(params, "timestamp").ok_or("no_item_specified")?;
        let name = required(params, "name").map(|n| n.trim_matches(':').to_owned());
        let name = name.filter(|n| !n.is_empty()).ok_or("invalid_name")?;
        if self.reactions.insert((channel, timestamp, name)) {
            Ok(json!({}))
        } else {
            Err("already_reacted")
        }
    }

    fn usergroup_users(&self, params: &Params) -> Answer {
        let group = required(params, "usergroup").ok_or("no_such_subteam")?;
        let users = self.usergroups.get(&group).ok_or("no_such_subteam")?;
        Ok(json!({"users": users}))
    }

    /// Pages of two members, so callers' cursor handling is exercised.
    fn channel_members(&self, params: &Params) -> Answer {
        const PAGE: usize = 2;
        let channel = required(params, "channel").ok_or("channel_not_found")?;
        let all = self.members.get(&channel).cloned().unwrap_or_default();
        let start: usize = param_str(params, "cursor")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let page: Vec<&String> = all.iter().skip(start).take(PAGE).collect();
        let next = if start + PAGE < all.len() {
            (start + PAGE).to_string()
        } else {
            String::new()
        };
        Ok(json!({"members": page, "response_metadata": {"next_cursor": next}}))
    }

    /// A user set with [`FakeSlack::set_user`] (or a default one), of the bot's workspace
    /// unless the user says which workspace it belongs to (a Slack Connect member).
    fn user_info(&self, params: &Params) -> Answer {
        let id = required(params, "user").ok_or("user_not_found")?;
        let mut user = self.users.get(&id).cloned().unwrap_or_else(|| default_user(&id));
        if let Some(user) = user.as_object_mut() {
            let team = self.team_id.as_deref().unwrap_or(DEFAULT_TEAM_ID);
            user.entry("team_id").or_insert_with(|| team.into());
        }
        Ok(json!({"user": user}))
    }

    fn view(&mut self, method: &str, params: &Params) -> Answer {
        let view = json_param(params, "view").ok_or("invalid_arguments")?;
        let mut view = view.as_object().cloned().ok_or("invalid_arguments")?;
        let id = match (method, required(params, "view_id")) {
            ("views.update", Some(id)) => id,
            _ => format!("V{}", self.next_id()),
        };
        let kind = view.get("type").cloned().unwrap_or_else(|| "modal".into());
        view.insert("id".into(), id.into());
        view.insert("type".into(), kind);
        Ok(json!({"view": view}))
    }

    fn upload_url(&mut self, base_url: &str, params: &Params) -> Answer {
        required(params, "filename").ok_or("invalid_arguments")?;
        let file_id = format!("F{}", self.next_id());
        Ok(json!({"upload_url": format!("{base_url}/upload/{file_id}"), "file_id": file_id}))
    }
}

fn complete_upload(params: &Params) -> Answer {
    let entries = json_param(params, "files").ok_or("invalid_arguments")?;
    let entries = entries
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or("invalid_arguments")?;
    let files = entries.iter().map(|entry| {
        let id = msg_str(entry, "id").ok_or("invalid_arguments")?;
        Ok(json!({"id": id, "title": msg_str(entry, "title").unwrap_or(id)}))
    });
    Ok(json!({"files": files.collect::<Result<Vec<Value>, &'static str>>()?}))
}

fn default_user(id: &str) -> Value {
    let name = id.to_lowercase();
    let real_name = format!("User {id}");
    json!({
        "id": id, "name": name, "real_name": real_name, "is_admin": false, "is_owner": false,
        "profile": {"display_name": name, "real_name": real_name},
    })
}

/// Whether `message` lies between the `oldest` and `latest` params (exclusive unless `inclusive`).
fn in_window(params: &Params, message: &Value) -> bool {
    let (key, inclusive) = (msg_ts_key(message), bool_param(params, "inclusive"));
    let bound = |name| required(params, name).map(|ts| ts_key(&ts));
    let (oldest, latest) = (bound("oldest"), bound("latest"));
    oldest.is_none_or(|o| key > o || (inclusive && key == o))
        && latest.is_none_or(|l| key < l || (inclusive && key == l))
}

/// Applies `limit` and drops `metadata` unless `include_all_metadata` is set.
fn present(messages: Vec<&Value>, params: &Params) -> Vec<Value> {
    let limit = param_str(params, "limit")
        .and_then(|l| l.parse().ok())
        .filter(|&l| l > 0);
    let with_metadata = bool_param(params, "include_all_metadata");
    let shown = messages.into_iter().take(limit.unwrap_or(DEFAULT_LIMIT)).cloned();
    let strip = |mut message: Value| {
        if let Some(fields) = message.as_object_mut().filter(|_| !with_metadata) {
            fields.remove("metadata");
        }
        message
    };
    shown.map(strip).collect()
}

fn is_top_level(message: &Value) -> bool {
    match msg_str(message, "thread_ts") {
        None => true,
        Some(thread_ts) => msg_str(message, "ts") == Some(thread_ts),
    }
}

fn msg_str<'a>(message: &'a Value, key: &str) -> Option<&'a str> {
    message.get(key).and_then(Value::as_str)
}

fn msg_ts_key(message: &Value) -> (u64, u64) {
    message.get("ts").map_or((0, 0), |ts| ts_key(&value_string(ts)))
}

/// A Slack timestamp as (seconds, microseconds), so "1700000000.000100" style values sort correctly.
fn ts_key(ts: &str) -> (u64, u64) {
    let (secs, fraction) = ts.trim().split_once('.').unwrap_or((ts.trim(), ""));
    let fraction: String = fraction.chars().take(6).collect();
    let micros = format!("{fraction:0<6}").parse().unwrap_or(0);
    (secs.parse().unwrap_or(0), micros)
}

/// Copies the rich-content params (`blocks`, `metadata`, `attachments`) that are present into `message`.
fn copy_present(params: &Params, message: &mut Value) {
    let Some(fields) = message.as_object_mut() else {
        return;
    };
    for key in ["blocks", "metadata", "attachments"] {
        if let Some(value) = params.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_owned(), value.clone());
        }
    }
}

fn value_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parameter as a string, if present and not null.
fn param_str(params: &Params, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_null()).map(value_string)
}

/// A parameter as a non-empty string.
fn required(params: &Params, key: &str) -> Option<String> {
    param_str(params, key).filter(|s| !s.trim().is_empty())
}

fn bool_param(params: &Params, key: &str) -> bool {
    match params.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// A parameter that holds JSON, either directly or as a JSON-encoded string.
fn json_param(params: &Params, key: &str) -> Option<Value> {
    match params.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// Merges query, form and JSON body params; `None` when any part cannot be parsed.
fn parse_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Option<Params> {
    let mut params = match query {
        Some(query) => parse_form(query.as_bytes())?,
        None => Params::new(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(params);
    }
    let body_params = if is_json(headers, body) {
        parse_json_object(body)?
    } else {
        parse_form(body)?
    };
    params.extend(body_params);
    Some(params)
}

fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(content_type) => content_type.to_ascii_lowercase().contains("json"),
        None => body.trim_ascii_start().starts_with(b"{"),
    }
}

fn parse_json_object(body: &[u8]) -> Option<Params> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

fn parse_form(bytes: &[u8]) -> Option<Params> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    Some(
        pairs
            .into_iter()
            .map(|(key, value)| (key, form_value(value)))
            .collect(),
    )
}

/// A form value; values that look like JSON arrays or objects (`blocks`, `metadata`, ...) are parsed.
fn form_value(raw: String) -> Value {
    let trimmed = raw.trim_start();
    if (trimmed.starts_with('[') || trimmed.starts_with('{'))
        && let Ok(value) = serde_json::from_str(trimmed)
    {
        return value;
    }
    Value::String(raw)
}
#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

    /// reqwest is built with `rustls-no-provider`, so a process-wide crypto provider must exist first.
    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
        client().get(url).send().await
    }

    fn url(slack: &FakeSlack, method: &str) -> String {
        format!("{}/{method}", slack.api_url())
    }

    async fn send(slack: &FakeSlack, method: &str, body: Value) -> TestResult<reqwest::Response> {
        let request = client().post(url(slack, method)).bearer_auth("xoxb-test");
        Ok(request.json(&body).send().await?)
    }

    async fn api(slack: &FakeSlack, method: &str, body: Value) -> TestResult<Value> {
        Ok(send(slack, method, body).await?.json().await?)
    }

    async fn form(url: &str, fields: &[(&str, &str)]) -> TestResult<Value> {
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

    fn texts(answer: &Value) -> Vec<&str> {
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
}
