//! The HTTP listeners: an accept loop of our own over hyper, so that every connection has read
//! and write deadlines, their number is capped, and shutdown never waits on a slow client.
//! (`axum::serve` runs hyper without a timer: a client that sends a header a byte a minute
//! holds its connection, and shutdown, forever.)

pub mod deadlines;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::deadlines::{Cut, Deadlines};
use crate::metrics::Metrics;

/// How the listeners treat slow, idle and departing clients.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// From the moment a connection may send a request (it opened, or the previous response
    /// was sent) to the end of the request's headers. hyper starts it as soon as a keep-alive
    /// connection is idle, so it is also how long an idle keep-alive connection stays open.
    pub header_read: Duration,
    /// The whole body of a Slack request; past it the answer is 408.
    pub body_read: Duration,
    /// No byte read or written for this long while the connection waits for the client.
    pub idle: Duration,
    /// A response the client takes nothing of for this long.
    pub write_stall: Duration,
    /// Open connections per listener; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long shutdown lets requests in flight finish before closing their connections.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write_stall: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// One listener and what it serves.
pub struct Listener {
    /// `public` or `ops`, as the metrics label it.
    pub name: &'static str,
    pub socket: TcpListener,
    pub router: Router,
}

/// Serves `listener` until `shutdown` is cancelled, then stops accepting, lets requests in
/// flight finish for up to the shutdown grace, and closes the connections left.
pub async fn serve(
    listener: Listener,
    settings: ServerSettings,
    shutdown: CancellationToken,
    metrics: Metrics,
) {
    let Listener { name, socket, router } = listener;
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let settings = Arc::new(settings);
    let mut connections = JoinSet::new();
    loop {
        // A slot first: at the cap, clients wait in the kernel's queue, not in our memory.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = socket.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, or a client gone before it was accepted: wait
                    // a moment rather than spin.
                    tracing::warn!(listener = name, error = %err, "accept failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let connection = Connection::open(name, metrics.clone(), slot);
        connections.spawn(connection.serve(stream, router.clone(), settings.clone(), shutdown.clone()));
    }
    drop(socket);
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            listener = name,
            connections = connections.len(),
            "closing connections still open after the shutdown grace"
        );
        for _ in 0..connections.len() {
            metrics.count_connection_cut(name, "shutdown");
        }
        connections.shutdown().await;
    }
}

/// An accepted connection: counted open while it lives, holding one of its listener's slots.
struct Connection {
    listener: &'static str,
    metrics: Metrics,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Connection {
    fn open(listener: &'static str, metrics: Metrics, slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        metrics.add_open_connection(listener, 1);
        Self {
            listener,
            metrics,
            _slot: slot,
        }
    }

    async fn serve(
        self,
        stream: TcpStream,
        router: Router,
        settings: Arc<ServerSettings>,
        shutdown: CancellationToken,
    ) {
        // Small answers go out at once rather than wait for more to send.
        let _ = stream.set_nodelay(true);
        let io = Deadlines::new(stream, settings.idle, settings.write_stall);
        let cut = io.seen();
        let io = TokioIo::new(io);
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(settings.header_read);
        let mut connection = pin!(http.serve_connection(io, TowerToHyperService::new(router)));
        let served = tokio::select! {
            served = connection.as_mut() => served,
            () = shutdown.cancelled() => {
                // Finishes the request in flight, if any, then closes.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        let reason = match (cut.get(), &served) {
            (Some(Cut::Idle), _) => Some("idle"),
            (Some(Cut::WriteStall), _) => Some("write_stall"),
            (None, Err(err)) if err.is_timeout() => Some("header_timeout"),
            _ => None,
        };
        if let Some(reason) = reason {
            tracing::debug!(listener = self.listener, reason, "closed a slow connection");
            self.metrics.count_connection_cut(self.listener, reason);
        } else if let Err(err) = served {
            tracing::debug!(listener = self.listener, error = %err, "connection ended with an error");
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.metrics.add_open_connection(self.listener, -1);
    }
}
