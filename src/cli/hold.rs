//! `slimbox hold ACCOUNT` and `slimbox release ACCOUNT`: legal hold.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print;
use crate::dates::utc_datetime;

/// Put a mailbox under legal hold: nothing its messages ever referenced is
/// deleted, by `store gc` or by `erase`, until `slimbox release`. Recorded
/// in the index with who (the OS user, or --by) and when. Without ACCOUNT:
/// list the holds in force.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// The account's name, as in the config (or in the index).
    account: Option<String>,
    /// Who decided it (default: the OS user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Why: a case number, a reference.
    #[arg(long, default_value = "")]
    note: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Lift a mailbox's legal hold (recorded with who and when); `store gc`
/// may then take what only it referenced, after the grace.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The account's name.
    account: String,
    /// Who decided it (default: the OS user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Why.
    #[arg(long, default_value = "")]
    note: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn when(unix: i64) -> String {
    format!("{} UTC", utc_datetime(unix).strftime("%Y-%m-%d %H:%M:%S"))
}

pub fn hold(args: HoldArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let Some(account) = &args.account else {
        let holds = service.holds()?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&holds)?);
        } else if holds.is_empty() {
            println!("no mailbox is held");
        }
        for h in holds.iter().filter(|_| !args.json) {
            println!(
                "{}: held by {} at {} {}",
                h.account,
                h.by,
                when(h.at),
                h.note
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let out = service.hold(account, args.by.as_deref(), &args.note)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if out.already {
        println!(
            "{account} was already held by {} since {}; left as it was",
            out.hold.by,
            when(out.hold.at)
        );
    } else {
        println!(
            "{account} is held (by {} at {})",
            out.hold.by,
            when(out.hold.at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn release(args: ReleaseArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let out = service.release(&args.account, args.by.as_deref(), &args.note)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &out.lifted {
        Some(h) => println!(
            "{}: hold of {} (since {}) lifted by {} at {}",
            out.account,
            h.by,
            when(h.at),
            out.by,
            when(out.at)
        ),
        None => println!("{} was not held; nothing changed", out.account),
    }
    Ok(ExitCode::SUCCESS)
}
