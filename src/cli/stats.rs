//! `slimbox stats`: totals per account and folder.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print::{self, print_table};
use crate::units::human_size;

/// Per account and folder: messages processed, bytes removed from the
/// mailbox, bytes stored, the dedup ratio (attachment bytes over the
/// bytes of distinct stored objects), the bytes those objects take in the
/// store after compression (`[store] compress`) and the compression ratio
/// (stored bytes over bytes in the store). Reads only the local index.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatsArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let stats = service.stats()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                format!("{} {}", s.account, s.folder),
                s.messages.to_string(),
                s.parts.to_string(),
                human_size(s.bytes_removed),
                human_size(s.bytes_stored),
                format!("{:.2}", s.dedup_ratio),
                human_size(s.bytes_in_store),
                format!("{:.2}", s.compression_ratio),
            ]
        })
        .collect();
    print_table(
        &[
            "account folder",
            "messages",
            "attachments",
            "removed from mailbox",
            "stored",
            "dedup",
            "in store",
            "compression",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}
