//! `slimbox erase --account A --yes`: erase a mailbox from slimbox.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print;
use crate::units::human_size;

/// Erase a mailbox from slimbox, at once (no grace): every index row of
/// the account and every object, readable copy and compressed form only
/// it used. Files other mailboxes also use stay, no longer linked to it.
/// Prints what it removed. A mailbox under legal hold is refused. Its
/// messages on the server are not touched. Interrupted, the same command
/// (or `store gc`) finishes it.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The account to erase.
    #[arg(long, value_name = "A")]
    account: String,
    /// Confirm: without it nothing is erased.
    #[arg(long)]
    yes: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: EraseArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let out = service.erase(&args.account, args.yes).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for o in &out.objects {
        println!(
            "removed object {}  {}",
            o.sha256,
            human_size(o.stored_bytes)
        );
    }
    println!(
        "erased {}: {} messages ({} parts) and {} journal entries from the index; {} objects \
         ({}) and {} readable copies from the store; {} objects other mailboxes use kept",
        out.account,
        out.rows.messages,
        out.rows.parts,
        out.rows.journal,
        out.objects.len(),
        human_size(out.bytes),
        out.readable_copies_removed,
        out.shared_kept
    );
    Ok(ExitCode::SUCCESS)
}
