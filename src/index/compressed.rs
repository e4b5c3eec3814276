//! Which objects the store holds compressed, and how many bytes each takes
//! there: what `stats` needs for the stored bytes and the compression
//! ratio without asking the store.

use rusqlite::params;

use super::{Index, IndexError};

impl Index {
    /// Notes that the objects `(sha256 hex, stored bytes)` are stored
    /// compressed. Noting one again keeps the latest size.
    pub fn note_compressed(&mut self, objects: &[(String, u64)]) -> Result<(), IndexError> {
        if objects.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO compressed_objects (sha256, stored_size) VALUES (?1, ?2)
                 ON CONFLICT (sha256) DO UPDATE SET stored_size = excluded.stored_size",
            )?;
            for (sha256, size) in objects {
                st.execute(params![sha256, *size as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
