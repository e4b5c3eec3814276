//! What `run --all` and `scan --all` share: their options, and the
//! summary with a row per mailbox and a total (the scheduler itself is
//! `crate::fleet`).

use std::process::ExitCode;

use serde::Serialize;

use super::print::print_table;
use crate::fleet::{decide, Options, Outcome, Status, Totals};
use crate::service::RunReport;
use crate::units::human_size;

/// Mailboxes at once when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 4;

pub fn options(concurrency: usize) -> Options {
    Options {
        concurrency: concurrency.max(1),
        first_retry: decide::FIRST_RETRY,
    }
}

/// `--json`: one object per mailbox, and the totals.
#[derive(Serialize)]
struct Json<'a, R> {
    mailboxes: &'a [Outcome<R>],
    totals: Totals,
}

/// Prints a `run --all` and returns its exit status.
pub fn print_run(outcomes: &[Outcome<RunReport>], json: bool) -> anyhow::Result<ExitCode> {
    let rows: Vec<_> = outcomes
        .iter()
        .map(|o| {
            (
                o.status,
                crate::fleet::figures(o.report.as_ref().map(|r| &r.job)),
            )
        })
        .collect();
    let totals = decide::totals(&rows);
    if json {
        let out = Json {
            mailboxes: outcomes,
            totals,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let mut table = Vec::new();
        for (o, (_, f)) in outcomes.iter().zip(&rows) {
            table.push(vec![
                o.account.clone(),
                status_word(o.status).to_string(),
                f.converted.to_string(),
                f.failed_messages.to_string(),
                human_size(f.bytes_before.saturating_sub(f.bytes_after)),
                format!("{:.1}s", o.seconds),
            ]);
        }
        table.push(vec![
            format!("total ({} mailboxes)", totals.mailboxes),
            format!("{} ok", totals.ok),
            totals.converted.to_string(),
            totals.failed_messages.to_string(),
            human_size(totals.bytes_saved),
            String::new(),
        ]);
        print_table(
            &["mailbox", "status", "converted", "failed", "saved", "time"],
            &table,
        );
        print_errors(outcomes);
    }
    if !json {
        // Issue 25: where each mailbox with a quota target ended.
        for r in outcomes.iter().filter_map(|o| o.report.as_ref()) {
            if let Some(t) = &r.job.quota_target {
                println!("{}: quota target: {}", r.job.account, t.text());
            }
        }
    }
    // Whatever the output format: the run succeeded, but say so.
    for r in outcomes.iter().filter_map(|o| o.report.as_ref()) {
        if let Some(w) = r.reconnect_warning() {
            eprintln!("slimbox: warning: {w}");
        }
    }
    let status = decide::exit_status(outcomes.iter().map(|o| o.status));
    Ok(ExitCode::from(status))
}

/// Each failed or busy mailbox, with why.
pub fn print_errors<R>(outcomes: &[Outcome<R>]) {
    for o in outcomes {
        if let Some(e) = &o.error {
            let tries = if o.attempts > 1 {
                format!(" (after {} tries)", o.attempts)
            } else {
                String::new()
            };
            println!("{}: {}{tries}: {e}", o.account, status_word(o.status));
        }
    }
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "failed",
        Status::Busy => "busy",
    }
}
