//! Which converted copies the index knows, per account: what `verify`
//! needs to tell a converted message on the server that has its row from
//! one that lost it.

use super::{Index, IndexError};

/// A processed message as the index places it on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedCopy {
    pub folder: String,
    pub uidvalidity: u32,
    /// The converted copy's UID; `None` when the server reported none
    /// (no UIDPLUS).
    pub uid: Option<u32>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// The converted copy's size in bytes.
    pub size: u64,
}

impl Index {
    /// Every processed message of `account` (reattached ones included: their
    /// row still names the converted copy).
    pub fn indexed_copies(&self, account: &str) -> Result<Vec<IndexedCopy>, IndexError> {
        self.db.conn().query_map(
            "SELECT folder, uidvalidity, new_uid, message_id, size_after FROM messages
              WHERE account = $1",
            params![account],
            |r| {
                Ok(IndexedCopy {
                    folder: r.text(0)?,
                    uidvalidity: r.u32(1)?,
                    uid: r.opt_u32(2)?,
                    message_id: r.opt_text(3)?,
                    size: r.u64(4)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::MessageRecord;

    #[test]
    fn copies_of_one_account() {
        let mut idx = Index::open_in_memory().expect("index");
        let rec = MessageRecord {
            account: "a".into(),
            folder: "Sent".into(),
            uidvalidity: 7,
            old_uid: 3,
            new_uid: Some(9),
            message_id: Some("x@y".into()),
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
        let id = idx.journal_begin(&rec, b"x").expect("journal");
        idx.journal_finish(id, &rec).expect("finish");
        let copies = idx.indexed_copies("a").expect("copies");
        assert_eq!(
            copies,
            vec![IndexedCopy {
                folder: "Sent".into(),
                uidvalidity: 7,
                uid: Some(9),
                message_id: Some("x@y".into()),
                size: 100,
            }]
        );
        assert!(idx.indexed_copies("b").expect("copies").is_empty());
    }
}
