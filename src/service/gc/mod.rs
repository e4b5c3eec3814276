//! `store gc` (issue 23): deleting the objects no message references any
//! more, in two phases. A gc lists the store, reads every mailbox's
//! converted messages from its server (references come from the servers,
//! not from the index alone: a message the owner moved, or whose UID
//! changed, keeps its objects and its row follows it), adds the journal
//! (runs in flight), held mailboxes and the rows of mailboxes it could not
//! read, and records each unreferenced object with the time it first found
//! it so (`gc_candidates`). An object still unreferenced when a later gc
//! runs `[retention] grace` after that is deleted, with its readable
//! copies and compressed form, and the rows of the messages that named it.
//!
//! Crash safety: the intent (`gc_deleting`) is written, and the gone rows
//! dropped, in one transaction that first checks the rows and journal
//! once more; then the readable copies and the object go; then the intent.
//! A gc that stops half-way leaves intents the next gc (or erase) finishes
//! first. Deleting what is already gone is no error.
//!
//! What belongs here: gathering (`gather`), acting on the decisions of
//! [`plan`] (pure), holds (`hold`), erasure (`erase`), readable copies
//! (`readable`). The SQL is `crate::index::retention`'s.

mod erase;
mod error;
mod gather;
mod hold;
pub mod plan;
mod readable;

pub use erase::{Erased, ErasedObject};
pub use error::RetentionError;
pub use hold::{HoldOutcome, ReleaseOutcome};

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{Service, ServiceError};
use crate::index::{Deletion, GcTotals, Index};
use crate::store::{to_hex, Store};
use plan::{Rules, Verdict};

/// What `store gc` is asked.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Decide and say, change nothing.
    pub dry_run: bool,
    /// Only the objects this mailbox's rows named (its server is read;
    /// the other mailboxes' rows are trusted to keep theirs).
    pub account: Option<String>,
}

/// One unreferenced object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcObject {
    pub sha256: String,
    pub stored_bytes: u64,
    /// Unix seconds: since when a gc found it unreferenced (now, for one
    /// found by this gc).
    pub unreferenced_since: i64,
    /// Unix seconds: from when a gc deletes it.
    pub due: i64,
    /// `deleted`, `would delete` (dry run), `waiting` (within the grace),
    /// `kept` (named again at the last check) or `deferred` (a mailbox was
    /// busy: the next gc deletes it).
    pub state: &'static str,
}

/// What a gc found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub now: i64,
    pub grace_seconds: i64,
    pub accounts_read: Vec<String>,
    /// Mailboxes whose server could not be read whole: their index rows
    /// kept their objects this time.
    pub accounts_not_read: Vec<(String, String)>,
    pub held: Vec<String>,
    #[serde(flatten)]
    pub totals: GcTotals,
    pub unreferenced: Vec<GcObject>,
    /// Objects written within the grace that no row names yet (a run's).
    pub recent_unknown: u64,
    pub rows_relocated: u64,
    pub rows_dropped: u64,
    pub readable_copies_removed: u64,
    /// Deletions an earlier gc or erase left unfinished, finished now.
    pub pending_finished: u64,
    /// Mailboxes a run (or another command) was working on: the
    /// deletions due wait for the next gc.
    pub deferred_busy: Vec<String>,
}

impl GcReport {
    /// Some mailbox could not be read: the gc kept more than it had to.
    pub fn complete(&self) -> bool {
        self.accounts_not_read.is_empty()
    }
}

/// The gc's clock: `SLIMBOX_TEST_NOW` (Unix seconds) when a test sets it,
/// so that a test can be "after the grace" without waiting; else now.
pub fn gc_now() -> Result<i64, RetentionError> {
    match std::env::var("SLIMBOX_TEST_NOW") {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| RetentionError::TestNow { given: v }),
        Err(_) => Ok(crate::dates::now_unix()),
    }
}

