//! Taking objects out of the store (`store gc`, `erase`): the listing with
//! each object's stored size and time, and deleting an object in every
//! form it may be stored in (plain, `.zst`; an encrypted store's keyed
//! name and pointer go with it through its layer). Readable copies beside
//! a local store are `crate::readable`'s, removed by the caller.

use futures::TryStreamExt;
use object_store::path::Path;

use super::{compress, key, object_key, Sha256, Store, StoreError};

/// One object as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub hash: Sha256,
    /// Stored as `<hash>.zst`.
    pub compressed: bool,
    /// The bytes it takes in the store.
    pub stored_size: u64,
    /// When it was written, Unix seconds.
    pub modified: i64,
}

impl Store {
    /// Every object in the store with its size and time, sorted by hash
    /// (an object stored in both forms is listed twice). Keys not in
    /// canonical form are skipped, as by [`Store::list_hashes`].
    pub async fn list_objects(&self) -> Result<Vec<StoredObject>, StoreError> {
        let prefix = Path::from(key::PREFIX);
        let mut stream = self.inner.list(Some(&prefix));
        let mut out = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(meta)) => {
                    if let Some((hash, compressed)) = compress::parse_stored_key(&meta.location) {
                        out.push(StoredObject {
                            hash,
                            compressed,
                            stored_size: meta.size,
                            modified: meta.last_modified.timestamp(),
                        });
                    }
                }
                Ok(None) => break,
                Err(object_store::Error::InvalidPath { .. }) => continue,
                Err(e) => return Err(self.backend("list", &prefix, e)),
            }
        }
        out.sort_unstable_by_key(|o| (o.hash, o.compressed));
        Ok(out)
    }

    /// Deletes the object `hash` in both of its forms; whether anything
    /// was there. Deleting what is already gone is no error, so a deletion
    /// interrupted half-way is simply done again.
    pub async fn delete(&self, hash: &Sha256) -> Result<bool, StoreError> {
        let mut found = false;
        for key in [object_key(hash), compress::compressed_key(hash)] {
            match self.inner.delete(&key).await {
                Ok(()) => found = true,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.backend("delete", &key, e)),
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{sha256, PutOptions};

    #[tokio::test]
    async fn issue23_list_then_delete_both_forms() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let data = bytes::Bytes::from(vec![7u8; 5000]);
        let h = sha256(&data);
        store.put(&h, data, PutOptions::new()).await.unwrap();
        let listed = store.list_objects().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].hash, listed[0].stored_size), (h, 5000));
        assert!(listed[0].modified > 0);
        assert!(store.delete(&h).await.unwrap());
        assert!(!store.exists(&h).await.unwrap());
        assert!(!store.delete(&h).await.unwrap(), "gone already: no error");
        assert!(store.list_objects().await.unwrap().is_empty());
    }
}
