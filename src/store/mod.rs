//! The content-addressed object store: where detached attachments live.
//!
//! Every object is stored once, under a key derived from the SHA-256 of its
//! content (`sha256/<first 2 hex digits>/<64 hex digits>`, see [`object_key`]).
//! This module owns that key layout, opening a store from a path or URL,
//! create-only writes, and reads that are always checked against the hash.
//! It does not know about mail: deciding what to detach and rewriting
//! messages belongs elsewhere; link templates are only produced here, with
//! their `{sha256_2}`/`{sha256}` placeholders left for another module to fill.
//!
//! Because slimbox deletes the original attachment from the mailbox once it
//! is stored, a successful [`Store::put`] must mean the exact bytes are in the
//! store: the data is hashed before writing, never overwrites, and (for
//! local stores) is flushed to disk. Reading it back is [`Store::get`]'s job,
//! which checks every read against the hash: the pipeline's proof reads each
//! object back that way before any original is removed, so `put` does not
//! read a fresh object a second time.

mod backend;
mod compress;
pub mod copy;
mod credentials;
mod crypt;
mod error;
mod key;
mod lookup;
mod modes;
mod multipart;
mod pieces;
mod stream;

pub use backend::{parse_credentials, retry_config, RemoteOptions};
pub use compress::{compressed_key, looks_compressed, worth_trying, Compression, Put, StoredForm};
pub use compress::{DEFAULT_LEVEL as DEFAULT_COMPRESS_LEVEL, LEVELS as COMPRESS_LEVELS};
pub use crypt::{KeySource, Keys};
pub use error::StoreError;
pub use key::{object_key, parse_hex, sha256, to_hex, Sha256};
pub use modes::Modes;
pub use multipart::MULTIPART_THRESHOLD;
pub use pieces::{Pieces, MAX_PIECE, PIECE};
pub use stream::{ReadError, READS_IN_FLIGHT};

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreScheme, PutMode, PutOptions};
use sha2::Digest;
use url::Url;

/// What [`Store::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was written by this call.
    Stored,
    /// An identical object was already there (and was verified).
    AlreadyPresent,
}

/// A content-addressed object store over any `object_store` backend.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// How the store is shown to people and in links, without a trailing `/`.
    url: String,
    /// Set only for local stores: lets us fsync what we wrote.
    local_root: Option<PathBuf>,
    /// Compression of new objects, and which objects are known compressed.
    compress: Arc<compress::CompressState>,
    /// A local store's file and folder modes ([`Store::with_world_readable`]).
    modes: Modes,
    /// Set when objects are encrypted ([`Store::with_encryption`]).
    crypt: Option<Arc<crypt::Keys>>,
}

impl Store {
    /// Opens the store at `location`: a directory path (relative or
    /// absolute, created if missing), a `file://` URL, or another URL that
    /// `object_store` understands and this build has the backend for.
    pub fn open(location: &str) -> Result<Store, StoreError> {
        Self::open_with(location, &RemoteOptions::default())
    }

    /// As [`Store::open`], with the `[store]` settings that `s3://`, `az://`
    /// and `gs://` stores take (endpoint, region, credentials, …).
    pub fn open_with(location: &str, remote: &RemoteOptions) -> Result<Store, StoreError> {
        if location.trim().is_empty() {
            return Err(StoreError::BadLocation {
                location: location.to_string(),
                reason: "it is empty".to_string(),
            });
        }
        match Url::parse(location) {
            // A one-letter "scheme" is a Windows drive letter (C:\...), not a URL.
            Ok(url) if url.scheme().len() > 1 => {
                if url.scheme() == "file" {
                    let path = url.to_file_path().map_err(|()| StoreError::BadLocation {
                        location: location.to_string(),
                        reason: "a file:// URL must name an absolute local path, \
                                 with no host other than localhost"
                            .to_string(),
                    })?;
                    Self::open_local(&path)
                } else {
                    Self::open_url(location, &url, remote)
                }
            }
            // Anything that is not an absolute URL is a filesystem path.
            _ => Self::open_local(FsPath::new(location)),
        }
    }

