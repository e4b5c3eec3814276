//! Reading objects without holding them whole: each object streamed from
//! the store in chunks, hashed as they come and handed to a writer (a file
//! being restored, or nothing when only checking), so memory stays bounded
//! however large the object and however slow the store.
//!
//! What belongs here: [`Store::read_into`] and [`Store::check`], and how
//! many objects callers read at once ([`READS_IN_FLIGHT`]). Deciding what a
//! bad object means (a restore's per-file problem, an audit finding) is the
//! caller's. The writer sees every byte before the hash is known: a caller
//! must not use what was written unless `read_into` returns `Ok` (restore
//! writes to a temporary file and places it only then).

use std::io::{Read, Write};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::GetResultPayload;
use sha2::Digest;

use super::{object_key, Sha256, Store, StoreError};

/// Objects read at once by callers that read many (restore, verify
/// --read-data, rebuilding a message): enough to hide a remote store's
/// latency, few enough that memory and connections stay bounded.
pub const READS_IN_FLIGHT: usize = 4;

/// Bytes gathered from the store before they are hashed and written on
/// the blocking pool (network chunks are small; one hop per chunk would
/// cost more than the work).
const BATCH: usize = 1024 * 1024;

/// Why [`Store::read_into`] failed: the store, or the writer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The object is missing, damaged, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer refused the bytes.
    #[error(
        "cannot write out object {key}: {source}; check that the destination is writable \
         and has free space, then retry"
    )]
    Write { key: String, source: std::io::Error },
}

impl ReadError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Store(e) => e.is_transient(),
            ReadError::Write { .. } => true,
        }
    }
}

/// A writer fed while hashing what it is fed.
struct Checked<W> {
    hasher: sha2::Sha256,
    sink: W,
    len: u64,
}

impl<W: Write> Checked<W> {
    fn feed(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        self.sink.write_all(chunk)
    }

    /// Feeds the whole of a local object's file, in [`BATCH`]-sized reads.
    /// A read error is a store error, a write error the writer's.
    fn feed_file(&mut self, mut file: std::fs::File) -> Result<(), Fault> {
        let mut buf = vec![0u8; BATCH];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fault::Read(e)),
            };
            self.feed(&buf[..n]).map_err(Fault::Write)?;
        }
    }
}

/// What went wrong on the blocking pool.
enum Fault {
    Read(std::io::Error),
    Write(std::io::Error),
}

impl Store {
    /// Streams the object `hash` into `sink`, hashing as it goes, and
    /// returns the sink and the object's length. `Err(Corrupt)` when the
    /// content does not hash to `hash`; by then `sink` has seen the bytes,
    /// so write somewhere that is discarded on error.
    pub async fn read_into<W>(&self, hash: &Sha256, sink: W) -> Result<(W, u64), ReadError>
    where
        W: Write + Send + 'static,
    {
        if self.compress.knows_compressed(hash) {
            return self.read_compressed_into(hash, sink).await;
        }
        let key = object_key(hash);
        let result = match self.inner.get(&key).await {
            Ok(r) => r,
            // Stored compressed (`<hash>.zst`), or not at all.
            Err(object_store::Error::NotFound { .. }) => {
                return self.read_compressed_into(hash, sink).await
            }
            Err(e) => return Err(self.read_err(&key, e).into()),
        };
        let mut st = Checked {
            hasher: sha2::Sha256::new(),
            sink,
            len: 0,
        };
        match result.payload {
            GetResultPayload::File(file, _) => {
                st = self
                    .on_pool(&key, move || st.feed_file(file).map(|()| st))
                    .await?;
            }
            GetResultPayload::Stream(mut chunks) => {
                let mut batch: Vec<Bytes> = Vec::new();
                let mut batched = 0;
                loop {
                    let next = chunks
                        .try_next()
                        .await
                        .map_err(|e| self.read_err(&key, e))?;
                    let done = next.is_none();
                    if let Some(chunk) = next {
                        batched += chunk.len();
                        batch.push(chunk);
                    }
                    if batched >= BATCH || (done && !batch.is_empty()) {
                        let todo = std::mem::take(&mut batch);
                        batched = 0;
                        st = self.on_pool(&key, move || feed_all(st, todo)).await?;
                    }
                    if done {
                        break;
                    }
                }
            }
        }
        let actual: Sha256 = st.hasher.finalize().into();
        if actual != *hash {
            return Err(self.corrupt(&key, &actual).into());
        }
        Ok((st.sink, st.len))
    }

