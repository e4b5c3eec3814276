//! `slimbox scan`: what `run` would do, changing nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print::{self, print_table};
use crate::service::Service;
use crate::units::human_size;

/// Show, per folder, the messages and bytes `slimbox run` would save.
///
/// Makes the same selection as `run` (server-side search, then
/// BODYSTRUCTURE) but changes nothing: folders are opened read-only and no
/// message is downloaded. Where the server has QUOTA, it shows how full the
/// mailbox is and warns at 95% of the limit or more, saying how the run
/// will proceed. A `\\Sent` or `\\Archive` folder the server does not mark
/// (Microsoft marks none) is found by its usual name ("Sent Items"), and
/// the scan says so; on Microsoft 365 / Outlook.com it also says that the
/// mailbox shrinks only weeks after a run (Recoverable Items).
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Only this account (its `name` in the config).
    #[arg(long)]
    account: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    /// Every account, in parallel (as `run --all`; a mailbox that cannot
    /// be scanned is reported and the others go on; exit status 1 then).
    #[arg(long, conflicts_with = "account")]
    all: bool,
    /// With --all: how many mailboxes at once.
    #[arg(long, requires = "all", default_value_t = super::fleet::DEFAULT_CONCURRENCY)]
    concurrency: usize,
}

pub async fn run(args: ScanArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    if args.all {
        return scan_all(service, &args).await;
    }
    service.ready_index()?;
    let mut plans = Vec::new();
    let mut rows = Vec::new();
    let accounts = service.accounts(args.account.as_deref())?;
    for &account in &accounts {
        let plan = service
            .scan_mailbox(&account.name, std::convert::identity)
            .await
            .map_err(|e| e.in_account(&account.name))?;
        for f in &plan.folders {
            let bytes: u64 = f.candidates.iter().map(|c| c.size).sum();
            let att: u64 = f.candidates.iter().map(|c| c.attachment_bytes).sum();
            rows.push(vec![
                format!("{} {}", account.name, f.folder),
                f.candidates.len().to_string(),
                human_size(bytes),
                format!("~{}", human_size(att)),
                f.skipped.len().to_string(),
            ]);
        }
        plans.push(plan);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
    } else {
        print_table(
            &[
                "account folder",
                "messages",
                "size",
                "would save",
                "left alone",
            ],
            &rows,
        );
        print_quotas(&plans);
        for plan in &plans {
            for n in &plan.notes {
                println!("account {}: {n}", plan.account);
            }
        }
    }
    if let Some(note) = print::recoverable_items_note(&accounts) {
        // Once per run, whatever the output format.
        eprintln!("slimbox: note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `scan --all`: the plans of all accounts, in parallel.
async fn scan_all(service: Service, args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let opts = super::fleet::options(args.concurrency);
    let outcomes = crate::fleet::scan(service, opts).await?;
    if args.json {
        // As `run --all --json`: one object per mailbox.
        let out = serde_json::json!({ "mailboxes": outcomes });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let mut rows = Vec::new();
        for o in &outcomes {
            let plan = o.report.as_ref();
            let c = plan
                .iter()
                .flat_map(|p| &p.folders)
                .flat_map(|f| &f.candidates);
            let (n, bytes, att) = c.fold((0, 0, 0), |(n, b, a), c| {
                (n + 1, b + c.size, a + c.attachment_bytes)
            });
            rows.push(vec![
                o.account.clone(),
                super::fleet::status_word(o.status).to_string(),
                n.to_string(),
                human_size(bytes),
                format!("~{}", human_size(att)),
            ]);
        }
        print_table(
            &["mailbox", "status", "messages", "size", "would save"],
            &rows,
        );
        super::fleet::print_errors(&outcomes);
        // Issue 25: as `scan` for one account, each mailbox's quota target.
        for plan in outcomes.iter().filter_map(|o| o.report.as_ref()) {
            if let Some(t) = &plan.target {
                println!("account {}: quota target: {}", plan.account, t.text());
            }
        }
    }
    let status = crate::fleet::decide::exit_status(outcomes.iter().map(|o| o.status));
    Ok(ExitCode::from(status))
}

/// Each account's quota, and the warning when it is at or over it; with a
/// `quota_target`, usage now, the target, usage after, and what moves (the
/// table's messages are those).
fn print_quotas(plans: &[crate::pipeline::AccountPlan]) {
    for plan in plans {
        if let Some(t) = &plan.target {
            println!("account {}: quota target: {}", plan.account, t.text());
        }
        let Some(q) = &plan.quota else { continue };
        println!("account {}: quota {}", plan.account, q.usage_text());
        if let Some(w) = &q.warning {
            println!("warning: account {}: {w}", plan.account);
        }
    }
}
