//! Where one object lies in the store (`slimbox store where`): its file or
//! its URL in the bucket, under its keyed name when the store is
//! encrypted, so that it can be read (or decrypted) by hand.

use super::{Service, ServiceError};

/// Where an object is, and what must be undone to read it by hand.
pub struct ObjectPlace {
    /// A local file's path, or the object's URL in its bucket.
    pub at: String,
    /// Age-encrypted: `age -d -i KEYFILE` gives the bytes back.
    pub encrypted: bool,
    /// Stored zstd-compressed: `zstd -d` after any decryption.
    pub compressed: bool,
}

impl Service {
    /// Where the object `sha256` (64 hex digits) is in the config's store.
    pub async fn locate_object(&self, sha256: &str) -> Result<ObjectPlace, ServiceError> {
        let store = self.store()?;
        let hash =
            crate::store::parse_hex(sha256.trim()).ok_or_else(|| ServiceError::NotSha256 {
                given: sha256.to_string(),
            })?;
        let form =
            store
                .stored_form(&hash)
                .await?
                .ok_or_else(|| ServiceError::ObjectNotStored {
                    sha256: sha256.trim().to_string(),
                    store: store.url().to_string(),
                })?;
        let compressed = form.compressed_size.is_some();
        let key = if compressed {
            crate::store::compressed_key(&hash)
        } else {
            crate::store::object_key(&hash)
        };
        let physical = store.physical_key(&key);
        let at = match store.local_root() {
            Some(root) => root.join(physical.as_ref()).display().to_string(),
            None => format!("{}/{physical}", store.url()),
        };
        Ok(ObjectPlace {
            at,
            encrypted: store.is_encrypted(),
            compressed,
        })
    }
}
