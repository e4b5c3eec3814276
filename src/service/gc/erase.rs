//! `slimbox erase --account A --yes`: at once (no grace), every index row
//! of A and every object, readable copy and compressed form only A used;
//! the objects other mailboxes also use stay, no longer linked to A. A
//! held mailbox is refused. Links are signed, not stored: there is no
//! token to remove, and a link to an erased file finds nothing.
//!
//! Crash safety as for gc: the intent for the objects and the removal of
//! the rows are one transaction; a stop before the objects are gone leaves
//! intents that the next `erase` or `store gc` finishes.

use serde::Serialize;

use super::{delete_objects, gc_now, hold::os_user, readable, retention, GcReport, RetentionError};
use crate::index::{Deletion, ErasedRows, Hold};
use crate::service::{Service, ServiceError};

/// One object erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasedObject {
    pub sha256: String,
    pub stored_bytes: u64,
}

/// What an erasure removed.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    pub account: String,
    pub by: String,
    pub at: i64,
    #[serde(flatten)]
    pub rows: ErasedRows,
    pub objects: Vec<ErasedObject>,
    pub bytes: u64,
    /// Objects A used that other mailboxes use too: kept.
    pub shared_kept: u64,
    pub readable_copies_removed: u64,
}

impl Service {
    /// Erases `account` (see the module's header); `confirmed`: `--yes`.
    pub async fn erase(&self, account: &str, confirmed: bool) -> Result<Erased, ServiceError> {
        if !confirmed {
            return Err(retention(RetentionError::NotConfirmed {
                account: account.to_string(),
            }));
        }
        let store = self.store()?;
        let mut index = self.store_index()?;
        self.known_account(&index, account)?;
        if let Some(h) = index.hold_on(account)? {
            return Err(held(h));
        }
        // No run meanwhile: not of this mailbox (it would write rows
        // again), nor of another (it could be reusing an object that goes).
        let (_claims, busy) = self.claim_free("slimbox erase")?;
        if !busy.is_empty() {
            return Err(retention(RetentionError::Busy { mailboxes: busy }));
        }
        let mine = index.account_objects(account)?;
        let shared = index.used_by_others(account, &mine)?;
        let sizes = index.object_sizes()?;
        let mut only: Vec<&String> = mine.iter().filter(|h| !shared.contains(*h)).collect();
        only.sort();
        let mut deletions = Vec::with_capacity(only.len());
        for h in only {
            let Some(hash) = crate::store::parse_hex(h) else {
                continue;
            };
            let form = store.stored_form(&hash).await?;
            let size = sizes
                .get(h)
                .copied()
                .or(form.as_ref().map(|f| f.size))
                .unwrap_or(0);
            let stored = form.map_or(0, |f| f.compressed_size.unwrap_or(f.size));
            deletions.push(Deletion {
                sha256: h.clone(),
                size,
                stored_size: stored,
            });
        }
        let by = os_user();
        let at = gc_now().map_err(retention)?;
        let rows = index
            .erase_account(account, &deletions, &by, at)?
            .map_err(held)?;
        let mut report = GcReport::default();
        delete_objects(store, &mut index, &deletions, &mut report).await?;
        let in_folder = readable::remove_account(store, account).map_err(retention)?;
        Ok(Erased {
            account: account.to_string(),
            by,
            at,
            rows,
            bytes: deletions.iter().map(|d| d.stored_size).sum(),
            objects: deletions
                .into_iter()
                .map(|d| ErasedObject {
                    sha256: d.sha256,
                    stored_bytes: d.stored_size,
                })
                .collect(),
            shared_kept: shared.len() as u64,
            readable_copies_removed: report.readable_copies_removed + in_folder,
        })
    }
}

fn held(h: Hold) -> ServiceError {
    let note = if h.note.is_empty() {
        String::new()
    } else {
        format!(": {}", h.note)
    };
    retention(RetentionError::Held {
        account: h.account,
        by: h.by,
        at: format!("{} UTC", crate::dates::utc_datetime(h.at)),
        note,
    })
}
