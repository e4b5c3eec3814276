//! The command line: one file per command, whose doc comment is its `--help`.
//! Only this module (and main.rs) uses anyhow; the library modules have their
//! own error types.

mod eml;
mod enqueue;
mod erase;
mod fleet;
mod gc;
mod hold;
mod index;
mod link;
mod list;
mod login;
mod page;
mod print;
mod reattach;
mod restore;
mod run;
mod scan;
mod serve;
mod stats;
mod status;
mod store;
mod verify;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps mailboxes under quota by moving large attachments into
/// content-addressed storage, leaving a working link in each message, and
/// giving every byte back on demand.
#[derive(Debug, Parser)]
#[command(name = "slimbox", version, about, long_about = None)]
pub struct Cli {
    /// The config file (default: $SLIMBOX_CONFIG, else
    /// $XDG_CONFIG_HOME/slimbox/config.toml).
    #[arg(long, global = true)]
    pub config: Option<std::path::PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Scan(scan::ScanArgs),
    Run(run::RunArgs),
    List(list::ListArgs),
    Stats(stats::StatsArgs),
    Restore(restore::RestoreArgs),
    Reattach(reattach::ReattachArgs),
    Verify(verify::VerifyArgs),
    Eml(eml::EmlArgs),
    Index(index::IndexArgs),
    Login(login::LoginArgs),
    Store(store::StoreArgs),
    Link(link::LinkArgs),
    Page(page::PageArgs),
    Serve(serve::ServeArgs),
    Worker(worker::WorkerArgs),
    Enqueue(enqueue::EnqueueArgs),
    Status(status::StatusArgs),
    Hold(hold::HoldArgs),
    Release(hold::ReleaseArgs),
    Erase(erase::EraseArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Two threads: while the job's thread is busy (an SQLite fsync, a
    // message being parsed), the other keeps reading the message fetched
    // ahead, so the server keeps sending. Each message's safety order is
    // still one sequence of steps (src/pipeline/).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The server's access log is its output: shown without -v.
        let access = match cli.command {
            Command::Serve(_) => ",slimbox::serve=info",
            _ => "",
        };
        tracing_subscriber::EnvFilter::new(format!("slimbox={level}{access}"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match cli.command {
        Command::Scan(args) => rt.block_on(scan::run(args, cli.config)),
        Command::Run(args) => rt.block_on(run::run(args, cli.config)),
        Command::List(args) => list::run(args, cli.config),
        Command::Stats(args) => stats::run(args, cli.config),
        Command::Restore(args) => rt.block_on(restore::run(args, cli.config)),
        Command::Reattach(args) => rt.block_on(reattach::run(args, cli.config)),
        Command::Verify(args) => rt.block_on(verify::run(args, cli.config)),
        Command::Eml(args) => rt.block_on(eml::run(args, cli.config)),
        Command::Index(args) => rt.block_on(index::run(args, cli.config)),
        Command::Login(args) => rt.block_on(login::run(args, cli.config)),
        Command::Store(args) => rt.block_on(store::run(args, cli.config)),
        Command::Link(args) => link::run(args, cli.config),
        Command::Page(args) => page::run(args, cli.config),
        Command::Serve(args) => rt.block_on(serve::run(args, cli.config)),
        Command::Worker(args) => rt.block_on(worker::run(args, cli.config)),
        Command::Enqueue(args) => rt.block_on(enqueue::run(args, cli.config)),
        Command::Status(args) => rt.block_on(status::run(args, cli.config)),
        Command::Hold(args) => hold::hold(args, cli.config),
        Command::Release(args) => hold::release(args, cli.config),
        Command::Erase(args) => rt.block_on(erase::run(args, cli.config)),
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder,
/// synced, then renamed over the target, so a crash never leaves half a file.
pub(crate) fn write_atomic(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| anyhow::anyhow!("cannot write into {}: {e}", dir.display()))?;
    tmp.write_all(data)?;
    // A temporary file is private (0600); the result should look like any
    // other file the user writes, or keep the mode of the file it replaces.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o777);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}
