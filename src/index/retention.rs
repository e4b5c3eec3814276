//! Reclaiming the store (issue 23), as the index keeps it: legal holds and
//! their history, the objects `store gc` found unreferenced and since when,
//! deletions decided but not finished (the intent a crash leaves for the
//! next gc or erase), what the last gc found, and erasures of accounts.
//!
//! Every SQL statement of retention lives here (the erasure's in
//! `erase`), in plain SQL that PostgreSQL runs too. The decisions (what is referenced, what may go
//! now) are `crate::service::gc`'s; this file only reads and writes rows.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::{Index, IndexError, MessageRecord};

/// A mailbox under legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub account: String,
    /// Who held it (the OS user, or `--by`).
    pub by: String,
    /// Unix seconds.
    pub at: i64,
    pub note: String,
}

/// One hold or release, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldEvent {
    pub account: String,
    /// `hold` or `release`.
    pub action: String,
    pub by: String,
    pub at: i64,
    pub note: String,
}

/// One detached part with where its message is, as `store gc` reads the
/// whole index (one row at a time).
#[derive(Debug, Clone)]
pub struct IndexedPart {
    pub message: i64,
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
    /// The converted copy's UID (the original's when none is known).
    pub uid: Option<u32>,
    pub message_id: Option<String>,
    pub sha256: String,
    pub raw_sha256: Option<String>,
    /// Put back whole: its objects are no longer needed by it.
    pub reattached: bool,
}

/// An object whose deletion is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    pub sha256: String,
    /// The file's bytes (a readable copy has this size).
    pub size: u64,
    /// The bytes it takes in the store (compressed, encrypted).
    pub stored_size: u64,
}

/// What the last `store gc` found, for `stats --store` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcTotals {
    /// Unix seconds of that gc; 0: never.
    pub at: i64,
    pub objects: u64,
    pub stored_bytes: u64,
    pub referenced_objects: u64,
    pub referenced_bytes: u64,
    pub unreferenced_objects: u64,
    pub unreferenced_bytes: u64,
    pub deleted_objects: u64,
    pub deleted_bytes: u64,
}

/// What the store holds as the index knows it (`stats --store`): the
/// objects it recorded, those a message not put back still names, and
/// what the last gc found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreTotals {
    pub objects: u64,
    /// Bytes of those objects in the store (compressed where they are).
    pub stored_bytes: u64,
    pub referenced_objects: u64,
    pub referenced_bytes: u64,
    /// Objects a gc found unreferenced, waiting for their grace to end.
    pub waiting_objects: u64,
    pub waiting_bytes: u64,
    pub holds: u64,
    pub last_gc: Option<GcTotals>,
}

fn count(v: i64) -> u64 {
    v.max(0) as u64
}

