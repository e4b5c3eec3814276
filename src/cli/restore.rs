//! `slimbox restore`: detached files back onto the disk.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::job;
use super::list::FilterArgs;
use crate::index::Index;
use crate::restore::{self, Request};

/// Write detached files, with their original names, into a folder.
///
/// Choose them by SHA-256 (or a prefix of at least 4 hex digits), by
/// --message-id, or by the filters of `slimbox list`. Every object is checked
/// against its SHA-256 on the way. Names are made safe (no path separators,
/// no `..`, no control characters, no reserved device names); two files
/// with the same name get a numbered suffix; nothing is written outside the
/// folder, and an existing file is never overwritten without --force.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// SHA-256 of the file, or a prefix of it.
    sha256: Option<String>,
    /// All attachments of the message with this Message-ID.
    #[arg(long)]
    message_id: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// The folder to write into (created if missing).
    #[arg(long)]
    to: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

/// One file written, as `--json` prints it.
#[derive(serde::Serialize)]
struct Written<'a> {
    path: String,
    sha256: &'a str,
    size: u64,
}

pub async fn run(args: RestoreArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let index = Index::open(&config.index.path)?;
    index.bind_store(&store.identity())?;
    let request = Request {
        sha256: args.sha256,
        message_id: args.message_id,
        filter: args.filter.to_filter(),
        to: args.to,
        force: args.force,
    };
    let bar = Bar(ProgressBar::new(0));
    bar.0.set_style(
        ProgressStyle::with_template(
            "{spinner} restoring [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let done = restore::run(&store, &index, &request, &bar).await;
    bar.0.finish_and_clear();
    let done = done?;
    if args.json {
        let written: Vec<Written> = done
            .written
            .iter()
            .map(|w| Written {
                path: w.path.display().to_string(),
                sha256: &w.sha256,
                size: w.size,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else {
        for w in &done.written {
            println!("{}  {}", &w.sha256[..12], w.path.display());
        }
    }
    for p in &done.problems {
        eprintln!("slimbox: {p}");
    }
    Ok(if done.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The progress bar while files are written.
struct Bar(ProgressBar);

impl restore::Progress for Bar {
    fn starting(&self, _files: usize, bytes: u64) {
        self.0.set_length(bytes);
    }

    fn written(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
