//! `slimbox run`: the main job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::job;
use crate::config::{AccountConfig, Config};
use crate::index::Index;
use crate::notify::OwnerNote;
use crate::pipeline::{AccountReport, Observer};
use crate::store::Store;
use crate::units::human_size;

/// Move large attachments out of the configured folders, losing nothing.
///
/// For each account: finish whatever an earlier run left in flight, choose
/// candidates on the server, then convert them one by one: fetch, detach,
/// store and verify the attachments, prove the original can be rebuilt,
/// APPEND the smaller copy with the same flags and date, verify it, and only
/// then remove the original (by UID; other deleted messages are never
/// expunged). A lost connection is made again with backoff, and what was
/// in flight is finished in the same run. A second run finds nothing to do.
///
/// Over quota an original may have to go before its smaller copy fits:
/// copies the server refuses are tried again at the end of the run, once
/// the other conversions have freed space; any that still do not fit wait
/// safely in the journal, and the summary names each (subject, date) with
/// what to do.
///
/// One slimbox per mailbox at a time: each account's mailbox (its server,
/// port and user) is claimed before anything else and held to the end, with
/// a lock file in `locks/` beside the index. A mailbox another slimbox is
/// working on is skipped, naming the process that holds it (with --wait,
/// this run waits for it instead); a lock left by a process that died is
/// taken over, and what it left in flight is finished.
///
/// On Gmail an original goes to the Trash and is expunged there (an
/// expunge elsewhere only drops a label). On Microsoft 365 / Outlook.com
/// removed originals stay in Recoverable Items for 14 to 30 days, so the
/// mailbox shrinks only then; the run says so once.
///
/// With `[owner_report]` in the config, each mailbox's owner finds a short
/// message in their INBOX after a run that moved something: what moved
/// (names, sizes, dates), the space freed, and how to get files back (put
/// in with APPEND, or sent over SMTP with `delivery = "smtp"`).
///
/// With --all, every mailbox is one unattended job: up to --concurrency
/// mailboxes at once, at most `max_connections` connections per server;
/// a mailbox another slimbox holds is skipped (busy, never waited for), one
/// the server turns away (too many connections, unavailable) is tried
/// again later in the run, and one that fails never stops the others. The
/// summary has a row per mailbox and a total.
///
/// Exit status 1 if anything failed or still waits, or if a mailbox was
/// busy and skipped; 0 when the connection was lost on the way but the run
/// reconnected and finished everything (a warning says so, and
/// `reconnects` in the JSON and the metrics count it); 2 if the config is
/// wrong.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this account (its `name` in the config).
    #[arg(long)]
    account: Option<String>,
    /// Print a JSON summary instead of the table.
    #[arg(long)]
    json: bool,
    /// When another slimbox is working on a mailbox, wait for it to finish
    /// instead of skipping that mailbox.
    #[arg(long, conflicts_with = "all")]
    wait: bool,
    /// Also write what each mailbox's run did to PATH, in the Prometheus
    /// text format, for node_exporter's textfile collector (name it
    /// `*.prom` in the collector's folder): bytes saved, messages converted,
    /// failures, duration, the time of the last success, and quota before
    /// and after where the server has QUOTA; reconnects where the run
    /// reconnected, and with a `quota_target` the target and whether the
    /// run reached it. Replaced whole, never half written.
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// Every account, in parallel (IT mode).
    #[arg(long, conflicts_with = "account")]
    all: bool,
    /// With --all: how many mailboxes at once.
    #[arg(long, requires = "all", default_value_t = super::fleet::DEFAULT_CONCURRENCY)]
    concurrency: usize,
}

/// One account's report, and whether it was skipped because another
/// slimbox had its mailbox (its `error` then says who).
#[derive(Serialize)]
struct AccountOutcome {
    #[serde(flatten)]
    report: AccountReport,
    busy: bool,
}

struct Bar(ProgressBar);

