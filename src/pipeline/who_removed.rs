//! Who removed an original while slimbox was down (issue 25). Before
//! slimbox removes a batch of originals it journals the batch
//! (`Index::journal_removing`); it removes a batch in one command, so when
//! recovery finds an original gone beside its verified copy:
//! - its entry is in no batch: slimbox never set out to remove it, so the
//!   mailbox's owner did (except where the server itself drops an original
//!   when its copy is appended, `owner::server_may_drop`);
//! - its batch has an original still there: the batch's removal never ran,
//!   so this one too went by its owner's hand;
//! - every original of its batch is gone: slimbox's removal ran (a batch
//!   of one cannot tell the two apart; it counts as slimbox's, as before).
//!
//! What the owner deleted stays deleted: recovery takes the copy away
//! instead of keeping it. The decision is the pure [`who_removed`];
//! [`batches_not_run`] looks at the server for it.

use std::collections::{HashMap, HashSet};

use super::report::PipelineError;
use crate::imap::{Folder, ImapError, Session};
use crate::index::JournalEntry;

/// Who took an original away that recovery finds gone beside its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remover {
    /// slimbox's removal (or the server's own drop): the copy stays.
    Slimbox,
    /// The mailbox's owner, while slimbox was down: the copy goes too.
    Owner,
}

/// Decides for one entry: `batch` its removal batch (`None`: never about
/// to be removed; `Some(0)`: journalled by an older slimbox, which could
/// not say), `not_run` whether an original of that batch was still there
/// when recovery began, `server_may_drop` whether the server may have
/// dropped the original itself when the copy went in.
pub(super) fn who_removed(batch: Option<i64>, not_run: bool, server_may_drop: bool) -> Remover {
    if server_may_drop {
        return Remover::Slimbox;
    }
    match batch {
        None => Remover::Owner,
        Some(0) => Remover::Slimbox,
        Some(_) if not_run => Remover::Owner,
        Some(_) => Remover::Slimbox,
    }
}

/// The removal batches among `pending` (their numbers in `batches`, by
/// entry id) with an original still on the server: their removal never
/// ran. Looked at before recovery changes anything, since recovery itself
/// removes originals. A server that cannot say (a BAD to a UID in a gap)
/// leaves the batch counted as run, as before this was kept.
pub(super) async fn batches_not_run(
    session: &mut Session,
    all: &[Folder],
    pending: &[JournalEntry],
    batches: &HashMap<i64, i64>,
) -> Result<HashSet<i64>, PipelineError> {
    // (folder, uidvalidity) -> batch -> the batch's original UIDs there.
    let mut by_folder: HashMap<(&str, u32), HashMap<i64, Vec<u32>>> = HashMap::new();
    for e in pending {
        let Some(&b) = batches.get(&e.id).filter(|&&b| b > 0) else {
            continue;
        };
        let r = &e.record;
        by_folder
            .entry((r.folder.as_str(), r.uidvalidity))
            .or_default()
            .entry(b)
            .or_default()
            .push(r.old_uid);
    }
    let mut not_run = HashSet::new();
    for ((name, uidvalidity), groups) in by_folder {
        let Some(folder) = all.iter().find(|f| f.name == name) else {
            continue;
        };
        if session.select(folder).await?.uidvalidity != uidvalidity {
            continue;
        }
        for (batch, uids) in groups {
            match session.fetch_flags(&uids).await {
                Ok(there) if there.iter().any(|s| uids.contains(&s.uid)) => {
                    not_run.insert(batch);
                }
                Ok(_) | Err(ImapError::Bad { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(not_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue25_an_original_gone_outside_a_run_removal_was_its_owners() {
        // Never about to be removed, or its batch's removal never ran.
        assert_eq!(who_removed(None, false, false), Remover::Owner);
        assert_eq!(who_removed(Some(3), true, false), Remover::Owner);
        // Its whole batch is gone: slimbox's removal ran.
        assert_eq!(who_removed(Some(3), false, false), Remover::Slimbox);
        // An older slimbox's entry cannot say: kept, as that slimbox did.
        assert_eq!(who_removed(Some(0), true, false), Remover::Slimbox);
        // Gmail may drop an original when its copy goes in: the copy stays.
        for batch in [None, Some(0), Some(3)] {
            assert_eq!(who_removed(batch, true, true), Remover::Slimbox);
        }
    }
}