    /// [`Store::read_into`] for an object stored compressed: decompressed
    /// as a stream ([`Store::pieces`]), never holding more than a batch and
    /// zstd's window, and hash-checked as it goes. A missing object is
    /// `NotFound` under its plain key, the one links and people know.
    async fn read_compressed_into<W>(&self, hash: &Sha256, sink: W) -> Result<(W, u64), ReadError>
    where
        W: Write + Send + 'static,
    {
        let mut pieces = self.pieces_compressed(hash).await?;
        let key = pieces.key().clone();
        let mut sink = sink;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0;
        loop {
            let next = pieces.next().await?;
            let done = next.is_none();
            if let Some(piece) = next {
                batched += piece.len();
                batch.push(piece);
            }
            if batched >= BATCH || (done && !batch.is_empty()) {
                let todo = std::mem::take(&mut batch);
                batched = 0;
                sink = write_on_pool(&key, sink, todo).await?;
            }
            if done {
                return Ok((sink, pieces.len()));
            }
        }
    }

    /// Reads the object `hash` through and checks it against its SHA-256,
    /// holding at most a batch of it in memory; returns its length.
    pub async fn check(&self, hash: &Sha256) -> Result<u64, StoreError> {
        match self.read_into(hash, std::io::sink()).await {
            Ok((_, len)) => Ok(len),
            Err(ReadError::Store(e)) => Err(e),
            // io::Sink never refuses a write; kept an error all the same.
            Err(ReadError::Write { key, source }) => Err(StoreError::Backend {
                op: "check",
                key,
                url: self.url.clone(),
                source: Box::new(object_store::Error::Generic {
                    store: "check",
                    source: Box::new(source),
                }),
            }),
        }
    }

    /// Runs hashing and writing on tokio's blocking pool, so that a large
    /// object does not stall other I/O on the runtime's thread.
    async fn on_pool<W, F>(&self, key: &Path, job: F) -> Result<Checked<W>, ReadError>
    where
        W: Send + 'static,
        F: FnOnce() -> Result<Checked<W>, Fault> + Send + 'static,
    {
        let write_err = |source| ReadError::Write {
            key: key.to_string(),
            source,
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(st)) => Ok(st),
            Ok(Err(Fault::Write(e))) => Err(write_err(e)),
            Ok(Err(Fault::Read(e))) => Err(ReadError::Store(self.backend(
                "read",
                key,
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                },
            ))),
            // The pool is shutting down (or the job panicked).
            Err(e) => Err(write_err(std::io::Error::other(e))),
        }
    }
}

/// Writes `chunks` to `sink` on tokio's blocking pool.
async fn write_on_pool<W>(key: &Path, mut sink: W, chunks: Vec<Bytes>) -> Result<W, ReadError>
where
    W: Write + Send + 'static,
{
    let job = tokio::task::spawn_blocking(move || {
        for c in &chunks {
            sink.write_all(c)?;
        }
        Ok(sink)
    });
    let write_err = |source| ReadError::Write {
        key: key.to_string(),
        source,
    };
    match job.await {
        Ok(Ok(sink)) => Ok(sink),
        Ok(Err(e)) => Err(write_err(e)),
        // The pool is shutting down (or the job panicked).
        Err(e) => Err(write_err(std::io::Error::other(e))),
    }
}