    /// Wraps an already-built backend; `display_url` is used in messages and
    /// link templates. The backend is treated as remote (no local fsync).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, display_url: String) -> Store {
        Store {
            inner,
            url: trim_url(&display_url),
            local_root: None,
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        }
    }

    fn open_local(dir: &FsPath) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::OpenDir {
            path: dir.to_path_buf(),
            source,
        };
        // A root slimbox makes is private; one that exists is the user's.
        Modes::PRIVATE.create_dir_all(dir).map_err(open_err)?;
        // Canonical, absolute root so that links stay valid from any cwd.
        let root = std::fs::canonicalize(dir).map_err(open_err)?;
        if !root.is_dir() {
            return Err(open_err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let url = Url::from_file_path(&root).map_err(|()| StoreError::BadLocation {
            location: root.display().to_string(),
            reason: "the directory cannot be expressed as a file:// URL".to_string(),
        })?;
        let fs = LocalFileSystem::new_with_prefix(&root).map_err(|e| StoreError::OpenDir {
            path: root.clone(),
            source: std::io::Error::other(e),
        })?;
        Ok(Store {
            inner: Arc::new(fs),
            url: trim_url(url.as_str()),
            local_root: Some(root),
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        })
    }

    fn open_url(location: &str, url: &Url, remote: &RemoteOptions) -> Result<Store, StoreError> {
        let unsupported = || StoreError::UnsupportedScheme {
            url: location.to_string(),
            scheme: url.scheme().to_string(),
        };
        // Schemes object_store has never heard of: say so before it does,
        // because its own message does not say what to do instead.
        ObjectStoreScheme::parse(url).map_err(|_| unsupported())?;
        if backend::is_cloud_scheme(url.scheme()) {
            let store = backend::build(url, remote)?;
            // `scheme://bucket/prefix` on every backend (object_store would
            // take az://'s first path segment for a container).
            let prefix = Path::from_url_path(url.path()).map_err(|e| StoreError::BadLocation {
                location: location.to_string(),
                reason: format!("its path is not a usable prefix: {e}"),
            })?;
            return Ok(Self::remote(store, prefix, location));
        }
        // Other backends (memory://, http(s)://) take their options from
        // the environment; keys a backend does not know are ignored.
        let (store, prefix) =
            object_store::parse_url_opts(url, std::env::vars()).map_err(|e| match e {
                // This is how object_store 0.12 reports a backend whose cargo
                // feature is off, which with our features is every cloud one.
                object_store::Error::Generic {
                    store: "parse_url", ..
                } => unsupported(),
                other => StoreError::BadLocation {
                    location: location.to_string(),
                    reason: other.to_string(),
                },
            })?;
        Ok(Self::remote(Arc::from(store), prefix, location))
    }

    fn remote(store: Arc<dyn ObjectStore>, prefix: Path, location: &str) -> Store {
        // The URL path is a prefix inside the bucket; keep keys under it.
        let inner: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Store {
            inner,
            url: trim_url(location),
            local_root: None,
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        }
    }

    /// The backend underneath (keys as in [`object_key`]): for tools and
    /// tests that copy or inspect objects as they are stored.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner)
    }

    /// The directory of a local store; `None` for other backends.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// The store's URL, e.g. `file:///abs/dir`, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Link template for objects in this store, with the literal
    /// placeholders `{sha256_2}` and `{sha256}` for another module to fill.
    pub fn default_link_template(&self) -> String {
        // `url` is already a percent-encoded file:// URL for local stores,
        // so local and remote stores share one form.
        format!("{}/sha256/{{sha256_2}}/{{sha256}}", self.url)
    }

    /// Stores `data` under `hash`, which must be its SHA-256.
    ///
    /// Never overwrites: if the key exists, the existing object is read back
    /// and verified instead. On `Ok`, the object is under `hash` (and, for a
    /// local store, flushed to disk). A freshly written object is not read
    /// back here: whoever relies on it reads it with [`Store::get`], which
    /// checks the hash (the pipeline's proof does exactly that), so one read
    /// serves both.
    pub async fn put(&self, hash: &Sha256, data: Bytes) -> Result<PutOutcome, StoreError> {
        let outcome = self.put_unsynced(hash, data).await?;
        self.sync_later(vec![*hash]).wait().await?;
        Ok(outcome)
    }

    /// As [`Store::put`], except that a local store's object is not yet
    /// flushed to disk: it is durable only once [`Store::sync_later`] for
    /// it has been waited for. Lets the flush run while other work goes on;
    /// nothing may rely on the object surviving a power cut before that.
    pub async fn put_unsynced(&self, hash: &Sha256, data: Bytes) -> Result<PutOutcome, StoreError> {
        let (actual, data) = hash_off_thread(data).await;
        if actual != *hash {
            // A caller bug must never store content under a wrong key: the
            // mail would then point at bytes that are not its attachment.
            return Err(StoreError::HashMismatch {
                key: object_key(hash).to_string(),
                expected: to_hex(hash),
                actual: to_hex(&actual),
            });
        }
        let outcome = self.put_hashed_unsynced(hash, data).await?;
        // "Already present" is only good news if what is there is intact.
        if outcome == PutOutcome::AlreadyPresent {
            self.verify_stored(hash, &object_key(hash)).await?;
        }
        Ok(outcome)
    }

    /// As [`Store::put_unsynced`], for data whose SHA-256 the caller has
    /// just computed from these very bytes (the detach engine hashes each
    /// attachment as it decodes it), so it is not hashed a second time
    /// here, and for a caller that reads every object back with
    /// [`Store::get`] before anything depends on it (the pipeline's proof):
    /// an object already there is not read here, as that read-back checks
    /// it (an object already there and damaged then fails the message, and
    /// is never overwritten). A wrong `hash` is never relied on either.
    pub async fn put_hashed_unsynced(
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
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
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

    /// Each of `hashes` once (in the order first named), each read and
    /// checked against its SHA-256 as by [`Store::get`]. All are returned
    /// in memory (a message is rebuilt from them); at most
    /// [`READS_IN_FLIGHT`] are read at once, which hides a remote store's
    /// latency.
    pub async fn get_each(&self, hashes: &[Sha256]) -> Result<Vec<(Sha256, Bytes)>, StoreError> {
        let mut unique: Vec<Sha256> = Vec::with_capacity(hashes.len());
        for h in hashes {
            if !unique.contains(h) {
                unique.push(*h);
            }
        }
        futures::stream::iter(unique)
            .map(|h| async move { Ok((h, self.get(&h).await?)) })
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Reads the object `hash`, checking that its content hashes to `hash`
    /// (a compressed object is decompressed first, see `compress`).
    pub async fn get(&self, hash: &Sha256) -> Result<Bytes, StoreError> {
        self.get_either(hash).await
    }

    /// [`Store::get`] of the plain (uncompressed) form only.
    pub(crate) async fn get_plain(&self, hash: &Sha256) -> Result<Bytes, StoreError> {
        let key = object_key(hash);
        let result = self
            .inner
            .get(&key)
            .await
            .map_err(|e| self.read_err(&key, e))?;
        let data = result.bytes().await.map_err(|e| self.read_err(&key, e))?;
        let (actual, data) = hash_off_thread(data).await;
        if actual != *hash {
            return Err(self.corrupt(&key, &actual));
        }
        Ok(data)
    }

    /// Whether an object is stored under `hash` (without verifying it).
    pub async fn exists(&self, hash: &Sha256) -> Result<bool, StoreError> {
        Ok(self.size(hash).await?.is_some())
    }

    /// Size in bytes of the object `hash` (of the original, for a
    /// compressed one), or `None` if it is not stored.
    pub async fn size(&self, hash: &Sha256) -> Result<Option<u64>, StoreError> {
        self.size_either(hash).await
    }

    /// [`Store::size`] of the plain (uncompressed) form only.
    pub(crate) async fn size_plain(&self, hash: &Sha256) -> Result<Option<u64>, StoreError> {
        let key = object_key(hash);
        let slot = self.local_slot().await;
        let head = self.inner.head(&key).await;
        drop(slot);
        match head {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("look up", &key, e)),
        }
    }

    /// Hashes of all objects in the store, sorted. Keys under `sha256/`
    /// that are not in canonical form are skipped: they cannot have been
    /// written by `put` and would never be found by `get` either.
    pub async fn list_hashes(&self) -> Result<Vec<Sha256>, StoreError> {
        let prefix = Path::from(key::PREFIX);
        let mut stream = self.inner.list(Some(&prefix));
        let mut hashes = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(meta)) => {
                    if let Some((hash, compressed)) = compress::parse_stored_key(&meta.location) {
                        if compressed {
                            self.note_compressed(&hash);
                        }
                        hashes.push(hash);
                    }
                }
                Ok(None) => break,
                // A stray file whose name is not a valid object path (for a
                // local store, e.g. non-UTF-8) is just another unparsable key.
                Err(object_store::Error::InvalidPath { .. }) => continue,
                Err(e) => return Err(self.backend("list", &prefix, e)),
            }
        }
        // Backends list in no promised order; sorted output is reproducible.
        hashes.sort_unstable();
        hashes.dedup();
        Ok(hashes)
    }

    /// Streams the object back and checks its hash, without holding a
    /// second copy of a possibly large object in memory.
    async fn verify_stored(&self, hash: &Sha256, key: &Path) -> Result<(), StoreError> {
        let result = self
            .inner
            .get(key)
            .await
            .map_err(|e| self.read_err(key, e))?;
        let mut stream = result.into_stream();
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = stream.try_next().await.map_err(|e| self.read_err(key, e))? {
            hasher.update(&chunk);
        }
        let actual: Sha256 = hasher.finalize().into();
        if actual != *hash {
            return Err(self.corrupt(key, &actual));
        }
        Ok(())
    }

    fn read_err(&self, key: &Path, e: object_store::Error) -> StoreError {
        if let Some(fault) = self.crypt_fault(key, &e) {
            return fault;
        }
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                key: key.to_string(),
                url: self.url.clone(),
            },
            e => self.backend("read", key, e),
        }
    }

    fn corrupt(&self, key: &Path, actual: &Sha256) -> StoreError {
        StoreError::Corrupt {
            key: key.to_string(),
            url: self.url.clone(),
            actual: to_hex(actual),
        }
    }

    fn backend(&self, op: &'static str, key: &Path, source: object_store::Error) -> StoreError {
        if let Some(fault) = self.crypt_fault(key, &source) {
            return fault;
        }
        StoreError::Backend {
            op,
            key: key.to_string(),
            url: self.url.clone(),
            source: Box::new(source),
        }
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
async fn hash_off_thread(data: Bytes) -> (Sha256, Bytes) {
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

/// Drops trailing slashes so that `<url>/sha256/...` has exactly one, but
/// keeps a bare `scheme://` intact.
fn trim_url(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with(':') {
        url.to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().to_string_lossy()).expect("open store");
        (dir, store)
    }

    #[tokio::test]
    async fn put_then_get_round_trips() {
        let (_dir, store) = temp_store();
        let data = Bytes::from_static(b"hello, attachment");
        let hash = sha256(&data);
        assert!(!store.exists(&hash).await.unwrap());
        assert_eq!(store.size(&hash).await.unwrap(), None);
        assert_eq!(
            store.put(&hash, data.clone()).await.unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(store.get(&hash).await.unwrap(), data);
        assert!(store.exists(&hash).await.unwrap());
        assert_eq!(store.size(&hash).await.unwrap(), Some(data.len() as u64));
        // The file is where links will point.
        let root = store.local_root().unwrap();
        let file = root.join(object_key(&hash).as_ref());
        assert_eq!(std::fs::read(file).unwrap(), data);
    }

    #[tokio::test]
    async fn empty_object_round_trips() {
        let (_dir, store) = temp_store();
        let hash = sha256(b"");
        assert_eq!(
            store.put(&hash, Bytes::new()).await.unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(store.get(&hash).await.unwrap(), Bytes::new());
    }

    #[tokio::test]
    async fn second_put_is_already_present() {
        let (_dir, store) = temp_store();
        let data = Bytes::from(vec![7u8; 100_000]);
        let hash = sha256(&data);
        assert_eq!(
            store.put(&hash, data.clone()).await.unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(
            store.put(&hash, data).await.unwrap(),
            PutOutcome::AlreadyPresent
        );
    }

    #[tokio::test]
    async fn put_with_wrong_hash_is_refused() {
        let (_dir, store) = temp_store();
        let wrong = sha256(b"something else");
        let err = store
            .put(&wrong, Bytes::from_static(b"data"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::HashMismatch { .. }),
            "unexpected error: {err}"
        );
        assert!(!err.is_transient());
        assert!(err.to_string().contains(&to_hex(&wrong)), "{err}");
        // Nothing may have been written under the wrong key.
        assert!(!store.exists(&wrong).await.unwrap());
        assert!(store.list_hashes().await.unwrap().is_empty());
    }

    fn flip_first_byte(store: &Store, hash: &Sha256) {
        let file = store.local_root().unwrap().join(object_key(hash).as_ref());
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
    }

    #[tokio::test]
    async fn corrupt_object_is_detected_on_get() {
        let (_dir, store) = temp_store();
        let data = Bytes::from_static(b"precious attachment bytes");
        let hash = sha256(&data);
        store.put(&hash, data).await.unwrap();
        flip_first_byte(&store, &hash);

        let err = store.get(&hash).await.unwrap_err();
        let key = object_key(&hash).to_string();
        match &err {
            StoreError::Corrupt { key: k, .. } => assert_eq!(k, &key),
            other => panic!("expected Corrupt, got {other}"),
        }
        assert!(err.to_string().contains(&key), "{err}");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn put_over_corrupt_object_fails_without_overwriting() {
        let (_dir, store) = temp_store();
        let data = Bytes::from_static(b"precious attachment bytes");
        let hash = sha256(&data);
        store.put(&hash, data.clone()).await.unwrap();
        flip_first_byte(&store, &hash);

        let err = store.put(&hash, data).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { key, .. } if *key == object_key(&hash).to_string()),
            "unexpected error: {err}"
        );
        // Still corrupt: a human decides, not us.
        assert!(matches!(
            store.get(&hash).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn issue13_put_hashed_leaves_an_existing_object_to_the_read_back() {
        // The pipeline reads every object back after storing it, so an
        // object many mailboxes share is neither written again nor read
        // twice; a damaged one is still never overwritten, and the
        // read-back finds it.
        let (_dir, store) = temp_store();
        let data = Bytes::from_static(b"an attachment sent to everyone");
        let hash = sha256(&data);
        store.put(&hash, data.clone()).await.unwrap();
        flip_first_byte(&store, &hash);
        let again = store.put_hashed_unsynced(&hash, data).await.unwrap();
        assert_eq!(again, PutOutcome::AlreadyPresent);
        assert!(matches!(
            store.get(&hash).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn missing_object_is_not_found() {
        let (_dir, store) = temp_store();
        let hash = sha256(b"never stored");
        let err = store.get(&hash).await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { .. }),
            "unexpected error: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&object_key(&hash).to_string()), "{msg}");
        assert!(msg.contains(store.url()), "{msg}");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn list_hashes_returns_what_was_put() {
        let (_dir, store) = temp_store();
        assert!(store.list_hashes().await.unwrap().is_empty());
        let mut expected = Vec::new();
        for i in 0..20u32 {
            let data = Bytes::from(format!("object {i}"));
            let hash = sha256(&data);
            store.put(&hash, data).await.unwrap();
            expected.push(hash);
        }
        // Strays that must be skipped, not reported or fatal.
        let root = store.local_root().unwrap();
        std::fs::create_dir_all(root.join("sha256/zz")).unwrap();
        std::fs::write(root.join("sha256/zz/not-a-hash"), b"x").unwrap();
        std::fs::write(root.join("sha256/README"), b"x").unwrap();
        std::fs::write(root.join("unrelated"), b"x").unwrap();

        expected.sort_unstable();
        assert_eq!(store.list_hashes().await.unwrap(), expected);
    }

    #[tokio::test]
    async fn open_relative_path_creates_and_canonicalizes() {
        // Relative to the test's cwd (the package root); the guard removes it.
        let base = tempfile::Builder::new()
            .prefix(".slimbox-store-test-")
            .tempdir_in(".")
            .unwrap();
        let name = base.path().file_name().unwrap().to_string_lossy();
        let relative = format!("{name}/new/store");
        let store = Store::open(&relative).unwrap();

        let expected = std::fs::canonicalize(base.path().join("new/store")).unwrap();
        assert_eq!(store.local_root(), Some(expected.as_path()));
        assert!(expected.is_absolute());
        let url = Url::from_file_path(&expected).unwrap();
        assert_eq!(store.url(), url.as_str());
        assert_eq!(
            store.default_link_template(),
            format!("{url}/sha256/{{sha256_2}}/{{sha256}}")
        );

        let data = Bytes::from_static(b"relative");
        let hash = sha256(&data);
        store.put(&hash, data.clone()).await.unwrap();
        assert_eq!(store.get(&hash).await.unwrap(), data);
    }

    #[tokio::test]
    async fn open_file_url() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("via url");
        let url = Url::from_file_path(&target).unwrap();
        let store = Store::open(url.as_str()).unwrap();
        let expected = std::fs::canonicalize(&target).unwrap();
        assert_eq!(store.local_root(), Some(expected.as_path()));
        assert!(store.url().starts_with("file:///"), "{}", store.url());
        assert!(!store.url().ends_with('/'));
        // Spaces are percent-encoded so that the link works as a URL.
        assert!(store.url().ends_with("/via%20url"), "{}", store.url());

        let data = Bytes::from_static(b"file url");
        let hash = sha256(&data);
        store.put(&hash, data.clone()).await.unwrap();
        // Another handle on the same directory sees the object.
        let again = Store::open(&expected.to_string_lossy()).unwrap();
        assert_eq!(again.get(&hash).await.unwrap(), data);
    }

    #[test]
    fn unsupported_schemes_are_clear_errors() {
        // s3:// was here until issue 11 made it a supported backend.
        for url in ["hdfs://namenode/prefix", "ftp://example.com/store"] {
            let err = Store::open(url).unwrap_err();
            assert!(
                matches!(err, StoreError::UnsupportedScheme { .. }),
                "{url}: unexpected error: {err}"
            );
            let msg = err.to_string();
            assert!(msg.contains(url), "{msg}");
            assert!(msg.contains("not support"), "{msg}");
            assert!(!err.is_transient());
            // The "write it as a path" hint only makes sense without "://".
            assert!(!msg.contains("./"), "{msg}");
        }
        let msg = Store::open("foo:bar").unwrap_err().to_string();
        assert!(msg.contains("write it as ./foo:bar"), "{msg}");
    }

    #[test]
    fn bad_locations_are_clear_errors() {
        assert!(matches!(
            Store::open(""),
            Err(StoreError::BadLocation { .. })
        ));
        assert!(matches!(
            Store::open("file://remote-host/store"),
            Err(StoreError::BadLocation { .. })
        ));
        // A regular file cannot be a store directory.
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = Store::open(&file.path().to_string_lossy()).unwrap_err();
        assert!(
            matches!(err, StoreError::OpenDir { .. }),
            "unexpected: {err}"
        );
    }

    #[tokio::test]
    async fn from_object_store_uses_display_url() {
        let inner = Arc::new(object_store::memory::InMemory::new());
        let store = Store::from_object_store(inner, "https://files.example/att/".to_string());
        assert_eq!(store.url(), "https://files.example/att");
        assert_eq!(store.local_root(), None);
        assert_eq!(
            store.default_link_template(),
            "https://files.example/att/sha256/{sha256_2}/{sha256}"
        );
        let data = Bytes::from_static(b"in memory");
        let hash = sha256(&data);
        assert_eq!(
            store.put(&hash, data.clone()).await.unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(
            store.put(&hash, data.clone()).await.unwrap(),
            PutOutcome::AlreadyPresent
        );
        assert_eq!(store.get(&hash).await.unwrap(), data);
        assert_eq!(store.list_hashes().await.unwrap(), vec![hash]);
    }

    #[tokio::test]
    async fn memory_url_with_prefix_opens() {
        let store = Store::open("memory:///some/prefix").unwrap();
        assert_eq!(store.local_root(), None);
        let data = Bytes::from_static(b"prefixed");
        let hash = sha256(&data);
        store.put(&hash, data.clone()).await.unwrap();
        assert_eq!(store.get(&hash).await.unwrap(), data);
        assert_eq!(store.list_hashes().await.unwrap(), vec![hash]);
    }
}
