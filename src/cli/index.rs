//! `slimbox index`: work on the local index.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::job;
use crate::config::AccountConfig;
use crate::index::Index;
use crate::rebuild::{self, AccountRebuild};

/// Work on the local index (what was detached, from where).
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    Rebuild(RebuildArgs),
}

/// Write the index again from the mailboxes, after it was lost.
///
/// Every message slimbox converted carries what was detached from it (its
/// X-Slimbox header, and a recipe in each stub), so `list`, `restore` and
/// `reattach` work again afterwards. Every folder is read with EXAMINE and
/// BODY.PEEK: nothing on the server changes. Each object is looked up in
/// the store (with --read-data read and its SHA-256 checked); a message
/// whose object is missing is written all the same and reported. Messages
/// the index has already are left as they are, so it is safe to run again.
/// The original's UID is not known any more (the index keeps 0), and the
/// flags are the converted copy's as they are now. Like `run`, it claims
/// each mailbox first: one another slimbox is working on stops it with the
/// name of that process.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Only this account.
    #[arg(long)]
    account: Option<String>,
    /// Read every object whole and check its SHA-256 (slower).
    #[arg(long)]
    read_data: bool,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: IndexArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match args.command {
        IndexCommand::Rebuild(a) => rebuild(a, config_path).await,
    }
}

async fn rebuild(args: RebuildArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let accounts: Vec<AccountConfig> = config
        .account(args.account.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let store = job::open_store(&config)?;
    let mut index = Index::open(&config.index.path)?;
    index.bind_store(&store.identity())?;
    // A run converting a mailbox meanwhile would write the same messages:
    // each mailbox is claimed for the whole rebuild, as `run` does.
    let mut claims = Vec::new();
    for a in &accounts {
        claims.push(job::claim(&config, a, "slimbox index rebuild", false).await?);
    }
    let connect = async |a: &AccountConfig| job::connect(a).await.map_err(Into::into);
    let done = rebuild::rebuild(&store, &mut index, &accounts, connect, args.read_data).await?;
    drop(claims);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        print_summary(&done);
    }
    Ok(if done.iter().all(|a| a.findings.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_summary(done: &[AccountRebuild]) {
    for a in done {
        println!(
            "{}: {} converted messages found in {} folders; {} written to the index \
             ({} parts), {} already there; {} objects checked",
            a.account, a.found, a.folders, a.written, a.parts, a.known, a.objects_checked
        );
        for f in &a.findings {
            println!("  problem: {f}");
        }
    }
}
