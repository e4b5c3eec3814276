//! `slimbox enqueue`: puts mailboxes into the work queue.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print;

/// Queue mailboxes for `slimbox worker` (e.g. nightly from a CronJob).
///
/// One job per account; an account that already has a queued job gets no
/// second one. The queue lives in the PostgreSQL index (`[index] url`).
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The account to queue (its `name` in the config).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    account: Option<String>,
    /// Every account of the config.
    #[arg(long)]
    all: bool,
}

pub async fn run(args: EnqueueArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = match print::open(config_path.as_deref()) {
        Ok(service) => service,
        Err(e) => return Ok(print::config_error(&e)),
    };
    let names: Vec<String> = match service.accounts(args.account.as_deref()) {
        Ok(accounts) => accounts.iter().map(|a| a.name.clone()).collect(),
        Err(e) => return Ok(print::config_error(&e.into())),
    };
    let queued = crate::queue::enqueue(service.config(), &names).await?;
    let new = queued.iter().filter(|id| id.is_some()).count();
    println!(
        "queued {new} mailbox(es); {} already had a job waiting",
        queued.len() - new
    );
    Ok(ExitCode::SUCCESS)
}
