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
mod open;
mod pieces;
mod put;
mod read;
mod remove;
mod stream;

pub use backend::{retry_config, RemoteOptions};
pub use compress::{compressed_key, looks_compressed, worth_trying, Compression, StoredForm};
pub use compress::{DEFAULT_LEVEL as DEFAULT_COMPRESS_LEVEL, LEVELS as COMPRESS_LEVELS};
pub use credentials::parse_credentials;
pub use crypt::{KeySource, Keys};
pub use error::StoreError;
pub use key::{object_key, parse_hex, sha256, to_hex, Sha256};
pub use modes::Modes;
pub use multipart::MULTIPART_THRESHOLD;
pub use pieces::{Pieces, MAX_PIECE, PIECE};
pub use put::{Put, PutOptions, PutOutcome, Syncing};
pub use remove::StoredObject;
pub use stream::{ReadError, READS_IN_FLIGHT};

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use put::hash_off_thread;

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
mod tests;
