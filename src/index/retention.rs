//! Reclaiming the store (issue 23), as the index keeps it: legal holds and
//! their history, the objects `store gc` found unreferenced and since when,
//! deletions decided but not finished (the intent a crash leaves for the
//! next gc or erase), what the last gc found, and erasures of accounts.
//!
//! Every SQL statement of retention lives here (the erasure's in
//! `erase`), written once with `$n` placeholders for SQLite and
//! PostgreSQL alike. The decisions (what is referenced, what may go now)
//! are `crate::service::gc`'s; this file only reads and writes rows.

use std::collections::HashSet;

use super::db::{Conn, TxKind};
use super::value::Value;
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

/// Parts read at once from PostgreSQL by [`scan_parts`].
const PART_BATCH: i64 = 10_000;

/// The columns [`indexed_part`] reads.
const PARTS_COLUMNS: &str = "m.id, m.account, m.folder, m.uidvalidity,
        COALESCE(m.new_uid, m.old_uid), m.message_id, p.sha256, p.raw_sha256,
        CASE WHEN m.reattached_at IS NULL THEN 0 ELSE 1 END";

/// Gives `f` the columns `columns` (`columns_n` of them) of every part
/// (`p`, joined with its message `m`) matching `filter` (its placeholders
/// `params`), never all in
/// memory: on SQLite one query read a row at a time; on PostgreSQL in
/// batches of [`PART_BATCH`] by part id (keyset pagination: each batch a
/// short query on the primary key, so a million parts neither sit in
/// memory nor hold one statement open). A part added meanwhile may be
/// seen or not, as with one query outside a transaction: gc's checks
/// before deleting cover both.
fn scan_parts(
    c: Conn<'_>,
    columns: &str,
    filter: &str,
    params: &[Value],
    columns_n: usize,
    mut f: impl FnMut(&mut super::value::Row) -> Result<(), IndexError>,
) -> Result<(), IndexError> {
    let from = "FROM parts p JOIN messages m ON m.id = p.message";
    if c.dialect() == super::db::Dialect::Sqlite {
        let sql = format!("SELECT {columns} {from} WHERE {filter} ORDER BY p.id");
        return c.for_each(&sql, params, f);
    }
    let (a, b) = (params.len() + 1, params.len() + 2);
    let sql = format!(
        "SELECT {columns}, p.id {from} WHERE ({filter}) AND p.id > ${a} ORDER BY p.id LIMIT ${b}"
    );
    let mut after = 0i64;
    loop {
        let mut n = 0;
        let mut with = params.to_vec();
        with.extend([Value::Int(after), Value::Int(PART_BATCH)]);
        c.query_map(&sql, &with, |r| {
            n += 1;
            after = r.int(columns_n)?;
            f(r)
        })?;
        if n < PART_BATCH {
            return Ok(());
        }
    }
}

