//! IT mode: every mailbox of the config as one unattended job
//! (`slimbox run --all`, `scan --all`).
//!
//! Mailboxes run in parallel, up to `concurrency` at once, each on a
//! thread of its own with its own index connection (SQLite in WAL mode is
//! safe across connections; the job holds its connection across awaits,
//! which a thread of its own allows); each server gets at most `max_connections`
//! connections at once across all of them, the fetch-ahead connection
//! included ([`gate`]). A mailbox is claimed before its job and held to
//! the end ([`claim`]: the lock files of `crate::lock` today, a trait so a
//! shared database can take their place for workers on several hosts); one
//! another process holds is skipped and reported busy, never waited for.
//! A mailbox the server turns away for now (a limit, BYE, `[UNAVAILABLE]`)
//! is tried again later in the run with growing waits, a bounded number of
//! times; any other failure ends that mailbox only, never the others.
//!
//! The decisions (retry and wait, totals, exit status) are pure functions
//! in [`decide`]. Not here: building each account's connection settings
//! and policy from the config, and printing (`cli/run.rs`, `cli/scan.rs`).

pub mod claim;
pub mod decide;
pub mod gate;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::{AccountConfig, OwnerReportConfig};
use crate::imap::ImapConfig;
use crate::index::Index;
use crate::lock::Mailbox;
use crate::notify::WayBack;
use crate::pipeline::{AccountPlan, AccountReport, JobPolicy, Quiet};
use crate::store::Store;

pub use claim::{ClaimError, Claims, LockClaims};
pub use decide::{Figures, Next, Status, Totals};
pub use gate::{Gate, Gated, Gates};

/// One mailbox to work on.
#[derive(Debug)]
pub struct Task {
    /// The account's name in the config.
    pub account: String,
    /// What is claimed: server and user.
    pub mailbox: Mailbox,
    /// How to connect, or why that cannot be known (a password source
    /// that failed): then the mailbox fails at once, the others go on.
    pub imap: Result<ImapConfig, String>,
    pub policy: JobPolicy,
    /// Its server's share of the connections.
    pub gate: Gate,
    /// `[owner_report]`: whom to tell what the run moved, and how.
    pub owner: Option<OwnerTask>,
}

/// The owner report of one mailbox: its account (the owner's address) and
/// how the owner gets files back.
#[derive(Debug)]
pub struct OwnerTask {
    pub account: AccountConfig,
    pub cfg: OwnerReportConfig,
    pub way_back: WayBack,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mailboxes at once (at least 1).
    pub concurrency: usize,
    /// The wait before a throttled mailbox's first retry
    /// ([`decide::FIRST_RETRY`]; tests shorten it).
    pub first_retry: Duration,
    /// The command named in claims (`run`).
    pub command: &'static str,
}

/// One try of one mailbox.
pub struct Tried<R> {
    pub result: Option<R>,
    /// What went wrong, if anything (for the summary and the JSON).
    pub error: Option<String>,
    /// Something failed or still waits.
    pub failed: bool,
    /// The server turned it away for now: worth another try.
    pub throttled: bool,
}

/// How one mailbox ended.
#[derive(Debug, Serialize)]
pub struct Outcome<R> {
    pub account: String,
    pub status: Status,
    /// Tries in this run (more than 1 after throttling).
    pub attempts: u32,
    pub error: Option<String>,
    pub seconds: f64,
    /// The job's own report (`run`) or plan (`scan`).
    pub report: Option<R>,
}

/// `run --all`: every task's job, claimed, in parallel.
pub async fn run(
    tasks: Vec<Task>,
    claims: Arc<dyn Claims>,
    opts: Options,
    store: Store,
    index_path: PathBuf,
) -> Vec<Outcome<AccountReport>> {
    let work = move |task: Arc<Task>| {
        let store = store.clone();
        let index_path = index_path.clone();
        async move { run_mailbox(&task, &store, &index_path).await }
    };
    schedule(tasks, Some(claims), opts, work).await
}

