//! The fake's socket side: accepting a connection against its ticket, greeting it, and one task per
//! connection that writes what the test sends and records what the client sends.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, Uri};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::pong_filter::PongFilter;
use super::{APP_ID, Ack, ClientFrame, Command, Connection, Shared};

type Socket = WebSocketStream<PongFilter>;

/// A client that opens TCP but never finishes the handshake is let go after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the fake's close frame, how long it waits for the client's before cutting the stream.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);
/// Slack's `hello` says how long the connection may last, in seconds.
const APPROXIMATE_CONNECTION_TIME: u64 = 18_060;
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The `debug_info.host` the fake names in connection `index`'s frames.
pub(super) fn host_name(index: usize) -> String {
    format!("applink-fake-{index}")
}

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(Arc::clone(&shared), stream));
                }
                // Out of file descriptors and the like: try again rather than stop serving.
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            () = shared.shutdown_requested() => return,
        }
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    // Envelopes are small and latency matters to the benches.
    let _ = stream.set_nodelay(true);
    let drop_pongs = Arc::new(AtomicBool::new(false));
    let filtered = PongFilter::new(stream, Arc::clone(&drop_pongs));
    #[allow(
        clippy::result_large_err,
        reason = "tungstenite's handshake callback must return its ErrorResponse"
    )]
    let check_ticket = |request: &Request, response: Response| match redeem_ticket(&shared, request.uri()) {
        Ok(()) => Ok(response),
        Err(reason) => Err(refusal(reason)),
    };
    let handshake = tokio_tungstenite::accept_hdr_async(filtered, check_ticket);
    let mut socket = tokio::select! {
        accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match accepted {
            Ok(Ok(socket)) => socket,
            _ => return,
        },
        () = shared.shutdown_requested() => return,
    };
    socket.get_mut().start_framing();
    let (commands, receiver) = mpsc::unbounded_channel();
    let (index, hello) = register(&shared, commands, drop_pongs);
    tokio::select! {
        () = run(&shared, index, &mut socket, receiver, hello) => {}
        () = shared.shutdown_requested() => {}
    }
    // Closed on the wire before it counts as closed, so a test that saw it close may rely on that.
    drop(socket);
    shared.lock().open.remove(&index);
    shared.changed();
}

/// Takes the ticket in `/link/?ticket=N`: known and unused, else the reason to refuse.
fn redeem_ticket(shared: &Shared, uri: &Uri) -> Result<(), &'static str> {
    let mut state = shared.lock();
    let ticket = ticket_of(uri);
    let redeemed = ticket.is_some_and(|ticket| state.unused_tickets.remove(&ticket));
    if redeemed {
        Ok(())
    } else {
        state.refused += 1;
        Err("invalid or already used ticket")
    }
}

fn ticket_of(uri: &Uri) -> Option<u64> {
    if uri.path().trim_end_matches('/') != "/link" {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query()?).ok()?;
    let (_, ticket) = pairs.into_iter().find(|(name, _)| name == "ticket")?;
    ticket.parse().ok()
}

fn refusal(reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

/// Gives the connection its index and counts it open; returns the `hello` it is greeted with.
fn register(
    shared: &Shared,
    commands: mpsc::UnboundedSender<Command>,
    drop_pongs: Arc<AtomicBool>,
) -> (usize, String) {
    let mut state = shared.lock();
    let index = state.connections.len();
    state.connections.push(Connection {
        commands,
        drop_pongs,
        draining: false,
        pings: 0,
    });
    state.open.insert(index);
    let hello = json!({
        "type": "hello",
        "num_connections": state.open.len(),
        "debug_info": {
            "host": host_name(index),
            "build_number": 1,
            "approximate_connection_time": APPROXIMATE_CONNECTION_TIME,
        },
        "connection_info": {"app_id": APP_ID},
    });
    drop(state);
    shared.changed();
    (index, hello.to_string())
}

/// Serves one connection until it closes, the test cuts it, or a disconnect's grace runs out.
async fn run(
    shared: &Shared,
    index: usize,
    socket: &mut Socket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    hello: String,
) {
    if socket.send(Message::text(hello)).await.is_err() {
        return;
    }
    let mut close_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Frame(text)) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Command::Disconnect { frame, close_after }) => {
                    if socket.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                    close_at = Some(tokio::time::Instant::now() + close_after);
                }
                // Dropping the stream without a close frame is the point of `Drop`.
                Some(Command::Drop) | None => return,
            },
            incoming = socket.next() => match incoming {
                Some(Ok(message)) => record(shared, index, message),
                // A closed stream, or one cut without a close frame.
                Some(Err(_)) | None => return,
            },
            () = wait_until(close_at) => {
                close(shared, index, socket).await;
                return;
            }
        }
    }
}

async fn wait_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and reads on (recording) until the client answers it or gives up.
async fn close(shared: &Shared, index: usize, socket: &mut Socket) {
    if socket.close(None).await.is_err() {
        return;
    }
    let read_rest = async {
        while let Some(Ok(message)) = socket.next().await {
            record(shared, index, message);
        }
    };
    let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, read_rest).await;
}

fn record(shared: &Shared, index: usize, message: Message) {
    let at = Instant::now();
    let mut state = shared.lock();
    match message {
        Message::Text(text) => match parse_ack(&text) {
            Some((envelope_id, payload)) => state.acks.push(Ack {
                connection: index,
                envelope_id,
                payload,
                at,
            }),
            None => state.client_frames.push(ClientFrame {
                connection: index,
                frame: serde_json::from_str(&text)
                    .unwrap_or_else(|_| Value::String(text.as_str().to_owned())),
                at,
            }),
        },
        Message::Binary(bytes) => state.client_frames.push(ClientFrame {
            connection: index,
            frame: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            at,
        }),
        Message::Ping(_) => {
            if let Some(connection) = state.connections.get_mut(index) {
                connection.pings += 1;
            }
        }
        // tungstenite answers a close itself; the next read ends the connection.
        Message::Pong(_) | Message::Close(_) | Message::Frame(_) => return,
    }
    drop(state);
    shared.changed();
}

/// `{"envelope_id": "…", "payload": {…}?}`: the envelope id and the payload, if any.
fn parse_ack(text: &Utf8Bytes) -> Option<(String, Option<Value>)> {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let envelope_id = frame.get("envelope_id")?.as_str()?.to_owned();
    Some((envelope_id, frame.remove("payload")))
}
