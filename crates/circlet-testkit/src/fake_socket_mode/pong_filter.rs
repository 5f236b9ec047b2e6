//! A TCP stream that can hold back the server's pongs.
//!
//! tungstenite answers every ping by itself and has no switch to stop, so a connection that should
//! look dead to the client's keepalive (while still reading, recording and noticing a close) cuts the
//! pong frames out of the bytes on their way to the socket. A server's frames are never masked, so
//! their boundaries can be followed from the headers alone.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const PONG_OPCODE: u8 = 0xA;
/// Bytes held before a write waits for the socket, so a client that stops reading slows the fake
/// down instead of growing this buffer without bound.
const MAX_PENDING: usize = 256 * 1024;

/// Where the outgoing byte stream is within the current frame.
#[derive(Default)]
struct FrameCursor {
    header: Vec<u8>,
    payload_left: u64,
    dropping: bool,
}

pub(super) struct PongFilter {
    inner: TcpStream,
    drop_pongs: Arc<AtomicBool>,
    /// `None` while the HTTP handshake is written: those bytes are not frames.
    frames: Option<FrameCursor>,
    pending: Vec<u8>,
    written: usize,
}

impl PongFilter {
    pub(super) fn new(inner: TcpStream, drop_pongs: Arc<AtomicBool>) -> PongFilter {
        PongFilter {
            inner,
            drop_pongs,
            frames: None,
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Called once the handshake's answer is written: from here on the bytes are frames.
    pub(super) fn start_framing(&mut self) {
        self.frames = Some(FrameCursor::default());
    }

    fn take_in(&mut self, mut bytes: &[u8]) {
        let Some(cursor) = self.frames.as_mut() else {
            self.pending.extend_from_slice(bytes);
            return;
        };
        while !bytes.is_empty() {
            if cursor.payload_left > 0 {
                let n =
                    usize::try_from(cursor.payload_left).map_or(bytes.len(), |left| left.min(bytes.len()));
                if !cursor.dropping {
                    self.pending.extend_from_slice(&bytes[..n]);
                }
                cursor.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            cursor.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some(payload_len) = complete_header_payload_len(&cursor.header) {
                cursor.dropping =
                    cursor.header[0] & 0x0F == PONG_OPCODE && self.drop_pongs.load(Ordering::Relaxed);
                if !cursor.dropping {
                    self.pending.extend_from_slice(&cursor.header);
                }
                cursor.header.clear();
                cursor.payload_left = payload_len;
            }
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

/// The payload length once `header` holds a whole frame header, else `None`.
fn complete_header_payload_len(header: &[u8]) -> Option<u64> {
    let second = *header.get(1)?;
    let masked = second & 0x80 != 0;
    let (extended, short_len) = match second & 0x7F {
        126 => (2, None),
        127 => (8, None),
        len => (0, Some(u64::from(len))),
    };
    let header_len = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < header_len {
        return None;
    }
    let payload_len = short_len.unwrap_or_else(|| {
        header[2..2 + extended]
            .iter()
            .fold(0, |len, byte| (len << 8) | u64::from(*byte))
    });
    Some(payload_len)
}

impl AsyncRead for PongFilter {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PongFilter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= MAX_PENDING {
            ready!(this.poll_drain(cx))?;
        }
        this.take_in(buf);
        // Writes now what the socket takes at once; tungstenite flushes after every message anyway.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::complete_header_payload_len;

    #[test]
    fn header_lengths_follow_rfc_6455() {
        assert_eq!(complete_header_payload_len(&[0x8A]), None);
        assert_eq!(complete_header_payload_len(&[0x8A, 5]), Some(5));
        assert_eq!(complete_header_payload_len(&[0x81, 126, 1]), None);
        assert_eq!(complete_header_payload_len(&[0x81, 126, 1, 0]), Some(256));
        let long = [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(complete_header_payload_len(&long), Some(65_536));
        assert_eq!(complete_header_payload_len(&[0x81, 0x83, 1, 2, 3]), None);
        assert_eq!(complete_header_payload_len(&[0x81, 0x83, 1, 2, 3, 4]), Some(3));
    }
}
