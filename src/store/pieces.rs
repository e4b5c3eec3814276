//! One object read piece by piece, for a caller that hands each piece on as
//! it comes and may stop at any time (`slimbox serve`'s response bodies):
//! plain or zstd-compressed, from a local file or a remote stream, at most
//! [`PIECE`] bytes at a time, hashed as they go.
//!
//! Nothing here holds a thread between pieces: a local file is read (and
//! hashed) one piece per job on tokio's blocking pool, one piece ahead of
//! the caller, and a compressed object is decompressed one piece per job,
//! so a caller that stops asking (a client that stopped reading) costs a
//! file handle and a piece or two and a zstd window of memory, not a
//! thread.
//!
//! A compressed object is decompressed as a stream: memory is the zstd
//! window (at most 8 MiB for the levels slimbox writes, 2 MiB at the
//! default level) and one piece, whatever the object's size. There is no
//! seeking: a reader after the middle of the object decompresses what is
//! before it and discards it. That costs nothing extra for `serve`, which
//! checks the whole object's hash on every request, Range or not, so it
//! reads the whole object anyway.
//!
//! The caller learns whether the object was intact only at the end:
//! [`Pieces::next`] returns `Ok(None)` only once every byte hashed right
//! and the length is the one expected, and an error otherwise. Until then
//! the pieces are unchecked, and the caller must not let anyone trust them
//! (serve holds back the response's last byte).

use std::io::Read;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::GetResultPayload;
use sha2::Digest;
use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use super::{compressed_key, object_key, Sha256, Store, StoreError};

/// Bytes handed out at most at once. Small, so that a reader that stalls
/// (thousands of them) holds little, and large enough that one blocking
/// job per piece costs little next to reading and hashing it.
pub const PIECE: usize = 64 * 1024;

/// The largest piece [`Pieces::with_piece_size`] takes.
pub const MAX_PIECE: usize = 1024 * 1024;

type Hasher = sha2::Sha256;

/// An object being read; see the module's header.
pub struct Pieces {
    store: Store,
    hash: Sha256,
    key: Path,
    source: Source,
    /// `None` while a blocking job (or a read ahead) has it.
    hasher: Option<Hasher>,
    len: u64,
    done: bool,
    /// Bytes a plain object is read in at once.
    piece: usize,
}

enum Source {
    Plain(Raw),
    Zstd(Box<Unzstd>),
}

/// The stored bytes, as they are in the store.
enum Raw {
    File(FileRead),
    Stream {
        chunks: BoxStream<'static, object_store::Result<Bytes>>,
        /// What is left of the last chunk (a backend may send large ones).
        rest: Bytes,
    },
}

/// A local file, with the next piece read ahead (and hashed) on the
/// blocking pool while the caller sends the last one: one piece more in
/// memory, and a download as fast as the slower of disk and client.
enum FileRead {
    /// `None` only after a failed job.
    Idle(Option<std::fs::File>),
    Ahead(Job<ReadOut>),
}

type ReadOut = (
    std::fs::File,
    Option<Hasher>,
    std::io::Result<Option<Bytes>>,
);

/// A zstd stream being decompressed.
struct Unzstd {
    raw: Raw,
    input: Bytes,
    pos: usize,
    eof: bool,
    /// `None` only while a blocking job has it.
    decoder: Option<Box<Decoder<'static>>>,
    /// The last step ended a frame: the input may end here.
    frame_done: bool,
}

impl Store {
    /// Starts reading the object `hash` (either form) piece by piece.
    pub async fn pieces(&self, hash: &Sha256) -> Result<Pieces, StoreError> {
        let plain = object_key(hash);
        if !self.compress.knows_compressed(hash) {
            let slot = self.local_slot().await;
            let got = self.inner.get(&plain).await;
            drop(slot);
            match got {
                Ok(r) => {
                    return Ok(self.pieces_of(hash, plain, Source::Plain(Raw::new(r.payload))))
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.read_err(&plain, e)),
            }
        }
        self.pieces_compressed(hash).await
    }

