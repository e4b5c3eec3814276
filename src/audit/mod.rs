//! The audit behind `slimbox verify`: checks that the index, the store and
//! the servers agree.
//!
//! a. Every object the index references is in the store (with `read_data`,
//!    read whole and its SHA-256 checked).
//! b. Every processed message still on a server resolves to objects in the
//!    store.
//! c. Every other object in the store is an orphan: harmless, and listed.
//!    With `read_data` it is read too, since the store never overwrites an
//!    object: a damaged orphan would make the next message carrying that
//!    attachment fail until someone removes it.
//! d. (with b., folder by folder) No folder holds a message twice (an
//!    original beside its converted copy, or two converted copies of one
//!    original, proven by rebuilding the copies from the store), and every
//!    converted message on a server has its row in the index.
//!
//! What belongs here: the checks and the [`Findings`], each problem worded
//! with what is wrong and how to repair it. Not here: connecting to a
//! server (the caller passes a connector, since it knows how passwords are
//! resolved), progress bars and printing (`cli/verify.rs`), and any repair:
//! the audit only reads the store, the index and the servers (folders are
//! opened with EXAMINE).

mod copies;
mod duplicates;
mod error;
mod findings;
mod objects;
mod repair;
mod server;
mod twice_text;

pub use error::AuditError;
pub use findings::{Findings, MessageRef, Orphan, Problem, ProblemKind};

use std::collections::{BTreeMap, HashMap};

use crate::config::AccountConfig;
use crate::imap::Session;
use crate::index::Index;
use crate::store::{to_hex, Sha256, Store};
use copies::Known;
use objects::ObjectState;

/// Why a connector could not reach an account: shown to the user with its
/// causes, never inspected.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// What to audit.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The accounts whose processed mail on the server is checked.
    pub accounts: &'a [AccountConfig],
    /// The accounts whose journals are read for messages in flight: all
    /// configured ones, as they share the store and an interrupted run of
    /// any of them may have left objects not yet in the index.
    pub all_accounts: &'a [AccountConfig],
    /// Read every object whole and check its SHA-256, orphans included.
    pub read_data: bool,
}

/// Which objects a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// The objects the index references.
    Indexed,
    /// The objects nothing references (only read with `read_data`).
    Orphans,
}

/// Progress reports from the audit, for a progress bar.
pub trait Progress {
    /// `objects` objects of `batch` are about to be checked; `bytes` is
    /// their size as known beforehand (what `read_data` reads).
    fn checking(&self, _batch: Batch, _objects: u64, _bytes: u64) {}
    /// One object checked; `bytes` is its size (read, or as known).
    fn checked(&self, _bytes: u64) {}
    /// The batch is done.
    fn done(&self, _batch: Batch) {}
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Runs the audit: a., then b. for each account of `scope` (connecting
/// with `connect` when its turn comes, so that a long read of the store
/// does not keep a connection idle), then c. Only a failure to read the
/// index stops it; everything else is a finding.
pub async fn run(
    store: &Store,
    index: &Index,
    scope: Scope<'_>,
    connect: impl AsyncFn(&AccountConfig) -> Result<Session, ConnectError>,
    progress: &dyn Progress,
) -> Result<Findings, AuditError> {
    let mut audit = Audit::new(store, scope.read_data, progress);
    let mut journals = HashMap::new();
    for a in scope.all_accounts {
        let pending = index
            .journal_pending(&a.name)
            .map_err(|source| AuditError::Journal {
                account: a.name.clone(),
                source,
            })?;
        if !pending.is_empty() {
            audit
                .findings
                .in_flight
                .insert(a.name.clone(), pending.len());
        }
        journals.insert(a.name.clone(), pending);
    }
    let refs = index
        .object_refs()
        .map_err(|source| AuditError::ObjectRefs { source })?;
    audit.indexed(refs).await;
    for account in scope.accounts {
        let copies = index
            .indexed_copies(&account.name)
            .map_err(|source| AuditError::Copies {
                account: account.name.clone(),
                source,
            })?;
        let journal = journals.get(&account.name).map_or(&[][..], Vec::as_slice);
        let known = Known::new(copies, journal);
        audit.account(account, &known, &connect).await;
    }
    audit.orphans().await;
    Ok(audit.finish())
}

/// The audit under way.
struct Audit<'a> {
    store: &'a Store,
    read_data: bool,
    progress: &'a dyn Progress,
    findings: Findings,
    /// Problems about objects, keyed by hex so that every message using an
    /// object ends up under one entry.
    objects: BTreeMap<String, (ObjectState, Vec<MessageRef>)>,
    /// Problems about anything else.
    other: Vec<Problem>,
    /// Every object checked so far and what was found: the ones the index
    /// references and the ones processed messages need. The rest of the
    /// store is orphans.
    known: HashMap<Sha256, ObjectState>,
}

impl<'a> Audit<'a> {
    fn new(store: &'a Store, read_data: bool, progress: &'a dyn Progress) -> Self {
        Audit {
            store,
            read_data,
            progress,
            findings: Findings {
                store: store.url().to_string(),
                objects_checked: 0,
                bytes_read: 0,
                messages_checked: 0,
                problems: Vec::new(),
                orphans: Vec::new(),
                in_flight: BTreeMap::new(),
            },
            objects: BTreeMap::new(),
            other: Vec::new(),
            known: HashMap::new(),
        }
    }

    /// Records what was found for object `h` and, unless it is good, who
    /// uses it.
    fn note(&mut self, h: &Sha256, state: ObjectState, users: Vec<MessageRef>) {
        self.known.insert(*h, state.clone());
        if matches!(state, ObjectState::Good) {
            return;
        }
        let entry = self
            .objects
            .entry(to_hex(h))
            .or_insert_with(|| (state, Vec::new()));
        for u in users {
            u.add_to(&mut entry.1);
        }
    }

    fn finish(mut self) -> Findings {
        for (hex, (state, mut users)) in std::mem::take(&mut self.objects) {
            users.sort();
            let problem = repair::object_problem(self.store, &hex, &state, users);
            self.findings.problems.extend(problem);
        }
        self.findings.problems.append(&mut self.other);
        self.findings
    }
}

#[cfg(test)]
mod tests;
