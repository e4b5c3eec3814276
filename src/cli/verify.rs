//! `slimbox verify`: check that everything slimbox moved can come back.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Check the index, the store and the server agree: every detached part has
/// its object; with --read-data every object is read and its SHA-256
/// checked; every processed message still on the server resolves to stored
/// objects; orphans are listed. Exits non-zero on any problem, saying what
/// is wrong and how to repair it.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read every object and check its SHA-256 (slower: reads the whole store).
    #[arg(long)]
    read_data: bool,
    /// Only this account's messages on the server.
    #[arg(long)]
    account: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(_args: VerifyArgs, _config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("verify is not implemented yet")
}
