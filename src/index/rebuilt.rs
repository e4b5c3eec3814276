//! Writing back messages read from the server when the index was lost
//! (`slimbox index rebuild`): the same rows a run writes, without a
//! journal (nothing is in flight), each message at most once.

use std::collections::HashSet;

use super::db::{Conn, TxKind};
use super::journal::insert_message;
use super::{Index, IndexError, MessageRecord};

/// A message rebuilt from its converted copy on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// `new_uid` is the copy's UID, which identifies it.
    pub record: MessageRecord,
    /// When it was converted (Unix seconds), as the index's `processed_at`.
    pub processed_at: i64,
}

/// What [`Index::add_rebuilt`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub messages: usize,
    pub parts: usize,
    /// Messages the index had already, left as they were.
    pub known: usize,
}

impl Index {
    /// Writes `messages` in the order given, in one transaction, except
    /// those the index already has: a row of the same account, folder,
    /// UIDVALIDITY and UID (the copy's, or the original's where the copy's
    /// was never learnt). So writing the same messages twice adds nothing.
    pub fn add_rebuilt(&mut self, messages: &[Rebuilt]) -> Result<Written, IndexError> {
        // IMMEDIATE: what is known is read under the same write lock the
        // rows go in with, so a second writer cannot slip in between.
        self.db.transaction(TxKind::Immediate, |c| {
            let mut known = known_messages(c, messages)?;
            let mut out = Written::default();
            for m in messages {
                let r = &m.record;
                let key = (
                    r.account.clone(),
                    r.folder.clone(),
                    r.uidvalidity,
                    r.new_uid.unwrap_or(r.old_uid),
                );
                if !known.insert(key) {
                    out.known += 1;
                    continue;
                }
                insert_message(c, r, m.processed_at)?;
                out.messages += 1;
                out.parts += r.parts.len();
            }
            Ok(out)
        })
    }
}

type MessageKey = (String, String, u32, u32);

/// The (account, folder, UIDVALIDITY, UID) of every message the index has
/// in the accounts of `messages`.
fn known_messages(conn: Conn<'_>, messages: &[Rebuilt]) -> Result<HashSet<MessageKey>, IndexError> {
    let accounts: HashSet<&str> = messages.iter().map(|m| m.record.account.as_str()).collect();
    let mut out = HashSet::new();
    for a in accounts {
        out.extend(conn.query_map(
            "SELECT account, folder, uidvalidity, COALESCE(new_uid, old_uid) FROM messages WHERE account = $1",
            params![a],
            |r| Ok((r.text(0)?, r.text(1)?, r.u32(2)?, r.u32(3)?)),
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::PartRecord;
    use super::*;

    fn rebuilt(uid: u32) -> Rebuilt {
        Rebuilt {
            record: MessageRecord {
                account: "me".into(),
                folder: "Sent".into(),
                uidvalidity: 7,
                old_uid: 0,
                new_uid: Some(uid),
                message_id: Some(format!("m{uid}@x")),
                date: Some(1_700_000_000 + i64::from(uid)),
                from: Some("a@x".into()),
                to: None,
                subject: Some("s".into()),
                internal_date: "01-Feb-2024 10:00:00 +0100".into(),
                flags: vec!["\\Seen".into()],
                size_before: 1000,
                size_after: 100,
                parts: vec![PartRecord {
                    sha256: "ab".repeat(32),
                    size: 900,
                    filename: "a.pdf".into(),
                    content_type: "application/pdf".into(),
                    part_path: "2".into(),
                    raw_sha256: None,
                }],
            },
            processed_at: 1_800_000_000,
        }
    }

    #[test]
    fn issue9_rebuilt_messages_are_written_once() {
        let mut idx = Index::open_in_memory().unwrap();
        let all = [rebuilt(3), rebuilt(4)];
        let w = idx.add_rebuilt(&all).unwrap();
        assert_eq!((w.messages, w.parts, w.known), (2, 2, 0));
        let listed = idx.find_parts(&Default::default()).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].uid, Some(4), "newest first");
        // Again, and with a new one: only the new one goes in.
        let w = idx
            .add_rebuilt(&[rebuilt(3), rebuilt(4), rebuilt(5)])
            .unwrap();
        assert_eq!((w.messages, w.parts, w.known), (1, 1, 2));
        assert_eq!(idx.message_count().unwrap(), 3);
        let stats = idx.stats().unwrap();
        assert_eq!((stats[0].messages, stats[0].parts), (3, 3));
        assert_eq!(stats[0].bytes_removed, 3 * 900);
        let refs = idx.object_refs().unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].users.len(), 3);
    }

    #[test]
    fn issue9_a_message_the_run_wrote_is_known_by_its_copy_uid() {
        let mut idx = Index::open_in_memory().unwrap();
        let mut r = rebuilt(9).record;
        r.old_uid = 2;
        let id = idx.journal_begin(&r, b"x").unwrap();
        idx.journal_finish(id, &r).unwrap();
        let w = idx.add_rebuilt(&[rebuilt(9)]).unwrap();
        assert_eq!((w.messages, w.known), (0, 1));
    }
}
