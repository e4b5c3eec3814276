//! Erasing an account from the index (`slimbox erase`): the objects its
//! rows name, which of those other accounts still use, and taking every
//! row of it out in one transaction with the intent to delete the rest.

use std::collections::HashSet;

use rusqlite::{params, TransactionBehavior};
use serde::Serialize;

use super::super::{Index, IndexError};
use super::{count, drop_messages, hold_of, journal_objects, Deletion, Hold};

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
        let mut out = HashSet::new();
        let mut st = self.conn.prepare(
            "SELECT p.sha256, p.raw_sha256 FROM parts p JOIN messages m ON m.id = p.message
              WHERE m.account = ?1",
        )?;
        let mut rows = st.query([account])?;
        while let Some(r) = rows.next()? {
            out.insert(r.get::<_, String>(0)?);
            if let Some(raw) = r.get::<_, Option<String>>(1)? {
                out.insert(raw);
            }
        }
        for (a, h) in journal_objects(&self.conn)? {
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
        let mut out = HashSet::new();
        let mut st = self.conn.prepare(
            "SELECT p.sha256, p.raw_sha256 FROM parts p JOIN messages m ON m.id = p.message
              WHERE m.account <> ?1 AND (m.reattached_at IS NULL
                 OR m.account IN (SELECT account FROM holds))",
        )?;
        let mut rows = st.query([account])?;
        while let Some(r) = rows.next()? {
            let h: String = r.get(0)?;
            if objects.contains(&h) {
                out.insert(h);
            }
            if let Some(raw) = r.get::<_, Option<String>>(1)? {
                if objects.contains(&raw) {
                    out.insert(raw);
                }
            }
        }
        for (a, h) in journal_objects(&self.conn)? {
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(h) = hold_of(&tx, account)? {
            return Ok(Err(h));
        }
        let ids: Vec<i64> = {
            let mut st = tx.prepare("SELECT id FROM messages WHERE account = ?1")?;
            let rows = st.query_map([account], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let parts: i64 = tx.query_row(
            "SELECT COUNT(*) FROM parts p JOIN messages m ON m.id = p.message WHERE m.account = ?1",
            [account],
            |r| r.get(0),
        )?;
        let mut intent = tx.prepare_cached(
            "INSERT INTO gc_deleting (sha256, size, stored_size, reason, at)
             VALUES (?1, ?2, ?3, 'erase', ?4) ON CONFLICT (sha256) DO NOTHING",
        )?;
        for d in objects {
            intent.execute(params![d.sha256, d.size as i64, d.stored_size as i64, at])?;
        }
        drop(intent);
        drop_messages(&tx, &ids, true)?;
        let journal = tx.execute("DELETE FROM journal WHERE account = ?1", [account])?;
        for sql in [
            "DELETE FROM skipped WHERE account = ?1",
            "DELETE FROM last_success WHERE account = ?1",
            "DELETE FROM folder_totals WHERE account = ?1",
            "DELETE FROM folder_objects WHERE account = ?1",
        ] {
            tx.execute(sql, [account])?;
        }
        let bytes: u64 = objects.iter().map(|d| d.stored_size).sum();
        tx.execute(
            "INSERT INTO erasures (account, by_user, at, messages, objects, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                account,
                by,
                at,
                ids.len() as i64,
                objects.len() as i64,
                bytes as i64
            ],
        )?;
        tx.commit()?;
        Ok(Ok(ErasedRows {
            messages: ids.len() as u64,
            parts: count(parts),
            journal: journal as u64,
        }))
    }

    /// How many index rows still name `account` (messages, journal
    /// entries, skips): 0 after an erasure.
    pub fn account_rows(&self, account: &str) -> Result<u64, IndexError> {
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM messages WHERE account = ?1)
                  + (SELECT COUNT(*) FROM journal WHERE account = ?1)
                  + (SELECT COUNT(*) FROM skipped WHERE account = ?1)
                  + (SELECT COUNT(*) FROM folder_totals WHERE account = ?1 AND messages > 0)",
            [account],
            |r| r.get(0),
        )?;
        Ok(count(n))
    }
}
