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
    /// Instead, the store as a whole: objects and bytes stored, referenced
    /// by messages not put back, waiting for `store gc`'s grace, and what
    /// the last `store gc` found and freed.
    #[arg(long)]
    store: bool,
}

pub fn run(args: StatsArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    if args.store {
        return store_totals(&service, args.json);
    }
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

/// `stats --store`.
fn store_totals(service: &crate::service::Service, json: bool) -> anyhow::Result<ExitCode> {
    let t = service.store_totals()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "stored:      {} objects, {}",
        t.objects,
        human_size(t.stored_bytes)
    );
    println!(
        "referenced:  {} objects, {}",
        t.referenced_objects,
        human_size(t.referenced_bytes)
    );
    println!(
        "gc would free: {} objects, {} (unreferenced, waiting for the grace)",
        t.waiting_objects,
        human_size(t.waiting_bytes)
    );
    println!("held mailboxes: {}", t.holds);
    match &t.last_gc {
        Some(g) => println!(
            "last store gc: {} UTC: {} unreferenced ({}), deleted {} ({})",
            crate::dates::utc_datetime(g.at).strftime("%Y-%m-%d %H:%M"),
            g.unreferenced_objects,
            human_size(g.unreferenced_bytes),
            g.deleted_objects,
            human_size(g.deleted_bytes)
        ),
        None => println!("last store gc: never"),
    }
    Ok(ExitCode::SUCCESS)
}