    /// [`Store::pieces`] of the compressed form (or the plain one, when a
    /// form this handle knew compressed is gone).
    pub(crate) async fn pieces_compressed(&self, hash: &Sha256) -> Result<Pieces, StoreError> {
        let plain = object_key(hash);
        let key = compressed_key(hash);
        let slot = self.local_slot().await;
        let got = self.inner.get(&key).await;
        drop(slot);
        match got {
            Ok(r) => {
                self.note_compressed(hash);
                let decoder = Decoder::new().map_err(|e| self.zstd_err(&key, e))?;
                let unzstd = Unzstd {
                    raw: Raw::new(r.payload),
                    input: Bytes::new(),
                    pos: 0,
                    eof: false,
                    decoder: Some(Box::new(decoder)),
                    frame_done: false,
                };
                Ok(self.pieces_of(hash, key, Source::Zstd(Box::new(unzstd))))
            }
            // Known compressed but gone: perhaps stored plain since.
            Err(object_store::Error::NotFound { .. }) if self.compress.knows_compressed(hash) => {
                match self.inner.get(&plain).await {
                    Ok(r) => Ok(self.pieces_of(hash, plain, Source::Plain(Raw::new(r.payload)))),
                    Err(e) => Err(self.read_err(&plain, e)),
                }
            }
            // Missing: said under the plain key, the one links name.
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound {
                key: plain.to_string(),
                url: self.url.clone(),
            }),
            Err(e) => Err(self.read_err(&key, e)),
        }
    }

    /// For a local store, one of the blocking pool's [`JOBS`] slots: the
    /// backend opens and looks up files there, and a burst of requests
    /// (hundreds of downloads starting at once) would otherwise grow the
    /// pool by a thread each.
    pub(super) async fn local_slot(&self) -> Option<tokio::sync::SemaphorePermit<'static>> {
        match self.local_root {
            Some(_) => JOB_SLOTS.acquire().await.ok(),
            None => None,
        }
    }

    fn pieces_of(&self, hash: &Sha256, key: Path, source: Source) -> Pieces {
        Pieces {
            store: self.clone(),
            hash: *hash,
            key,
            source,
            hasher: Some(Hasher::new()),
            len: 0,
            done: false,
            piece: PIECE,
        }
    }
}

impl Pieces {
    /// The next piece of the object (at most [`PIECE`] bytes, never
    /// empty); `Ok(None)` at the end once the whole object hashed right.
    pub async fn next(&mut self) -> Result<Option<Bytes>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let piece = match &mut self.source {
            Source::Plain(raw) => {
                raw.next(&self.store, &self.key, &mut self.hasher, self.piece)
                    .await?
            }
            Source::Zstd(z) => z.next(&self.store, &self.key, &mut self.hasher).await?,
        };
        match piece {
            Some(p) => {
                self.len += p.len() as u64;
                Ok(Some(p))
            }
            None => {
                self.done = true;
                let hasher = self.hasher.take().ok_or_else(|| self.lost("hash"))?;
                let actual: Sha256 = hasher.finalize().into();
                if actual != self.hash {
                    return Err(self.store.corrupt(&self.key, &actual));
                }
                Ok(None)
            }
        }
    }

    /// Reads a plain object in pieces of `size` (within [`PIECE`] and
    /// [`MAX_PIECE`]) instead: fewer, larger reads for a caller that has
    /// the memory to spare (a compressed object keeps [`PIECE`]).
    pub fn with_piece_size(mut self, size: usize) -> Pieces {
        self.piece = size.clamp(PIECE, MAX_PIECE);
        self
    }

    /// Bytes handed out so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was handed out yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key being read (plain or compressed form).
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// A state an earlier failed job left behind (it cannot happen: every
    /// job hands back what it took, or the read ends in an error).
    fn lost(&self, what: &str) -> StoreError {
        self.store.backend(
            "read",
            &self.key,
            object_store::Error::Generic {
                store: "pieces",
                source: format!("the {what} was lost by an earlier failure").into(),
            },
        )
    }
}

impl Raw {
    fn new(payload: GetResultPayload) -> Raw {
        match payload {
            GetResultPayload::File(file, _) => Raw::File(FileRead::Idle(Some(file))),
            GetResultPayload::Stream(chunks) => Raw::Stream {
                chunks,
                rest: Bytes::new(),
            },
        }
    }

    /// The next at most [`PIECE`] stored bytes, hashed into `hasher` when
    /// it is given (a plain object; the compressed form is not what the
    /// hash is of).
    async fn next(
        &mut self,
        store: &Store,
        key: &Path,
        hasher: &mut Option<Hasher>,
        size: usize,
    ) -> Result<Option<Bytes>, StoreError> {
        match self {
            Raw::File(state) => {
                let job = match std::mem::replace(state, FileRead::Idle(None)) {
                    FileRead::Ahead(job) => job,
                    FileRead::Idle(file) => {
                        let file = file.ok_or_else(|| lost(store, key))?;
                        let h = hasher.take();
                        pooled(move || read_piece(file, h, size))
                    }
                };
                let (file, h, read) = joined(store, key, job).await?;
                let read = read.map_err(|e| local_failed(store, key, e))?;
                if read.is_some() {
                    // The hash travels with the read ahead.
                    *state = FileRead::Ahead(pooled(move || read_piece(file, h, size)));
                } else {
                    *state = FileRead::Idle(Some(file));
                    *hasher = h;
                }
                Ok(read)
            }
            Raw::Stream { chunks, rest } => {
                while rest.is_empty() {
                    match chunks.next().await {
                        Some(Ok(c)) => *rest = c,
                        Some(Err(e)) => return Err(store.read_err(key, e)),
                        None => return Ok(None),
                    }
                }
                let piece = rest.split_to(rest.len().min(size));
                if let Some(h) = hasher.as_mut() {
                    h.update(&piece);
                }
                Ok(Some(piece))
            }
        }
    }
}

