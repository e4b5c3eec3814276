//! Finding objects by the first bytes of their SHA-256: what a short link
//! (issue 19) names. The caller (the server) tells the candidates apart by
//! the link's signature, which covers the full hash.

use futures::TryStreamExt;
use object_store::path::Path;

use super::compress::parse_stored_key;
use super::key::{self, to_hex, Sha256};
use super::{Store, StoreError};

impl Store {
    /// The stored objects (either form) whose SHA-256 starts with `prefix`,
    /// sorted, at most `max` of them.
    ///
    /// A local store reads the fan-out directory `sha256/<2 hex>/` (the
    /// same work whether anything matches or not). A remote one lists from
    /// `sha256/<2>/<prefix hex>`: S3 and GCS start the listing there, and
    /// on a backend that lists in key order (S3, GCS, Azure, memory) the
    /// listing stops at the first key past the prefix; any other backend
    /// (http/WebDAV) is read to the end of that directory.
    pub async fn find_by_prefix(
        &self,
        prefix: &[u8],
        max: usize,
    ) -> Result<Vec<Sha256>, StoreError> {
        let hex = hex::encode(prefix);
        if hex.len() < 2 {
            return Ok(Vec::new());
        }
        // An encrypted store's names say nothing of the hash: its pointers
        // are listed (see `crypt`).
        let mut found = match self.local_root.as_ref().filter(|_| self.crypt.is_none()) {
            Some(root) => {
                let dir = root.join(key::PREFIX).join(&hex[..2]);
                let want = hex.clone();
                // The directory read takes one of the blocking slots that
                // reading pieces shares, so a crowd of short-link requests
                // cannot grow the blocking pool (issue 20).
                let _slot = self.local_slot().await;
                let listed = tokio::task::spawn_blocking(move || read_matching(&dir, &want)).await;
                match listed {
                    Ok(result) => result.map_err(|e| self.list_err(&hex, e))?,
                    Err(e) => return Err(self.list_err(&hex, std::io::Error::other(e))),
                }
            }
            None => self.list_matching(&hex).await?,
        };
        for (hash, compressed) in &found {
            if *compressed {
                self.note_compressed(hash);
            }
        }
        found.sort_unstable();
        let mut hashes: Vec<Sha256> = found.into_iter().map(|(h, _)| h).collect();
        hashes.dedup();
        hashes.truncate(max);
        Ok(hashes)
    }

    async fn list_matching(&self, hex: &str) -> Result<Vec<(Sha256, bool)>, StoreError> {
        let dir = Path::from_iter([key::PREFIX, &hex[..2]]);
        let offset = Path::from_iter([key::PREFIX, &hex[..2], hex]);
        let ordered = self.lists_in_order();
        let mut stream = self.inner.list_with_offset(Some(&dir), &offset);
        let mut found = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(meta)) => {
                    let name = meta.location.filename().unwrap_or("");
                    if name.starts_with(hex) {
                        found.extend(parse_stored_key(&meta.location));
                    } else if ordered && name > hex {
                        break;
                    }
                }
                Ok(None) => break,
                Err(object_store::Error::InvalidPath { .. }) => continue,
                Err(e) => return Err(self.backend("list", &offset, e)),
            }
        }
        Ok(found)
    }

    /// Whether the backend lists keys in lexicographic order, as S3, GCS,
    /// Azure and `object_store`'s memory store all do (and document).
    fn lists_in_order(&self) -> bool {
        let scheme = self.url.split_once("://").map_or("", |(s, _)| s);
        super::backend::is_cloud_scheme(scheme) || scheme == "memory"
    }

    fn list_err(&self, hex: &str, source: std::io::Error) -> StoreError {
        let key = Path::from_iter([key::PREFIX, &hex[..2], hex]);
        let source = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        };
        self.backend("list", &key, source)
    }
}

/// Names in `dir` of either form whose hash starts with `hex`; a missing
/// directory holds none.
fn read_matching(dir: &std::path::Path, hex: &str) -> std::io::Result<Vec<(Sha256, bool)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str().filter(|n| n.starts_with(hex)) else {
            continue;
        };
        let (plain, compressed) = match name.strip_suffix(super::compress::SUFFIX) {
            Some(plain) => (plain, true),
            None => (name, false),
        };
        // Only canonical names: what `get` would find again.
        if let Some(hash) = key::parse_hex(plain).filter(|h| to_hex(h) == plain) {
            found.push((hash, compressed));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::super::{sha256, Compression};
    use super::*;

    use crate::store::PutOptions;

    /// Puts a few objects; their hashes.
    async fn fill(store: &Store) -> Vec<Sha256> {
        let mut hashes = Vec::new();
        for i in 0..40u32 {
            let d = Bytes::from(format!("object number {i}"));
            let h = sha256(&d);
            store.put(&h, d, PutOptions::new()).await.unwrap();
            hashes.push(h);
        }
        hashes
    }

    async fn each_is_found_alone(store: &Store, hashes: &[Sha256]) {
        for h in hashes {
            assert_eq!(store.find_by_prefix(&h[..8], 4).await.unwrap(), vec![*h]);
        }
        let mut none = hashes[0];
        none[7] ^= 1;
        assert!(store
            .find_by_prefix(&none[..8], 4)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .find_by_prefix(&[0x00; 8], 4)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn issue19_a_prefix_finds_its_object_locally_and_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let local = Store::open(&dir.path().to_string_lossy()).unwrap();
        let hashes = fill(&local).await;
        each_is_found_alone(&local, &hashes).await;
        let memory = Store::from_object_store(
            Arc::new(object_store::memory::InMemory::new()),
            "memory://t".into(),
        );
        let hashes = fill(&memory).await;
        each_is_found_alone(&memory, &hashes).await;
        // Unordered backends are read to the end of the directory.
        let unordered = Store::from_object_store(memory.object_store(), "http://x".into());
        each_is_found_alone(&unordered, &hashes).await;
    }

    #[tokio::test]
    async fn issue19_objects_sharing_a_prefix_are_all_candidates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().to_string_lossy())
            .unwrap()
            .with_compression(Compression::from_zstd_level(Some(3)));
        let d = Bytes::from("compress me please, ".repeat(1000));
        let h = sha256(&d);
        store
            .put(
                &h,
                d,
                PutOptions::new()
                    .compress_as(Some("text/plain"))
                    .checked_by_caller()
                    .unsynced(),
            )
            .await
            .unwrap();
        // Files named like objects sharing h's first 8 bytes (not their
        // content: only the names matter to the lookup).
        let fan = dir.path().join("sha256").join(&to_hex(&h)[..2]);
        let mut twins = vec![h];
        for last in [0x00u8, 0xff] {
            let mut t = h;
            t[31] = last;
            t[20] ^= 0x55;
            std::fs::write(fan.join(to_hex(&t)), b"x").unwrap();
            twins.push(t);
        }
        std::fs::write(fan.join(to_hex(&h).to_uppercase()), b"x").unwrap();
        twins.sort_unstable();
        assert_eq!(store.find_by_prefix(&h[..8], 8).await.unwrap(), twins);
        assert_eq!(store.find_by_prefix(&h[..8], 2).await.unwrap(), twins[..2]);
        // The compressed form was noted: a fresh handle reads it at once.
        let fresh = Store::open(&dir.path().to_string_lossy()).unwrap();
        fresh.find_by_prefix(&h[..8], 8).await.unwrap();
        assert_eq!(fresh.stored_name(&h), format!("{}.zst", to_hex(&h)));
    }
}
