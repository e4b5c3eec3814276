//! `slimbox status`: the work queue, who holds which mailbox, and the last
//! result of each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print::{self, print_table};

/// What the workers are doing: jobs queued and running, who holds which
/// mailbox since when (a lease past its expiry is free to be taken over),
/// and the last result of each mailbox, failures first. Reads the queue's
/// database (the PostgreSQL index, `[index] url`).
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatusArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = match print::open(config_path.as_deref()) {
        Ok(service) => service,
        Err(e) => return Ok(print::config_error(&e)),
    };
    let status = crate::queue::status(service.config()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "queue: {} queued, {} running",
        status.queued, status.running
    );
    if !status.leases.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = status
            .leases
            .iter()
            .map(|l| {
                vec![
                    l.account.clone(),
                    l.holder.clone(),
                    time(l.since),
                    if l.expired {
                        "expired".into()
                    } else {
                        time(l.expires_at)
                    },
                ]
            })
            .collect();
        print_table(&["mailbox", "held by", "since", "expires"], &rows);
    }
    if !status.mailboxes.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = status
            .mailboxes
            .iter()
            .map(|m| {
                vec![
                    m.account.clone(),
                    if m.state == "done" {
                        "ok".into()
                    } else {
                        m.state.clone()
                    },
                    m.finished_at.map(time).unwrap_or_default(),
                    m.attempts.to_string(),
                    m.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print_table(
            &["mailbox", "last result", "finished", "tries", "error"],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn time(unix: i64) -> String {
    crate::dates::utc_datetime(unix)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}
