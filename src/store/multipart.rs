//! Large objects written to remote stores by multipart upload, with the
//! same promise as a create-only put: on `Ok` the exact bytes are under the
//! key, and a half-written or wrong object is never visible.
//!
//! What belongs here: the threshold above which a remote put goes
//! multipart, the part size and how many parts are in flight, and the
//! check-before-write that stands in for create-only. Not here: small
//! objects and local stores (their create-only put is atomic already, see
//! `Store::put_plain`).
//!
//! Why this is safe although object_store 0.12's multipart upload cannot be
//! create-only (it overwrites on complete):
//! - An object becomes visible only when the upload completes, and it is
//!   completed only after every part is sent *and* the data hashed to the
//!   key: otherwise the upload is aborted, so nothing half-written or
//!   mis-keyed ever shows.
//! - Before uploading, the key is looked up (HEAD); an object already there
//!   is never overwritten: it is read back and hash-checked instead, as a
//!   create-only put does (a damaged one is reported, for a human).
//! - Between that lookup and the completion another writer may complete
//!   the same key. Keys are content hashes, so it writes the very same
//!   bytes: whichever completion lands last, the visible object is whole
//!   and identical. Only a damaged object put there by something else in
//!   that window could be replaced, and then by the right bytes.
//! - Whatever is visible is read back and hash-checked by the pipeline's
//!   proof before any original is removed, so none of this is trusted
//!   blindly.
//!
//! Memory: the data is already in memory (the detach engine produced it);
//! parts are zero-copy slices of it, at most [`PARTS_IN_FLIGHT`] sent at
//! once, while it is hashed on the blocking pool.

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::MultipartUpload;

use super::{hash_off_thread, object_key, to_hex, PutOutcome, Sha256, Store, StoreError};

/// Objects of at least this many bytes go to remote stores by multipart
/// upload.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// Size of every part but the last: above S3's 5 MiB minimum, and the same
/// for all parts (some S3-compatible servers require it).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded at once.
pub const PARTS_IN_FLIGHT: usize = 4;

impl Store {
    /// Whether `put` of `len` bytes goes by multipart upload.
    pub(super) fn goes_multipart(&self, len: usize) -> bool {
        // An encrypted object is encrypted whole, then written in one go.
        self.local_root.is_none() && self.crypt.is_none() && len >= MULTIPART_THRESHOLD
    }

    /// Stores `data` under `hash` by multipart upload in parts of
    /// `part_size`, never overwriting an object already there (see the
    /// module's header for why this is safe without create-only).
    pub(super) async fn put_multipart_checked(
        &self,
        hash: &Sha256,
        data: Bytes,
        part_size: usize,
    ) -> Result<PutOutcome, StoreError> {
        let key = object_key(hash);
        match self.inner.head(&key).await {
            Ok(_) => {
                // Whatever its size, it is never overwritten: intact, it is
                // what we were about to write; damaged, a human decides.
                self.verify_stored(hash, &key).await?;
                return Ok(PutOutcome::AlreadyPresent);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.backend("look up", &key, e)),
        }
        let mut upload = self
            .inner
            .put_multipart(&key)
            .await
            .map_err(|e| self.backend("start a multipart upload of", &key, e))?;
        let hashing = hash_off_thread(data.clone());
        let sending = send_parts(upload.as_mut(), &data, part_size);
        let ((actual, _), sent) = tokio::join!(hashing, sending);
        if let Err(e) = sent {
            abort(upload.as_mut(), &key).await;
            return Err(self.backend("upload a part of", &key, e));
        }
        if actual != *hash {
            // Completing would make wrong bytes visible under this key.
            abort(upload.as_mut(), &key).await;
            return Err(StoreError::HashMismatch {
                key: key.to_string(),
                expected: to_hex(hash),
                actual: to_hex(&actual),
            });
        }
        match upload.complete().await {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(e) => {
                abort(upload.as_mut(), &key).await;
                Err(self.backend("complete the multipart upload of", &key, e))
            }
        }
    }
}

/// Sends `data` in parts of `part_size`, a few at a time, in order (each
/// part's number is fixed when `put_part` is called).
async fn send_parts(
    upload: &mut dyn MultipartUpload,
    data: &Bytes,
    part_size: usize,
) -> Result<(), object_store::Error> {
    let part_size = part_size.max(1);
    let parts = (0..data.len().div_ceil(part_size))
        .map(|i| data.slice(i * part_size..data.len().min((i + 1) * part_size)));
    let mut in_flight = futures::stream::iter(parts)
        .map(|part| upload.put_part(part.into()))
        .buffer_unordered(PARTS_IN_FLIGHT);
    while let Some(r) = in_flight.next().await {
        r?;
    }
    Ok(())
}

