//! A fake Slack Socket Mode server: a test double for Circlet's Socket Mode client.
//!
//! [`FakeSocketMode::start`] binds an ephemeral port on 127.0.0.1 only and accepts plain `ws://`
//! connections at `/link/?ticket=N`. Each ticket comes from [`FakeSocketMode::connection_url`]
//! (which is what the fake Web API's `apps.connections.open` answers once
//! [`FakeSlack::serve_socket_mode`](crate::FakeSlack::serve_socket_mode) links the two) and opens
//! one connection only, so every reconnect shows up as a new `apps.connections.open` call.
//!
//! As Slack does, the fake greets each connection with `hello`, delivers each envelope to one open
//! connection (round robin, never to all), warns with `disconnect` before closing, and answers pings.
//! A test can also cut a connection without a close frame or stop answering its pings. Every frame a
//! client sends is recorded: acks (frames with an `envelope_id`) in [`FakeSocketMode::acks`], the
//! rest in [`FakeSocketMode::client_frames`]. The server shuts down when dropped.

mod connection;
mod envelope;
mod pong_filter;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};

pub use envelope::{envelope_id, events_api, interactive, redelivery, slash_commands};

/// The app the fake's connections belong to, as `hello` says.
pub const APP_ID: &str = "A0CIRCLE";

/// No open connection to deliver to (or the one named is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no open Socket Mode connection to deliver to")]
pub struct NoConnection;

/// Why Slack asks a client to let go of a connection (`disconnect` frame's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The connection is being refreshed (Slack does so every few hours); it closes soon.
    RefreshRequested,
    /// The server is going away; it closes in about ten seconds.
    Warning,
    /// Socket Mode was turned off for the app; reconnecting will not help.
    LinkDisabled,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::RefreshRequested => "refresh_requested",
            DisconnectReason::Warning => "warning",
            DisconnectReason::LinkDisabled => "link_disabled",
        }
    }
}

/// A frame a client sent with an `envelope_id`: its acknowledgement of that envelope.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The connection it arrived on (see [`FakeSocketMode::send`]).
    pub connection: usize,
    pub envelope_id: String,
    /// The ack's `payload` (a command's answer, a view's `response_action`), if it had one.
    pub payload: Option<Value>,
    /// When it arrived.
    pub at: Instant,
}

/// A frame a client sent that is not an ack: the JSON it held, or its text if it was not JSON.
#[derive(Debug, Clone)]
pub struct ClientFrame {
    pub connection: usize,
    pub frame: Value,
    pub at: Instant,
}

/// What the test asks of one connection's task.
enum Command {
    Frame(String),
    Disconnect { frame: String, close_after: Duration },
    Drop,
}

struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    drop_pongs: Arc<AtomicBool>,
    /// Told to disconnect: `send` no longer picks it.
    draining: bool,
    pings: usize,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    unused_tickets: HashSet<u64>,
    /// Every connection ever accepted; its index is its position.
    connections: Vec<Connection>,
    open: BTreeSet<usize>,
    /// Where the round robin looks first.
    next_delivery: usize,
    refused: usize,
    acks: Vec<Ack>,
    client_frames: Vec<ClientFrame>,
}

impl State {
    fn deliverable(&self, index: usize) -> bool {
        self.connections.get(index).is_some_and(|c| !c.draining)
    }

    /// The next open connection not told to disconnect, at or after the cursor, wrapping around.
    fn next_delivery(&mut self) -> Option<usize> {
        let cursor = self.next_delivery;
        let after = self.open.range(cursor..).copied();
        let before = self.open.range(..cursor).copied();
        let index = after.chain(before).find(|&i| self.deliverable(i))?;
        self.next_delivery = index + 1;
        Some(index)
    }

    fn open_connection(&self, index: usize) -> Result<&Connection, NoConnection> {
        match self.open.contains(&index) {
            true => self.connections.get(index).ok_or(NoConnection),
            false => Err(NoConnection),
        }
    }
}

pub(crate) struct Shared {
    url: String,
    state: Mutex<State>,
    changed: Notify,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A URL with a fresh single-use ticket, as `apps.connections.open` hands out.
    pub(crate) fn issue_url(&self) -> String {
        let mut state = self.lock();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.unused_tickets.insert(ticket);
        format!("{}/link/?ticket={ticket}&app_id={APP_ID}", self.url)
    }

    async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutting down.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    fn changed(&self) {
        self.changed.notify_waiters();
    }
}

/// A running fake Socket Mode server on 127.0.0.1; it shuts down (closing every connection) when
/// dropped.
pub struct FakeSocketMode {
    shared: Arc<Shared>,
}