impl Service {
    /// Runs `store gc` (see the module's header).
    pub async fn gc(&self, opts: &GcOptions) -> Result<GcReport, ServiceError> {
        let store = self.store()?;
        let mut index = self.store_index()?;
        let rules = Rules {
            now: gc_now().map_err(retention)?,
            grace: self.config().retention.grace.as_secs().min(i64::MAX as u64) as i64,
            wall: crate::dates::now_unix(),
        };
        let mut report = GcReport {
            dry_run: opts.dry_run,
            now: rules.now,
            grace_seconds: rules.grace,
            ..GcReport::default()
        };
        if !opts.dry_run {
            let (_claims, busy) = self.claim_free("slimbox store gc")?;
            if busy.is_empty() {
                report.pending_finished = finish_pending(store, &mut index, &mut report).await?;
            }
        }
        let accounts = match &opts.account {
            Some(a) => vec![self.account(a)?.clone()],
            None => self.config().accounts.clone(),
        };
        let gathered = gather::gather(
            store,
            &index,
            &accounts,
            opts.account.as_deref(),
            &mut report,
        )
        .await?;
        if !opts.dry_run {
            for (row, at) in &gathered.rows.relocate {
                index.relocate_message(*row, &at.folder, at.uidvalidity, at.uid.unwrap_or(0))?;
                report.rows_relocated += 1;
            }
        }
        let recorded: HashMap<String, i64> = index
            .gc_candidates()?
            .into_iter()
            .map(|(h, at, _)| (h, at))
            .collect();
        let decided = decide(&gathered, &recorded, rules, opts.dry_run, &mut report);
        report.totals.at = rules.now;
        if opts.dry_run {
            return Ok(report);
        }
        index.gc_note_candidates(&decided.add, &decided.forget)?;
        // No run may prove or reuse an object while it goes: every
        // mailbox is claimed for the deletions; with one busy, they wait
        // for the next gc (the objects stay recorded).
        let (_claims, busy) = self.claim_free("slimbox store gc")?;
        if busy.is_empty() {
            delete_due(store, &mut index, &gathered, decided.due, &mut report).await?;
            drop_gone_rows(&mut index, &gathered, &mut report)?;
        } else {
            for o in report
                .unreferenced
                .iter_mut()
                .filter(|o| o.state == "deleted")
            {
                o.state = "deferred";
            }
            report.deferred_busy = busy;
        }
        index.gc_note_totals(&report.totals)?;
        Ok(report)
    }