fn indexed_part(r: &mut super::value::Row) -> Result<IndexedPart, IndexError> {
    Ok(IndexedPart {
        message: r.int(0)?,
        account: r.text(1)?,
        folder: r.text(2)?,
        uidvalidity: r.u32(3)?,
        uid: r.opt_u32(4)?.filter(|u| *u != 0),
        message_id: r.opt_text(5)?,
        sha256: r.text(6)?,
        raw_sha256: r.opt_text(7)?,
        reattached: r.bool(8)?,
    })
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

fn deletion(r: &mut super::value::Row) -> Result<Deletion, IndexError> {
    Ok(Deletion {
        sha256: r.text(0)?,
        size: r.u64(1)?,
        stored_size: r.u64(2)?,
    })
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
        self.db.transaction(TxKind::Immediate, |c| {
            if let Some(h) = hold_of(c, account)? {
                return Ok(Some(h));
            }
            c.execute(
                "INSERT INTO holds (account, held_by, held_at, note) VALUES ($1, $2, $3, $4)",
                params![account, by, at, note],
            )?;
            event(c, account, "hold", by, at, note)?;
            Ok(None)
        })
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
        self.db.transaction(TxKind::Immediate, |c| {
            let Some(h) = hold_of(c, account)? else {
                return Ok(None);
            };
            c.execute("DELETE FROM holds WHERE account = $1", params![account])?;
            event(c, account, "release", by, at, note)?;
            Ok(Some(h))
        })
    }

    /// The holds in force, by account.
    pub fn holds(&self) -> Result<Vec<Hold>, IndexError> {
        self.db.conn().query_map(
            "SELECT account, held_by, held_at, note FROM holds ORDER BY account",
            &[],
            hold_row,
        )
    }

    /// The hold on `account`, if any.
    pub fn hold_on(&self, account: &str) -> Result<Option<Hold>, IndexError> {
        hold_of(self.db.conn(), account)
    }

    /// Every hold and release of `account` (all accounts: `None`), oldest
    /// first.
    pub fn hold_events(&self, account: Option<&str>) -> Result<Vec<HoldEvent>, IndexError> {
        let who = account.map_or(Value::Null, Value::from);
        self.db.conn().query_map(
            "SELECT account, action, by_user, at, note FROM hold_events
              WHERE CAST($1 AS TEXT) IS NULL OR account = $1 ORDER BY at, account",
            &[who],
            |r| {
                Ok(HoldEvent {
                    account: r.text(0)?,
                    action: r.text(1)?,
                    by: r.text(2)?,
                    at: r.int(3)?,
                    note: r.text(4)?,
                })
            },
        )
    }

    /// Calls `f` with every detached part the index holds, reattached ones
    /// included, never all of them in memory (see [`scan_parts`]).
    pub fn for_each_part(&self, f: &mut dyn FnMut(IndexedPart)) -> Result<(), IndexError> {
        scan_parts(self.db.conn(), PARTS_COLUMNS, "TRUE", &[], 9, |r| {
            f(indexed_part(r)?);
            Ok(())
        })
    }

    /// The objects of the messages in flight: (account, SHA-256 hex), each
    /// part's file and raw body.
    pub fn journal_objects(&self) -> Result<Vec<(String, String)>, IndexError> {
        journal_objects(self.db.conn())
    }

    /// Original sizes of the objects the index knows: SHA-256 hex to bytes.
    pub fn object_sizes(&self) -> Result<std::collections::HashMap<String, u64>, IndexError> {
        Ok(self
            .db
            .conn()
            .query_map("SELECT sha256, size FROM objects", &[], |r| {
                Ok((r.text(0)?, r.u64(1)?))
            })?
            .into_iter()
            .collect())
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
        self.db.transaction(TxKind::Immediate, |c| {
            let Some(mut row) = c.query_opt(
                "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id,
                   date, from_addr, to_addr, subject, internal_date, flags, size_before,
                   size_after, processed_at)
                 SELECT account, $1, $2, old_uid, $3, message_id, date, from_addr, to_addr,
                        subject, internal_date, flags, size_before, size_after, processed_at
                   FROM messages WHERE id = $4 AND reattached_at IS NULL
                 RETURNING id",
                params![folder, uidvalidity, uid, message],
            )?
            else {
                return Ok(message);
            };
            let new = row.int(0)?;
            c.execute(
                "INSERT INTO parts (message, sha256, size, filename, content_type, part_path, raw_sha256)
                 SELECT $1, sha256, size, filename, content_type, part_path, raw_sha256
                   FROM parts WHERE message = $2 ORDER BY id",
                params![new, message],
            )?;
            drop_messages(c, &[message], false)?;
            Ok(new)
        })
    }

    /// The objects `store gc` found unreferenced: (SHA-256 hex, since,
    /// stored bytes).
    pub fn gc_candidates(&self) -> Result<Vec<(String, i64, u64)>, IndexError> {
        self.db.conn().query_map(
            "SELECT sha256, first_unreferenced_at, stored_size FROM gc_candidates",
            &[],
            |r| Ok((r.text(0)?, r.int(1)?, r.u64(2)?)),
        )
    }

    /// Records newly unreferenced objects `(sha256, since, stored bytes)`
    /// and forgets those referenced again, in one transaction.
    pub fn gc_note_candidates(
        &mut self,
        add: &[(String, i64, u64)],
        referenced_again: &[String],
    ) -> Result<(), IndexError> {
        self.db.transaction(TxKind::Deferred, |c| {
            for (h, at, size) in add {
                c.execute(
                    "INSERT INTO gc_candidates (sha256, first_unreferenced_at, stored_size)
                     VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
                    params![h, *at, *size],
                )?;
            }
            for h in referenced_again {
                c.execute("DELETE FROM gc_candidates WHERE sha256 = $1", params![h])?;
            }
            Ok(())
        })
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
        self.db.transaction(TxKind::Immediate, |c| {
            drop_messages(c, gone, true)?;
            write_intent(c, wanted, reason, at)
        })
    }

    /// Deletions decided before and not finished (a crash, a store that
    /// failed): what the next gc or erase finishes first.
    pub fn gc_pending(&self) -> Result<Vec<Deletion>, IndexError> {
        self.db.conn().query_map(
            "SELECT sha256, size, stored_size FROM gc_deleting ORDER BY sha256",
            &[],
            deletion,
        )
    }

    /// The pending deletions nothing names again; the intent of those a run
    /// stored again since is dropped (they stay).
    pub fn gc_recheck_pending(&mut self) -> Result<Vec<Deletion>, IndexError> {
        self.db.transaction(TxKind::Immediate, |c| {
            let pending = c.query_map(
                "SELECT sha256, size, stored_size FROM gc_deleting ORDER BY sha256",
                &[],
                deletion,
            )?;
            let used = still_named(c, &pending)?;
            for h in &used {
                c.execute("DELETE FROM gc_deleting WHERE sha256 = $1", params![h])?;
            }
            Ok(pending
                .into_iter()
                .filter(|d| !used.contains(&d.sha256))
                .collect())
        })
    }

    /// The objects `done` are gone from the store: their intent, candidate
    /// and object rows go too.
    pub fn gc_done(&mut self, done: &[String]) -> Result<(), IndexError> {
        self.db.transaction(TxKind::Deferred, |c| {
            for sql in [
                "DELETE FROM gc_deleting WHERE sha256 = $1",
                "DELETE FROM gc_candidates WHERE sha256 = $1",
                "DELETE FROM objects WHERE sha256 = $1",
                "DELETE FROM compressed_objects WHERE sha256 = $1",
            ] {
                for h in done {
                    c.execute(sql, params![h])?;
                }
            }
            Ok(())
        })
    }

    /// Remembers what this gc found.
    pub fn gc_note_totals(&self, t: &GcTotals) -> Result<(), IndexError> {
        self.db.conn().execute(
            "INSERT INTO gc_last (id, at, objects, stored_bytes, referenced_objects, referenced_bytes,
                 unreferenced_objects, unreferenced_bytes, deleted_objects, deleted_bytes)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, objects = excluded.objects,
                 stored_bytes = excluded.stored_bytes, referenced_objects = excluded.referenced_objects,
                 referenced_bytes = excluded.referenced_bytes,
                 unreferenced_objects = excluded.unreferenced_objects,
                 unreferenced_bytes = excluded.unreferenced_bytes,
                 deleted_objects = excluded.deleted_objects, deleted_bytes = excluded.deleted_bytes",
            params![
                t.at,
                t.objects,
                t.stored_bytes,
                t.referenced_objects,
                t.referenced_bytes,
                t.unreferenced_objects,
                t.unreferenced_bytes,
                t.deleted_objects,
                t.deleted_bytes
            ],
        )?;
        Ok(())
    }

    /// What the last gc found; `None`: no gc ran on this index yet.
    pub fn gc_last(&self) -> Result<Option<GcTotals>, IndexError> {
        let Some(mut r) = self.db.conn().query_opt(
            "SELECT at, objects, stored_bytes, referenced_objects, referenced_bytes,
                    unreferenced_objects, unreferenced_bytes, deleted_objects, deleted_bytes
               FROM gc_last WHERE id = 1",
            &[],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(GcTotals {
            at: r.int(0)?,
            objects: r.u64(1)?,
            stored_bytes: r.u64(2)?,
            referenced_objects: r.u64(3)?,
            referenced_bytes: r.u64(4)?,
            unreferenced_objects: r.u64(5)?,
            unreferenced_bytes: r.u64(6)?,
            deleted_objects: r.u64(7)?,
            deleted_bytes: r.u64(8)?,
        }))
    }

    /// What the store holds as the index knows it, and the last gc.
    pub fn store_totals(&self) -> Result<StoreTotals, IndexError> {
        let c = self.db.conn();
        let two = |sql: &str| -> Result<(u64, u64), IndexError> {
            let mut r = c.query_one(sql, &[])?;
            Ok((r.u64(0)?, r.u64(1)?))
        };
        let (objects, stored) = two(
            "SELECT COUNT(*), CAST(COALESCE(SUM(COALESCE(c.stored_size, o.size)), 0) AS BIGINT)
               FROM objects o LEFT JOIN compressed_objects c ON c.sha256 = o.sha256",
        )?;
        let (referenced, referenced_bytes) = two(
            "SELECT COUNT(*), CAST(COALESCE(SUM(COALESCE(c.stored_size, o.size)), 0) AS BIGINT)
               FROM objects o LEFT JOIN compressed_objects c ON c.sha256 = o.sha256
              WHERE o.sha256 IN (SELECT p.sha256 FROM parts p JOIN messages m ON m.id = p.message
                                  WHERE m.reattached_at IS NULL)",
        )?;
        let (waiting, waiting_bytes) = two(
            "SELECT COUNT(*), CAST(COALESCE(SUM(stored_size), 0) AS BIGINT) FROM gc_candidates",
        )?;
        let holds = c.query_one("SELECT COUNT(*) FROM holds", &[])?.u64(0)?;
        Ok(StoreTotals {
            objects,
            stored_bytes: stored,
            referenced_objects: referenced,
            referenced_bytes,
            waiting_objects: waiting,
            waiting_bytes,
            holds,
            last_gc: self.gc_last()?,
        })
    }
}

