//! The journal (what is in flight, written before the server is touched)
//! and the rows of processed and skipped messages.

use std::collections::HashSet;

use super::db::{Conn, TxKind};
use super::{Index, IndexError, JournalEntry, JournalKind, JournalState, MessageRecord};
use crate::dates::now_unix;

impl Index {
    /// Records the intent to replace a message; on disk before it returns.
    pub fn journal_begin(
        &self,
        record: &MessageRecord,
        rewritten: &[u8],
    ) -> Result<i64, IndexError> {
        self.journal_begin_kind(record, rewritten, JournalKind::Detach)
    }

    /// Records the intent to replace a message, of either kind.
    pub fn journal_begin_kind(
        &self,
        record: &MessageRecord,
        rewritten: &[u8],
        kind: JournalKind,
    ) -> Result<i64, IndexError> {
        let (kind_s, message) = match kind {
            JournalKind::Detach => ("detach", None),
            JournalKind::Reattach { message } => ("reattach", Some(message)),
        };
        let t = now_unix();
        self.db
            .conn()
            .query_one(
                "INSERT INTO journal (account, folder, uidvalidity, old_uid, state, rewritten, record, created_at, updated_at, kind, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
             ON CONFLICT (account, folder, uidvalidity, old_uid) DO UPDATE SET
               state = excluded.state, rewritten = excluded.rewritten, record = excluded.record,
               new_uid = NULL, updated_at = excluded.updated_at, kind = excluded.kind, message = excluded.message
             RETURNING id",
                params![
                    &record.account,
                    &record.folder,
                    record.uidvalidity,
                    record.old_uid,
                    JournalState::Prepared.as_str(),
                    rewritten,
                    serde_json::to_string(record)?,
                    t,
                    kind_s,
                    message
                ],
            )?
            .int(0)
    }

    /// Moves a journal entry to `state`.
    pub fn journal_set(
        &self,
        id: i64,
        state: JournalState,
        new_uid: Option<u32>,
    ) -> Result<(), IndexError> {
        self.db.conn().execute(
            "UPDATE journal SET state = $1, new_uid = COALESCE($2, new_uid), updated_at = $3 WHERE id = $4",
            params![state.as_str(), new_uid, now_unix(), id],
        )?;
        Ok(())
    }

    /// The entries in flight for one account (all folders), oldest first.
    pub fn journal_pending(&self, account: &str) -> Result<Vec<JournalEntry>, IndexError> {
        self.db.conn().query_map(
            "SELECT id, state, new_uid, rewritten, record, kind, message FROM journal WHERE account = $1 ORDER BY id",
            params![account],
            |r| {
                let id = r.int(0)?;
                let state = JournalState::parse(&r.text(1)?).unwrap_or(JournalState::Prepared);
                let new_uid = r.opt_u32(2)?;
                let rewritten = r.blob(3)?;
                let record = serde_json::from_str(&r.text(4)?)?;
                let kind = match (r.text(5)?.as_str(), r.opt_int(6)?) {
                    ("reattach", Some(message)) => JournalKind::Reattach { message },
                    _ => JournalKind::Detach,
                };
                Ok(JournalEntry {
                    id,
                    kind,
                    state,
                    new_uid,
                    rewritten,
                    record,
                })
            },
        )
    }

    /// Drops a journal entry whose message was left untouched after all.
    pub fn journal_abandon(&self, id: i64) -> Result<(), IndexError> {
        self.db
            .conn()
            .execute("DELETE FROM journal WHERE id = $1", params![id])?;
        Ok(())
    }

    /// Closes a reattach entry: the message is whole again at `uid`.
    pub fn journal_finish_reattach(
        &mut self,
        id: i64,
        message: i64,
        uid: Option<u32>,
    ) -> Result<(), IndexError> {
        self.db.transaction(TxKind::Deferred, |c| {
            c.execute(
                "UPDATE messages SET reattached_at = $1, new_uid = COALESCE($2, new_uid) WHERE id = $3",
                params![now_unix(), uid, message],
            )?;
            c.execute("DELETE FROM journal WHERE id = $1", params![id])?;
            Ok(())
        })
    }

