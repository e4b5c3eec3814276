//! `slimbox run`: the main job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::job;
use crate::index::Index;
use crate::pipeline::{AccountReport, Observer};
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
/// Exit status 1 if anything failed or still waits, or if the connection
/// was lost on the way (even when the run reconnected and finished: the
/// summary says so).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this account (its `name` in the config).
    #[arg(long)]
    account: Option<String>,
    /// Print a JSON summary instead of the table.
    #[arg(long)]
    json: bool,
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
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
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
    let mut reports = Vec::new();
    for account in config.account(args.account.as_deref())? {
        let policy = job::job_policy(&config, &store, account);
        let report = match job::imap_config(account) {
            Ok(imap) => {
                crate::pipeline::run_account(
                    &imap,
                    &store,
                    &mut index,
                    &account.name,
                    &policy,
                    &observer,
                )
                .await
            }
            Err(e) => AccountReport {
                error: Some(format!("{e:#}")),
                ..AccountReport::new(&account.name)
            },
        };
        if let Some(e) = &report.error {
            tracing::error!("account {}: {e}", account.name);
        }
        reports.push(report);
    }
    observer.0.finish_and_clear();
    let failed = reports.iter().any(AccountReport::had_trouble);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print_summary(&reports);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The summary table, then what each account needs said.
fn print_summary(reports: &[AccountReport]) {
    let mut rows = Vec::new();
    for r in reports {
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
    for r in reports {
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
        if let Some(e) = &r.error {
            println!("{}: stopped: {e}", r.account);
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
