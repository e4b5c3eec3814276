//! `slimbox run`: the main job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::job;
use crate::config::{AccountConfig, Config};
use crate::index::Index;
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
/// With --all, every mailbox is one unattended job: up to --concurrency
/// mailboxes at once, at most `max_connections` connections per server;
/// a mailbox another slimbox holds is skipped (busy, never waited for), one
/// the server turns away (too many connections, unavailable) is tried
/// again later in the run, and one that fails never stops the others. The
/// summary has a row per mailbox and a total.
///
/// Exit status 1 if anything failed or still waits, if a mailbox was busy
/// and skipped, or if the connection was lost on the way (even when the run
/// reconnected and finished: the summary says so); 2 if the config is
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
        let tasks = super::fleet::tasks(&config, &store);
        let claims = std::sync::Arc::new(crate::fleet::LockClaims(
            crate::lock::Locks::beside_index(&config.index.path),
        ));
        let opts = super::fleet::options(args.concurrency);
        let index = config.index.path.clone();
        // Created once here, so that the tasks only open it.
        drop(Index::open(&index)?);
        let outcomes = crate::fleet::run(tasks, claims, opts, store, index).await;
        return super::fleet::print_run(&outcomes, args.json);
    }
    let mut index = Index::open(&config.index.path)?;
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
    for &account in &accounts {
        let outcome = run_one(&config, &store, &mut index, account, args.wait, &observer).await;
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
    let policy = job::job_policy(config, store, account);
    let imap = match job::imap_config(account) {
        Ok(imap) => imap,
        Err(e) => return failed(format!("{e:#}"), false),
    };
    let report =
        crate::pipeline::run_account(&imap, store, index, &account.name, &policy, observer).await;
    AccountOutcome {
        report,
        busy: false,
    }
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
    for (r, busy) in outcomes.iter().map(|o| (&o.report, o.busy)) {
        if r.recovered > 0 {
            println!(
                "{}: finished or rolled back {} message(s) left in flight (by an earlier run or a lost connection)",
                r.account, r.recovered
            );
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
