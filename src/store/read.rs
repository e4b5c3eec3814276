//! Reading objects back: whole (checked against their hash), their size,
//! whether they exist, and the listing of every hash in the store.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use sha2::Digest;

use super::READS_IN_FLIGHT;
use super::{compress, hash_off_thread, key, object_key, Sha256, Store, StoreError};

impl Store {
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
    pub(super) async fn verify_stored(&self, hash: &Sha256, key: &Path) -> Result<(), StoreError> {
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
}