fn feed_all<W: Write>(mut st: Checked<W>, chunks: Vec<Bytes>) -> Result<Checked<W>, Fault> {
    for c in &chunks {
        st.feed(c).map_err(Fault::Write)?;
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;
    use crate::store::{sha256, PutOptions};

    fn data(len: usize) -> Bytes {
        Bytes::from((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
    }

    fn stores() -> (tempfile::TempDir, Vec<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let local = Store::open(&dir.path().to_string_lossy()).unwrap();
        let memory = Store::from_object_store(Arc::new(InMemory::new()), "memory://t".into());
        (dir, vec![local, memory])
    }

    #[tokio::test]
    async fn read_into_streams_exact_bytes_from_file_and_stream_payloads() {
        let (_dir, stores) = stores();
        for store in stores {
            for len in [0, 1, BATCH - 1, BATCH, 3 * BATCH + 17] {
                let d = data(len);
                let h = sha256(&d);
                store.put(&h, d.clone(), PutOptions::new()).await.unwrap();
                let (out, n) = store.read_into(&h, Vec::new()).await.unwrap();
                assert_eq!(n, len as u64);
                assert_eq!(out, d, "{} {len}", store.url());
                assert_eq!(store.check(&h).await.unwrap(), len as u64);
            }
        }
    }

    #[tokio::test]
    async fn corruption_in_the_middle_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().to_string_lossy()).unwrap();
        let d = data(3 * BATCH);
        let h = sha256(&d);
        store.put(&h, d, PutOptions::new()).await.unwrap();
        let file = store.local_root().unwrap().join(object_key(&h).as_ref());
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[BATCH + BATCH / 2] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();

        let err = store.read_into(&h, Vec::new()).await.unwrap_err();
        assert!(
            matches!(&err, ReadError::Store(StoreError::Corrupt { key, .. }) if *key == object_key(&h).to_string()),
            "{err}"
        );
        assert!(!err.is_transient());
        assert!(matches!(
            store.check(&h).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn missing_object_is_not_found() {
        let (_dir, stores) = stores();
        for store in stores {
            let h = sha256(b"never stored");
            assert!(matches!(
                store.read_into(&h, Vec::new()).await,
                Err(ReadError::Store(StoreError::NotFound { .. }))
            ));
            assert!(matches!(
                store.check(&h).await,
                Err(StoreError::NotFound { .. })
            ));
        }
    }

    /// A writer that gives up after `left` bytes.
    #[derive(Debug)]
    struct Full {
        left: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_writer_is_a_write_error() {
        let (_dir, stores) = stores();
        for store in stores {
            let d = data(2 * BATCH);
            let h = sha256(&d);
            store.put(&h, d, PutOptions::new()).await.unwrap();
            let err = store.read_into(&h, Full { left: 1000 }).await.unwrap_err();
            assert!(matches!(err, ReadError::Write { .. }), "{err}");
            assert!(err.to_string().contains("disk full"), "{err}");
        }
    }

    #[tokio::test]
    async fn issue20_compressed_objects_stream_into_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let zstd = crate::store::Compression::from_zstd_level(Some(3));
        let local = Store::open(&dir.path().to_string_lossy())
            .unwrap()
            .with_compression(zstd);
        let memory = Store::from_object_store(Arc::new(InMemory::new()), "memory://t".into())
            .with_compression(zstd);
        for store in [local, memory] {
            let d = Bytes::from("a row, of a table; 12345\n".repeat(200_000));
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
                .await;
            assert!(put.unwrap().compressed_size.is_some());
            // A handle that does not know the form finds it.
            let fresh = Store::from_object_store(store.object_store(), "x://y".into());
            let (out, n) = fresh.read_into(&h, Vec::new()).await.unwrap();
            assert_eq!((n, out == d), (d.len() as u64, true));
            assert_eq!(store.check(&h).await.unwrap(), d.len() as u64);
        }
    }
}