impl Observer for Bar {
    fn planned(&self, messages: u64, bytes: u64) {
        self.0.set_length(self.0.length().unwrap_or(0) + bytes);
        self.0.set_message(format!("{messages} messages"));
    }
    fn message_done(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn note(&self, text: &str) {
        self.0.suspend(|| eprintln!("slimbox: {text}"));
    }
}

pub async fn run(args: RunArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match job::load_config(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => return Ok(job::config_error(&e)),
    };
    let store = job::open_store(&config)?;
    if args.all {
        let tasks = super::fleet::run_tasks(&config, &store, args.concurrency)?;
        let claims = std::sync::Arc::new(crate::fleet::LockClaims(
            crate::lock::Locks::beside_index(&config.index.path),
        ));
        let opts = super::fleet::options(args.concurrency);
        let index = config.index.path.clone();
        // Created once here, so that the tasks only open it.
        Index::open(&index)?.bind_store(&store.identity())?;
        let outcomes = crate::fleet::run(tasks, claims, opts, store, index).await;
        if let Some(path) = &args.metrics_file {
            let figures = fleet_metrics(&config.index.path, &outcomes)?;
            crate::metrics::write_file(path, &crate::metrics::render(&figures))?;
        }
        return super::fleet::print_run(&outcomes, args.json);
    }
    let mut index = Index::open(&config.index.path)?;
    index.bind_store(&store.identity())?;
    // Drawn only on a terminal; hidden when stderr is a pipe or a file.
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let observer = Bar(bar);
    let mut outcomes = Vec::new();
    let accounts = match config.account(args.account.as_deref()) {
        Ok(accounts) => accounts,
        Err(e) => return Ok(job::config_error(&e.into())),
    };
    let mut figures = Vec::new();
    for &account in &accounts {
        let started = std::time::Instant::now();
        let outcome = run_one(&config, &store, &mut index, account, args.wait, &observer).await;
        figures.push(metrics_row(&index, &outcome, started.elapsed()));
        if let Some(e) = &outcome.report.error {
            if outcome.busy {
                tracing::warn!("account {}: skipped: {e}", account.name);
            } else {
                tracing::error!("account {}: {e}", account.name);
            }
        }
        outcomes.push(outcome);
    }
    observer.0.finish_and_clear();
    let failed = outcomes.iter().any(|o| o.busy || o.report.had_trouble());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        print_summary(&outcomes);
    }
    if let Some(path) = &args.metrics_file {
        crate::metrics::write_file(path, &crate::metrics::render(&figures))?;
    }
    for w in outcomes.iter().filter_map(|o| o.report.reconnect_warning()) {
        // Whatever the output format: the run succeeded, but say so.
        eprintln!("slimbox: warning: {w}");
    }
    if let Some(note) = job::recoverable_items_note(&accounts) {
        // Once per run, whatever the output format.
        eprintln!("slimbox: note: {note}");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One account: claim its mailbox, then the job, holding the claim to the
/// end (recovery included).
async fn run_one(
    config: &Config,
    store: &Store,
    index: &mut Index,
    account: &AccountConfig,
    wait: bool,
    observer: &Bar,
) -> AccountOutcome {
    let failed = |error: String, busy: bool| AccountOutcome {
        report: AccountReport {
            error: Some(error),
            ..AccountReport::new(&account.name)
        },
        busy,
    };
    let _claim = match job::claim(config, account, "run", wait).await {
        Ok(claim) => claim,
        Err(e) => return failed(e.to_string(), e.is_busy()),
    };
    let policy = match job::with_signed_links(config, job::job_policy(config, store, account)) {
        Ok(policy) => policy,
        Err(e) => return failed(format!("{e:#}"), false),
    };
    let imap = match job::imap_config(account) {
        Ok(imap) => imap,
        Err(e) => return failed(format!("{e:#}"), false),
    };
    // What this run adds to the index comes after this row.
    // Without the mark no report: it could list what earlier runs moved.
    let mark = index.last_message().ok();
    let mut report =
        crate::pipeline::run_account(&imap, store, index, &account.name, &policy, observer).await;
    if let (Some(cfg), Some(mark)) = (&config.owner_report, mark) {
        let way_back = job::way_back(config, job::page_secret(config).as_ref(), account);
        crate::notify::after_run(&imap, index, account, cfg, &way_back, mark, &mut report).await;
    }
    AccountOutcome {
        report,
        busy: false,
    }
}

/// One mailbox's figures for `--metrics-file`; a run without trouble is
/// noted in the index first, so the time of the last success outlives runs
/// that fail.
fn metrics_row(
    index: &Index,
    outcome: &AccountOutcome,
    took: std::time::Duration,
) -> crate::metrics::MailboxFigures {
    let account = &outcome.report.account;
    if !outcome.busy && !outcome.report.had_trouble() {
        if let Err(e) = index.record_success(account, crate::dates::now_unix()) {
            tracing::warn!("account {account}: cannot note the run's success in the index: {e}");
        }
    }
    let last = index.last_success(account).unwrap_or_else(|e| {
        tracing::warn!("account {account}: cannot read the last success from the index: {e}");
        None
    });
    crate::metrics::MailboxFigures::of(&outcome.report, took.as_secs_f64(), last)
}

/// The metrics of a `run --all`: one row per mailbox, the last success
/// noted for those that went well.
fn fleet_metrics(
    index_path: &std::path::Path,
    outcomes: &[crate::fleet::Outcome<AccountReport>],
) -> anyhow::Result<Vec<crate::metrics::MailboxFigures>> {
    let index = Index::open(index_path)?;
    let mut rows = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let outcome = AccountOutcome {
            report: o.report.clone().unwrap_or_else(|| AccountReport {
                error: o.error.clone(),
                ..AccountReport::new(&o.account)
            }),
            busy: o.status == crate::fleet::Status::Busy,
        };
        let mut row = metrics_row(&index, &outcome, std::time::Duration::ZERO);
        row.duration_seconds = o.seconds;
        rows.push(row);
    }
    Ok(rows)
}

/// The summary table, then what each account needs said.
fn print_summary(outcomes: &[AccountOutcome]) {
    let mut rows = Vec::new();
    for r in outcomes.iter().map(|o| &o.report) {
        for f in &r.folders {
            rows.push(vec![
                format!("{} {}", r.account, f.folder),
                f.converted.to_string(),
                f.skipped.to_string(),
                f.failed.to_string(),
                human_size(f.bytes_before),
                human_size(f.bytes_after),
                human_size(f.bytes_before.saturating_sub(f.bytes_after)),
            ]);
        }
    }
    job::print_table(
        &[
            "account folder",
            "converted",
            "left alone",
            "failed",
            "before",
            "after",
            "saved",
        ],
        &rows,
    );
    for o in outcomes {
        let (r, busy) = (&o.report, o.busy);
        if r.recovered > 0 {
            println!(
                "{}: finished or rolled back {} message(s) left in flight (by an earlier run or a lost connection)",
                r.account, r.recovered
            );
        }
        if let Some(t) = &r.quota_target {
            println!("{}: quota target: {}", r.account, t.text());
        }
        if r.reconnects > 0 {
            println!(
                "{}: lost the connection {} time(s); reconnected and finished what was in flight",
                r.account, r.reconnects
            );
        }
        match &r.error {
            Some(e) if busy => println!(
                "{}: skipped: {e}; `slimbox run --wait` waits for it instead",
                r.account
            ),
            Some(e) => println!("{}: stopped: {e}", r.account),
            None => {}
        }
        print_waiting(r);
        print_owner_note(&r.account, r.owner_report.as_ref());
    }
}

fn print_owner_note(account: &str, note: Option<&OwnerNote>) {
    match note {
        Some(OwnerNote { error: Some(e), .. }) => {
            println!("{account}: the owner report was not delivered: {e}")
        }
        Some(n) => println!(
            "{account}: the owner was told in their INBOX what moved ({} file(s))",
            n.files
        ),
        None => {}
    }
}

/// The messages the journal still holds, by subject and date, and why.
fn print_waiting(r: &AccountReport) {
    if r.waiting.is_empty() {
        return;
    }
    println!(
        "{}: {} message(s) are not back on the server yet:",
        r.account,
        r.waiting.len()
    );
    for w in &r.waiting {
        println!(
            "  {} | {} | {}",
            w.folder,
            w.subject.as_deref().unwrap_or("(no subject)"),
            w.date.as_deref().unwrap_or("(no date)")
        );
    }
    let mut whys: Vec<&str> = r.waiting.iter().map(|w| w.why.as_str()).collect();
    whys.dedup();
    for why in whys {
        println!("  -> {why}");
    }
}