fn hold_row(r: &mut super::value::Row) -> Result<Hold, IndexError> {
    Ok(Hold {
        account: r.text(0)?,
        by: r.text(1)?,
        at: r.int(2)?,
        note: r.text(3)?,
    })
}

fn hold_of(c: Conn<'_>, account: &str) -> Result<Option<Hold>, IndexError> {
    c.query_opt(
        "SELECT account, held_by, held_at, note FROM holds WHERE account = $1",
        params![account],
    )?
    .map(|mut r| hold_row(&mut r))
    .transpose()
}

fn event(
    c: Conn<'_>,
    account: &str,
    action: &str,
    by: &str,
    at: i64,
    note: &str,
) -> Result<(), IndexError> {
    c.execute(
        "INSERT INTO hold_events (account, action, by_user, at, note) VALUES ($1, $2, $3, $4, $5)",
        params![account, action, by, at, note],
    )?;
    Ok(())
}

fn journal_objects(c: Conn<'_>) -> Result<Vec<(String, String)>, IndexError> {
    let rows = c.query_map("SELECT account, record FROM journal", &[], |r| {
        Ok((r.text(0)?, r.text(1)?))
    })?;
    let mut out = Vec::new();
    for (account, record) in rows {
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
fn drop_messages(c: Conn<'_>, ids: &[i64], refs: bool) -> Result<(), IndexError> {
    for id in ids {
        c.execute(
            "UPDATE messages SET reattached_at = 0 WHERE id = $1 AND reattached_at IS NULL",
            params![*id],
        )?;
        if refs {
            c.execute(
                "UPDATE objects SET refs = refs - 1 WHERE sha256 IN
                    (SELECT sha256 FROM parts WHERE message = $1)",
                params![*id],
            )?;
        }
        c.execute("DELETE FROM messages WHERE id = $1", params![*id])?;
    }
    Ok(())
}

/// Of `wanted`, the objects a live message row (not reattached, or of a
/// held mailbox) or a journal entry names.
fn still_named(c: Conn<'_>, wanted: &[Deletion]) -> Result<HashSet<String>, IndexError> {
    let wanted: HashSet<&str> = wanted.iter().map(|d| d.sha256.as_str()).collect();
    let mut used = HashSet::new();
    if wanted.is_empty() {
        return Ok(used);
    }
    scan_parts(
        c,
        "p.sha256, p.raw_sha256",
        "m.reattached_at IS NULL OR m.account IN (SELECT account FROM holds)",
        &[],
        2,
        |r| {
            let h = r.text(0)?;
            if wanted.contains(h.as_str()) {
                used.insert(h);
            }
            if let Some(raw) = r.opt_text(1)? {
                if wanted.contains(raw.as_str()) {
                    used.insert(raw);
                }
            }
            Ok(())
        },
    )?;
    for (_, h) in journal_objects(c)? {
        if wanted.contains(h.as_str()) {
            used.insert(h);
        }
    }
    Ok(used)
}

/// Writes the intent for the objects of `wanted` nothing names any more;
/// returns them. Those named again leave the candidates.
fn write_intent(
    c: Conn<'_>,
    wanted: &[Deletion],
    reason: &str,
    at: i64,
) -> Result<Vec<Deletion>, IndexError> {
    let used = still_named(c, wanted)?;
    let mut chosen = Vec::new();
    for d in wanted {
        if used.contains(&d.sha256) {
            c.execute(
                "DELETE FROM gc_candidates WHERE sha256 = $1",
                params![&d.sha256],
            )?;
            continue;
        }
        c.execute(
            "INSERT INTO gc_deleting (sha256, size, stored_size, reason, at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sha256) DO NOTHING",
            params![&d.sha256, d.size, d.stored_size, reason, at],
        )?;
        chosen.push(d.clone());
    }
    Ok(chosen)
}

mod erase;

pub use erase::ErasedRows;

#[cfg(test)]
mod tests;
