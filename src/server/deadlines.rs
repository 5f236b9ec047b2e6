//! A connection's own deadlines, below HTTP: it is closed when nothing moves on it for `idle`
//! while it waits for the client, or when the client stops taking a response for
//! `write_stall`.
//!
//! Progress either way counts: hyper keeps a read open while it writes a response (to notice
//! the client leaving), so a read deadline that ignored writes would cut a long download that
//! is going well.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why a connection was cut: the error inside the `TimedOut` I/O error it ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// No byte read or written for the idle time while waiting to read.
    Idle,
    /// A write waited for the client for the write-stall time.
    WriteStall,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cut::Idle => "no data moved for the idle time",
            Cut::WriteStall => "the client stopped reading",
        })
    }
}

impl std::error::Error for Cut {}

/// The cut that ended a connection, if one did: hyper may hand the error to a request body
/// rather than return it, so the connection's owner reads it here.
pub type CutSeen = Arc<OnceLock<Cut>>;

/// `S` with an idle deadline on reads and a stall deadline on writes.
pub struct Deadlines<S> {
    inner: S,
    idle: Duration,
    write_stall: Duration,
    last_progress: Instant,
    read_timer: Pin<Box<Sleep>>,
    read_waiting: bool,
    write_timer: Pin<Box<Sleep>>,
    write_waiting: bool,
    seen: CutSeen,
}

impl<S> Deadlines<S> {
    pub fn new(inner: S, idle: Duration, write_stall: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            write_stall,
            last_progress: now,
            read_timer: Box::pin(tokio::time::sleep_until(now + idle)),
            read_waiting: false,
            write_timer: Box::pin(tokio::time::sleep_until(now + write_stall)),
            write_waiting: false,
            seen: CutSeen::default(),
        }
    }

    /// Where the cut that ends this connection, if any, is recorded.
    pub fn seen(&self) -> CutSeen {
        self.seen.clone()
    }

    fn cut(&self, cut: Cut) -> io::Error {
        let _ = self.seen.set(cut);
        io::Error::new(io::ErrorKind::TimedOut, cut)
    }

    /// A read is waiting: fails once nothing has moved either way for the idle time.
    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.read_waiting {
            self.read_waiting = true;
            self.read_timer.as_mut().reset(self.last_progress + self.idle);
        }
        loop {
            ready!(self.read_timer.as_mut().poll(cx));
            // Writes may have moved the deadline since the timer was set.
            let deadline = self.last_progress + self.idle;
            if deadline <= Instant::now() {
                return Poll::Ready(self.cut(Cut::Idle));
            }
            self.read_timer.as_mut().reset(deadline);
        }
    }

    /// A write is waiting: fails once it has waited for the write-stall time.
    fn poll_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.write_waiting {
            self.write_waiting = true;
            self.write_timer.as_mut().reset(Instant::now() + self.write_stall);
        }
        ready!(self.write_timer.as_mut().poll(cx));
        Poll::Ready(self.cut(Cut::WriteStall))
    }

    fn wrote(&mut self, result: &io::Result<usize>) {
        self.write_waiting = false;
        if matches!(result, Ok(n) if *n > 0) {
            self.last_progress = Instant::now();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.read_waiting = false;
                if buf.filled().len() > before {
                    this.last_progress = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_read_deadline(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.wrote(&result);
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_write_deadline(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.wrote(&result);
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_write_deadline(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => {
                this.write_waiting = false;
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_write_deadline(cx).map(Err),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    const IDLE: Duration = Duration::from_secs(60);
    const STALL: Duration = Duration::from_secs(30);

    fn cut_of(err: &io::Error) -> Option<Cut> {
        err.get_ref()?.downcast_ref::<Cut>().copied()
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_with_nothing_moving_ends_after_the_idle_time() {
        let (server, _client) = duplex(1024);
        let mut server = Deadlines::new(server, IDLE, STALL);
        let started = Instant::now();
        let err = server.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(cut_of(&err), Some(Cut::Idle));
        assert!((IDLE..IDLE + Duration::from_secs(1)).contains(&started.elapsed()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_being_taken_keeps_a_waiting_read_alive() {
        let (server, mut client) = duplex(1024);
        let mut server = Deadlines::new(server, IDLE, STALL);
        let (mut reading, mut writing) = tokio::io::split(&mut server);
        let read = async { reading.read(&mut [0; 16]).await };
        let write = async {
            // Two minutes of a download the client keeps up with, then silence.
            for _ in 0..120 {
                writing.write_all(&[7; 512]).await.unwrap();
                client.read_exact(&mut [0; 512]).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Instant::now()
        };
        let (read, last_write) = tokio::join!(read, write);
        assert_eq!(cut_of(&read.unwrap_err()), Some(Cut::Idle));
        assert!(Instant::now() >= last_write + IDLE - Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_cut_after_the_write_stall() {
        let (server, _client) = duplex(1024);
        let mut server = Deadlines::new(server, IDLE, STALL);
        let started = Instant::now();
        let err = server.write_all(&[1; 4096]).await.unwrap_err();
        assert_eq!(cut_of(&err), Some(Cut::WriteStall));
        assert!((STALL..STALL + Duration::from_secs(1)).contains(&started.elapsed()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not_cut() {
        let (server, mut client) = duplex(64);
        let mut server = Deadlines::new(server, IDLE, STALL);
        let reader = async {
            let mut taken = 0;
            while taken < 4096 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                taken += client.read(&mut [0; 64]).await.unwrap();
            }
        };
        let (written, ()) = tokio::join!(server.write_all(&[1; 4096]), reader);
        written.unwrap();
    }
}