    /// Commits a finished message to the index and closes its journal entry,
    /// in one transaction.
    pub fn journal_finish(&mut self, id: i64, record: &MessageRecord) -> Result<i64, IndexError> {
        self.db.transaction(TxKind::Deferred, |c| {
            let mid = insert_message(c, record, now_unix())?;
            c.execute("DELETE FROM journal WHERE id = $1", params![id])?;
            Ok(mid)
        })
    }

    /// Remembers that a message was looked at and left as it was, so the
    /// next run does not download it again.
    pub fn record_skip(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        reason: &str,
    ) -> Result<(), IndexError> {
        self.db.conn().execute(
            "INSERT INTO skipped (account, folder, uidvalidity, uid, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET reason = excluded.reason, at = excluded.at",
            params![account, folder, uidvalidity, uid, reason, now_unix()],
        )?;
        Ok(())
    }

    /// UIDs left alone earlier in this folder (same UIDVALIDITY).
    pub fn skipped_uids(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<HashSet<u32>, IndexError> {
        Ok(self
            .db
            .conn()
            .query_map(
                "SELECT uid FROM skipped WHERE account = $1 AND folder = $2 AND uidvalidity = $3",
                params![account, folder, uidvalidity],
                |r| r.u32(0),
            )?
            .into_iter()
            .collect())
    }

    /// Number of processed messages recorded (for summaries and tests).
    pub fn message_count(&self) -> Result<u64, IndexError> {
        self.db
            .conn()
            .query_one("SELECT COUNT(*) FROM messages", &[])?
            .u64(0)
    }

    /// The processed-message row for a Message-ID, newest first.
    pub fn find_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<(i64, String, String)>, IndexError> {
        self.db
            .conn()
            .query_opt(
                "SELECT id, account, folder FROM messages WHERE message_id = $1 ORDER BY id DESC LIMIT 1",
                params![message_id],
            )?
            .map(|mut r| Ok((r.int(0)?, r.text(1)?, r.text(2)?)))
            .transpose()
    }
}

/// Writes one processed message, its parts and their object references;
/// returns its row. `processed_at`: when it was converted, Unix seconds.
pub(super) fn insert_message(
    conn: Conn<'_>,
    record: &MessageRecord,
    processed_at: i64,
) -> Result<i64, IndexError> {
    let mid = conn
        .query_one(
            "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id, date,
           from_addr, to_addr, subject, internal_date, flags, size_before, size_after, processed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING id",
            params![
                &record.account,
                &record.folder,
                record.uidvalidity,
                record.old_uid,
                record.new_uid,
                record.message_id.as_deref(),
                record.date,
                record.from.as_deref(),
                record.to.as_deref(),
                record.subject.as_deref(),
                &record.internal_date,
                record.flags.join(" "),
                record.size_before,
                record.size_after,
                processed_at
            ],
        )?
        .int(0)?;
    for p in &record.parts {
        conn.execute(
            "INSERT INTO parts (message, sha256, size, filename, content_type, part_path, raw_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            params![
                mid,
                &p.sha256,
                p.size,
                &p.filename,
                &p.content_type,
                &p.part_path,
                p.raw_sha256.as_deref()
            ],
        )?;
    }
    // Objects in one order, whatever the parts' order: two processes
    // writing messages that share objects take their row locks in the
    // same order on PostgreSQL, instead of deadlocking.
    let mut objects: Vec<&super::PartRecord> = record.parts.iter().collect();
    objects.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    for p in objects {
        conn.execute(
            "INSERT INTO objects (sha256, size, first_seen, refs) VALUES ($1, $2, $3, 1)
             ON CONFLICT (sha256) DO UPDATE SET refs = objects.refs + 1",
            params![&p.sha256, p.size, processed_at],
        )?;
    }
    Ok(mid)
}