/// Aborts an upload that must not complete. A failed abort leaves only
/// invisible parts behind (a bucket lifecycle rule cleans those up), so it
/// is logged, not reported over the error that led here.
async fn abort(upload: &mut dyn MultipartUpload, key: &Path) {
    if let Err(e) = upload.abort().await {
        tracing::warn!("could not abort the multipart upload of {key}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::{ObjectStore, PutPayload};

    use super::*;
    use crate::store::{sha256, PutOptions};

    const PART: usize = 64 * 1024;

    fn memory_store() -> (Arc<InMemory>, Store) {
        let inner = Arc::new(InMemory::new());
        let store = Store::from_object_store(inner.clone(), "memory://test".into());
        (inner, store)
    }

    fn data(len: usize, seed: u8) -> Bytes {
        Bytes::from((0..len).map(|i| (i as u8) ^ seed).collect::<Vec<u8>>())
    }

    #[tokio::test]
    async fn absent_object_is_uploaded_in_parts() {
        let (_inner, store) = memory_store();
        let d = data(5 * PART + 123, 1);
        let h = sha256(&d);
        let got = store.put_multipart_checked(&h, d.clone(), PART).await;
        assert_eq!(got.unwrap(), PutOutcome::Stored);
        assert_eq!(store.get(&h).await.unwrap(), d);
    }

    #[tokio::test]
    async fn present_object_is_skipped_and_not_rewritten() {
        let (inner, store) = memory_store();
        let d = data(3 * PART, 2);
        let h = sha256(&d);
        store
            .put_multipart_checked(&h, d.clone(), PART)
            .await
            .unwrap();
        let before = inner.head(&object_key(&h)).await.unwrap();
        let again = store.put_multipart_checked(&h, d.clone(), PART).await;
        assert_eq!(again.unwrap(), PutOutcome::AlreadyPresent);
        // Not written a second time: same version as before.
        let after = inner.head(&object_key(&h)).await.unwrap();
        assert_eq!(before.e_tag, after.e_tag);
        assert_eq!(store.get(&h).await.unwrap(), d);
    }

    #[tokio::test]
    async fn present_damaged_object_is_reported_not_overwritten() {
        let (inner, store) = memory_store();
        let d = data(3 * PART, 3);
        let h = sha256(&d);
        let key = object_key(&h);
        // Right size, wrong bytes; then a shorter one.
        let mut bad = d.to_vec();
        bad[PART + 7] ^= 0x40;
        for damaged in [Bytes::from(bad), d.slice(..PART)] {
            inner
                .put(&key, PutPayload::from(damaged.clone()))
                .await
                .unwrap();
            let err = store.put_multipart_checked(&h, d.clone(), PART).await;
            assert!(
                matches!(&err, Err(StoreError::Corrupt { key: k, .. }) if *k == key.to_string()),
                "{err:?}"
            );
            let kept = inner.get(&key).await.unwrap().bytes().await.unwrap();
            assert_eq!(kept, damaged, "a damaged object is left for a human");
        }
    }

    #[tokio::test]
    async fn wrong_hash_is_aborted_and_nothing_is_visible() {
        let (_inner, store) = memory_store();
        let d = data(4 * PART, 4);
        let wrong = sha256(b"something else");
        let err = store.put_multipart_checked(&wrong, d, PART).await;
        assert!(
            matches!(err, Err(StoreError::HashMismatch { .. })),
            "{err:?}"
        );
        assert!(!store.exists(&wrong).await.unwrap());
        assert!(store.list_hashes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_same_object_written_twice_at_once_is_harmless() {
        let (_inner, store) = memory_store();
        let d = data(6 * PART + 1, 5);
        let h = sha256(&d);
        let (a, b) = tokio::join!(
            store.put_multipart_checked(&h, d.clone(), PART),
            store.put_multipart_checked(&h, d.clone(), PART)
        );
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        assert_eq!(store.get(&h).await.unwrap(), d);
        assert_eq!(store.list_hashes().await.unwrap(), vec![h]);
    }

    #[tokio::test]
    async fn put_of_a_large_object_on_a_remote_store_goes_multipart() {
        let (_inner, store) = memory_store();
        assert!(store.goes_multipart(MULTIPART_THRESHOLD));
        assert!(!store.goes_multipart(MULTIPART_THRESHOLD - 1));
        let dir = tempfile::tempdir().unwrap();
        let local = Store::open(&dir.path().to_string_lossy()).unwrap();
        assert!(!local.goes_multipart(MULTIPART_THRESHOLD * 4));

        let d = data(MULTIPART_THRESHOLD + PART_SIZE / 2, 6);
        let h = sha256(&d);
        assert_eq!(
            store
                .put(&h, d.clone(), PutOptions::new())
                .await
                .unwrap()
                .outcome,
            PutOutcome::Stored
        );
        assert_eq!(
            store
                .put(&h, d.clone(), PutOptions::new())
                .await
                .unwrap()
                .outcome,
            PutOutcome::AlreadyPresent
        );
        assert_eq!(store.get(&h).await.unwrap(), d);
    }
}
