//! Copying every object of one store into another (`slimbox store copy`).
//!
//! What belongs here: the copy loop (list the source, copy each object with
//! a create-only write, read it back at the destination and check its
//! SHA-256), its bounded memory and concurrency, and the checkpoint file
//! that lets an interrupted copy resume. Rewriting the config to point at
//! the new store is not here (see `crate::config::set_store_url`).
//!
//! Memory: at most [`CopyOptions::concurrency`] objects are in flight. An
//! object up to [`STREAM_ABOVE`] bytes is read whole (and checked, as by
//! [`Store::get`]) then written; a larger one is streamed into a multipart
//! upload of [`PART_SIZE`] parts, one part uploading while the next fills,
//! and its SHA-256 computed on the way: the upload is completed only if
//! the hash matches, and aborted otherwise, so bad bytes never become
//! visible. So each object in flight holds about 16 MiB at most.
//!
//! Resuming: every object verified at the destination is appended to a
//! checkpoint file (one hex SHA-256 a line). On the next copy to the same
//! destination, an object named there whose size at the destination is
//! still the source's is taken as done after one metadata request, instead
//! of being read back and hashed again. The trade-off: that trusts the
//! destination not to have changed the object's bytes (at the same size)
//! since this copy verified it, which saves reading the whole destination
//! again (for a cloud store: time and egress fees). An object at the
//! destination that is not in the checkpoint is always read back and
//! hashed, never skipped on its name alone; and `slimbox verify
//! --read-data` on the new store re-reads everything whenever wanted.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::WriteMultipart;
use sha2::Digest;

use super::{key, object_key, parse_hex, sha256, to_hex, PutOptions, Sha256, Store, StoreError};

/// Objects up to this size are read whole; larger ones are streamed.
pub const STREAM_ABOVE: u64 = 8 * 1024 * 1024;

/// Part size of a streamed upload (S3 wants at least 5 MiB but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Objects copied at a time unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How a copy runs.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Objects in flight at a time (at least 1).
    pub concurrency: usize,
    /// The checkpoint file of objects verified at the destination (see
    /// [`checkpoint_path`]); `None`: every object found at the destination
    /// is read back and hashed.
    pub checkpoint: Option<PathBuf>,
}

/// What the copy tells as it goes (a progress bar).
pub trait CopyProgress {
    /// A pass over `objects` objects of `bytes` bytes in all begins (the
    /// first pass has every object; a later one, those that appeared in
    /// the source meanwhile).
    fn pass(&self, objects: u64, bytes: u64);
    /// One object of `bytes` bytes is done, whatever the outcome.
    fn object_done(&self, bytes: u64);
}

/// No progress output.
impl CopyProgress for () {
    fn pass(&self, _objects: u64, _bytes: u64) {}
    fn object_done(&self, _bytes: u64) {}
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// Written to the destination by this copy, then read back and checked.
    Written,
    /// Already at the destination, read back and checked.
    Present,
    /// Verified by an earlier, interrupted copy (the checkpoint), and its
    /// size at the destination is unchanged.
    Resumed,
}

/// One object that could not be copied.
#[derive(Debug)]
pub struct CopyFailure {
    pub sha256: Sha256,
    /// The object's key, e.g. `sha256/ab/ab12…`.
    pub key: String,
    pub error: StoreError,
}

/// The summary of a copy.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Objects listed at the source.
    pub objects: u64,
    pub written: u64,
    pub written_bytes: u64,
    /// Already at the destination (read back and checked).
    pub present: u64,
    pub present_bytes: u64,
    /// Verified by an earlier copy (checkpoint and size).
    pub resumed: u64,
    pub resumed_bytes: u64,
    /// Objects that failed, in the order they failed.
    pub failed: Vec<CopyFailure>,
}

impl CopyReport {
    /// Whether every object listed is at the destination, verified.
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }

    fn add(&mut self, copied: Copied, bytes: u64) {
        let (n, b) = match copied {
            Copied::Written => (&mut self.written, &mut self.written_bytes),
            Copied::Present => (&mut self.present, &mut self.present_bytes),
            Copied::Resumed => (&mut self.resumed, &mut self.resumed_bytes),
        };
        *n += 1;
        *b += bytes;
    }
}

/// What stops a copy as a whole (single objects fail in the report).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Source and destination are the same store.
    #[error(
        "the destination {url} is the store itself; give --to the URL or path of another store"
    )]
    SameStore { url: String },

    /// The source could not be listed.
    #[error("cannot list the objects of the source store: {0}")]
    List(#[source] StoreError),

    /// The checkpoint file could not be read or written.
    #[error(
        "cannot use the checkpoint file {}: {source}; check that its folder (the index's) \
         is writable, or delete the file to start the copy's checks afresh",
        path.display()
    )]
    Checkpoint {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CopyError {
    /// Whether running the same copy again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CopyError::SameStore { .. } => false,
            CopyError::List(e) => e.is_transient(),
            CopyError::Checkpoint { source, .. } => {
                !matches!(source.kind(), std::io::ErrorKind::PermissionDenied)
            }
        }
    }
}

