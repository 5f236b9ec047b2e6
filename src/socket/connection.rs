//! One Socket Mode connection: wait for `hello`, read frames, take each envelope through the
//! intake on its own task (a slow store does not hold up the next envelope), send each ack
//! once its envelope is stored, ping Slack and notice when it stops answering.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::envelope::{self, Incoming};
use super::{SocketSettings, SocketStatus};
use crate::ingress::Intake;
use crate::metrics::Metrics;
use crate::secret::Secret;

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames waiting to be written: acks pile up here only while the socket is slow to take them.
const OUTGOING_FRAMES: usize = 1024;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("could not connect the websocket: {0}")]
    Connect(String),
    #[error("no hello from Slack within {0:?}")]
    NoHello(Duration),
    #[error("Slack closed the websocket before its hello")]
    ClosedBeforeHello,
}

impl ConnectError {
    pub(super) fn label(&self) -> &'static str {
        match self {
            ConnectError::Connect(_) => "connect_failed",
            ConnectError::NoHello(_) | ConnectError::ClosedBeforeHello => "no_hello",
        }
    }
}

/// Why a connection that said hello ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// Closed by Slack, or the stream failed.
    Closed,
    /// Slack did not answer a ping in time.
    MissedPong,
    /// Its replacement is open, or Circlet is shutting down.
    Stopped,
}

impl Ended {
    pub(super) fn label(self) -> &'static str {
        match self {
            Ended::Closed => "closed",
            Ended::MissedPong => "missed_pong",
            Ended::Stopped => "stopped",
        }
    }
}

/// Connects to `url` and waits for Slack's `hello`.
pub(super) async fn connect(url: &Secret, hello_timeout: Duration) -> Result<Socket, ConnectError> {
    let opened = async {
        // Without TCP_NODELAY an ack written while the previous one is unacknowledged waits
        // for Slack's delayed TCP ACK (40 ms on Linux) unless an envelope happens to carry it.
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url.expose(), None, true)
            .await
            // The error may quote the URL, whose ticket is a credential: name the kind only.
            .map_err(|err| ConnectError::Connect(error_kind(&err).to_owned()))?;
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Text(text)) if envelope::read(text.as_str()) == Incoming::Hello => {
                    return Ok(socket);
                }
                Ok(Message::Close(_)) | Err(_) => return Err(ConnectError::ClosedBeforeHello),
                // Nothing is acknowledged before hello; Slack redelivers what it sent early.
                Ok(_) => {}
            }
        }
        Err(ConnectError::ClosedBeforeHello)
    };
    tokio::time::timeout(hello_timeout, opened)
        .await
        .map_err(|_| ConnectError::NoHello(hello_timeout))?
}

fn error_kind(err: &tokio_tungstenite::tungstenite::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Io(_) => "connection failed",
        Error::Tls(_) => "TLS handshake failed",
        Error::Http(_) => "Slack refused the websocket upgrade",
        Error::Url(_) => "unusable websocket URL",
        _ => "websocket protocol error",
    }
}

/// What a serving connection shares with its slot.
pub(super) struct Serving {
    pub intake: Intake,
    pub metrics: Metrics,
    pub status: Arc<SocketStatus>,
    pub settings: SocketSettings,
    /// Told once when Slack announces it will close this connection.
    pub disconnecting: oneshot::Sender<String>,
    /// Cancelled when this connection should close: its replacement is open, or shutdown.
    pub stop: CancellationToken,
}

/// Serves `socket` until it ends; envelopes read before then are stored and acknowledged
/// before the socket is closed.
pub(super) async fn serve(socket: Socket, serving: Serving) -> Ended {
    let Serving {
        intake,
        metrics,
        status,
        settings,
        disconnecting,
        stop,
    } = serving;
    let _open = status.opened(&metrics);
    let (mut sink, mut stream) = socket.split();
    let (outgoing, mut to_send) = mpsc::channel::<Message>(OUTGOING_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(frame) = to_send.recv().await {
            if sink.send(frame).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let in_flight = Arc::new(Semaphore::new(settings.in_flight.max(1)));
    let tasks = TaskTracker::new();
    let mut disconnecting = Some(disconnecting);
    let mut ping = tokio::time::interval_at(Instant::now() + settings.ping_every, settings.ping_every);
    let mut pong_due: Option<Instant> = None;

    let ended = loop {
        tokio::select! {
            _ = stop.cancelled() => break Ended::Stopped,
            _ = ping.tick() => {
                if pong_due.is_none() {
                    pong_due = Some(Instant::now() + settings.pong_timeout);
                    if outgoing.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break Ended::Closed;
                    }
                }
            }
            _ = sleep_until(pong_due) => {
                tracing::warn!("Slack did not answer a Socket Mode ping; reconnecting");
                break Ended::MissedPong;
            }
            frame = stream.next() => match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break Ended::Closed,
                Some(Ok(Message::Pong(_))) => pong_due = None,
                Some(Ok(Message::Text(text))) => match envelope::read(text.as_str()) {
                    Incoming::Envelope(_) => {
                        // Waiting for a slot stops reading: Slack holds what it has not sent.
                        let Ok(permit) = in_flight.clone().acquire_owned().await else { break Ended::Closed };
                        let (intake, metrics, outgoing) = (intake.clone(), metrics.clone(), outgoing.clone());
                        tasks.spawn(async move {
                            let _permit = permit;
                            let Incoming::Envelope(envelope) = envelope::read(text.as_str()) else { return };
                            let (outcome, ack) = envelope::handle(&intake, &envelope).await;
                            metrics.count_socket_envelope(envelope.kind.as_str(), outcome.as_str());
                            if let Some(ack) = ack {
                                let _ = outgoing.send(Message::Text(ack.into())).await;
                            }
                        });
                    }
                    Incoming::Disconnect { reason } => {
                        tracing::info!(%reason, "Slack will close a Socket Mode connection; opening its replacement");
                        if let Some(tell) = disconnecting.take() {
                            let _ = tell.send(reason);
                        }
                    }
                    Incoming::Hello => {}
                    Incoming::Unknown { kind } => {
                        tracing::debug!(frame_type = %kind, "ignoring a Socket Mode frame Circlet does not handle");
                    }
                },
                // Pings are answered by the websocket library; binary frames carry nothing for us.
                Some(Ok(_)) => {}
            },
        }
    };
    // Envelopes already read are stored and acknowledged before the socket closes, within
    // reason: what is still unacknowledged after that is redelivered by Slack.
    tasks.close();
    if tokio::time::timeout(settings.drain_timeout, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "closing a Socket Mode connection with envelopes still being stored; Slack redelivers them"
        );
    }
    drop(outgoing);
    let _ = tokio::time::timeout(settings.drain_timeout, writer).await;
    ended
}

/// Sleeps until `due`, or forever without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use circlet_testkit::fake_socket_mode::FakeSocketMode;

    use super::*;

    #[tokio::test]
    async fn a_connection_sends_small_frames_at_once() {
        let fake = FakeSocketMode::start().await.unwrap();
        let url = Secret::new(fake.connection_url());
        let socket = connect(&url, Duration::from_secs(5)).await.unwrap();
        let MaybeTlsStream::Plain(tcp) = socket.get_ref() else {
            panic!("a ws:// URL is plain TCP")
        };
        assert!(
            tcp.nodelay().unwrap(),
            "TCP_NODELAY: an ack must not wait for the TCP ACK of the one before"
        );
    }
}
