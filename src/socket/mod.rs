//! Socket Mode (ARCHITECTURE §11): with an app-level token, Circlet dials out to Slack over
//! websockets instead of waiting for HTTP requests, so it runs without a public URL.
//!
//! [`SocketMode::run`] keeps `CIRCLET_SOCKET_CONNECTIONS` connections open, each in a slot of
//! its own: a slot opens a URL with `apps.connections.open`, connects, serves until the
//! connection ends, and opens the next. When Slack announces a disconnect, the replacement is
//! opened first and the old connection closed only once the new one said hello, so a refresh
//! never leaves the slot without a socket. Failures back off exponentially with jitter.
//!
//! The client is a small one on tokio-tungstenite rather than slack-morphism's listener: that
//! listener handles one envelope at a time per connection and hides `retry_attempt` and
//! envelope types it does not know; here each envelope is stored on its own task and acked
//! the moment it is stored.

mod connection;
mod envelope;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use self::connection::{Ended, Serving};
use crate::inbox::Backoff;
use crate::ingress::Intake;
use crate::metrics::Metrics;
use crate::slack::{ConnectionsOpener, SlackError};

pub use envelope::{EnvelopeKind, Outcome};

/// How a Socket Mode client behaves; [`SocketSettings::default`] is what `serve` uses.
#[derive(Debug, Clone)]
pub struct SocketSettings {
    /// Connections kept open (`CIRCLET_SOCKET_CONNECTIONS`).
    pub connections: usize,
    /// How often Slack is pinged, and how long its pong may take.
    pub ping_every: Duration,
    pub pong_timeout: Duration,
    /// How long a new connection may take to say hello.
    pub hello_timeout: Duration,
    /// Envelopes of one connection being stored at once; more wait unread.
    pub in_flight: usize,
    /// How long a closing connection waits for its envelopes to be stored and acknowledged.
    pub drain_timeout: Duration,
    /// Waits between failed attempts to (re)connect.
    pub backoff: Backoff,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            connections: 2,
            ping_every: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(10),
            in_flight: 256,
            drain_timeout: Duration::from_secs(5),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
        }
    }
}

/// How many connections are open now: `/readyz` is unready at zero.
#[derive(Debug, Default)]
pub struct SocketStatus {
    open: AtomicUsize,
}

impl SocketStatus {
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Counts a connection open until the guard is dropped.
    fn opened(self: &Arc<Self>, metrics: &Metrics) -> OpenGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        metrics.add_socket_connection(1);
        OpenGuard {
            status: self.clone(),
            metrics: metrics.clone(),
        }
    }
}

struct OpenGuard {
    status: Arc<SocketStatus>,
    metrics: Metrics,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.status.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics.add_socket_connection(-1);
    }
}

/// The Socket Mode client of one app.
pub struct SocketMode {
    opener: ConnectionsOpener,
    intake: Intake,
    metrics: Metrics,
    status: Arc<SocketStatus>,
    settings: SocketSettings,
}

impl SocketMode {
    pub fn new(
        opener: ConnectionsOpener,
        intake: Intake,
        metrics: Metrics,
        settings: SocketSettings,
    ) -> Self {
        Self {
            opener,
            intake,
            metrics,
            status: Arc::new(SocketStatus::default()),
            settings,
        }
    }

    pub fn status(&self) -> Arc<SocketStatus> {
        self.status.clone()
    }

    /// Keeps the connections open until `shutdown`; then each stops reading, acknowledges what
    /// it stored and closes.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut slots = JoinSet::new();
        for slot in 0..this.settings.connections.max(1) {
            slots.spawn(this.clone().keep_open(slot, shutdown.clone()));
        }
        while slots.join_next().await.is_some() {}
    }

    /// One slot: a connection, then its replacement, until shutdown.
    async fn keep_open(self: Arc<Self>, slot: usize, shutdown: CancellationToken) {
        let mut failures = 0u32;
        // A connection Slack said it will close, still serving until its replacement is open.
        let mut closing: Option<(JoinHandle<Ended>, CancellationToken)> = None;
        while !shutdown.is_cancelled() {
            let socket = tokio::select! {
                _ = shutdown.cancelled() => break,
                socket = self.connect() => socket,
            };
            let socket = match socket {
                Ok(socket) => socket,
                Err((label, retry_after)) => {
                    failures += 1;
                    self.metrics.count_socket_reconnect(label);
                    let wait = self.settings.backoff.delay(failures).max(retry_after);
                    tracing::warn!(slot, reason = label, retry_in = ?wait, "could not open a Socket Mode connection");
                    if sleep_or_shutdown(wait, &shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            failures = 0;
            if let Some((old, stop)) = closing.take() {
                stop.cancel();
                // It drains on its own; the slot serves the new connection meanwhile.
                drop(old);
            }
            tracing::info!(slot, "Socket Mode connection open");
            let stop = shutdown.child_token();
            let (disconnecting, disconnect_announced) = oneshot::channel();
            let mut serving = tokio::spawn(connection::serve(
                socket,
                Serving {
                    intake: self.intake.clone(),
                    metrics: self.metrics.clone(),
                    status: self.status.clone(),
                    settings: self.settings.clone(),
                    disconnecting,
                    stop: stop.clone(),
                },
            ));
            tokio::select! {
                Ok(reason) = disconnect_announced => {
                    self.metrics.count_socket_reconnect(disconnect_label(&reason));
                    closing = Some((serving, stop));
                }
                ended = &mut serving => {
                    let ended = ended.unwrap_or(Ended::Closed);
                    if shutdown.is_cancelled() {
                        break;
                    }
                    self.metrics.count_socket_reconnect(ended.label());
                    tracing::info!(slot, reason = ended.label(), "Socket Mode connection ended; reconnecting");
                    // A pause with jitter keeps every slot (and replica) from reconnecting at once.
                    if sleep_or_shutdown(self.settings.backoff.delay(1), &shutdown).await {
                        break;
                    }
                }
            }
        }
        if let Some((old, _)) = closing {
            let _ = old.await;
        }
    }

    /// A URL, then a connection that said hello; on failure, a metrics label and the least
    /// wait Slack asked for.
    async fn connect(&self) -> Result<connection::Socket, (&'static str, Duration)> {
        let url = self.opener.open().await.map_err(|err| {
            let retry_after = match &err {
                SlackError::RateLimited { retry_after, .. } => *retry_after,
                _ => Duration::ZERO,
            };
            tracing::warn!(error = %err, "apps.connections.open failed");
            ("open_failed", retry_after)
        })?;
        connection::connect(&url, self.settings.hello_timeout)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "Socket Mode connection failed");
                (err.label(), Duration::ZERO)
            })
    }
}

fn disconnect_label(reason: &str) -> &'static str {
    match reason {
        "refresh_requested" => "refresh_requested",
        "warning" => "warning",
        "link_disabled" => "link_disabled",
        _ => "disconnect",
    }
}

/// True when shutdown came first.
async fn sleep_or_shutdown(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