impl Drop for FakeSocketMode {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

impl FakeSocketMode {
    /// Binds 127.0.0.1 on an ephemeral port and accepts connections on a spawned task.
    pub async fn start() -> std::io::Result<FakeSocketMode> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            url: format!("ws://{addr}"),
            state: Mutex::default(),
            changed: Notify::new(),
            shutdown: watch::Sender::new(false),
        });
        tokio::spawn(connection::accept_loop(listener, Arc::clone(&shared)));
        Ok(FakeSocketMode { shared })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.url.clone()
    }

    /// `ws://127.0.0.1:PORT/link/?ticket=N&app_id=A0CIRCLE` with a fresh ticket good for one
    /// connection: what `apps.connections.open` answers.
    pub fn connection_url(&self) -> String {
        self.shared.issue_url()
    }

    /// Delivers `envelope` (or any frame) to one open connection, the next in turn after the last
    /// one delivered to; connections told to [`disconnect`](Self::disconnect) are skipped.
    /// Returns the connection's index.
    pub fn send(&self, envelope: Value) -> Result<usize, NoConnection> {
        let text = envelope.to_string();
        let mut state = self.shared.lock();
        let index = state.next_delivery().ok_or(NoConnection)?;
        let delivered = state.open_connection(index)?.commands.send(Command::Frame(text));
        delivered.map(|()| index).map_err(|_| NoConnection)
    }

    /// Sends `frame` on connection `connection` (any frame, e.g. a `hello` again or junk).
    pub fn send_to(&self, connection: usize, frame: Value) -> Result<(), NoConnection> {
        self.command(connection, Command::Frame(frame.to_string()))
    }

    /// Sends `{"type":"disconnect","reason":…}` on `connection`, then closes it (close frame) after
    /// `close_after` unless the client closes it first. Slack waits about 10 s after `warning` and
    /// less after `refresh_requested`. From now on [`send`](Self::send) skips this connection.
    pub fn disconnect(
        &self,
        connection: usize,
        reason: DisconnectReason,
        close_after: Duration,
    ) -> Result<(), NoConnection> {
        let frame = json!({
            "type": "disconnect",
            "reason": reason.as_str(),
            "debug_info": {"host": connection::host_name(connection)},
        });
        let mut state = self.shared.lock();
        let target = state.open_connection(connection)?;
        let command = Command::Disconnect {
            frame: frame.to_string(),
            close_after,
        };
        target.commands.send(command).map_err(|_| NoConnection)?;
        if let Some(target) = state.connections.get_mut(connection) {
            target.draining = true;
        }
        Ok(())
    }

    /// Closes `connection`'s TCP stream at once, without a close frame: a network cut.
    pub fn drop_connection(&self, connection: usize) -> Result<(), NoConnection> {
        self.command(connection, Command::Drop)
    }

    /// From now on the client's pings on `connection` get no pong; everything else (envelopes,
    /// recording acks, noticing a close) carries on.
    pub fn stop_answering_pings(&self, connection: usize) -> Result<(), NoConnection> {
        let state = self.shared.lock();
        let target = state.open_connection(connection)?;
        target.drop_pongs.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Every ack received so far, in arrival order.
    pub fn acks(&self) -> Vec<Ack> {
        self.shared.lock().acks.clone()
    }

    /// How many acks arrived so far (cheaper than [`acks`](Self::acks) in a loop).
    pub fn ack_count(&self) -> usize {
        self.shared.lock().acks.len()
    }

    /// Every frame a client sent that was not an ack, in arrival order.
    pub fn client_frames(&self) -> Vec<ClientFrame> {
        self.shared.lock().client_frames.clone()
    }

    /// Pings the client sent on `connection` (0 for an unknown one).
    pub fn pings_from(&self, connection: usize) -> usize {
        self.shared
            .lock()
            .connections
            .get(connection)
            .map_or(0, |c| c.pings)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().open.len()
    }

    /// The indexes of the connections open now, oldest first.
    pub fn open_connection_indexes(&self) -> Vec<usize> {
        self.shared.lock().open.iter().copied().collect()
    }

    /// Whether `connection` is open.
    pub fn is_open(&self, connection: usize) -> bool {
        self.shared.lock().open.contains(&connection)
    }

    /// Connections accepted since start (open or not); the next one gets this index.
    pub fn connects(&self) -> usize {
        self.shared.lock().connections.len()
    }

    /// Connection attempts refused for an unknown or already used ticket.
    pub fn refused_connects(&self) -> usize {
        self.shared.lock().refused
    }

    /// Waits until at least `count` acks arrived or `timeout` passed; returns the acks.
    pub async fn wait_for_acks(&self, count: usize, timeout: Duration) -> Vec<Ack> {
        self.wait_until(timeout, |state| state.acks.len() >= count).await;
        self.acks()
    }

    /// Waits until exactly `count` connections are open or `timeout` passed; returns how many are.
    pub async fn wait_for_open_connections(&self, count: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |state| state.open.len() == count).await;
        self.open_connections()
    }

    /// Waits until at least `count` connections were accepted or `timeout` passed; returns how many were.
    pub async fn wait_for_connects(&self, count: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |state| state.connections.len() >= count)
            .await;
        self.connects()
    }

    /// Waits until `connection` is closed or `timeout` passed; returns whether it is closed.
    pub async fn wait_for_close(&self, connection: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| !state.open.contains(&connection))
            .await;
        !self.is_open(connection)
    }

    fn command(&self, connection: usize, command: Command) -> Result<(), NoConnection> {
        let state = self.shared.lock();
        let target = state.open_connection(connection)?;
        target.commands.send(command).map_err(|_| NoConnection)
    }

    async fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Created before the check so a change between the check and the wait is not missed.
            let changed = self.shared.changed.notified();
            if done(&self.shared.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}
