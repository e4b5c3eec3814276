//! What `run --all` and `scan --all` share: the tasks built from the
//! config (the scheduler itself is `crate::fleet`), and the summary with a
//! row per mailbox and a total.

use std::process::ExitCode;

use serde::Serialize;

use super::job;
use crate::config::Config;
use crate::fleet::{decide, Gates, Options, Outcome, OwnerTask, Status, Task, Totals};
use crate::lock::Mailbox;
use crate::pipeline::AccountReport;
use crate::store::Store;
use crate::units::human_size;

/// Mailboxes at once when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// One task per account, all sharing one gate per server.
pub fn tasks(config: &Config, store: &Store) -> Vec<Task> {
    let mut gates = Gates::default();
    for a in &config.accounts {
        gates.add(&a.host, a.port, a.max_connections);
    }
    config
        .accounts
        .iter()
        .map(|a| Task {
            account: a.name.clone(),
            mailbox: Mailbox::new(&a.host, a.port, &a.user),
            imap: job::imap_config(a).map_err(|e| format!("{e:#}")),
            policy: job::job_policy(config, store, a),
            gate: gates.of(&a.host, a.port, a.max_connections),
            owner: None,
        })
        .collect()
}

/// The tasks of `run --all`: as [`tasks`], with signed links in the stubs
/// (`[links] base_url`) and the owner report (`[owner_report]`).
pub fn run_tasks(config: &Config, store: &Store, concurrency: usize) -> anyhow::Result<Vec<Task>> {
    let signed = job::signed_links(config)?;
    let mut tasks = tasks(config, store);
    let secret = config
        .owner_report
        .as_ref()
        .and_then(|_| job::page_secret(config));
    for (task, account) in tasks.iter_mut().zip(&config.accounts) {
        // Mailboxes side by side keep the network busy; each holds only
        // its largest message ahead (the bound: N x 2 x largest + 64 MiB).
        task.policy.ahead_floor = 0;
        task.policy.fetch_ahead = decide::fetch_ahead(concurrency);
        if let Some(links) = &signed {
            task.policy.links = crate::mime::Links::Signed(links.clone());
        }
        task.owner = config.owner_report.as_ref().map(|cfg| OwnerTask {
            account: account.clone(),
            cfg: cfg.clone(),
            way_back: job::way_back(config, secret.as_ref(), account),
        });
    }
    Ok(tasks)
}

pub fn options(concurrency: usize) -> Options {
    Options {
        concurrency: concurrency.max(1),
        first_retry: decide::FIRST_RETRY,
        command: "run",
    }
}

/// `--json`: one object per mailbox, and the totals.
#[derive(Serialize)]
struct Json<'a, R> {
    mailboxes: &'a [Outcome<R>],
    totals: Totals,
}

/// Prints a `run --all` and returns its exit status.
pub fn print_run(outcomes: &[Outcome<AccountReport>], json: bool) -> anyhow::Result<ExitCode> {
    let rows: Vec<_> = outcomes
        .iter()
        .map(|o| (o.status, crate::fleet::figures(o.report.as_ref())))
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
        job::print_table(
            &["mailbox", "status", "converted", "failed", "saved", "time"],
            &table,
        );
        print_errors(outcomes);
    }
    if !json {
        // Issue 25: where each mailbox with a quota target ended.
        for r in outcomes.iter().filter_map(|o| o.report.as_ref()) {
            if let Some(t) = &r.quota_target {
                println!("{}: quota target: {}", r.account, t.text());
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
