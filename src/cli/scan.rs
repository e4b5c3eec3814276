//! `slimbox scan`: what `run` would do, changing nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::job;
use crate::index::Index;
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
}

pub async fn run(args: ScanArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let index = Index::open(&config.index.path)?;
    let mut plans = Vec::new();
    let mut rows = Vec::new();
    let accounts = config.account(args.account.as_deref())?;
    for &account in &accounts {
        let policy = job::job_policy(&config, &store, account);
        let imap = job::imap_config(account)?;
        let plan = crate::pipeline::scan_account(&imap, &index, &account.name, &policy)
            .await
            .with_context(|| format!("account {}", account.name))?;
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
        job::print_table(
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
    if let Some(note) = job::recoverable_items_note(&accounts) {
        // Once per run, whatever the output format.
        eprintln!("slimbox: note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Each account's quota, and the warning when it is at or over it.
fn print_quotas(plans: &[crate::pipeline::AccountPlan]) {
    for plan in plans {
        let Some(q) = &plan.quota else { continue };
        println!("account {}: quota {}", plan.account, q.usage_text());
        if let Some(w) = &q.warning {
            println!("warning: account {}: {w}", plan.account);
        }
    }
}
