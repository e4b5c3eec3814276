//! `slimbox store`: work on the object store itself (`store copy`,
//! `store where`, `store gc`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::print;
use crate::store::copy::{self, CopyProgress, CopyReport};
use crate::store::{to_hex, Store};
use crate::units::human_size;

/// Work on the object store itself.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    Copy(CopyArgs),
    Where(WhereArgs),
    Gc(super::gc::GcArgs),
}

/// Print where one object is in the store: its file, or its URL in the
/// bucket. In an encrypted store that is its keyed name, which `age -d -i
/// KEYFILE` decrypts by hand (then `zstd -d` when it says compressed).
#[derive(Debug, Args)]
pub struct WhereArgs {
    /// The object's SHA-256 (64 hex digits), as `slimbox list --json` shows.
    sha256: String,
}

/// Move the store to another one: copy every object into the store at
/// --to, then point the config's [store] url at it.
///
/// The new store's other settings (an S3 endpoint, a region, where its
/// credentials come from) are given with --set, with the keys of [store].
///
/// Each object is written create-only, then read back from the new store
/// and its SHA-256 checked; one already there is read back and checked,
/// never skipped on its name alone, and never overwritten. A few objects
/// at a time, large ones streamed, so memory stays small. Interrupted, the
/// same command resumes: objects verified before (listed in a checkpoint
/// file beside the index) are only checked for their size. No `run` can
/// start meanwhile (every account's mailbox is held). Only when every
/// object is copied and checked is the config changed, keeping the rest of
/// the file as it is (and [index] path set if its default would move);
/// restore, reattach, verify and the next run then use the new store. The
/// old store is left as it is. Exits non-zero naming every object that
/// failed, the config unchanged.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The new store: a directory path or a URL, as for [store] url.
    #[arg(long, value_name = "URL")]
    to: String,
    /// A setting of the new store, as a key of [store] in the config
    /// (endpoint=…, region=…, allow_http=true); repeat for more. The old
    /// store's settings are not carried over, except its encryption unless
    /// an encryption key is set here (encryption=none for a plain copy).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    set: Vec<(String, String)>,
    /// Leave the config file alone (copy only).
    #[arg(long)]
    no_config: bool,
    /// Objects copied at a time.
    #[arg(long, default_value_t = copy::DEFAULT_CONCURRENCY as u8,
          value_parser = clap::value_parser!(u8).range(1..=32))]
    jobs: u8,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub async fn run(args: StoreArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Copy(a) => copy(a, config_path).await,
        StoreCommand::Where(a) => where_is(a, config_path).await,
        StoreCommand::Gc(a) => super::gc::run(a, config_path).await,
    }
}

async fn where_is(args: WhereArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let place = service.locate_object(&args.sha256).await?;
    println!("{}", place.at);
    if place.encrypted {
        eprintln!("(age-encrypted: age -d -i KEYFILE decrypts it)");
    }
    if place.compressed {
        eprintln!("(zstd-compressed: zstd -d gives the attachment)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn copy(args: CopyArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config_path.as_deref())?;
    let bar = Bar::new();
    let copied = service
        .copy_store(&args.to, &args.set, usize::from(args.jobs), &bar)
        .await;
    bar.0.finish_and_clear();
    let copied = copied?;
    let (report, src) = (&copied.report, &copied.src);
    print_report(report, src, &copied.dst);
    if !report.complete() {
        println!(
            "store copy: {} object(s) failed; the config still points at {}. Repair them \
             as each message says, then run the same command again: it goes on from here.",
            report.failed.len(),
            src.url()
        );
        return Ok(ExitCode::from(1));
    }
    if args.no_config {
        println!(
            "store copy: config left as it is (--no-config); set [store] url = {:?} to use \
             the new store",
            copied.new_url()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = copied.path.clone();
    let change = copied.point_config()?;
    print_change(&path, &change);
    Ok(ExitCode::SUCCESS)
}

fn print_change(path: &std::path::Path, change: &crate::config::StoreUrlChange) {
    println!(
        "store copy: {} now has [store] url = {:?} (was {:?}); the old store is left as it is",
        path.display(),
        change.new_url,
        change.old_url
    );
    if !change.dropped.is_empty() {
        println!(
            "store copy: removed the old store's {} from [store]",
            change.dropped.join(", ")
        );
    }
    if let Some(index) = &change.pinned_index {
        println!(
            "store copy: added [index] path = {:?} so that the index stays where it is",
            index.display().to_string()
        );
    }
}

fn print_report(report: &CopyReport, src: &Store, dst: &Store) {
    for f in &report.failed {
        println!("FAILED: object {}", to_hex(&f.sha256));
        println!("  key:   {}", f.key);
        println!("  what:  {}", f.error);
        println!();
    }
    let resumed = if report.resumed > 0 {
        format!(
            ", {} verified by the interrupted copy before ({}, size checked)",
            report.resumed,
            human_size(report.resumed_bytes)
        )
    } else {
        String::new()
    };
    println!(
        "store copy: {} objects from {} to {}: {} copied ({}), {} already there and checked \
         ({}){resumed}, {} failed",
        report.objects,
        src.url(),
        dst.url(),
        report.written,
        human_size(report.written_bytes),
        report.present,
        human_size(report.present_bytes),
        report.failed.len()
    );
}

/// The progress bar, by bytes; drawn only on a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} copying {msg} [{bar:30}] {bytes}/{total_bytes} \
                 ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar(bar)
    }
}

impl CopyProgress for Bar {
    fn pass(&self, objects: u64, bytes: u64) {
        self.0.set_length(self.0.length().unwrap_or(0) + bytes);
        self.0.set_message(format!("{objects} objects"));
    }

    fn object_done(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
