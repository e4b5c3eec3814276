//! `slimbox worker`: takes mailbox jobs from the queue (`crate::queue`)
//! and runs each through the service's `run_mailbox`, the same as `run`
//! and `run --all`, with the claims as database leases and the server's
//! connections counted across all workers (the gate's shared slots).
//!
//! A job's run stops early in two cases, both between two awaits of the
//! job, which the journal makes as safe as a crash (what was in flight is
//! finished by whoever runs the mailbox next): its lease was taken over
//! (this worker stalled or lost the database for longer than the lease),
//! or the worker was asked to stop and the grace time ran out. Either way
//! the job goes back to the queue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

use super::decide;
use super::gate::{Gated, Gates, SharedSlots};
use crate::metrics::listen::WorkerFigures;
use crate::metrics::MailboxFigures;
use crate::pipeline::Quiet;
use crate::queue::jobs::{self, End, Job};
use crate::queue::{Db, DbClaims, DbSlots, Leases, QueueError};
use crate::service::{on_own_thread, Ran, RunOptions, Service, Tuning};

/// How a worker goes.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Mailboxes at once (at least 1).
    pub concurrency: usize,
    /// Stop once nothing is queued or running (else wait for more work).
    pub once: bool,
    /// After a stop is asked: how long the mailboxes under way may take
    /// to finish before they are handed back.
    pub grace: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
}

/// What a worker did, for its metrics and its exit.
#[derive(Default)]
pub struct Tally {
    figures: Mutex<BTreeMap<String, MailboxFigures>>,
    done: AtomicU64,
    failed: AtomicU64,
    handed_back: AtomicU64,
}

impl Tally {
    /// The figures of each mailbox's last run here.
    pub fn mailboxes(&self) -> Vec<MailboxFigures> {
        let figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        figures.values().cloned().collect()
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn handed_back(&self) -> u64 {
        self.handed_back.load(Ordering::Relaxed)
    }
}

/// A worker: the service with leases as claims, and what it counts.
pub struct Worker {
    service: Service,
    leases: Arc<Leases>,
    slots: Arc<dyn SharedSlots>,
    gates: Gates,
    pub tally: Tally,
}

impl Worker {
    /// A worker on `db` for the config of `service` (whose claims are
    /// replaced by leases `lease` long).
    pub fn new(service: &Service, db: Arc<Db>) -> Arc<Worker> {
        let config = service.config().clone();
        let leases = Leases::start(db, config.worker.lease);
        let mut gates = Gates::default();
        for a in &config.accounts {
            gates.add(&a.host, a.port, a.max_connections);
        }
        let service = Service::with_claims(config, Arc::new(DbClaims(leases.clone())));
        Arc::new(Worker {
            service,
            slots: Arc::new(Arc::new(DbSlots(leases.clone()))),
            leases,
            gates,
            tally: Tally::default(),
        })
    }

    pub fn db(&self) -> &Arc<Db> {
        self.leases.db()
    }

    /// The worker's own figures now (the queue's depth read from the
    /// database).
    pub async fn figures(&self) -> WorkerFigures {
        WorkerFigures {
            queue_depth: jobs::depth(self.db()).await.ok(),
            lease_takeovers: self.leases.takeovers(),
            jobs_done: self.tally.done(),
            jobs_failed: self.tally.failed(),
        }
    }