/// `scan --all`: every task's plan, in parallel; nothing is claimed (a
/// scan changes nothing).
pub async fn scan(
    tasks: Vec<Task>,
    opts: Options,
    index_path: PathBuf,
) -> Vec<Outcome<AccountPlan>> {
    let work = move |task: Arc<Task>| {
        let index_path = index_path.clone();
        async move { scan_mailbox(&task, &index_path).await }
    };
    schedule(tasks, None, opts, work).await
}

/// The figures of a run's outcome for [`decide::totals`].
pub fn figures(report: Option<&AccountReport>) -> Figures {
    let mut f = Figures::default();
    for folder in report.iter().flat_map(|r| &r.folders) {
        f.converted += folder.converted as u64;
        f.failed_messages += folder.failed as u64;
        f.bytes_before += folder.bytes_before;
        f.bytes_after += folder.bytes_after;
    }
    f
}

async fn run_mailbox(
    task: &Task,
    store: &Store,
    index_path: &std::path::Path,
) -> Tried<AccountReport> {
    let imap = match &task.imap {
        Ok(imap) => imap,
        Err(e) => return failed(e.clone()),
    };
    // Its own connection: SQLite in WAL mode serialises the writers.
    let mut index = match Index::open(index_path) {
        Ok(i) => i,
        Err(e) => return failed(e.to_string()),
    };
    let gated = Gated {
        imap: imap.clone(),
        gate: task.gate.clone(),
    };
    // Without the mark no report: it could list what earlier runs moved.
    let mark = index.last_message().ok();
    let mut report = crate::pipeline::run_account(
        &gated,
        store,
        &mut index,
        &task.account,
        &task.policy,
        &Quiet,
    )
    .await;
    if let (Some(o), Some(mark)) = (&task.owner, mark) {
        // Through the gate: the report's connection counts like the job's.
        crate::notify::after_run(
            &gated,
            &index,
            &o.account,
            &o.cfg,
            &o.way_back,
            mark,
            &mut report,
        )
        .await;
    }
    let error = report.error.clone().or_else(|| trouble(&report));
    Tried {
        failed: report.had_trouble(),
        throttled: report.throttled,
        error,
        result: Some(report),
    }
}

/// What went wrong in a report without an error of its own. Reconnects
/// alone are not trouble (issue 25): the run finished everything, and the
/// report's `reconnects` says it had to reconnect.
fn trouble(r: &AccountReport) -> Option<String> {
    let failed: usize = r.folders.iter().map(|f| f.failed).sum();
    match (failed, r.waiting.len()) {
        (0, 0) => None,
        (f, w) => Some(format!("{f} message(s) failed, {w} wait in the journal")),
    }
}

async fn scan_mailbox(task: &Task, index_path: &std::path::Path) -> Tried<AccountPlan> {
    let imap = match &task.imap {
        Ok(imap) => imap,
        Err(e) => return failed(e.clone()),
    };
    let index = match Index::open(index_path) {
        Ok(i) => i,
        Err(e) => return failed(e.to_string()),
    };
    let gated = Gated {
        imap: imap.clone(),
        gate: task.gate.clone(),
    };
    match crate::pipeline::scan_account(&gated, &index, &task.account, &task.policy).await {
        Ok(plan) => Tried {
            result: Some(plan),
            error: None,
            failed: false,
            throttled: false,
        },
        Err(e) => Tried {
            throttled: e.is_throttled(),
            ..failed(e.to_string())
        },
    }
}

fn failed<R>(error: String) -> Tried<R> {
    Tried {
        result: None,
        error: Some(error),
        failed: true,
        throttled: false,
    }
}