/// One read of at most [`PIECE`] bytes (`None` at the end), hashed.
fn read_piece(
    mut file: std::fs::File,
    mut hasher: Option<Hasher>,
    size: usize,
) -> (
    std::fs::File,
    Option<Hasher>,
    std::io::Result<Option<Bytes>>,
) {
    let mut buf = vec![0u8; size];
    let read = loop {
        match file.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let read = read.map(|n| {
        buf.truncate(n);
        if let Some(h) = hasher.as_mut() {
            h.update(&buf);
        }
        (n > 0).then(|| Bytes::from(buf))
    });
    (file, hasher, read)
}

impl Unzstd {
    /// The next at most [`PIECE`] decompressed bytes, hashed.
    async fn next(
        &mut self,
        store: &Store,
        key: &Path,
        hasher: &mut Option<Hasher>,
    ) -> Result<Option<Bytes>, StoreError> {
        loop {
            if self.pos == self.input.len() && !self.eof {
                match self.raw.next(store, key, &mut None, PIECE).await? {
                    Some(b) => (self.input, self.pos) = (b, 0),
                    None => self.eof = true,
                }
                continue;
            }
            let mut decoder = self.decoder.take().ok_or_else(|| lost(store, key))?;
            let mut h = hasher.take().ok_or_else(|| lost(store, key))?;
            let (input, mut pos) = (self.input.clone(), self.pos);
            let job = pooled(move || {
                let step = decode_step(&mut decoder, &input, &mut pos);
                if let Ok((out, _)) = &step {
                    h.update(out);
                }
                (decoder, h, pos, step)
            });
            let (decoder, h, pos, step) = joined(store, key, job).await?;
            (self.decoder, *hasher, self.pos) = (Some(decoder), Some(h), pos);
            let (out, frame_done) = step.map_err(|e| damaged(store, key, &e.to_string()))?;
            self.frame_done = frame_done.unwrap_or(self.frame_done);
            if !out.is_empty() {
                return Ok(Some(Bytes::from(out)));
            }
            if self.eof && self.pos == self.input.len() {
                return match self.frame_done {
                    true => Ok(None),
                    false => Err(damaged(store, key, "the zstd stream is cut short")),
                };
            }
        }
    }
}

/// Decompresses from `input[*pos..]` until [`PIECE`] bytes are out or the
/// input is used up; also whether the last call that did anything ended a
/// frame (`None`: nothing was done; a decoder between frames asks for
/// more). With no input left it flushes what the decoder still holds.
fn decode_step(
    decoder: &mut Decoder<'static>,
    input: &[u8],
    pos: &mut usize,
) -> std::io::Result<(Vec<u8>, Option<bool>)> {
    let mut out: Vec<u8> = Vec::with_capacity(PIECE);
    let mut frame_done = None;
    loop {
        let mut inb = InBuffer {
            src: input,
            pos: *pos,
        };
        let written = out.len();
        let mut outb = OutBuffer::around_pos(&mut out, written);
        let hint = decoder.run(&mut inb, &mut outb)?;
        let now_written = outb.pos();
        let progressed = inb.pos > *pos || now_written > written;
        *pos = inb.pos;
        if progressed {
            frame_done = Some(hint == 0);
        }
        if now_written >= PIECE || *pos == input.len() || !progressed {
            return Ok((out, frame_done));
        }
    }
}

fn lost(store: &Store, key: &Path) -> StoreError {
    store.backend(
        "read",
        key,
        object_store::Error::Generic {
            store: "pieces",
            source: "a read job failed earlier".into(),
        },
    )
}

/// Blocking jobs reading or decompressing pieces at once, however many
/// objects are being read: each job is short (one piece), and more at once
/// would add threads (and their memory; 200 downloads grew the pool to 500
/// threads) rather than throughput.
const JOBS: usize = 16;

static JOB_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(JOBS);

/// A job on the blocking pool, started once one of [`JOBS`] slots is free:
/// at once when one is (the usual case, one hop), else by a task that
/// waits for one.
enum Job<T> {
    Now(tokio::task::JoinHandle<T>),
    Queued(tokio::task::JoinHandle<Result<T, tokio::task::JoinError>>),
}

fn pooled<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Job<T> {
    if let Ok(slot) = JOB_SLOTS.try_acquire() {
        return Job::Now(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        }));
    }
    Job::Queued(tokio::spawn(async move {
        // The semaphore is never closed; without a slot the job runs anyway.
        let slot = JOB_SLOTS.acquire().await.ok();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await
    }))
}