/// The checkpoint file for copies to `dst`: beside the index, named after
/// a hash of the destination URL, so that copies to two destinations keep
/// apart.
pub fn checkpoint_path(index: &FsPath, dst: &Store) -> PathBuf {
    let id = to_hex(&sha256(dst.url().as_bytes()));
    let dir = index.parent().unwrap_or(FsPath::new("."));
    dir.join(format!("store-copy-{}.checkpoint", &id[..16]))
}

/// Copies every object of `src` into `dst` (see the module doc). Objects
/// that appear in the source while the copy runs are copied by a further
/// pass. Failures of single objects are in the report; on a complete copy
/// the checkpoint file is removed.
pub async fn copy_store(
    src: &Store,
    dst: &Store,
    opts: &CopyOptions,
    progress: &dyn CopyProgress,
) -> Result<CopyReport, CopyError> {
    if src.url() == dst.url() {
        return Err(CopyError::SameStore {
            url: dst.url().to_string(),
        });
    }
    let mut checkpoint = Checkpoint::open(opts.checkpoint.as_deref(), dst.url())?;
    let mut report = CopyReport::default();
    // Every object handled in this copy, failed ones too: they are not
    // tried twice in one copy, and a later listing adds only newcomers.
    let mut seen: HashSet<Sha256> = HashSet::new();
    loop {
        let todo: Vec<(Sha256, u64)> = list_sized(src)
            .await
            .map_err(CopyError::List)?
            .into_iter()
            .filter(|(h, _)| !seen.contains(h))
            .collect();
        if todo.is_empty() {
            break;
        }
        seen.extend(todo.iter().map(|(h, _)| *h));
        report.objects += todo.len() as u64;
        progress.pass(todo.len() as u64, todo.iter().map(|(_, s)| s).sum());
        copy_pass(src, dst, todo, opts, &mut checkpoint, &mut report, progress).await?;
    }
    if report.complete() {
        checkpoint.remove()?;
    }
    Ok(report)
}

/// One pass over `todo`, `opts.concurrency` objects at a time.
async fn copy_pass(
    src: &Store,
    dst: &Store,
    todo: Vec<(Sha256, u64)>,
    opts: &CopyOptions,
    checkpoint: &mut Checkpoint,
    report: &mut CopyReport,
    progress: &dyn CopyProgress,
) -> Result<(), CopyError> {
    let verified = &checkpoint.verified;
    let mut results = futures::stream::iter(todo)
        .map(|(hash, size)| async move {
            let known = verified.contains(&hash);
            (hash, size, copy_one(src, dst, &hash, size, known).await)
        })
        .buffer_unordered(opts.concurrency.max(1));
    while let Some((hash, size, result)) = results.next().await {
        match result {
            Ok(copied) => {
                report.add(copied, size);
                // Written as each object is done (not at the end) so that
                // an interrupted copy keeps what it verified.
                if copied != Copied::Resumed {
                    Checkpoint::append(checkpoint.file.as_mut(), &checkpoint.path, &hash)?;
                }
            }
            Err(error) => report.failed.push(CopyFailure {
                sha256: hash,
                key: object_key(&hash).to_string(),
                error,
            }),
        }
        progress.object_done(size);
        test_pause(report).await;
    }
    Ok(())
}

/// Copies one object and checks it at the destination. `known`: this
/// object is in the checkpoint of an earlier copy.
async fn copy_one(
    src: &Store,
    dst: &Store,
    hash: &Sha256,
    size: u64,
    known: bool,
) -> Result<Copied, StoreError> {
    let key = object_key(hash);
    match dst.size(hash).await? {
        Some(s) if known && s == size => return Ok(Copied::Resumed),
        // A wrong size fails the hash check too, naming the object.
        Some(_) => {
            dst.verify_stored(hash, &key).await?;
            return Ok(Copied::Present);
        }
        None => {}
    }
    // An encrypted destination takes objects whole (it encrypts them
    // whole); a source's `get` is streamed and checked all the same.
    if size <= STREAM_ABOVE || dst.is_encrypted() {
        // `get` checks the source's bytes against the hash.
        let data = src.get(hash).await?;
        // Create-only: an object that appeared meanwhile is verified there.
        dst.put(hash, data, PutOptions::new().checked_by_caller().unsynced())
            .await?;
    } else {
        match stream_copy(src, dst, hash, &key).await {
            // Stored compressed at the source: read back whole instead.
            Err(StoreError::NotFound { .. }) => {
                let data = src.get(hash).await?;
                dst.put(hash, data, PutOptions::new().checked_by_caller().unsynced())
                    .await?;
            }
            other => other?,
        }
    }
    dst.sync_later(vec![*hash]).wait().await?;
    // The destination's own bytes, read back: what the new store will serve.
    dst.verify_stored(hash, &key).await?;
    Ok(Copied::Written)
}

