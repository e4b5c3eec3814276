//! A response body streamed from the store and checked against its hash.
//!
//! The object is read with [`Store::pieces`] only as fast as the client
//! takes it: each poll of the body reads (and hashes, or decompresses) one
//! piece of at most [`crate::store::PIECE`] bytes in a short job on
//! tokio's blocking pool, so a client that stops reading holds no thread
//! and about two pieces of memory (this one and what hyper has buffered),
//! whatever the object's size. The write timeout (`listen`) ends such a
//! connection.
//!
//! The whole object is always read and hashed, Range or not: the bytes
//! before the range are read and dropped, and after the range's end the
//! rest is read through before the range's last byte is sent. That last
//! byte is held back until the whole object has hashed right: when it does
//! not, the body ends in an error, hyper closes the connection, and the
//! client sees a transfer shorter than its Content-Length instead of wrong
//! bytes it would trust. A compressed object is decompressed as a stream
//! the same way (see `store::pieces` for why not seekable frames).

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;

use crate::store::{to_hex, Pieces, Sha256, Store, StoreError};

/// The bytes `range` of the object `hash` (whose size is `total`), checked.
pub(super) fn checked(store: Arc<Store>, hash: Sha256, range: Range<u64>, total: u64) -> Body {
    let slicer = Slicer {
        store,
        hash,
        range,
        total,
        pieces: None,
        pos: 0,
        held: None,
        done: false,
    };
    Body::from_stream(futures::stream::unfold(slicer, |mut s| async move {
        s.next().await.map(|item| (item, s))
    }))
}

/// The range of one object, cut out of its pieces as they come.
struct Slicer {
    store: Arc<Store>,
    hash: Sha256,
    range: Range<u64>,
    total: u64,
    /// Opened on the first poll: a HEAD or a client gone before it costs
    /// no read.
    pieces: Option<Pieces>,
    /// Bytes of the object read so far.
    pos: u64,
    /// The range's last byte, sent once the whole object hashed right.
    held: Option<Bytes>,
    done: bool,
}

impl Slicer {
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        if self.done {
            return None;
        }
        let item = self.step().await.transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }

    /// The next bytes of the range to send; `None` at the end.
    async fn step(&mut self) -> std::io::Result<Option<Bytes>> {
        let pieces = match &mut self.pieces {
            Some(p) => p,
            None => {
                let opened = self.store.pieces(&self.hash).await;
                let opened = opened.map_err(|e| fail(&self.hash, &e))?;
                // Larger reads while few connections are open (`limits`).
                self.pieces
                    .insert(opened.with_piece_size(super::limits::piece_size()))
            }
        };
        loop {
            let piece = pieces.next().await.map_err(|e| fail(&self.hash, &e))?;
            let Some(piece) = piece else {
                // The whole object is read and hashed right.
                if self.pos != self.total {
                    return Err(wrong_size(&self.hash, self.pos, self.total));
                }
                return Ok(self.held.take());
            };
            let start = self.pos;
            let end = start + piece.len() as u64;
            if end > self.total {
                return Err(wrong_size(&self.hash, end, self.total));
            }
            self.pos = end;
            let from = self.range.start.max(start);
            let to = self.range.end.min(end);
            if from >= to {
                continue;
            }
            let mut part = piece.slice((from - start) as usize..(to - start) as usize);
            if to == self.range.end {
                self.held = Some(part.split_off(part.len() - 1));
            }
            if !part.is_empty() {
                return Ok(Some(part));
            }
        }
    }
}

/// Logs why a read ended early, loudly for damage, and the error that
/// ends the body.
fn fail(hash: &Sha256, e: &StoreError) -> std::io::Error {
    match e {
        StoreError::Corrupt { .. } => tracing::error!(
            "SERVED OBJECT IS DAMAGED: {e}; the response was cut short so the client \
             cannot take it for the file. Run `slimbox verify --read-data`"
        ),
        e => tracing::warn!("reading {} failed mid-response: {e}", to_hex(hash)),
    }
    std::io::Error::other("object failed its check")
}

fn wrong_size(hash: &Sha256, seen: u64, total: u64) -> std::io::Error {
    tracing::error!(
        "object {} is {}{seen} bytes, not the {total} its size said; the response was cut \
         short. Run `slimbox verify --read-data`",
        to_hex(hash),
        if seen > total { "at least " } else { "" }
    );
    std::io::Error::other("object longer or shorter than its stated size")
}
