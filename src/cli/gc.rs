//! `slimbox store gc`: delete the objects no message references any more,
//! after the grace period.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print;
use crate::dates::utc_datetime;
use crate::index::GcTotals;
use crate::service::gc::{GcOptions, GcReport};
use crate::units::human_size;

/// Delete the objects no message references any more, in two phases: an
/// object no converted message on any server, no message in flight (the
/// journal) and no held mailbox references is first recorded as
/// unreferenced; a later gc deletes it once it has stayed so for
/// [retention] grace (default 30 days) and is still unreferenced then,
/// with its readable copies and compressed form, and the index rows of
/// the messages gone from the server that named it.
///
/// References come from the servers: every folder of every mailbox is read
/// (read-only). A converted message the owner moved to another folder, or
/// whose UID changed, keeps its objects, and its index row follows it. A
/// mailbox whose server cannot be read keeps everything its index rows
/// name (gc then exits 1). Interrupted, the next gc finishes what this one
/// decided.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Say what would be recorded and deleted; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only the objects this mailbox's messages used (its server is read;
    /// the other mailboxes' index rows keep theirs).
    #[arg(long, value_name = "A")]
    account: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also write the store's figures (stored, referenced, reclaimable and
    /// deleted bytes) to this file in the Prometheus text format.
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
}

pub async fn run(args: GcArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let opts = GcOptions {
        dry_run: args.dry_run,
        account: args.account.clone(),
    };
    let report = service.gc(&opts).await?;
    if let Some(path) = &args.metrics_file {
        crate::metrics::write_file(path, &metrics(&report.totals))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn when(unix: i64) -> String {
    format!("{} UTC", utc_datetime(unix).strftime("%Y-%m-%d %H:%M"))
}

fn print_report(r: &GcReport) {
    let t = &r.totals;
    let head = if r.dry_run {
        "store gc (dry run)"
    } else {
        "store gc"
    };
    println!(
        "{head}: {} objects ({}) in the store; {} referenced ({}), {} unreferenced ({})",
        t.objects,
        human_size(t.stored_bytes),
        t.referenced_objects,
        human_size(t.referenced_bytes),
        t.unreferenced_objects,
        human_size(t.unreferenced_bytes)
    );
    for o in &r.unreferenced {
        let what = match o.state {
            "waiting" => format!("waiting until {}", when(o.due)),
            s => s.to_string(),
        };
        println!(
            "  {}  {:>10}  unreferenced since {}  {what}",
            o.sha256,
            human_size(o.stored_bytes),
            when(o.unreferenced_since)
        );
    }
    if !r.held.is_empty() {
        println!(
            "held (nothing they reference is deleted): {}",
            r.held.join(", ")
        );
    }
    for (a, why) in &r.accounts_not_read {
        println!("not read: {a}: {why}; its index rows kept their objects");
    }
    if r.recent_unknown > 0 {
        println!(
            "{} recent object(s) no index row names yet (a run's, perhaps) left alone",
            r.recent_unknown
        );
    }
    let waiting = r
        .unreferenced
        .iter()
        .filter(|o| o.state == "waiting")
        .count();
    if r.dry_run {
        let due: Vec<_> = r
            .unreferenced
            .iter()
            .filter(|o| o.state != "waiting")
            .collect();
        println!(
            "would delete {} object(s) ({}); {waiting} waiting for the grace ({} days)",
            due.len(),
            human_size(due.iter().map(|o| o.stored_bytes).sum()),
            r.grace_seconds / 86_400
        );
        return;
    }
    println!(
        "deleted {} object(s) ({}), {} readable copies, {} index rows of messages gone from \
         their server; {} row(s) followed a moved message; {waiting} waiting for the grace",
        t.deleted_objects,
        human_size(t.deleted_bytes),
        r.readable_copies_removed,
        r.rows_dropped,
        r.rows_relocated
    );
    if !r.deferred_busy.is_empty() {
        println!(
            "deletions deferred to the next gc: {} being worked on (a run in flight)",
            r.deferred_busy.join(", ")
        );
    }
    if r.pending_finished > 0 {
        println!(
            "finished {} deletion(s) an interrupted gc or erase left",
            r.pending_finished
        );
    }
}

/// The store's figures as Prometheus gauges.
pub(super) fn metrics(t: &GcTotals) -> String {
    let mut out = String::new();
    for (name, help, v) in [
        ("slimbox_store_objects", "Objects in the store.", t.objects),
        (
            "slimbox_store_bytes",
            "Bytes the objects take in the store.",
            t.stored_bytes,
        ),
        (
            "slimbox_store_referenced_bytes",
            "Bytes of the objects something references.",
            t.referenced_bytes,
        ),
        (
            "slimbox_store_unreferenced_bytes",
            "Bytes store gc would free once their grace ends.",
            t.unreferenced_bytes,
        ),
        (
            "slimbox_store_gc_deleted_objects",
            "Objects the last store gc deleted.",
            t.deleted_objects,
        ),
        (
            "slimbox_store_gc_deleted_bytes",
            "Bytes the last store gc freed.",
            t.deleted_bytes,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP slimbox_store_gc_timestamp_seconds When the last store gc ran.\n\
         # TYPE slimbox_store_gc_timestamp_seconds gauge\nslimbox_store_gc_timestamp_seconds {}\n",
        t.at
    ));
    out
}