/// Waits for `job`; a failed one (the runtime shutting down, a panic) is
/// the store's error.
async fn joined<T>(store: &Store, key: &Path, job: Job<T>) -> Result<T, StoreError> {
    let done = match job {
        Job::Now(h) => h.await,
        Job::Queued(h) => h.await.and_then(|inner| inner),
    };
    done.map_err(|e| join_failed(store, key, e))
}

fn join_failed(store: &Store, key: &Path, e: tokio::task::JoinError) -> StoreError {
    store.backend(
        "read",
        key,
        object_store::Error::Generic {
            store: "pieces",
            source: Box::new(e),
        },
    )
}

fn local_failed(store: &Store, key: &Path, e: std::io::Error) -> StoreError {
    store.backend(
        "read",
        key,
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        },
    )
}

/// A compressed object that does not decompress: damaged, like one that
/// hashes wrong (its content's hash cannot be known).
fn damaged(store: &Store, key: &Path, why: &str) -> StoreError {
    tracing::warn!("object {key} cannot be decompressed: {why}");
    StoreError::Corrupt {
        key: key.to_string(),
        url: store.url.clone(),
        actual: format!("nothing (its zstd data is damaged: {why})"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;
    use crate::store::{sha256, Compression, PutOptions};

    /// Local and in-memory stores, plain and compressing.
    fn stores() -> (tempfile::TempDir, Vec<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let local = |name: &str| Store::open(&dir.path().join(name).to_string_lossy()).unwrap();
        let memory = || Store::from_object_store(Arc::new(InMemory::new()), "memory://t".into());
        let zstd = Compression::from_zstd_level(Some(3));
        let stores = vec![
            local("plain"),
            memory(),
            local("zstd").with_compression(zstd),
            memory().with_compression(zstd),
        ];
        (dir, stores)
    }

    /// Every piece, checking each is at most [`PIECE`] and not empty.
    async fn read_all(store: &Store, hash: &Sha256) -> Result<Vec<u8>, StoreError> {
        let mut pieces = store.pieces(hash).await?;
        let mut out = Vec::new();
        while let Some(p) = pieces.next().await? {
            assert!(!p.is_empty() && p.len() <= PIECE, "{}", p.len());
            out.extend_from_slice(&p);
        }
        assert_eq!(pieces.len(), out.len() as u64);
        Ok(out)
    }

    fn csv(len: usize) -> Bytes {
        let line = b"a line of a CSV file, 1234, 5678\n";
        Bytes::from(line.iter().copied().cycle().take(len).collect::<Vec<u8>>())
    }

    #[tokio::test]
    async fn issue20_pieces_are_the_object_plain_or_compressed() {
        let (_dir, stores) = stores();
        for store in stores {
            for len in [1, PIECE - 1, PIECE, 3 * PIECE + 17, 2_000_000] {
                let d = csv(len);
                let h = sha256(&d);
                let put = store
                    .put(
                        &h,
                        d.clone(),
                        PutOptions::new()
                            .compress_as(Some("text/csv"))
                            .checked_by_caller()
                            .unsynced(),
                    )
                    .await
                    .unwrap();
                let compressed = store.compression() != Compression::Off && len > 1000;
                assert_eq!(put.compressed_size.is_some(), compressed, "{len}");
                let got = read_all(&store, &h).await.unwrap();
                assert!(got == d[..], "{} {len}", store.url());
                // A fresh handle does not know the form: it finds it.
                let fresh = Store::from_object_store(store.object_store(), "x://y".into());
                assert!(read_all(&fresh, &h).await.unwrap() == d[..]);
            }
        }
    }

    #[tokio::test]
    async fn issue20_damage_and_absence_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().to_string_lossy())
            .unwrap()
            .with_compression(Compression::from_zstd_level(Some(3)));
        let d = csv(500_000);
        let h = sha256(&d);
        store
            .put(
                &h,
                d.clone(),
                PutOptions::new()
                    .compress_as(Some("text/csv"))
                    .checked_by_caller()
                    .unsynced(),
            )
            .await
            .unwrap();
        let file = dir.path().join(compressed_key(&h).as_ref());
        let good = std::fs::read(&file).unwrap();
        // Cut short, and a flipped byte in the middle.
        std::fs::write(&file, &good[..good.len() / 2]).unwrap();
        let e = read_all(&store, &h).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 0x40;
        std::fs::write(&file, &bad).unwrap();
        let e = read_all(&store, &h).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        let gone = sha256(b"never stored");
        let e = read_all(&store, &gone).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::NotFound { key, .. } if *key == object_key(&gone).to_string()),
            "{e}"
        );
    }
}
