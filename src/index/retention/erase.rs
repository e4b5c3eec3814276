//! Erasing an account from the index (`slimbox erase`): the objects its
//! rows name, which of those other accounts still use, and taking every
//! row of it out in one transaction with the intent to delete the rest.

use std::collections::HashSet;

use serde::Serialize;

use super::super::db::{Conn, TxKind};
use super::super::{Index, IndexError};
use super::{drop_messages, hold_of, journal_objects, Deletion, Hold};

/// What an erasure took out of the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasedRows {
    pub messages: u64,
    pub parts: u64,
    pub journal: u64,
}

impl Index {
    /// Every object the rows and journal entries of `account` name
    /// (reattached messages included).
    pub fn account_objects(&self, account: &str) -> Result<HashSet<String>, IndexError> {
        let c = self.db.conn();
        let mut out = HashSet::new();
        super::scan_parts(
            c,
            "p.sha256, p.raw_sha256",
            "m.account = $1",
            params![account],
            2,
            |r| {
                out.insert(r.text(0)?);
                out.extend(r.opt_text(1)?);
                Ok(())
            },
        )?;
        for (a, h) in journal_objects(c)? {
            if a == account {
                out.insert(h);
            }
        }
        Ok(out)
    }

    /// Of `objects`, those that another account's rows or journal entries
    /// still name (a held account's in any state).
    pub fn used_by_others(
        &self,
        account: &str,
        objects: &HashSet<String>,
    ) -> Result<HashSet<String>, IndexError> {
        let c = self.db.conn();
        let mut out = HashSet::new();
        super::scan_parts(
            c,
            "p.sha256, p.raw_sha256",
            "m.account <> $1 AND (m.reattached_at IS NULL
                 OR m.account IN (SELECT account FROM holds))",
            params![account],
            2,
            |r| {
                let h = r.text(0)?;
                if objects.contains(&h) {
                    out.insert(h);
                }
                if let Some(raw) = r.opt_text(1)? {
                    if objects.contains(&raw) {
                        out.insert(raw);
                    }
                }
                Ok(())
            },
        )?;
        for (a, h) in journal_objects(c)? {
            if a != account && objects.contains(&h) {
                out.insert(h);
            }
        }
        Ok(out)
    }

    /// Erases `account` from the index in one transaction: the intent to
    /// delete `objects` (only it used them), every message, part, journal
    /// entry, skip, total and last success of it, and the record of who
    /// erased it when. Refused (nothing written) when it is held: `Err`
    /// carries the hold.
    pub fn erase_account(
        &mut self,
        account: &str,
        objects: &[Deletion],
        by: &str,
        at: i64,
    ) -> Result<Result<ErasedRows, Hold>, IndexError> {
        self.db.transaction(TxKind::Immediate, |c| {
            if let Some(h) = hold_of(c, account)? {
                return Ok(Err(h));
            }
            let ids = c.query_map(
                "SELECT id FROM messages WHERE account = $1",
                params![account],
                |r| r.int(0),
            )?;
            let parts = c
                .query_one(
                    "SELECT COUNT(*) FROM parts p JOIN messages m ON m.id = p.message
                      WHERE m.account = $1",
                    params![account],
                )?
                .u64(0)?;
            for d in objects {
                c.execute(
                    "INSERT INTO gc_deleting (sha256, size, stored_size, reason, at)
                     VALUES ($1, $2, $3, 'erase', $4) ON CONFLICT (sha256) DO NOTHING",
                    params![&d.sha256, d.size, d.stored_size, at],
                )?;
            }
            drop_messages(c, &ids, true)?;
            let journal = c.execute("DELETE FROM journal WHERE account = $1", params![account])?;
            clear_account(c, account)?;
            let bytes: u64 = objects.iter().map(|d| d.stored_size).sum();
            c.execute(
                "INSERT INTO erasures (account, by_user, at, messages, objects, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                params![
                    account,
                    by,
                    at,
                    ids.len() as u64,
                    objects.len() as u64,
                    bytes
                ],
            )?;
            Ok(Ok(ErasedRows {
                messages: ids.len() as u64,
                parts,
                journal,
            }))
        })
    }

    /// How many index rows still name `account` (messages, journal
    /// entries, skips, totals): 0 after an erasure.
    pub fn account_rows(&self, account: &str) -> Result<u64, IndexError> {
        self.db
            .conn()
            .query_one(
                "SELECT (SELECT COUNT(*) FROM messages WHERE account = $1)
                      + (SELECT COUNT(*) FROM journal WHERE account = $1)
                      + (SELECT COUNT(*) FROM skipped WHERE account = $1)
                      + (SELECT COUNT(*) FROM folder_totals WHERE account = $1 AND messages > 0)",
                params![account],
            )?
            .u64(0)
    }
}

/// The rows of `account` that are not messages or journal entries.
fn clear_account(c: Conn<'_>, account: &str) -> Result<(), IndexError> {
    for sql in [
        "DELETE FROM skipped WHERE account = $1",
        "DELETE FROM last_success WHERE account = $1",
        "DELETE FROM folder_totals WHERE account = $1",
        "DELETE FROM folder_objects WHERE account = $1",
    ] {
        c.execute(sql, params![account])?;
    }
    Ok(())
}