    /// Claims every configured mailbox that is free for `command`; the
    /// claims, and the mailboxes another process works on.
    pub(super) fn claim_free(
        &self,
        command: &str,
    ) -> Result<(Vec<super::Held>, Vec<String>), ServiceError> {
        let mut held = Vec::new();
        let mut busy = Vec::new();
        for a in &self.config().accounts {
            let mailbox = super::account::mailbox(a);
            match self.claims().try_claim(&mailbox, &a.name, command) {
                Ok(h) => held.push(h),
                Err(e) if e.is_busy() => busy.push(a.name.clone()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok((held, busy))
    }

    /// What the store holds and the index names, and what the last gc
    /// found (`stats --store`).
    pub fn store_totals(&self) -> Result<crate::index::StoreTotals, ServiceError> {
        Ok(self.index()?.store_totals()?)
    }
}

/// What the verdicts come to.
struct Decided {
    /// Newly unreferenced: (SHA-256 hex, since, stored bytes).
    add: Vec<(String, i64, u64)>,
    /// Recorded before, now referenced again or no longer stored.
    forget: Vec<String>,
    due: Vec<Deletion>,
}

/// Each stored object's verdict, tallied into `report`.
fn decide(
    gathered: &gather::Gathered,
    recorded: &HashMap<String, i64>,
    rules: Rules,
    dry_run: bool,
    report: &mut GcReport,
) -> Decided {
    let mut d = Decided {
        add: Vec::new(),
        forget: Vec::new(),
        due: Vec::new(),
    };
    let mut listed = HashSet::with_capacity(gathered.stored.len());
    for obj in &gathered.stored {
        let hex = to_hex(&obj.hash);
        let was = recorded.get(&hex).copied();
        let v = plan::verdict(obj, &gathered.seen, was, rules);
        tally(&mut report.totals, obj.stored_size, v);
        match v {
            Verdict::Referenced if was.is_some() => d.forget.push(hex.clone()),
            Verdict::Referenced | Verdict::OutOfScope => {}
            Verdict::Recent => report.recent_unknown += 1,
            Verdict::Waiting { since, due } => {
                if was.is_none() {
                    d.add.push((hex.clone(), since, obj.stored_size));
                }
                let o = object(hex.clone(), obj.stored_size, since, due, "waiting");
                report.unreferenced.push(o);
            }
            Verdict::Due { since } => {
                let state = if dry_run { "would delete" } else { "deleted" };
                d.due.push(Deletion {
                    size: gathered.sizes.get(&hex).copied().unwrap_or(obj.stored_size),
                    stored_size: obj.stored_size,
                    sha256: hex.clone(),
                });
                let due = since.saturating_add(rules.grace);
                report
                    .unreferenced
                    .push(object(hex.clone(), obj.stored_size, since, due, state));
            }
        }
        listed.insert(hex);
    }
    // Gone from the store by other means: nothing left to wait for.
    d.forget
        .extend(recorded.keys().filter(|h| !listed.contains(*h)).cloned());
    d
}

fn object(sha256: String, stored: u64, since: i64, due: i64, state: &'static str) -> GcObject {
    GcObject {
        sha256,
        stored_bytes: stored,
        unreferenced_since: since,
        due,
        state,
    }
}

fn tally(t: &mut GcTotals, bytes: u64, v: Verdict) {
    t.objects += 1;
    t.stored_bytes += bytes;
    match v {
        Verdict::Referenced | Verdict::OutOfScope | Verdict::Recent => {
            t.referenced_objects += 1;
            t.referenced_bytes += bytes;
        }
        Verdict::Waiting { .. } | Verdict::Due { .. } => {
            t.unreferenced_objects += 1;
            t.unreferenced_bytes += bytes;
        }
    }
}

pub(super) fn retention(e: RetentionError) -> ServiceError {
    ServiceError::Retention(Box::new(e))
}

/// Deletes the objects due: the intent and the gone rows naming them in
/// one transaction (which keeps back any object named again), then each
/// object's readable copies and the object, then the intent.
async fn delete_due(
    store: &Store,
    index: &mut Index,
    gathered: &gather::Gathered,
    due: Vec<Deletion>,
    report: &mut GcReport,
) -> Result<(), ServiceError> {
    if due.is_empty() {
        return Ok(());
    }
    let hashes: HashSet<_> = due.iter().map(|d| d.sha256.clone()).collect();
    let gone: Vec<i64> = gathered
        .rows
        .gone
        .iter()
        .filter(|(_, objects)| objects.iter().any(|h| hashes.contains(&to_hex(h))))
        .map(|(id, _)| *id)
        .collect();
    let chosen = index.gc_begin(&due, &gone, "gc", report.now)?;
    report.rows_dropped += gone.len() as u64;
    let kept: HashSet<_> = due
        .iter()
        .filter(|d| !chosen.contains(d))
        .map(|d| d.sha256.clone())
        .collect();
    for o in report
        .unreferenced
        .iter_mut()
        .filter(|o| kept.contains(&o.sha256))
    {
        o.state = "kept";
    }
    let done = delete_objects(store, index, &chosen, report).await?;
    report.totals.deleted_objects += done.0;
    report.totals.deleted_bytes += done.1;
    Ok(())
}

/// Drops the rows of gone messages that name no object still waiting
/// (every object they named is used by another message, or no longer
/// stored): nothing on any server is theirs, and no deletion will take
/// them with it. Those naming an unreferenced object stay until it goes.
fn drop_gone_rows(
    index: &mut Index,
    gathered: &gather::Gathered,
    report: &mut GcReport,
) -> Result<(), ServiceError> {
    let waiting: HashSet<&str> = report
        .unreferenced
        .iter()
        .map(|o| o.sha256.as_str())
        .collect();
    let gone: Vec<i64> = gathered
        .rows
        .gone
        .iter()
        .filter(|(_, objects)| !objects.iter().any(|h| waiting.contains(to_hex(h).as_str())))
        .map(|(id, _)| *id)
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    index.gc_begin(&[], &gone, "gc", report.now)?;
    report.rows_dropped += gone.len() as u64;
    Ok(())
}

/// Removes `chosen` (intent written): readable copies first, then the
/// objects, then the intent. Objects and bytes deleted.
pub(super) async fn delete_objects(
    store: &Store,
    index: &mut Index,
    chosen: &[Deletion],
    report: &mut GcReport,
) -> Result<(u64, u64), ServiceError> {
    report.readable_copies_removed += readable::remove_copies(store, chosen).map_err(retention)?;
    let mut done = Vec::with_capacity(chosen.len());
    let mut bytes = 0;
    for d in chosen {
        let Some(hash) = crate::store::parse_hex(&d.sha256) else {
            continue;
        };
        store.delete(&hash).await?;
        bytes += d.stored_size;
        done.push(d.sha256.clone());
        // In batches, so that a stop half-way leaves little to redo.
        if done.len() >= 1000 {
            index.gc_done(&done)?;
            done.clear();
        }
    }
    index.gc_done(&done)?;
    Ok((chosen.len() as u64, bytes))
}

/// Finishes the deletions an earlier gc or erase decided and did not
/// finish (those named again since are kept).
async fn finish_pending(
    store: &Store,
    index: &mut Index,
    report: &mut GcReport,
) -> Result<u64, ServiceError> {
    let pending = index.gc_recheck_pending()?;
    if pending.is_empty() {
        return Ok(0);
    }
    let (n, _) = delete_objects(store, index, &pending, report).await?;
    Ok(n)
}
