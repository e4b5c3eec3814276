//! A response body streamed from the store and checked against its hash.
//!
//! The object is read through [`Store::read_into`] on the blocking pool; a
//! writer passes on the bytes of the requested range through a small
//! channel (so memory stays bounded by a few chunks, whatever the object's
//! size and however slow the client). The last chunk is held back until
//! the whole object has hashed right: when it does not, the body ends in
//! an error, hyper closes the connection, and the client sees a transfer
//! shorter than its Content-Length instead of wrong bytes it would trust.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::store::{to_hex, ReadError, Sha256, Store, StoreError};

/// Chunks (of up to a megabyte) queued between the store and the client.
const QUEUED: usize = 2;

/// The bytes `range` of the object `hash` (whose size is `total`), checked.
pub(super) fn checked(store: Arc<Store>, hash: Sha256, range: Range<u64>, total: u64) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUED);
    let (verdict_tx, verdict) = oneshot::channel::<bool>();
    tokio::spawn(async move {
        let sink = Slice {
            tx,
            pos: 0,
            range,
            total,
        };
        let ok = match store.read_into(&hash, sink).await {
            Ok((_, len)) if len == total => true,
            Ok((_, len)) => {
                tracing::error!(
                    "object {} is {len} bytes, not the {total} its size said; the response \
                     was cut short. Run `slimbox verify --read-data`",
                    to_hex(&hash)
                );
                false
            }
            Err(e) => {
                report(&hash, &e);
                false
            }
        };
        let _ = verdict_tx.send(ok);
    });
    let state = State::Streaming {
        rx,
        verdict,
        held: None,
    };
    Body::from_stream(futures::stream::unfold(state, next))
}

/// Logs why a read ended early: loudly for damage, quietly for a client
/// that went away.
fn report(hash: &Sha256, e: &ReadError) {
    match e {
        ReadError::Write { .. } => tracing::debug!("client went away during {}", to_hex(hash)),
        ReadError::Store(StoreError::Corrupt { .. }) => tracing::error!(
            "SERVED OBJECT IS DAMAGED: {e}; the response was cut short so the client \
             cannot take it for the file. Run `slimbox verify --read-data`"
        ),
        ReadError::Store(e) => tracing::warn!("reading {} failed mid-response: {e}", to_hex(hash)),
    }
}

enum State {
    Streaming {
        rx: mpsc::Receiver<Bytes>,
        verdict: oneshot::Receiver<bool>,
        held: Option<Bytes>,
    },
    Done,
}

async fn next(state: State) -> Option<(std::io::Result<Bytes>, State)> {
    let State::Streaming {
        mut rx,
        verdict,
        mut held,
    } = state
    else {
        return None;
    };
    loop {
        match rx.recv().await {
            Some(chunk) => {
                if let Some(prev) = held.replace(chunk) {
                    let state = State::Streaming { rx, verdict, held };
                    return Some((Ok(prev), state));
                }
            }
            // The reader is done: the held chunk goes out only if it hashed right.
            None => {
                return match verdict.await {
                    Ok(true) => held.map(|last| (Ok(last), State::Done)),
                    _ => Some((
                        Err(std::io::Error::other("object failed its check")),
                        State::Done,
                    )),
                };
            }
        }
    }
}

/// The writer [`Store::read_into`] feeds: passes on the part of each
/// write that falls in `range`, and refuses more bytes than `total`.
struct Slice {
    tx: mpsc::Sender<Bytes>,
    pos: u64,
    range: Range<u64>,
    total: u64,
}

impl Write for Slice {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A client that left needs neither the rest nor its check.
        if self.tx.is_closed() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let start = self.pos;
        let end = start + buf.len() as u64;
        if end > self.total {
            return Err(std::io::Error::other("object longer than its stated size"));
        }
        self.pos = end;
        let from = self.range.start.max(start);
        let to = self.range.end.min(end);
        if from < to {
            let part = &buf[(from - start) as usize..(to - start) as usize];
            // read_into writes on the blocking pool, where blocking is allowed.
            self.tx
                .blocking_send(Bytes::copy_from_slice(part))
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
