//! The decisions of `store gc`, pure: which stored objects are referenced,
//! which are candidates, which may be deleted now, and which index rows
//! follow their message to a new place or are gone. No I/O: the caller
//! gathers the listing, the index rows, the journal, the holds and the
//! servers' converted messages, and acts on the [`Plan`].

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::store::{Sha256, StoredObject};

/// What decides an object's fate, besides the object itself.
#[derive(Debug, Default)]
pub struct Seen {
    /// Named by a converted message on a server, a journal entry (a run in
    /// flight), a held mailbox's rows, or the rows of a mailbox whose
    /// server was not read (its index is trusted, in the keeping direction).
    pub referenced: HashSet<Sha256>,
    /// Named by any index row at all: an object no row names is a write
    /// of a run not yet journaled unless it is older than the grace.
    pub known: HashSet<Sha256>,
    /// `--account`: only objects this mailbox's rows named are looked at.
    pub scope: Option<HashSet<Sha256>>,
    /// Some server could not be read whole: objects no row names (perhaps
    /// named by what could not be read) are not taken this time.
    pub spare_unknown: bool,
}

/// The clock and the grace, in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The gc's time (a test may set it ahead).
    pub now: i64,
    pub grace: i64,
    /// The real time, which the store's write times are compared with:
    /// a clock set ahead never makes a fresh write look old.
    pub wall: i64,
}

/// One stored object's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Referenced,
    /// Outside `--account`'s objects.
    OutOfScope,
    /// No row names it and it was written within the grace (or a server
    /// could not be read): a run's write in flight, perhaps.
    Recent,
    /// Unreferenced since `since`; deletable from `due`.
    Waiting {
        since: i64,
        due: i64,
    },
    /// Unreferenced since `since`, for the grace or longer: deleted now.
    Due {
        since: i64,
    },
}

/// The fate of `obj`; `recorded`: since when a gc found it unreferenced.
pub fn verdict(obj: &Stored, seen: &Seen, recorded: Option<i64>, rules: Rules) -> Verdict {
    if seen.referenced.contains(&obj.hash) {
        return Verdict::Referenced;
    }
    if seen.scope.as_ref().is_some_and(|s| !s.contains(&obj.hash)) {
        return Verdict::OutOfScope;
    }
    if !seen.known.contains(&obj.hash)
        && (seen.spare_unknown || obj.modified > rules.wall.saturating_sub(rules.grace))
    {
        return Verdict::Recent;
    }
    let since = recorded.unwrap_or(rules.now);
    let due = since.saturating_add(rules.grace);
    if due <= rules.now {
        Verdict::Due { since }
    } else {
        Verdict::Waiting { since, due }
    }
}

/// An object with both its stored forms counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub hash: Sha256,
    pub stored_size: u64,
    /// The newest of its forms' times.
    pub modified: i64,
}

/// The listing, one entry per object (a plain and a `.zst` form of the
/// same hash are one object).
pub fn merge_forms(listing: Vec<StoredObject>) -> Vec<Stored> {
    let mut out: Vec<Stored> = Vec::with_capacity(listing.len());
    for o in listing {
        match out.last_mut() {
            Some(last) if last.hash == o.hash => {
                last.stored_size += o.stored_size;
                last.modified = last.modified.max(o.modified);
            }
            _ => out.push(Stored {
                hash: o.hash,
                stored_size: o.stored_size,
                modified: o.modified,
            }),
        }
    }
    out
}

/// Where a converted message is, and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Copy {
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: Option<u32>,
    pub message_id: Option<String>,
    /// Its objects, sorted.
    pub objects: Vec<Sha256>,
}

/// What becomes of a read mailbox's index rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rows {
    /// The owner moved it, or its UID changed: (row, where it is now).
    pub relocate: Vec<(i64, Copy)>,
    /// No converted message on the server names what it names: the
    /// message is gone (its row goes with its objects).
    pub gone: BTreeMap<i64, Vec<Sha256>>,
}

/// Matches a read mailbox's rows (`rows`: row id to where the index has
/// it) with what its server holds (`found`). A row at its place stays; a
/// row whose message (same Message-ID and objects) is elsewhere, not at
/// another row's place, is relocated there; any other row is gone.
pub fn match_rows(rows: &BTreeMap<i64, Copy>, found: &[Copy]) -> Rows {
    let place = |c: &Copy| (c.folder.clone(), c.uidvalidity, c.uid);
    let at_place: HashSet<_> = found.iter().map(place).collect();
    let mut claimed: HashSet<_> = rows
        .values()
        .filter(|r| at_place.contains(&place(r)))
        .map(place)
        .collect();
    let mut by_content: HashMap<(Option<&str>, &[Sha256]), Vec<&Copy>> = HashMap::new();
    for c in found {
        by_content
            .entry((c.message_id.as_deref(), &c.objects))
            .or_default()
            .push(c);
    }
    let mut out = Rows::default();
    for (id, row) in rows {
        if at_place.contains(&place(row)) {
            continue;
        }
        let same = by_content
            .get(&(row.message_id.as_deref(), row.objects.as_slice()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(c) = same.iter().find(|c| !claimed.contains(&place(c))) {
            claimed.insert(place(c));
            out.relocate.push((*id, (*c).clone()));
        } else if same.is_empty() {
            out.gone.insert(*id, row.objects.clone());
        }
        // Otherwise a copy with the same content is at another row's
        // place (the owner copied it): this row is a duplicate, kept.
    }
    out
}

#[cfg(test)]
mod tests;
