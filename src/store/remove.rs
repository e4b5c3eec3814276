//! Taking objects out of the store (`store gc`, `erase`): the listing with
//! each object's stored size and time, and deleting an object in every
//! form it may be stored in (plain, `.zst`; an encrypted store's keyed
//! name and pointer go with it through its layer). Readable copies beside
//! a local store are `crate::readable`'s, removed by the caller.
//!
//! On an encrypted store the layer lists objects by their pointers (plain
//! names, the plain sizes the store wrote): the sizes and times given here
//! are those of the ciphertexts the backend holds, found by one listing of
//! the keyed names, so that byte figures are what the bucket takes.

use std::collections::HashMap;

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
        if self.crypt.is_some() {
            self.ciphertext_sizes(&mut out).await?;
        }
        Ok(out)
    }

    /// On an encrypted store: each listed object's size and time as the
    /// backend holds its ciphertext (the layer passes names outside
    /// `sha256/` through). An object whose ciphertext went meanwhile keeps
    /// its plain figures (a gc then finds it gone).
    async fn ciphertext_sizes(&self, out: &mut [StoredObject]) -> Result<(), StoreError> {
        let dir = Path::from(super::crypt::OBJECTS);
        let mut stream = self.inner.list(Some(&dir));
        let mut held: HashMap<Path, (u64, i64)> = HashMap::with_capacity(out.len());
        loop {
            match stream.try_next().await {
                Ok(Some(meta)) => {
                    let at = (meta.size, meta.last_modified.timestamp());
                    held.insert(meta.location, at);
                }
                Ok(None) => break,
                Err(object_store::Error::InvalidPath { .. }) => continue,
                Err(e) => return Err(self.backend("list", &dir, e)),
            }
        }
        for o in out.iter_mut() {
            let key = match o.compressed {
                true => compress::compressed_key(&o.hash),
                false => object_key(&o.hash),
            };
            if let Some((size, modified)) = held.get(&self.physical_key(&key)) {
                o.stored_size = *size;
                o.modified = *modified;
            }
        }
        Ok(())
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
            self.delete_pointer(&key).await?;
        }
        Ok(found)
    }

    /// On an encrypted store, the pointer of `key`: the layer deletes it
    /// after the ciphertext, but not when the ciphertext is gone already
    /// (a deletion interrupted between the two is finished here).
    async fn delete_pointer(&self, key: &Path) -> Result<(), StoreError> {
        let Some(at) = self.crypt.as_ref().and_then(|k| k.pointer_name(key)) else {
            return Ok(());
        };
        match self.inner.delete(&at).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("delete", &at, e)),
        }
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

    /// Encrypted: listed with the ciphertext's size (not the plain one),
    /// and deleted with its pointer, also when the ciphertext went first.
    #[tokio::test]
    async fn issue23_encrypted_listed_by_ciphertext_and_deleted_with_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::store::Keys::parse(&age_identity(), "test").unwrap();
        let store = Store::open(dir.path().to_str().unwrap())
            .unwrap()
            .with_encryption(keys);
        let data = bytes::Bytes::from(vec![9u8; 70_000]);
        let h = sha256(&data);
        store
            .put(&h, data.clone(), PutOptions::new())
            .await
            .unwrap();
        let other = bytes::Bytes::from(vec![3u8; 100]);
        let h2 = sha256(&other);
        store.put(&h2, other, PutOptions::new()).await.unwrap();
        let listed = store.list_objects().await.unwrap();
        assert_eq!(listed.len(), 2);
        let big = listed.iter().find(|o| o.hash == h).unwrap();
        let cipher = std::fs::metadata(
            dir.path()
                .join(store.physical_key(&object_key(&h)).as_ref()),
        )
        .unwrap()
        .len();
        assert_eq!(big.stored_size, cipher);
        assert!(cipher > 70_000 + 2 * 16, "{cipher}");
        assert!(store.delete(&h).await.unwrap());
        let pointers = |d: &std::path::Path| walk(&d.join("age-ix"));
        assert_eq!(pointers(dir.path()), 1, "h2's pointer stays");
        // h2's ciphertext gone by other means: the pointer goes with a delete.
        std::fs::remove_file(
            dir.path()
                .join(store.physical_key(&object_key(&h2)).as_ref()),
        )
        .unwrap();
        assert!(!store.delete(&h2).await.unwrap());
        assert_eq!(pointers(dir.path()), 0);
        assert!(store.list_objects().await.unwrap().is_empty());
    }

    /// Files under `d`, at any depth.
    fn walk(d: &std::path::Path) -> usize {
        let Ok(rd) = std::fs::read_dir(d) else {
            return 0;
        };
        rd.map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { walk(&p) } else { 1 })
            .sum()
    }

    fn age_identity() -> String {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_string()
    }
}
