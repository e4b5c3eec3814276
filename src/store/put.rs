//! Writing objects: the one [`Store::put`], what it may skip for a caller
//! that checks for itself ([`PutOptions`]), the create-only write beneath
//! it, and flushing a local store's objects to disk.
//!
//! A successful `put` must mean the exact bytes are in the store, because
//! the original attachment is deleted from the mailbox next: data is hashed
//! before it is written, nothing is ever overwritten, and a local store's
//! object is flushed to disk (or, for a caller that batches flushes, by a
//! [`Store::sync_later`] it waits for).

use std::path::{Path as FsPath, PathBuf};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{PutMode, PutOptions as BackendPutOptions};

use super::{key, multipart, object_key, sha256, to_hex, Sha256, Store, StoreError};

/// What [`Store::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was written by this call.
    Stored,
    /// An identical object was already there (and was verified, unless the
    /// caller said it reads every object back itself).
    AlreadyPresent,
}

/// [`Store::put`]'s result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    pub outcome: PutOutcome,
    /// The stored size when the object is (now) compressed in the store.
    pub compressed_size: Option<u64>,
}

impl Put {
    fn plain(outcome: PutOutcome) -> Put {
        Put {
            outcome,
            compressed_size: None,
        }
    }
}

/// How [`Store::put`] writes an object. [`PutOptions::new`] is the safe
/// whole: the data is hashed here, an object already there is read back
/// and checked, the object is stored as it is and flushed to disk before
/// `put` returns. Each method gives one of those up, for a caller that
/// does that part itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions<'a> {
    /// `Some(declared content type)`: compressed when the store's setting
    /// is on and the type and first bytes say it may shrink.
    compress_as: Option<Option<&'a str>>,
    /// The caller hashed these very bytes and reads the object back with
    /// [`Store::get`] before anything depends on it.
    checked_by_caller: bool,
    /// Not flushed here: the caller waits for [`Store::sync_later`].
    unsynced: bool,
}

impl<'a> PutOptions<'a> {
    /// Checked, stored as it is, flushed before `put` returns.
    pub fn new() -> PutOptions<'a> {
        PutOptions::default()
    }

    /// Compress the object as the store's setting says (`[store] compress`)
    /// when its declared `content_type` and first bytes say it may shrink
    /// by 5 % or more. An object already stored plain is not stored a
    /// second time compressed.
    pub fn compress_as(mut self, content_type: Option<&'a str>) -> PutOptions<'a> {
        self.compress_as = Some(content_type);
        self
    }

    /// For data whose SHA-256 the caller has just computed from these very
    /// bytes (the detach engine hashes each attachment as it decodes it),
    /// and a caller that reads every object back with [`Store::get`] before
    /// anything depends on it (the pipeline's proof): the data is not
    /// hashed a second time, and an object already there is not read here,
    /// as that read-back checks it (one already there and damaged then
    /// fails the message, and is never overwritten).
    pub fn checked_by_caller(mut self) -> PutOptions<'a> {
        self.checked_by_caller = true;
        self
    }

    /// A local store's object is not yet flushed to disk: it is durable
    /// only once [`Store::sync_later`] for it has been waited for. Lets the
    /// flush run while other work goes on; nothing may rely on the object
    /// surviving a power cut before that.
    pub fn unsynced(mut self) -> PutOptions<'a> {
        self.unsynced = true;
        self
    }
}

impl Store {
    /// Stores `data` under `hash`, which must be its SHA-256, as `opts`
    /// says.
    ///
    /// Never overwrites: if the key exists, the existing object is kept
    /// (and, unless [`PutOptions::checked_by_caller`], read back and
    /// verified). On `Ok`, the object is under `hash` (and, for a local
    /// store, flushed to disk unless [`PutOptions::unsynced`]). A freshly
    /// written object is not read back here: whoever relies on it reads it
    /// with [`Store::get`], which checks the hash (the pipeline's proof
    /// does exactly that), so one read serves both.
    pub async fn put(
        &self,
        hash: &Sha256,
        data: Bytes,
        opts: PutOptions<'_>,
    ) -> Result<Put, StoreError> {
        if !opts.checked_by_caller {
            let (actual, _) = hash_off_thread(data.clone()).await;
            if actual != *hash {
                // A caller bug must never store content under a wrong key:
                // the mail would then point at bytes that are not its
                // attachment.
                return Err(StoreError::HashMismatch {
                    key: object_key(hash).to_string(),
                    expected: to_hex(hash),
                    actual: to_hex(&actual),
                });
            }
        }
        let put = match opts.compress_as {
            Some(content_type) => self.put_compressible(hash, data, content_type).await?,
            None => Put::plain(self.put_plain(hash, data).await?),
        };
        // "Already present" is only good news if what is there is intact.
        if !opts.checked_by_caller && put.outcome == PutOutcome::AlreadyPresent {
            if put.compressed_size.is_some() {
                self.get(hash).await?;
            } else {
                self.verify_stored(hash, &object_key(hash)).await?;
            }
        }
        if !opts.unsynced {
            self.sync_later(vec![*hash]).wait().await?;
        }
        Ok(put)
    }

