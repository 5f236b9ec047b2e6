//! A fake Slack Web API server: a test double shared by the integration tests, the benches and
//! `circlet demo`.
//!
//! [`FakeSlack::start`] binds an ephemeral port on 127.0.0.1 only (never any other interface) and serves
//! a small, stateful imitation of the Slack Web API under `/api/{method}`, a stand-in for Slack's
//! `response_url` under `/response/{id}`, and the external file-upload target under `/upload/{file_id}`.
//! Installs work too: `oauth.v2.access` answers the codes and refresh tokens a test registered
//! ([`FakeSlack::grant_code`], [`FakeSlack::grant_refresh`]) and `auth.test` names each
//! installation's own workspace and bot for its token, so a test can tell, from the token each
//! call was made with, which installation it was made for.
//! With [`FakeSlack::serve_socket_mode`], `apps.connections.open` hands out URLs of a
//! [`FakeSocketMode`] server.
//! `conversations.history` and `conversations.replies` page as Slack's do (`limit`, `cursor`,
//! `has_more`, `next_cursor`), show thread summaries, reactions ([`FakeSlack::set_reactions`]),
//! edits and deletions, and can be held to the 2025 page cap ([`FakeSlack::limit_history`]).
//! Every request is recorded as a [`RecordedCall`]; faults (rate limits, server errors, slow answers,
//! Slack error codes) can be injected per method with [`FakeSlack::inject`]. The server shuts down when
//! its [`FakeSlack`] is dropped.

mod edits;
mod history;
#[cfg(test)]
mod history_tests;
mod methods;
mod oauth;
mod params;
mod server;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::FakeSocketMode;
use params::param_str;
use server::router;

pub use oauth::Grant;

/// The workspace the bot token belongs to, as `auth.test` says, unless [`FakeSlack::set_team`].
pub const DEFAULT_TEAM_ID: &str = "T0CIRCLE";
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
    messages: HashMap<String, store::Channel>,
    /// The bot's reactions on messages the fake does not hold: (channel, ts, name).
    reactions: HashSet<(String, String, String)>,
    /// The most messages a history or replies page holds, when the 2025 limit applies.
    history_limit: Option<usize>,
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
    /// The organization of an org-wide install, which `auth.test` then names.
    enterprise_install: Option<String>,
    /// Installs: codes, refresh tokens, and who each token belongs to.
    oauth: oauth::OAuthState,
    /// Where `apps.connections.open` sends clients; without it the app has no Socket Mode.
    socket_mode: Option<Arc<crate::fake_socket_mode::Shared>>,
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
        let slack = self.shared.lock();
        slack
            .messages
            .get(channel)
            .map(store::Channel::in_arrival_order)
            .unwrap_or_default()
    }

    /// Adds an existing message (a JSON object) to `channel`; one without `ts` is given a fresh one.
    /// A reply carries `thread_ts`; history and replies then give its parent `reply_count`,
    /// `reply_users_count`, `reply_users`, `latest_reply` and `thread_ts`, unless the seed has them.
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

    /// Puts these reactions (emoji name → users who reacted) on message `ts` of `channel` as
    /// `reactions: [{name, users, count}]`, replacing any; an empty list removes the field.
    /// The bot's own `reactions.add`/`reactions.remove` calls change the same field.
    /// False when there is no such message.
    pub fn set_reactions(&self, channel: &str, ts: &str, reactions: &[(&str, &[&str])]) -> bool {
        let mut slack = self.shared.lock();
        let Some(message) = slack.message_mut(channel, ts) else {
            return false;
        };
        edits::set_reactions(message, reactions);
        true
    }

    /// Edits message `ts` as its author would: `text` becomes `new_text`, and `edited` becomes
    /// `{"user": <the message's user>, "ts": edited_ts}`. False when there is no such message.
    pub fn edit_message(&self, channel: &str, ts: &str, new_text: &str, edited_ts: &str) -> bool {
        let mut slack = self.shared.lock();
        let Some(message) = slack.message_mut(channel, ts) else {
            return false;
        };
        edits::edit(message, new_text, edited_ts);
        true
    }

    /// Deletes message `ts`. As in Slack, a thread parent that still has replies leaves a
    /// tombstone (`subtype: "tombstone"`, `text: "This message was deleted."`) in history and at
    /// the head of its thread. False when there is no such message.
    pub fn delete_message(&self, channel: &str, ts: &str) -> bool {
        let mut slack = self.shared.lock();
        slack
            .messages
            .get_mut(channel)
            .is_some_and(|c| edits::delete(c, ts))
    }

    /// `Some(n)`: `conversations.history` and `conversations.replies` serve at most `n` messages a
    /// page whatever `limit` asks, without saying so, as Slack does since 2025 for commercially
    /// distributed apps outside the Marketplace (`n` = 15). `None`: Slack's usual 999.
    pub fn limit_history(&self, max_limit: Option<usize>) {
        self.shared.lock().history_limit = max_limit;
    }

    /// Makes `auth.test` say the bot token belongs to workspace `team_id`.
    pub fn set_team(&self, team_id: &str) {
        self.shared.lock().team_id = Some(team_id.to_owned());
    }

    /// Makes `auth.test` say the bot token is an org-wide install in organization `enterprise_id`
    /// (`is_enterprise_install: true`).
    pub fn set_enterprise_install(&self, enterprise_id: &str) {
        self.shared.lock().enterprise_install = Some(enterprise_id.to_owned());
    }

    /// Makes `apps.connections.open` answer with a fresh single-use URL of `socket_mode` for each
    /// call made with an app-level token (`xapp-…`) in the `Authorization` header. Until then it
    /// answers `invalid_auth`, as for an app without Socket Mode.
    pub fn serve_socket_mode(&self, socket_mode: &FakeSocketMode) {
        self.shared.lock().socket_mode = Some(socket_mode.shared());
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
