//! IT mode: every mailbox of the config as one unattended job
//! (`slimbox run --all`, `scan --all`): the scheduling around the
//! service's work on one mailbox.
//!
//! Mailboxes run in parallel, up to `concurrency` at once, each on a
//! thread of its own (`service::on_own_thread`: the job holds its index
//! connection across awaits); each server gets at most `max_connections`
//! connections at once across all of them, the fetch-ahead connection
//! included ([`gate`]). Each mailbox's run is the service's own
//! (`Service::run_mailbox`: claim, policy, connect, job, owner report,
//! result recorded), the same as `run` for one account; here it never
//! waits for a mailbox another process holds: that one is reported busy.
//! A mailbox the server turns away for now (a limit, BYE, `[UNAVAILABLE]`)
//! is tried again later in the run with growing waits, a bounded number of
//! times; any other failure ends that mailbox only, never the others.
//!
//! The decisions (retry and wait, totals, exit status) are pure functions
//! in [`decide`]; `slimbox worker`'s loop over the queue is [`worker`].
//! Not here: what a mailbox's run does (`crate::service`),
//! and printing (`cli/fleet.rs`, `cli/run.rs`, `cli/scan.rs`).

pub mod decide;
pub mod gate;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::pipeline::{AccountPlan, AccountReport, Quiet};
use crate::service::{on_own_thread, Ran, RunOptions, RunReport, Service, ServiceError, Tuning};

pub use decide::{Figures, Next, Status, Totals};
pub use gate::{Gate, Gated, Gates};

/// One mailbox to work on.
#[derive(Debug)]
pub struct Task {
    /// The account's name in the config.
    pub account: String,
    /// Its server's share of the connections.
    pub gate: Gate,
}

/// One task per account of `config`, all sharing one gate per server.
pub fn tasks(config: &Config) -> Vec<Task> {
    let mut gates = Gates::default();
    for a in &config.accounts {
        gates.add(&a.host, a.port, a.max_connections);
    }
    config
        .accounts
        .iter()
        .map(|a| Task {
            account: a.name.clone(),
            gate: gates.of(&a.host, a.port, a.max_connections),
        })
        .collect()
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mailboxes at once (at least 1).
    pub concurrency: usize,
    /// The wait before a throttled mailbox's first retry
    /// ([`decide::FIRST_RETRY`]; tests shorten it).
    pub first_retry: Duration,
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
    /// Another process holds the mailbox: skipped, never waited for.
    pub busy: bool,
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

/// `run --all`: every mailbox's run, in parallel. Fails before any
/// mailbox only when the store, the links secret or the index cannot be
/// opened.
pub async fn run(service: Service, opts: Options) -> Result<Vec<Outcome<RunReport>>, ServiceError> {
    service.store()?;
    service.signed_links()?;
    // Created once here, so that the mailboxes only open it.
    service.ready_index()?;
    // Mailboxes side by side keep the network busy; each holds only its
    // largest message ahead (the bound: N x 2 x largest + 64 MiB).
    let run = RunOptions {
        wait: false,
        tuning: Tuning {
            ahead_floor: 0,
            fetch_ahead: decide::fetch_ahead(opts.concurrency),
        },
    };
    let tasks = tasks(service.config());
    let work = move |task: Arc<Task>| {
        let service = service.clone();
        async move { run_mailbox(service, task, run).await }
    };
    Ok(schedule(tasks, opts, work).await)
}

/// `scan --all`: every mailbox's plan, in parallel; nothing is claimed (a
/// scan changes nothing).
pub async fn scan(
    service: Service,
    opts: Options,
) -> Result<Vec<Outcome<AccountPlan>>, ServiceError> {
    service.ready_index()?;
    let tasks = tasks(service.config());
    let work = move |task: Arc<Task>| {
        let service = service.clone();
        async move { scan_mailbox(service, task).await }
    };
    Ok(schedule(tasks, opts, work).await)
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

/// One try of one mailbox: the service's run, through its server's gate,
/// on a thread of its own.
async fn run_mailbox(service: Service, task: Arc<Task>, opts: RunOptions) -> Tried<RunReport> {
    let ran = on_own_thread(move || async move {
        let gate = task.gate.clone();
        let via = |imap| Gated { imap, gate };
        service.run_mailbox(&task.account, opts, via, &Quiet).await
    })
    .await;
    let report = match ran {
        Ok(Ran::Done(report)) => *report,
        Ok(Ran::Unclaimed(e)) => {
            return Tried {
                busy: e.is_busy(),
                ..failed(e.to_string())
            }
        }
        Ok(Ran::NotStarted(e)) | Err(e) => return failed(e.to_string()),
    };
    let error = report.job.error.clone().or_else(|| trouble(&report.job));
    Tried {
        failed: report.had_trouble(),
        throttled: report.job.throttled,
        busy: false,
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

/// One try of one mailbox's scan, through its server's gate, on a thread
/// of its own.
async fn scan_mailbox(service: Service, task: Arc<Task>) -> Tried<AccountPlan> {
    let planned = on_own_thread(move || async move {
        let gate = task.gate.clone();
        let via = |imap| Gated { imap, gate };
        service.scan_mailbox(&task.account, via).await
    })
    .await;
    match planned.and_then(|p| p) {
        Ok(plan) => Tried {
            result: Some(plan),
            error: None,
            failed: false,
            throttled: false,
            busy: false,
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
        busy: false,
    }
}

/// Runs `work` for every task, `opts.concurrency` at once; results in the
/// tasks' order.
async fn schedule<R, W, F>(tasks: Vec<Task>, opts: Options, work: W) -> Vec<Outcome<R>>
where
    R: Send + 'static,
    W: Fn(Arc<Task>) -> F + Send + Sync + 'static,
    F: Future<Output = Tried<R>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let work = Arc::new(work);
    let mut set = tokio::task::JoinSet::new();
    let names: Vec<String> = tasks.iter().map(|t| t.account.clone()).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (slots, work, opts) = (slots.clone(), work.clone(), opts.clone());
        set.spawn(async move {
            let outcome = one_mailbox(Arc::new(task), slots, &opts, work).await;
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

/// One mailbox: work, and again later while the server turns it away
/// (see [`decide::next`]). The concurrency slot is given back while it
/// waits, so other mailboxes go on meanwhile.
async fn one_mailbox<R, W, F>(
    task: Arc<Task>,
    slots: Arc<Semaphore>,
    opts: &Options,
    work: Arc<W>,
) -> Outcome<R>
where
    R: Send + 'static,
    W: Fn(Arc<Task>) -> F + Send + Sync + 'static,
    F: Future<Output = Tried<R>> + Send + 'static,
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
        let tried = work(task.clone()).await;
        if tried.busy {
            // Skipped, not worked on: its time is not the mailbox's.
            return end(Status::Busy, attempt, tried.error, None, worked);
        }
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
        drop(_slot);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}
