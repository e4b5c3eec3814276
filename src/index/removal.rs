//! The journal's removal batches (issue 25): before slimbox removes a
//! batch of originals it writes which entries are in that batch, so that
//! after a crash recovery can tell an original slimbox removed from one the
//! mailbox's owner deleted while slimbox was down (`pipeline::recover`).

use std::collections::HashMap;

use super::db::TxKind;
use super::{Index, IndexError};

impl Index {
    /// Marks the journal entries `ids` as one removal batch, about to be
    /// removed from the server, and returns the batch's number (from 1;
    /// 0 is the batch of entries from before this was kept). Written, and
    /// synced, before the removal is asked for.
    pub fn journal_removing(&mut self, ids: &[i64]) -> Result<i64, IndexError> {
        self.db.transaction(TxKind::Immediate, |c| {
            let batch = c
                .query_one(
                    "SELECT COALESCE(MAX(batch), 0) + 1 FROM journal_removal",
                    &[],
                )?
                .int(0)?;
            for id in ids {
                c.execute(
                    "INSERT INTO journal_removal (entry, batch) VALUES ($1, $2)
                 ON CONFLICT (entry) DO UPDATE SET batch = excluded.batch",
                    params![*id, batch],
                )?;
            }
            Ok(batch)
        })
    }

    /// The removal batch of each of `account`'s journal entries that has
    /// one, by entry id. An entry not listed was never about to be removed.
    pub fn journal_removal_batches(&self, account: &str) -> Result<HashMap<i64, i64>, IndexError> {
        Ok(self
            .db
            .conn()
            .query_map(
                "SELECT j.id, r.batch FROM journal j JOIN journal_removal r ON r.entry = j.id
              WHERE j.account = $1",
                params![account],
                |r| Ok((r.int(0)?, r.int(1)?)),
            )?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::MessageRecord;

    fn entry(index: &mut Index, uid: u32) -> i64 {
        let rec = MessageRecord {
            account: "a".into(),
            folder: "Sent".into(),
            uidvalidity: 7,
            old_uid: uid,
            new_uid: None,
            message_id: None,
            date: None,
            from: None,
            to: None,
            subject: None,
            internal_date: "01-Feb-2024 10:00:00 +0100".into(),
            flags: Vec::new(),
            size_before: 1000,
            size_after: 100,
            parts: Vec::new(),
        };
        index.journal_begin(&rec, b"x").expect("journal")
    }

    #[test]
    fn issue25_each_removal_batch_is_numbered_and_kept_per_entry() {
        let mut index = Index::open_in_memory().expect("index");
        let (a, b, c) = (
            entry(&mut index, 1),
            entry(&mut index, 2),
            entry(&mut index, 3),
        );
        assert!(index.journal_removal_batches("a").expect("read").is_empty());
        let first = index.journal_removing(&[a, b]).expect("batch");
        let second = index.journal_removing(&[c]).expect("batch");
        assert_eq!(first, 1);
        assert_eq!(second, 2);
        // Looked at again and removed in a later round: the later batch.
        let third = index.journal_removing(&[b]).expect("batch");
        let batches = index.journal_removal_batches("a").expect("read");
        assert_eq!(batches.get(&a), Some(&first));
        assert_eq!(batches.get(&b), Some(&third));
        assert_eq!(batches.get(&c), Some(&second));
        assert!(index.journal_removal_batches("b").expect("read").is_empty());
        index.journal_abandon(a).expect("abandon");
        assert_eq!(index.journal_removal_batches("a").expect("read").len(), 2);
    }
}