/// Runs `work` for every task, `opts.concurrency` at once, claiming each
/// mailbox first when `claims` is given; results in the tasks' order.
async fn schedule<R, W, F>(
    tasks: Vec<Task>,
    claims: Option<Arc<dyn Claims>>,
    opts: Options,
    work: W,
) -> Vec<Outcome<R>>
where
    R: Send + 'static,
    W: Fn(Arc<Task>) -> F + Send + Sync + 'static,
    F: Future<Output = Tried<R>> + 'static,
{
    let slots = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let work = Arc::new(work);
    let mut set = tokio::task::JoinSet::new();
    let names: Vec<String> = tasks.iter().map(|t| t.account.clone()).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (slots, work, claims, opts) =
            (slots.clone(), work.clone(), claims.clone(), opts.clone());
        set.spawn(async move {
            let outcome = one_mailbox(Arc::new(task), slots, claims.as_deref(), &opts, work).await;
            (i, outcome)
        });
    }
    let mut out: Vec<Option<Outcome<R>>> = names.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, outcome)) => out[i] = Some(outcome),
            // A panicking job must not take the others' results with it.
            Err(e) => tracing::error!("a mailbox's job ended abnormally: {e}"),
        }
    }
    out.into_iter()
        .zip(names)
        .map(|(o, account)| {
            o.unwrap_or_else(|| Outcome {
                account,
                status: Status::Failed,
                attempts: 1,
                error: Some("the job ended abnormally (a slimbox bug: please report it)".into()),
                seconds: 0.0,
                report: None,
            })
        })
        .collect()
}

/// One mailbox: claim, work, and again later while the server turns it
/// away (see [`decide::next`]). The concurrency slot is given back while
/// it waits, so other mailboxes go on meanwhile.
async fn one_mailbox<R, W, F>(
    task: Arc<Task>,
    slots: Arc<Semaphore>,
    claims: Option<&dyn Claims>,
    opts: &Options,
    work: Arc<W>,
) -> Outcome<R>
where
    R: Send + 'static,
    W: Fn(Arc<Task>) -> F + Send + Sync + 'static,
    F: Future<Output = Tried<R>> + 'static,
{
    let mut attempt = 1;
    // The time spent on the mailbox: each try from when it got its slot
    // (the queue before it, and the waits between tries, are not its own).
    let mut worked = Duration::ZERO;
    let end = |status, attempt, error, report, worked: Duration| Outcome {
        account: task.account.clone(),
        status,
        attempts: attempt,
        error,
        seconds: worked.as_secs_f64(),
        report,
    };
    loop {
        let Ok(_slot) = slots.acquire().await else {
            return end(
                Status::Failed,
                attempt,
                Some("the scheduler stopped".into()),
                None,
                worked,
            );
        };
        let start = Instant::now();
        let _claim = match claims.map(|c| c.try_claim(&task.mailbox, &task.account, opts.command)) {
            None => None,
            Some(Ok(held)) => Some(held),
            Some(Err(ClaimError::Busy(e))) => {
                return end(Status::Busy, attempt, Some(e), None, worked)
            }
            Some(Err(ClaimError::Failed(e))) => {
                return end(Status::Failed, attempt, Some(e), None, worked)
            }
        };
        let tried = on_own_thread(task.clone(), work.clone()).await;
        worked += start.elapsed();
        let status = if tried.failed {
            Status::Failed
        } else {
            Status::Ok
        };
        let wait = match decide::next(tried.throttled, attempt, opts.first_retry) {
            Next::Finish => return end(status, attempt, tried.error, tried.result, worked),
            Next::RetryAfter(wait) => {
                tracing::warn!(
                    "account {}: {}; trying again in {} s (try {attempt} of {})",
                    task.account,
                    tried.error.as_deref().unwrap_or("turned away"),
                    wait.as_secs(),
                    decide::MAX_ATTEMPTS
                );
                wait
            }
        };
        drop(_claim);
        drop(_slot);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// One try on a thread of its own, with a runtime of its own.
async fn on_own_thread<R, W, F>(task: Arc<Task>, work: Arc<W>) -> Tried<R>
where
    R: Send + 'static,
    W: Fn(Arc<Task>) -> F + Send + Sync + 'static,
    F: Future<Output = Tried<R>> + 'static,
{
    let joined = tokio::task::spawn_blocking(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(work(task)),
            Err(e) => failed(format!("cannot start a thread for the mailbox: {e}")),
        }
    })
    .await;
    joined.unwrap_or_else(|e| {
        failed(format!(
            "the mailbox's job ended abnormally ({e}); a slimbox bug, please report it"
        ))
    })
}
