//! `slimbox index`: work on the local index.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::print;
use crate::config::AccountConfig;
use crate::rebuild::AccountRebuild;

/// Work on the local index (what was detached, from where).
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    Rebuild(RebuildArgs),
    Migrate(MigrateArgs),
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

/// Copy this host's SQLite index into a shared PostgreSQL database.
///
/// Every row goes, with its ids: what was converted, the journal of
/// anything in flight, what was left alone, last successes, the store the
/// index belongs to. The database must be empty (its tables are created
/// here); the SQLite file is left as it was. Every mailbox of the config is
/// claimed first, so no run writes to the index while it is copied. Then
/// point the config at the database (`[index] url`, printed at the end):
/// `list`, `stats`, `restore` and every other command read the same.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=...]
    /// (TLS, verified, unless sslmode says otherwise; no password here).
    #[arg(long, value_name = "URL")]
    to: String,
    /// The environment variable holding the database password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_command")]
    password_env: Option<String>,
    /// A command that prints the database password.
    #[arg(long, value_name = "COMMAND")]
    password_command: Option<String>,
    /// A private certificate authority for the database's certificate.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<String>,
    /// Print what was copied as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: IndexArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match args.command {
        IndexCommand::Rebuild(a) => rebuild(a, config_path).await,
        IndexCommand::Migrate(a) => migrate(a, config_path).await,
    }
}

async fn rebuild(args: RebuildArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let accounts: Vec<AccountConfig> = service
        .accounts(args.account.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let done = service.rebuild_index(&accounts, args.read_data).await?;
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

async fn migrate(args: MigrateArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let to = crate::config::database_from_args(
        &args.to,
        args.password_env,
        args.password_command,
        args.ca_file,
    )?;
    let done = service.migrate_index(&to).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
        return Ok(ExitCode::SUCCESS);
    }
    for t in &done.tables {
        println!("{}: {} rows", t.table, t.rows);
    }
    println!(
        "copied {} to {}; the SQLite file is left as it was. Now put in the config:\n\n\
         [index]\nurl = \"{}\"",
        done.from, done.to, done.to
    );
    if let Some(key) = &done.password_key {
        println!("{key}");
    }
    Ok(ExitCode::SUCCESS)
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