    /// Takes and runs jobs until `stop` turns true (or, with `once`, the
    /// queue is empty); then lets the mailboxes under way finish for up to
    /// the grace time, and hands back the rest.
    pub async fn work(
        self: &Arc<Self>,
        opts: &WorkerOptions,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), QueueError> {
        self.service.store()?;
        self.service.ready_index()?;
        let free = Arc::new(Semaphore::new(opts.concurrency.max(1)));
        let (abort_tx, abort) = watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        while !*stop.borrow() {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                p = free.clone().acquire_owned() => p.map_err(|e| QueueError::Task(e.to_string()))?,
                _ = stop.changed() => continue,
            };
            let job = match self.next_job().await {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!("cannot take a job: {e}");
                    None
                }
            };
            if let Some(job) = job {
                let (me, abort) = (self.clone(), abort.clone());
                // Mailboxes side by side keep the network busy (as `run --all`).
                let ahead = decide::fetch_ahead(opts.concurrency);
                running.spawn(async move {
                    me.run_job(job, abort, ahead).await;
                    drop(permit);
                });
                continue;
            }
            drop(permit);
            if opts.once && running.is_empty() && self.idle().await? {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(opts.poll) => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = stop.changed() => {}
            }
        }
        if !running.is_empty() {
            tracing::warn!(
                "stopping: letting {} mailbox(es) finish for up to {:?}",
                running.len(),
                opts.grace
            );
            let finish = async { while running.join_next().await.is_some() {} };
            if tokio::time::timeout(opts.grace, finish).await.is_err() {
                let _ = abort_tx.send(true);
                while running.join_next().await.is_some() {}
            }
        }
        self.leases.settle().await;
        Ok(())
    }

    /// Expired jobs back to the queue, then the oldest queued one.
    async fn next_job(&self) -> Result<Option<Job>, QueueError> {
        let reclaimed = jobs::reclaim(self.db()).await?;
        if reclaimed > 0 {
            tracing::warn!(
                "{reclaimed} job(s) whose worker stopped renewing them went back to the queue"
            );
        }
        let lease = self.leases.lease().as_secs_f64();
        let job = jobs::take(self.db(), self.leases.holder(), lease).await?;
        if let Some(j) = &job {
            self.leases.track_job(j.id, true);
        }
        Ok(job)
    }

    /// Nothing queued or running anywhere (for `--once`).
    async fn idle(&self) -> Result<bool, QueueError> {
        let status = jobs::status(self.db()).await?;
        Ok(status.queued == 0 && status.running == 0)
    }

    /// Runs one job and writes how it ended.
    async fn run_job(&self, job: Job, abort: watch::Receiver<bool>, fetch_ahead: bool) {
        let end = self.run_account(&job, abort, fetch_ahead).await;
        let holder = self.leases.holder();
        let how = match &end {
            Ended::Finished { ok, error, result } => End::Finished {
                ok: *ok,
                error: error.as_deref(),
                result: result.as_deref(),
            },
            Ended::Back { after, why } => End::HandedBack {
                after: after.as_secs_f64(),
                error: Some(why.as_str()),
            },
        };
        match jobs::end(self.db(), job.id, holder, how).await {
            Ok(true) => match &end {
                Ended::Finished { ok: true, .. } => self.tally.done.fetch_add(1, Ordering::Relaxed),
                Ended::Finished { .. } => self.tally.failed.fetch_add(1, Ordering::Relaxed),
                Ended::Back { .. } => self.tally.handed_back.fetch_add(1, Ordering::Relaxed),
            },
            Ok(false) => {
                tracing::warn!(
                    "job {} ({}) was taken back from this worker before it ended",
                    job.id,
                    job.account
                );
                0
            }
            Err(e) => {
                tracing::error!(
                    "cannot record the end of job {} ({}): {e}",
                    job.id,
                    job.account
                );
                0
            }
        };
        self.leases.track_job(job.id, false);
    }

    /// The job's mailbox through `run_mailbox`, stopped early when its
    /// lease is lost or `abort` turns true.
    async fn run_account(
        &self,
        job: &Job,
        abort: watch::Receiver<bool>,
        fetch_ahead: bool,
    ) -> Ended {
        let account = match self.service.account(&job.account) {
            Ok(a) => a.clone(),
            Err(e) => return Ended::failed(e.to_string()),
        };
        let mailbox = crate::service::account::mailbox(&account);
        let lost = self.leases.lost(&mailbox);
        let gate = self
            .gates
            .of(&account.host, account.port, account.max_connections)
            .shared(self.slots.clone());
        let service = self.service.clone();
        let name = account.name.clone();
        let opts = RunOptions {
            // A mailbox another process holds is waited for: its lease is
            // taken over once it expires.
            wait: true,
            tuning: Tuning {
                ahead_floor: 0,
                fetch_ahead,
            },
        };
        let started = Instant::now();
        let connections = self.db().connections();
        let ran = on_own_thread(move || async move {
            let via = |imap| Gated { imap, gate };
            tokio::select! {
                ran = service.run_mailbox(&name, opts, via, &Quiet) => Ok(ran),
                why = stopped(lost, abort) => Err(why),
            }
        })
        .await;
        self.leases.forget(&mailbox);
        let ran = match ran {
            Ok(Ok(ran)) => ran,
            Ok(Err(why)) => {
                return Ended::Back {
                    after: Duration::ZERO,
                    why: why.to_string(),
                }
            }
            Err(e) => return Ended::failed(e.to_string()),
        };
        match &ran {
            // The database failed while claiming: later, maybe elsewhere.
            Ran::Unclaimed(e) => {
                return Ended::Back {
                    after: Duration::from_secs(5),
                    why: e.to_string(),
                }
            }
            Ran::NotStarted(e) if unreachable_index(e) => {
                return self.again(job, e.text());
            }
            _ => {}
        }
        let run = ran.into_mailbox_run(&account.name);
        if run.report.had_trouble() && self.database_went_away(connections).await {
            // The index is in that database: what failed is worth a retry
            // (the journal makes it safe), not a failed mailbox.
            let why = run.report.job.error.clone().unwrap_or_default();
            return self.again(job, format!("the database went away during the run: {why}"));
        }
        let figures = self
            .service
            .figures(&run.report.job, started.elapsed().as_secs_f64());
        self.tally
            .figures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.name.clone(), figures);
        self.ended(job, &account, run).await
    }

    /// Back to the queue for a try a little later, while tries are left
    /// (as a throttled mailbox); else failed.
    fn again(&self, job: &Job, why: String) -> Ended {
        match decide::next(true, job.attempts.max(1) as u32, decide::FIRST_RETRY) {
            decide::Next::RetryAfter(after) => Ended::Back { after, why },
            decide::Next::Finish => Ended::failed(why),
        }
    }

    /// Whether the database was reconnected to since it had made
    /// `connections` connections (asking it now, so that a restart
    /// during the run is noticed even before the heartbeat's next round).
    async fn database_went_away(&self, connections: u64) -> bool {
        let _ = self
            .db()
            .run(|c| async move { c.simple_query("SELECT 1").await })
            .await;
        self.db().connections() > connections
    }

    /// How a job that ran ends: a mailbox the server turned away goes
    /// back to the queue for later, as `run --all` tries it again later
    /// (and every worker backs off the server meanwhile); any other is
    /// finished with its report.
    async fn ended(
        &self,
        job: &Job,
        account: &crate::config::AccountConfig,
        run: crate::service::MailboxRun,
    ) -> Ended {
        let report = &run.report.job;
        if report.throttled {
            let next = decide::next(true, job.attempts.max(1) as u32, decide::FIRST_RETRY);
            if let decide::Next::RetryAfter(wait) = next {
                let server = format!("{}:{}", account.host.to_ascii_lowercase(), account.port);
                let why = report.error.clone().unwrap_or_default();
                if let Err(e) = crate::queue::back_off(&self.leases, &server, wait, &why).await {
                    tracing::warn!("cannot note the back-off of {server}: {e}");
                }
                return Ended::Back { after: wait, why };
            }
        }
        Ended::Finished {
            ok: !run.report.had_trouble(),
            error: report.error.clone().or_else(|| super::trouble(report)),
            result: serde_json::to_string(&run).ok(),
        }
    }
}