/// Streams a large object from `src` into a multipart upload at `dst`,
/// completing the upload only if the bytes hash to `hash`.
///
/// A multipart upload is not create-only (object_store 0.12 has no such
/// mode for it); that is harmless here, because the caller has seen the key
/// absent, and whatever could be there meanwhile is the same content, the
/// key being its hash. An aborted upload never becomes visible.
async fn stream_copy(
    src: &Store,
    dst: &Store,
    hash: &Sha256,
    key: &Path,
) -> Result<(), StoreError> {
    let source = src.inner.get(key).await.map_err(|e| src.read_err(key, e))?;
    let mut chunks = source.into_stream();
    let upload = dst
        .inner
        .put_multipart(key)
        .await
        .map_err(|e| dst.backend("write", key, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut hasher = sha2::Sha256::new();
    let failure = loop {
        match chunks.try_next().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                // One part uploading while the next fills: bounded memory.
                if let Err(e) = writer.wait_for_capacity(1).await {
                    break dst.backend("write", key, e);
                }
                writer.put(chunk);
            }
            Ok(None) => {
                let actual: Sha256 = hasher.finalize().into();
                if actual != *hash {
                    break src.corrupt(key, &actual);
                }
                writer
                    .finish()
                    .await
                    .map_err(|e| dst.backend("write", key, e))?;
                return Ok(());
            }
            Err(e) => break src.read_err(key, e),
        }
    };
    // The upload's own error would hide the one that matters.
    let _ = writer.abort().await;
    Err(failure)
}

/// Every object of `store` with its size, sorted by hash.
async fn list_sized(store: &Store) -> Result<Vec<(Sha256, u64)>, StoreError> {
    let prefix = Path::from(key::PREFIX);
    let mut stream = store.inner.list(Some(&prefix));
    let mut objects = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(meta)) => {
                // Compressed objects (`<hash>.zst`) too: `get` reads them
                // back whole and decompressed; the size is the stored one.
                if let Some((h, _)) = super::compress::parse_stored_key(&meta.location) {
                    objects.push((h, meta.size));
                }
            }
            Ok(None) => break,
            // As in `Store::list_hashes`: a stray name is skipped.
            Err(object_store::Error::InvalidPath { .. }) => continue,
            Err(e) => return Err(store.backend("list", &prefix, e)),
        }
    }
    objects.sort_unstable();
    objects.dedup_by_key(|(h, _)| *h);
    Ok(objects)
}

/// The checkpoint file: objects verified at one destination.
struct Checkpoint {
    path: PathBuf,
    /// Open for appending; `None` without a checkpoint file.
    file: Option<std::fs::File>,
    verified: HashSet<Sha256>,
}

impl Checkpoint {
    /// Reads what an earlier copy verified (a torn last line is ignored:
    /// that object is checked again) and opens the file for appending.
    fn open(path: Option<&FsPath>, dst_url: &str) -> Result<Checkpoint, CopyError> {
        let Some(path) = path else {
            return Ok(Checkpoint {
                path: PathBuf::new(),
                file: None,
                verified: HashSet::new(),
            });
        };
        let err = |source| CopyError::Checkpoint {
            path: path.to_path_buf(),
            source,
        };
        let verified = match std::fs::read_to_string(path) {
            Ok(text) => text.lines().filter_map(parse_hex).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(err(e)),
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        if verified.is_empty() {
            // For a person wondering what the file is.
            writeln!(file, "# slimbox store copy: objects verified at {dst_url}").map_err(err)?;
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            file: Some(file),
            verified,
        })
    }

    /// Appends `hash`. Not synced: a line lost in a crash only means that
    /// object is read back and hashed again next time.
    fn append(
        file: Option<&mut std::fs::File>,
        path: &FsPath,
        hash: &Sha256,
    ) -> Result<(), CopyError> {
        let Some(file) = file else {
            return Ok(());
        };
        // One write of a whole line, so lines of a crash stay whole or absent.
        file.write_all(format!("{}\n", to_hex(hash)).as_bytes())
            .map_err(|source| CopyError::Checkpoint {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Removes the file once the copy is complete: it has no more use, and
    /// a stale one would only grow old beside the index.
    fn remove(self) -> Result<(), CopyError> {
        if self.file.is_none() {
            return Ok(());
        }
        drop(self.file);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CopyError::Checkpoint {
                path: self.path,
                source,
            }),
        }
    }
}

/// Test hook: with `SLIMBOX_TEST_COPY_PAUSE_AFTER=<n>` the copy says so on
/// stderr once `n` objects are done and waits (for
/// `SLIMBOX_TEST_PAUSE_FILE` to appear, at most a minute), so that a test
/// can kill it in the middle of a copy.
async fn test_pause(report: &CopyReport) {
    let Some(n) = std::env::var("SLIMBOX_TEST_COPY_PAUSE_AFTER")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let done = report.written + report.present + report.resumed + report.failed.len() as u64;
    if done != n {
        return;
    }
    eprintln!("slimbox-test: copy paused after {n} objects");
    let file = std::env::var("SLIMBOX_TEST_PAUSE_FILE").ok();
    for _ in 0..600 {
        if file.as_deref().is_some_and(|f| FsPath::new(f).exists()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests;
