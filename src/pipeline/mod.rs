//! The main job, and the one module that owns the safety order. Every
//! message slimbox changes goes through these steps, in this order; the
//! numbers are the ones in the step comments of the code:
//!
//! 0. Plan on the server, changing nothing: folders, then candidates by
//!    size, age and BODYSTRUCTURE ([`plan`]).
//! 1. Fetch the original (`BODY.PEEK[]`: `\Seen` is not set).
//! 2. Detach: the pure engine rewrites it with stubs (`crate::mime`).
//! 3. Store every object, create-only, and flush it to disk.
//! 4. Prove: read every object back, check its SHA-256, and rebuild the
//!    exact original from what was read, byte for byte.
//! 5. Journal the intent on disk (the rewritten message with it).
//! 6. APPEND the copy to the same folder with the original's flags and
//!    INTERNALDATE; learn its UID (APPENDUID, else by search); journal it.
//! 7. Verify the copy on the server: its bytes, flags and INTERNALDATE
//!    instant. A copy that is not faithful is taken away; the original
//!    stays.
//! 8. Remove the original by UID only (UIDPLUS `UID EXPUNGE`; on Gmail a
//!    move to its Trash; without UIDPLUS a MOVE to Trash, or `\Deleted`
//!    alone with a note), never a plain EXPUNGE. Originals are removed in
//!    batches of at most 16 and at most about two seconds.
//! 9. Commit to the index; the journal entry is closed.
//!
//! Step 1 is the scheduler's (`execute`, or
//! `ahead` on a second connection), 2 to 4 the local half
//! (`prepare`), 5 to 9 the server half
//! (`commit`); steps 6 and 7 are one shared
//! function (`append`) and step 8 another (`remove`), used by every path:
//! the normal one, the over-quota one, recovery and reattach.
//!
//! The one exception to "no original goes before its copy is verified":
//! over quota the server refuses even the smaller copy at step 6. The
//! original is already proven rebuildable (step 4) and its copy is in the
//! journal (step 5), so it is removed first and steps 6 and 7 are retried;
//! if the server still refuses, the journal keeps the copy and recovery
//! puts it in.
//!
//! Recovery ([`recover`]) runs before every plan: at the start of a run,
//! and again after a lost connection, when [`run_account`] reconnects
//! with backoff, settles what was in flight and plans the rest. A crash
//! leaves at most one batch of messages (16, or two seconds' worth) on the
//! server twice, original and verified copy, until the next run's recovery
//! removes the originals; every other message is untouched or converted.
//!
//! For speed the two halves overlap across messages (`execute`): while
//! message k is committed, message k+1, downloaded ahead on a second
//! read-only connection (`ahead`), is prepared. No server step of a
//! message starts before its own local steps are done.

pub mod recover;
pub mod rules;
pub mod select;

mod ahead;
mod append;
mod checkpoint;
mod commit;
mod connect;
mod execute;
mod find;
mod flags;
mod folders;
mod labels;
mod owner;
mod plan;
mod prepare;
pub mod quota;
mod reattach;
mod remove;
mod report;
pub mod target;
mod target_plan;
mod who_removed;

#[cfg(test)]
mod labels_mock_tests;
#[cfg(test)]
mod mock_tests;

pub use ahead::MIN_BUDGET as AHEAD_MIN_BUDGET;
pub use connect::Connector;
pub use plan::{AccountPlan, Candidate, FolderPlan, JobPolicy};
#[cfg(test)]
pub(crate) use prepare::record_for;
pub use reattach::{reattach_account, ReattachOutcome, ReattachTarget};
pub use remove::Removal;
pub use report::{AccountReport, FolderReport, Observer, PipelineError, Quiet, Waiting};

use connect::{connect_with_backoff, RECONNECT_TRIES};

use crate::imap::Session;
use crate::index::Index;
use crate::store::Store;

/// How often one run reconnects to an account before it gives up (the
/// journal then lets the next run finish).
const MAX_RECONNECTS: usize = 5;