/// The index (a database) could not be reached: a restart, a failover.
fn unreachable_index(e: &crate::service::ServiceError) -> bool {
    match e {
        crate::service::ServiceError::Index(i) => i.is_transient(),
        e => e.is_transient(),
    }
}

/// How a job's run ended.
enum Ended {
    Finished {
        ok: bool,
        error: Option<String>,
        result: Option<String>,
    },
    /// Back to the queue after this long.
    Back { after: Duration, why: String },
}

impl Ended {
    fn failed(error: String) -> Ended {
        Ended::Finished {
            ok: false,
            error: Some(error),
            result: None,
        }
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy)]
enum Stopped {
    LeaseLost,
    Aborted,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stopped::LeaseLost => "the mailbox's lease was taken over; handed back",
            Stopped::Aborted => "the worker stopped before the mailbox finished; handed back",
        })
    }
}

/// Resolves when `lost` or `abort` turns true.
async fn stopped(lost: watch::Receiver<bool>, abort: watch::Receiver<bool>) -> Stopped {
    tokio::select! {
        () = turns_true(lost) => Stopped::LeaseLost,
        () = turns_true(abort) => Stopped::Aborted,
    }
}

/// Resolves when the value turns true; never when its sender is gone.
async fn turns_true(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `slimbox worker`: the queue of `service`'s config, a worker on it (with
/// `GET /metrics` on `metrics` when given; `bound` is told the address),
/// working until `stop` turns true or, with `once`, the queue is empty.
pub async fn run(
    service: &Service,
    opts: &WorkerOptions,
    metrics: Option<std::net::SocketAddr>,
    bound: impl FnOnce(std::net::SocketAddr),
    stop: watch::Receiver<bool>,
) -> Result<Arc<Worker>, QueueError> {
    let db = crate::queue::open(service.config()).await?;
    let worker = Worker::new(service, db);
    let mut endpoint = None;
    if let Some(addr) = metrics {
        let me = Arc::downgrade(&worker);
        let exposition: crate::metrics::listen::Exposition = Arc::new(move || {
            let me = me.clone();
            Box::pin(async move {
                let Some(w) = me.upgrade() else {
                    return String::new();
                };
                let figures = w.figures().await;
                crate::metrics::listen::render_worker(&w.tally.mailboxes(), &figures)
            })
        });
        let mut until = stop.clone();
        let done = async move {
            let _ = until.wait_for(|s| *s).await;
        };
        let (addr, task) = crate::metrics::listen::listen(addr, exposition, done)
            .await
            .map_err(|e| QueueError::Task(e.to_string()))?;
        bound(addr);
        endpoint = Some(task);
    }
    let worked = worker.work(opts, stop).await;
    if let Some(task) = endpoint {
        task.abort();
    }
    worked.map(|()| worker)
}
