//! `slimbox worker`: takes mailbox jobs from the queue until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::print;
use crate::fleet::worker::{self, WorkerOptions};

/// Work on the mailboxes queued in PostgreSQL (`slimbox enqueue`), with
/// any number of workers on any hosts.
///
/// Each job is one mailbox, run as `slimbox run` runs it. Its claim is a
/// lease in the database, renewed every third of `[worker] lease`
/// (default 60 s): no two workers ever work one mailbox, and the mailbox
/// of a worker that died is taken over once its lease expires (what it
/// left in flight is finished then). `max_connections` per server holds
/// across all workers, and a server that turns connections away makes
/// every worker back off. The result of each mailbox is a row that
/// `slimbox status` reads.
///
/// SIGTERM or SIGINT: no new jobs; the mailboxes under way finish for up
/// to --grace, the rest go back to the queue with their leases released;
/// exit 0. The queue lives in the PostgreSQL index (`[index] url`); a
/// database that restarts is reconnected to.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// How many mailboxes at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Serve the metrics at http://ADDR/metrics for Prometheus: the figures
    /// of `run --metrics-file` for each mailbox this worker ran, plus the
    /// queue's depth, leases taken over, and jobs done and failed.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Stop once nothing is queued or running, instead of waiting for work.
    #[arg(long)]
    once: bool,
    /// After SIGTERM: how many seconds the mailboxes under way may take to
    /// finish before they are handed back.
    #[arg(long, default_value_t = 90, value_name = "SECONDS")]
    grace: u64,
}

pub async fn run(args: WorkerArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = match print::open(config_path.as_deref()) {
        Ok(service) => service,
        Err(e) => return Ok(print::config_error(&e)),
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stopping().await;
        eprintln!("slimbox: worker: stopping (no new jobs)");
        let _ = stop_tx.send(true);
    });
    let opts = WorkerOptions {
        concurrency: args.concurrency.max(1),
        once: args.once,
        grace: Duration::from_secs(args.grace),
        poll: Duration::from_secs(1),
    };
    let bound = |addr| eprintln!("slimbox: worker: metrics at http://{addr}/metrics");
    let worker = worker::run(&service, &opts, args.metrics_listen, bound, stop).await?;
    let t = &worker.tally;
    eprintln!(
        "slimbox: worker: {} mailbox(es) done, {} failed, {} handed back",
        t.done(),
        t.failed(),
        t.handed_back()
    );
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (Kubernetes stopping a pod) or SIGINT (Ctrl-C).
async fn stopping() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
