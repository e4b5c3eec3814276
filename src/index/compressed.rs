//! Which objects the store holds compressed, and how many bytes each takes
//! there: what `stats` needs for the stored bytes and the compression
//! ratio without asking the store.

use super::db::TxKind;
use super::{Index, IndexError};

impl Index {
    /// Notes that the objects `(sha256 hex, stored bytes)` are stored
    /// compressed. Noting one again keeps the latest size.
    pub fn note_compressed(&mut self, objects: &[(String, u64)]) -> Result<(), IndexError> {
        if objects.is_empty() {
            return Ok(());
        }
        self.db.transaction(TxKind::Deferred, |c| {
            for (sha256, size) in objects {
                c.execute(
                    "INSERT INTO compressed_objects (sha256, stored_size) VALUES ($1, $2)
                 ON CONFLICT (sha256) DO UPDATE SET stored_size = excluded.stored_size",
                    params![sha256, *size],
                )?;
            }
            Ok(())
        })
    }
}