impl Index {
    /// Puts `account` under legal hold; the hold already in force (left as
    /// it is) when there is one.
    pub fn hold(
        &mut self,
        account: &str,
        by: &str,
        note: &str,
        at: i64,
    ) -> Result<Option<Hold>, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(h) = hold_of(&tx, account)? {
            return Ok(Some(h));
        }
        tx.execute(
            "INSERT INTO holds (account, held_by, held_at, note) VALUES (?1, ?2, ?3, ?4)",
            params![account, by, at, note],
        )?;
        event(&tx, account, "hold", by, at, note)?;
        tx.commit()?;
        Ok(None)
    }

    /// Lifts the hold on `account`; the hold that was lifted, `None` when
    /// there was none.
    pub fn release(
        &mut self,
        account: &str,
        by: &str,
        note: &str,
        at: i64,
    ) -> Result<Option<Hold>, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(h) = hold_of(&tx, account)? else {
            return Ok(None);
        };
        tx.execute("DELETE FROM holds WHERE account = ?1", [account])?;
        event(&tx, account, "release", by, at, note)?;
        tx.commit()?;
        Ok(Some(h))
    }

    /// The holds in force, by account.
    pub fn holds(&self) -> Result<Vec<Hold>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT account, held_by, held_at, note FROM holds ORDER BY account")?;
        let rows = st.query_map([], hold_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The hold on `account`, if any.
    pub fn hold_on(&self, account: &str) -> Result<Option<Hold>, IndexError> {
        hold_of(&self.conn, account)
    }

    /// Every hold and release of `account` (all accounts: `None`), oldest
    /// first.
    pub fn hold_events(&self, account: Option<&str>) -> Result<Vec<HoldEvent>, IndexError> {
        let mut st = self.conn.prepare(
            "SELECT account, action, by_user, at, note FROM hold_events
              WHERE ?1 IS NULL OR account = ?1 ORDER BY at, account",
        )?;
        let rows = st.query_map([account], |r| {
            Ok(HoldEvent {
                account: r.get(0)?,
                action: r.get(1)?,
                by: r.get(2)?,
                at: r.get(3)?,
                note: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls `f` with every detached part the index holds, reattached ones
    /// included, one row at a time (a million parts never sit in memory).
    pub fn for_each_part(&self, f: &mut dyn FnMut(IndexedPart)) -> Result<(), IndexError> {
        let mut st = self.conn.prepare(
            "SELECT m.id, m.account, m.folder, m.uidvalidity, COALESCE(m.new_uid, m.old_uid),
                    m.message_id, p.sha256, p.raw_sha256, m.reattached_at IS NOT NULL
               FROM parts p JOIN messages m ON m.id = p.message ORDER BY m.id, p.id",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            f(IndexedPart {
                message: r.get(0)?,
                account: r.get(1)?,
                folder: r.get(2)?,
                uidvalidity: r.get(3)?,
                uid: r.get::<_, Option<u32>>(4)?.filter(|u| *u != 0),
                message_id: r.get(5)?,
                sha256: r.get(6)?,
                raw_sha256: r.get(7)?,
                reattached: r.get(8)?,
            });
        }
        Ok(())
    }

    /// The objects of the messages in flight: (account, SHA-256 hex), each
    /// part's file and raw body.
    pub fn journal_objects(&self) -> Result<Vec<(String, String)>, IndexError> {
        journal_objects(&self.conn)
    }

    /// Original sizes of the objects the index knows: SHA-256 hex to bytes.
    pub fn object_sizes(&self) -> Result<std::collections::HashMap<String, u64>, IndexError> {
        let mut st = self.conn.prepare("SELECT sha256, size FROM objects")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, count(r.get(1)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a message's row to where the server now has it (the owner
    /// moved it, or its UID changed): a new row at the new place with the
    /// same parts, the old one dropped, so the per-folder totals follow.
    pub fn relocate_message(
        &mut self,
        message: i64,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
    ) -> Result<i64, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let moved = tx.execute(
            "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id, date,
               from_addr, to_addr, subject, internal_date, flags, size_before, size_after, processed_at)
             SELECT account, ?2, ?3, old_uid, ?4, message_id, date, from_addr, to_addr, subject,
                    internal_date, flags, size_before, size_after, processed_at
               FROM messages WHERE id = ?1 AND reattached_at IS NULL",
            params![message, folder, uidvalidity, uid],
        )?;
        if moved == 0 {
            return Ok(message);
        }
        let new = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO parts (message, sha256, size, filename, content_type, part_path, raw_sha256)
             SELECT ?2, sha256, size, filename, content_type, part_path, raw_sha256
               FROM parts WHERE message = ?1 ORDER BY id",
            params![message, new],
        )?;
        drop_messages(&tx, &[message], false)?;
        tx.commit()?;
        Ok(new)
    }

    /// The objects `store gc` found unreferenced: (SHA-256 hex, since,
    /// stored bytes).
    pub fn gc_candidates(&self) -> Result<Vec<(String, i64, u64)>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT sha256, first_unreferenced_at, stored_size FROM gc_candidates")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, count(r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records newly unreferenced objects `(sha256, since, stored bytes)`
    /// and forgets those referenced again, in one transaction.
    pub fn gc_note_candidates(
        &mut self,
        add: &[(String, i64, u64)],
        referenced_again: &[String],
    ) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO gc_candidates (sha256, first_unreferenced_at, stored_size)
                 VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING",
            )?;
            for (h, at, size) in add {
                ins.execute(params![h, at, *size as i64])?;
            }
            let mut del = tx.prepare_cached("DELETE FROM gc_candidates WHERE sha256 = ?1")?;
            for h in referenced_again {
                del.execute([h])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Decides the deletion of `wanted` for `reason` (`gc`): drops the rows
    /// of the messages `gone` (no longer on their server), then, in the
    /// same transaction, keeps back every object a message row or the
    /// journal still names (a run finished or began meanwhile), and writes
    /// the intent for the rest, which it returns. The caller deletes those
    /// objects, then calls [`Index::gc_done`].
    pub fn gc_begin(
        &mut self,
        wanted: &[Deletion],
        gone: &[i64],
        reason: &str,
        at: i64,
    ) -> Result<Vec<Deletion>, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        drop_messages(&tx, gone, true)?;
        let chosen = write_intent(&tx, wanted, reason, at)?;
        tx.commit()?;
        Ok(chosen)
    }

    /// Deletions decided before and not finished (a crash, a store that
    /// failed): what the next gc or erase finishes first.
    pub fn gc_pending(&self) -> Result<Vec<Deletion>, IndexError> {
        let mut st = self
            .conn
            .prepare("SELECT sha256, size, stored_size FROM gc_deleting ORDER BY sha256")?;
        let rows = st.query_map([], |r| {
            Ok(Deletion {
                sha256: r.get(0)?,
                size: count(r.get(1)?),
                stored_size: count(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Of the pending deletions, those that something names again (a run
    /// stored the same file since): their intent is dropped, they stay.
    pub fn gc_recheck_pending(&mut self) -> Result<Vec<Deletion>, IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: Vec<Deletion> = {
            let mut st = tx.prepare("SELECT sha256, size, stored_size FROM gc_deleting")?;
            let rows = st.query_map([], |r| {
                Ok(Deletion {
                    sha256: r.get(0)?,
                    size: count(r.get(1)?),
                    stored_size: count(r.get(2)?),
                })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let used = still_named(&tx, &pending)?;
        for h in &used {
            tx.execute("DELETE FROM gc_deleting WHERE sha256 = ?1", [h])?;
        }
        tx.commit()?;
        Ok(pending
            .into_iter()
            .filter(|d| !used.contains(&d.sha256))
            .collect())
    }

    /// The objects `done` are gone from the store: their intent, candidate
    /// and object rows go too.
    pub fn gc_done(&mut self, done: &[String]) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            for sql in [
                "DELETE FROM gc_deleting WHERE sha256 = ?1",
                "DELETE FROM gc_candidates WHERE sha256 = ?1",
                "DELETE FROM objects WHERE sha256 = ?1",
                "DELETE FROM compressed_objects WHERE sha256 = ?1",
            ] {
                let mut st = tx.prepare_cached(sql)?;
                for h in done {
                    st.execute([h])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Remembers what this gc found.
    pub fn gc_note_totals(&self, t: &GcTotals) -> Result<(), IndexError> {
        self.conn.execute(
            "INSERT INTO gc_last (id, at, objects, stored_bytes, referenced_objects, referenced_bytes,
                 unreferenced_objects, unreferenced_bytes, deleted_objects, deleted_bytes)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, objects = excluded.objects,
                 stored_bytes = excluded.stored_bytes, referenced_objects = excluded.referenced_objects,
                 referenced_bytes = excluded.referenced_bytes,
                 unreferenced_objects = excluded.unreferenced_objects,
                 unreferenced_bytes = excluded.unreferenced_bytes,
                 deleted_objects = excluded.deleted_objects, deleted_bytes = excluded.deleted_bytes",
            params![
                t.at,
                t.objects as i64,
                t.stored_bytes as i64,
                t.referenced_objects as i64,
                t.referenced_bytes as i64,
                t.unreferenced_objects as i64,
                t.unreferenced_bytes as i64,
                t.deleted_objects as i64,
                t.deleted_bytes as i64
            ],
        )?;
        Ok(())
    }

    /// What the last gc found; `None`: no gc ran on this index yet.
    pub fn gc_last(&self) -> Result<Option<GcTotals>, IndexError> {
        Ok(self
            .conn
            .query_row(
                "SELECT at, objects, stored_bytes, referenced_objects, referenced_bytes,
                        unreferenced_objects, unreferenced_bytes, deleted_objects, deleted_bytes
                   FROM gc_last WHERE id = 1",
                [],
                |r| {
                    Ok(GcTotals {
                        at: r.get(0)?,
                        objects: count(r.get(1)?),
                        stored_bytes: count(r.get(2)?),
                        referenced_objects: count(r.get(3)?),
                        referenced_bytes: count(r.get(4)?),
                        unreferenced_objects: count(r.get(5)?),
                        unreferenced_bytes: count(r.get(6)?),
                        deleted_objects: count(r.get(7)?),
                        deleted_bytes: count(r.get(8)?),
                    })
                },
            )
            .optional()?)
    }

    /// What the store holds as the index knows it, and the last gc.
    pub fn store_totals(&self) -> Result<StoreTotals, IndexError> {
        let (objects, stored): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(COALESCE(c.stored_size, o.size)), 0)
               FROM objects o LEFT JOIN compressed_objects c ON c.sha256 = o.sha256",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (referenced, referenced_bytes): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(COALESCE(c.stored_size, o.size)), 0)
               FROM objects o LEFT JOIN compressed_objects c ON c.sha256 = o.sha256
              WHERE o.sha256 IN (SELECT p.sha256 FROM parts p JOIN messages m ON m.id = p.message
                                  WHERE m.reattached_at IS NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (waiting, waiting_bytes): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(stored_size), 0) FROM gc_candidates",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let holds: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM holds", [], |r| r.get(0))?;
        Ok(StoreTotals {
            objects: count(objects),
            stored_bytes: count(stored),
            referenced_objects: count(referenced),
            referenced_bytes: count(referenced_bytes),
            waiting_objects: count(waiting),
            waiting_bytes: count(waiting_bytes),
            holds: count(holds),
            last_gc: self.gc_last()?,
        })
    }
}

fn hold_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        account: r.get(0)?,
        by: r.get(1)?,
        at: r.get(2)?,
        note: r.get(3)?,
    })
}

fn hold_of(conn: &rusqlite::Connection, account: &str) -> Result<Option<Hold>, IndexError> {
    Ok(conn
        .query_row(
            "SELECT account, held_by, held_at, note FROM holds WHERE account = ?1",
            [account],
            hold_row,
        )
        .optional()?)
}

fn event(
    tx: &Transaction<'_>,
    account: &str,
    action: &str,
    by: &str,
    at: i64,
    note: &str,
) -> Result<(), IndexError> {
    tx.execute(
        "INSERT INTO hold_events (account, action, by_user, at, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![account, action, by, at, note],
    )?;
    Ok(())
}

fn journal_objects(conn: &rusqlite::Connection) -> Result<Vec<(String, String)>, IndexError> {
    let mut st = conn.prepare("SELECT account, record FROM journal")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (account, record) = row?;
        let record: MessageRecord = serde_json::from_str(&record)?;
        for p in record.parts {
            out.push((account.clone(), p.sha256));
            if let Some(raw) = p.raw_sha256 {
                out.push((account.clone(), raw));
            }
        }
    }
    Ok(out)
}

/// Drops message rows (their parts go by the foreign key). A row not yet
/// reattached is marked so first, which makes the trigger of migration 3
/// take it out of the per-folder totals. `refs`: lower the objects'
/// reference counts too (not when the row only moves).
fn drop_messages(tx: &Transaction<'_>, ids: &[i64], refs: bool) -> Result<(), IndexError> {
    let mut mark = tx.prepare_cached(
        "UPDATE messages SET reattached_at = 0 WHERE id = ?1 AND reattached_at IS NULL",
    )?;
    let mut unref = tx.prepare_cached(
        "UPDATE objects SET refs = refs - 1 WHERE sha256 IN
            (SELECT sha256 FROM parts WHERE message = ?1)",
    )?;
    let mut del = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    for id in ids {
        mark.execute([id])?;
        if refs {
            unref.execute([id])?;
        }
        del.execute([id])?;
    }
    Ok(())
}

/// Of `wanted`, the objects a live message row (not reattached) or a
/// journal entry names.
fn still_named(tx: &Transaction<'_>, wanted: &[Deletion]) -> Result<HashSet<String>, IndexError> {
    let wanted: HashSet<&str> = wanted.iter().map(|d| d.sha256.as_str()).collect();
    let mut used = HashSet::new();
    if wanted.is_empty() {
        return Ok(used);
    }
    let mut st = tx.prepare(
        "SELECT p.sha256, p.raw_sha256 FROM parts p JOIN messages m ON m.id = p.message
          WHERE m.reattached_at IS NULL OR m.account IN (SELECT account FROM holds)",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let h: String = r.get(0)?;
        if wanted.contains(h.as_str()) {
            used.insert(h);
        }
        if let Some(raw) = r.get::<_, Option<String>>(1)? {
            if wanted.contains(raw.as_str()) {
                used.insert(raw);
            }
        }
    }
    for (_, h) in journal_objects(tx)? {
        if wanted.contains(h.as_str()) {
            used.insert(h);
        }
    }
    Ok(used)
}

/// Writes the intent for the objects of `wanted` nothing names any more;
/// returns them. Those named again leave the candidates.
fn write_intent(
    tx: &Transaction<'_>,
    wanted: &[Deletion],
    reason: &str,
    at: i64,
) -> Result<Vec<Deletion>, IndexError> {
    let used = still_named(tx, wanted)?;
    let mut chosen = Vec::new();
    let mut ins = tx.prepare_cached(
        "INSERT INTO gc_deleting (sha256, size, stored_size, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sha256) DO NOTHING",
    )?;
    let mut forget = tx.prepare_cached("DELETE FROM gc_candidates WHERE sha256 = ?1")?;
    for d in wanted {
        if used.contains(&d.sha256) {
            forget.execute([&d.sha256])?;
            continue;
        }
        ins.execute(params![
            d.sha256,
            d.size as i64,
            d.stored_size as i64,
            reason,
            at
        ])?;
        chosen.push(d.clone());
    }
    Ok(chosen)
}

mod erase;

pub use erase::ErasedRows;

#[cfg(test)]
mod tests;