    /// The plain form's create-only write (by multipart upload for a large
    /// object on a remote store). An object already there is not read.
    pub(super) async fn put_plain(
        &self,
        hash: &Sha256,
        data: Bytes,
    ) -> Result<PutOutcome, StoreError> {
        if self.goes_multipart(data.len()) {
            return self
                .put_multipart_checked(hash, data, multipart::PART_SIZE)
                .await;
        }
        // A local store writes the whole object to a temporary file before
        // it finds the name taken; an attachment many mailboxes share is
        // looked up first instead. (A remote store is asked create-only
        // straight away: a lookup would cost every new object a round trip.)
        if self.local_root.is_some() && self.size_plain(hash).await?.is_some() {
            return Ok(PutOutcome::AlreadyPresent);
        }
        self.put_create_only(&object_key(hash), data).await
    }

    /// A create-only write of `data` at `key`: `AlreadyPresent` when
    /// something is there already (the caller checks it). A backend that
    /// cannot write create-only is refused: falling back to an overwrite
    /// could silently replace a good object, so a human picks a capable one.
    pub(crate) async fn put_create_only(
        &self,
        key: &Path,
        data: Bytes,
    ) -> Result<PutOutcome, StoreError> {
        let opts = BackendPutOptions {
            mode: PutMode::Create,
            ..BackendPutOptions::default()
        };
        self.folders_for(key)?;
        match self.inner.put_opts(key, data.into(), opts).await {
            Ok(_) => {
                self.protect(key)?;
                Ok(PutOutcome::Stored)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyPresent),
            Err(
                e
                @ (object_store::Error::NotImplemented | object_store::Error::NotSupported { .. }),
            ) => Err(StoreError::Unsupported {
                op: "create-only write",
                key: key.to_string(),
                url: self.url.clone(),
                source: Box::new(e),
            }),
            Err(e) => Err(self.backend("write", key, e)),
        }
    }

    /// Starts flushing the objects `hashes` (and the directories naming
    /// them) to disk on the blocking pool; [`Syncing::wait`] says when they
    /// are durable. Nothing to do for a remote store, where a completed
    /// write is the backend's promise.
    pub fn sync_later(&self, hashes: Vec<Sha256>) -> Syncing {
        let Some(root) = self.local_root.clone() else {
            return Syncing(None);
        };
        // A compressed object's file is `<hex>.zst`.
        let names: Vec<String> = hashes.iter().map(|h| self.stored_name(h)).collect();
        // An encrypted object's file is its keyed name.
        let files: Vec<Path> = names
            .iter()
            .map(|name| self.physical_key(&Path::from_iter([key::PREFIX, &name[..2], name])))
            .collect();
        Syncing(Some(tokio::task::spawn_blocking(move || {
            for name in files {
                let file = root.join(name.as_ref());
                sync_file_and_dirs(&root, &file)?;
            }
            Ok(())
        })))
    }
}

/// Objects being flushed to disk (see [`Store::sync_later`]).
#[must_use = "objects are durable only once the sync has been waited for"]
pub struct Syncing(Option<tokio::task::JoinHandle<Result<(), StoreError>>>);

impl Syncing {
    /// Waits until every object is on disk.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            None => Ok(()),
            Some(job) => match job.await {
                Ok(result) => result,
                Err(e) => Err(StoreError::Sync {
                    path: PathBuf::new(),
                    source: std::io::Error::other(e),
                }),
            },
        }
    }
}

/// The SHA-256 of `data`, computed on tokio's blocking pool when it is
/// large, so that a multi-megabyte hash does not stall other I/O (the next
/// message arriving on another connection) on the runtime's thread.
pub(super) async fn hash_off_thread(data: Bytes) -> (Sha256, Bytes) {
    const INLINE_MAX: usize = 256 * 1024;
    if data.len() <= INLINE_MAX {
        return (sha256(&data), data);
    }
    let for_pool = data.clone();
    match tokio::task::spawn_blocking(move || sha256(&for_pool)).await {
        Ok(hash) => (hash, data),
        // The pool is shutting down (or the task panicked): hash here.
        Err(_) => (sha256(&data), data),
    }
}

/// fsync `file`, then each directory from its parent up to `root`, so that
/// both the content and the directory entries naming it are durable.
fn sync_file_and_dirs(root: &FsPath, file: &FsPath) -> Result<(), StoreError> {
    let sync = |path: &FsPath| {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|source| StoreError::Sync {
                path: path.to_path_buf(),
                source,
            })
    };
    sync(file)?;
    // Directories can only be opened and fsynced like this on Unix; other
    // platforms do not offer (or need) it through std.
    if cfg!(unix) {
        let mut dir = file.parent();
        while let Some(d) = dir {
            sync(d)?;
            if d == root {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}