/// The job for one account: recover → plan → execute. After a lost
/// connection (or another transient error) it reconnects with backoff,
/// recovers what was in flight and plans what is left, up to
/// `MAX_RECONNECTS` times. Never fails: what went wrong is in the report.
pub async fn run_account<C: Connector>(
    connector: &C,
    store: &Store,
    index: &mut Index,
    account: &str,
    policy: &JobPolicy,
    observer: &dyn Observer,
) -> AccountReport {
    let mut report = AccountReport::new(account);
    // A server that cannot be reached at the start is reported at once.
    let mut session = match connector.connect().await {
        Ok(s) => s,
        Err(e) => {
            report.throttled = e.is_throttled();
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.quota_before = quota_figure(&mut session, account, "before").await;
    loop {
        let first = report.reconnects == 0;
        let pass = one_pass(
            session,
            connector,
            store,
            index,
            policy,
            observer,
            first,
            &mut report,
        );
        let e = match pass.await {
            Ok(()) => break,
            Err(e) => e,
        };
        if !e.is_transient() || report.reconnects >= MAX_RECONNECTS {
            report.error = Some(e.to_string());
            break;
        }
        report.reconnects += 1;
        let note = format!("{e}; reconnecting, then finishing what was in flight");
        tracing::warn!("account {account}: {note}");
        observer.note(&note);
        session = match connect_with_backoff(connector, RECONNECT_TRIES).await {
            Ok(s) => s,
            Err(e) => {
                report.throttled = e.is_throttled();
                report.error = Some(e.to_string());
                break;
            }
        };
    }
    match recover::still_waiting(index, account) {
        Ok(w) => report.waiting = w,
        Err(e) => tracing::warn!("account {account}: cannot read the journal: {e}"),
    }
    report
}

/// One pass on `session`: recover, plan, execute.
#[allow(clippy::too_many_arguments)]
async fn one_pass<C: Connector>(
    mut session: Session,
    connector: &C,
    store: &Store,
    index: &mut Index,
    policy: &JobPolicy,
    observer: &dyn Observer,
    first: bool,
    report: &mut AccountReport,
) -> Result<(), PipelineError> {
    // Steps 4 to 9 for whatever an earlier pass or run left in flight.
    let settled =
        recover::recover_entries(&mut session, store, index, &report.account, policy).await?;
    if first {
        // Left by an earlier run.
        report.recovered += settled.finished.len() + settled.rolled_back;
    } else {
        // This run's own, cut off by the lost connection: conversions it
        // finished count in their folders; what it rolled back is planned
        // again below.
        for (folder, before, after) in settled.finished {
            report.finished_after_reconnect(&folder, before, after);
        }
    }
    // 0. Plan what is left.
    let plan = self::plan(&mut session, index, &report.account, policy).await?;
    let (messages, bytes) = plan.totals();
    if first {
        report.quota_target = plan.target.as_ref().map(target::TargetEnd::planned);
        observer.planned(messages as u64, bytes);
        for n in &plan.notes {
            observer.note(n);
        }
    }
    // A second, read-only connection downloads the next message while one
    // is converted. Without it (a server that limits connections, or many
    // mailboxes at once) the job runs the same, only slower on its own.
    let ahead = if messages > 1 && policy.fetch_ahead {
        connector
            .connect()
            .await
            .inspect_err(|e| tracing::info!("no second connection to fetch ahead ({e}); using one"))
            .ok()
    } else {
        None
    };
    let job = execute::Job {
        store,
        plan: &plan,
        policy,
        observer,
        count_skipped: first,
    };
    let mut folders = Vec::new();
    let result = execute::execute(&mut session, ahead, index, &job, &mut folders).await;
    report.absorb(folders);
    result?;
    // Copies refused over quota, now that the run freed what it could.
    recover::append_waiting(&mut session, store, index, policy, report).await?;
    report.quota_after = quota_figure(&mut session, &report.account, "after").await;
    target_plan::ended(&mut session, policy, report).await?;
    let _ = session.logout().await;
    Ok(())
}

/// How full the mailbox is, for the report; a failure to say is logged
/// and leaves the figure out (the run itself does not depend on it).
async fn quota_figure(
    session: &mut Session,
    account: &str,
    when: &str,
) -> Option<quota::QuotaReport> {
    quota::quota_report(session)
        .await
        .inspect_err(|e| tracing::info!("account {account}: no quota figure {when} the run: {e}"))
        .ok()
        .flatten()
}

/// Step 0: chooses folders and candidates for one account, then cuts them
/// down to what a `quota_target` needs; changes nothing on the server
/// (EXAMINE, PEEK only). The two halves live in `plan` and `target_plan`,
/// joined here so that neither imports the other both ways.
pub async fn plan(
    session: &mut Session,
    index: &Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<AccountPlan, PipelineError> {
    let (mut plan, all) = plan::plan_untargeted(session, index, account, policy).await?;
    plan.target = target_plan::apply(session, &all, policy, &mut plan).await?;
    Ok(plan)
}

/// What `run` would do for one account; changes nothing on the server.
pub async fn scan_account<C: Connector>(
    connector: &C,
    index: &Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<AccountPlan, PipelineError> {
    let mut session = connector.connect().await?;
    let mut plan = self::plan(&mut session, index, account, policy).await?;
    plan.quota = quota::quota_report(&mut session).await?;
    let _ = session.logout().await;
    Ok(plan)
}
