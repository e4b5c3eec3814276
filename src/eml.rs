//! Single messages as files (`slimbox eml`): detach into a store with the
//! same promise as the mailbox job (every object stored, read back with its
//! SHA-256, and the original rebuilt byte for byte from what was read
//! before the rewritten message is handed out), and rebuild an original
//! from a rewritten message and its store. No files or terminal here: the
//! command reads and writes them.

use bytes::Bytes;

use crate::mime::{self, Detached, Policy};
use crate::store::{PutOptions, Store, StoreError};

/// What can go wrong with a single message.
#[derive(Debug, thiserror::Error)]
pub enum EmlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the slimbox recipe in the message cannot be read ({0}); was the message changed after slimbox wrote it? Use an unchanged copy")]
    Recipe(String),
    #[error("the original could not be rebuilt from the store ({0}); nothing was written, and the message should be kept as it is")]
    NotRebuildable(String),
}

impl EmlError {
    /// A busy or unreachable store: trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, EmlError::Store(e) if e.is_transient())
    }
}

/// Detaches `raw` into `store`: when the engine rewrote it, every object is
/// stored (create-only; compressed as the store's setting and the part's
/// declared type say, as a run does) and the original proven rebuildable
/// from the store before the result is returned. A message left as it was
/// is not an error (see [`Detached::untouched_reason`]).
pub async fn detach_into<'a>(
    raw: &'a [u8],
    store: &Store,
    policy: &Policy,
) -> Result<Detached<'a>, EmlError> {
    let d = mime::detach(raw, policy);
    let Some(rewritten) = &d.rewritten else {
        return Ok(d);
    };
    let mut hashes = Vec::with_capacity(d.objects.len());
    for o in &d.objects {
        // The type the message declares for the part (or whose raw body
        // this object is) decides whether compressing is worth trying.
        let content_type = d
            .parts
            .iter()
            .find(|p| p.sha256 == o.sha256 || p.raw_sha256 == Some(o.sha256))
            .map(|p| p.content_type.as_str());
        // The engine hashed each object from these very bytes; the proof
        // below reads each back and checks it against its hash.
        store
            .put(
                &o.sha256,
                Bytes::copy_from_slice(&o.data),
                PutOptions::new()
                    .compress_as(content_type)
                    .checked_by_caller()
                    .unsynced(),
            )
            .await?;
        hashes.push(o.sha256);
    }
    store.sync_later(hashes).wait().await?;
    if rebuild(rewritten, store).await? != raw {
        return Err(EmlError::NotRebuildable("the rebuilt bytes differ".into()));
    }
    Ok(d)
}

/// The original of a rewritten message, from the objects in `store` (each
/// checked against its SHA-256).
pub async fn rebuild(rewritten: &[u8], store: &Store) -> Result<Vec<u8>, EmlError> {
    let needed = mime::objects_needed(rewritten).map_err(|e| EmlError::Recipe(e.to_string()))?;
    let objects = store.get_each(&needed).await?;
    let lookup = |h: &mime::Sha256| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
    mime::reattach(rewritten, &lookup).map_err(|e| EmlError::NotRebuildable(e.to_string()))
}
