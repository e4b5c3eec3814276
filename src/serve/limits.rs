//! What one connection may cost, whatever its client does: the time it
//! may take to send a request's head, to sit idle between requests, and
//! to take a response it asked for; how many connections are served at
//! once is `listen`'s; a request body's size and time are the handler's
//! that reads one (only the pages' "put back" does, after its access
//! check).
//!
//! The timeouts live in [`Guarded`], a wrapper around the connection's
//! socket (under TLS, so a handshake is timed too), because hyper's own
//! header timeout also runs while a kept-alive connection is idle, and it
//! has no write timeout at all:
//! - from connecting, and from a request's first byte after an idle spell,
//!   the whole head must arrive within `header_timeout`;
//! - after a response, the next request must start within `idle_timeout`;
//! - a write (a response, or a TLS record) that makes no progress for
//!   `write_timeout` ends the connection: a client that stopped reading
//!   is dropped, and so is the download it stalled.
//!
//! While a request is in flight (from its head to the end of its response
//! body) no read timeout runs: the handler may take its time (a put back
//! talks to the IMAP server) and reads a body with its own limit.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `[serve]`'s limits on connections and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; past it a client gets a quick 503.
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// For a request body (the "put back" form), from when it is read.
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

/// The largest request body read (a "put back" form is a few hundred
/// bytes); a larger one is refused with 413 unread.
pub const MAX_BODY: usize = 16 * 1024;

/// Connections being served now (counted by `listen`): the body picks its
/// read size by it.
pub(super) static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Below this many open connections a download reads [`BIG_PIECE`]s: one
/// stream runs about twice as fast, and even if every one of them stalled
/// they would hold little (`BIG_FEW` × 2 × `BIG_PIECE` = 64 MiB).
const BIG_FEW: usize = 64;
const BIG_PIECE: usize = 512 * 1024;

/// The read size for a download starting now.
pub(super) fn piece_size() -> usize {
    if OPEN.load(Ordering::Relaxed) < BIG_FEW {
        BIG_PIECE
    } else {
        crate::store::PIECE
    }
}

/// One open connection, counted in [`OPEN`] while it lives.
pub(super) struct Open;

impl Open {
    pub(super) fn count() -> Open {
        OPEN.fetch_add(1, Ordering::Relaxed);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests in flight on one connection, and responses finished: what
/// [`Guarded`] decides its read timeouts on.
#[derive(Debug, Default)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    finished: AtomicU64,
    /// The connection's read, waiting while a request was in flight: woken
    /// when the last one ends, so that the idle clock starts (hyper does
    /// not read again by itself until the client sends something).
    reader: AtomicWaker,
}

/// One request in flight on its connection, from its head to the end (or
/// drop) of its response body.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.reader.wake();
        }
    }
}

/// A connection's socket with the timeouts above.
pub(super) struct Guarded<S> {
    io: S,
    limits: Limits,
    activity: Arc<Activity>,
    /// When reading stops being allowed (header or idle timeout).
    read_deadline: Pin<Box<Sleep>>,
    /// Responses finished when last looked at: a change starts idling.
    seen_finished: u64,
    /// A request's head has begun (its clock is the header timeout).
    in_head: bool,
    /// Armed while a write is blocked.
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// A fresh connection: its first request's head is due within the
    /// header timeout.
    pub(super) fn new(io: S, limits: Limits, activity: Arc<Activity>) -> Guarded<S> {
        Guarded {
            io,
            read_deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            limits,
            activity,
            seen_finished: 0,
            in_head: true,
            write_deadline: None,
        }
    }

    /// Whether reading has run out of time, given that it would block.
    fn read_timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        self.activity.reader.register(cx.waker());
        if self.activity.in_flight.load(Ordering::SeqCst) > 0 {
            return false;
        }
        self.read_deadline.as_mut().poll(cx).is_ready()
    }

    fn restart_read_clock(&mut self, after: Duration) {
        self.read_deadline.as_mut().reset(Instant::now() + after);
    }

    /// Arms the write clock for a blocked write; whether it has run out.
    fn write_timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.limits.write_timeout;
        let clock = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        clock.as_mut().poll(cx).is_ready()
    }

    fn on_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        res: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match res {
            Poll::Pending if self.write_timed_out(cx) => {
                self.write_deadline = None;
                Poll::Ready(Err(timed_out("the client took nothing for write_timeout")))
            }
            Poll::Pending => Poll::Pending,
            ready => {
                self.write_deadline = None;
                ready
            }
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let finished = this.activity.finished.load(Ordering::SeqCst);
        if finished != this.seen_finished {
            // A response ended since: the connection idles until the next
            // request's first byte.
            this.seen_finished = finished;
            this.in_head = false;
            this.restart_read_clock(this.limits.idle_timeout);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let idle = this.activity.in_flight.load(Ordering::SeqCst) == 0;
                if idle && !this.in_head {
                    this.in_head = true;
                    this.restart_read_clock(this.limits.header_timeout);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.read_timed_out(cx) => Poll::Ready(Err(timed_out(
                "the client sent no complete request in time (header_timeout or idle_timeout)",
            ))),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write(cx, buf);
        this.on_write(cx, res)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.on_write(cx, res)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_flush(cx);
        this.on_write(cx, res)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_shutdown(cx);
        this.on_write(cx, res)
    }
}
