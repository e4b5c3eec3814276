//! `slimbox eml`: detach and reattach single .eml files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::Config;
use crate::dates::now_unix;
use crate::mime::{self, Policy};
use crate::store::Store;
use crate::units::parse_size;

/// Detach attachments from an exported .eml file, or put them back.
///
/// Useful on its own for exported messages, and the way to try the engine
/// end to end without a mail server. `--store` alone names the store and no
/// config is read; without `--store`, or with `--config`, the config's
/// `[store]` applies (its url unless `--store` names another, its remote
/// settings, and `compress`).
#[derive(Debug, Args)]
pub struct EmlArgs {
    #[command(subcommand)]
    command: EmlCommand,
}

#[derive(Debug, Subcommand)]
enum EmlCommand {
    Detach(DetachArgs),
    Reattach(ReattachArgs),
}

/// Move the large attachments of IN into the store and write the smaller
/// message, with a link in place of each attachment.
///
/// The objects are stored, read back and checked, and the original is proven
/// reconstructible from the store, before anything is written. A message
/// that is left as it was (signed, malformed, nothing large enough) is
/// written unchanged and the reason is printed; that is not an error.
#[derive(Debug, Args)]
struct DetachArgs {
    /// The message to read (`-` for standard input).
    input: PathBuf,
    /// The store: a directory (created if missing) or a URL (default: the
    /// config's `[store] url`).
    #[arg(long)]
    store: Option<String>,
    /// Smallest decoded attachment size to detach: bytes or 64KiB, 1MB, 1 MiB.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    min_size: u64,
    /// Where to write the rewritten message (standard output without it; not
    /// written at all with --json and no --out).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print a JSON summary instead of the message.
    #[arg(long)]
    json: bool,
    /// Link written into each stub: {sha256}, {sha256_2}, {name}, {size} are
    /// filled in (default: the config's `[policy] link_template` when a
    /// config is read, else a file:// URL to the object in a local store).
    #[arg(long)]
    link_template: Option<String>,
    /// Write signed links to `slimbox serve` at this base URL (as `[links]
    /// base_url`), instead of the link template.
    #[arg(long, requires = "secret_file")]
    base_url: Option<String>,
    /// The links secret (`[links] secret_file`; created when missing).
    #[arg(long, requires = "base_url")]
    secret_file: Option<PathBuf>,
    /// How long signed links stay good (e.g. 90d); default for ever.
    #[arg(long, requires = "base_url", value_parser = crate::config::parse_age)]
    expires: Option<std::time::Duration>,
    /// Write each stub as a small HTML page (`stub_format = "html"`).
    #[arg(long)]
    html_stub: bool,
    /// Insert no note listing the moved files (`[links] note = false`).
    #[arg(long)]
    no_note: bool,
    /// How each stub's attachment entry looks: "note" (a small text saying
    /// the file moved) or "original" (Thunderbird's detached format, for
    /// file:// links); default the config's `[links] entries`, else "note".
    #[arg(long, value_parser = str::parse::<mime::Entries>)]
    entries: Option<mime::Entries>,
    /// Content types to detach (repeatable, `image/*` works); default all.
    #[arg(long = "type")]
    include_types: Vec<String>,
    /// Content types never to detach (repeatable).
    #[arg(long = "skip-type")]
    exclude_types: Vec<String>,
    /// Also rewrite signed or encrypted messages (this breaks their signature).
    #[arg(long)]
    allow_signed: bool,
}

/// Rebuild the original message from a rewritten IN and the store, byte for
/// byte; every object is checked against its SHA-256 on the way.
///
/// A message slimbox never processed (no X-Slimbox header) is written
/// unchanged, with a note on standard error; that is not an error, so a
/// whole folder of .eml files can be put back in one loop.
#[derive(Debug, Args)]
struct ReattachArgs {
    /// The rewritten message (`-` for standard input).
    input: PathBuf,
    /// The store the attachments were moved to (default: the config's
    /// `[store] url`).
    #[arg(long)]
    store: Option<String>,
    /// Where to write the original (standard output without it).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct JsonPart<'a> {
    sha256: String,
    size: u64,
    filename: &'a str,
    content_type: &'a str,
    path: &'a str,
    link: &'a str,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    detached: Vec<JsonPart<'a>>,
    untouched_reason: Option<&'a str>,
    original_size: usize,
    rewritten_size: usize,
    notes: &'a [String],
}

pub async fn run(args: EmlArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match args.command {
        EmlCommand::Detach(a) => detach(a, config.as_deref()).await,
        EmlCommand::Reattach(a) => reattach(a, config.as_deref()).await,
    }
}

/// The store to use, and the config when one is read: `--store` alone is
/// that store as it is (so a single file needs no config); otherwise the
/// config's `[store]` settings apply, including `compress`, with `--store`
/// naming another url when given.
fn open_store(
    store: Option<&str>,
    config: Option<&Path>,
) -> anyhow::Result<(Store, Option<Config>)> {
    if let (Some(url), None) = (store, config) {
        return Ok((crate::service::open_store_at(url, None)?, None));
    }
    let c = super::print::open(config)
        .map(|s| s.config().clone())
        .with_context(|| match store {
            None => {
                "no --store was given, so the store comes from the config: give --store DIR, \
                 or fix the config"
            }
            Some(_) => "with --config, eml takes [store] compress from that config",
        })?;
    let store = match store {
        None => crate::service::open_store(&c)?,
        Some(url) => crate::service::open_store_at(url, Some(&c))?,
    };
    Ok((store, Some(c)))
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the message from standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read the message {}", path.display()))
}

fn write_output(out: Option<&Path>, data: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(p) => super::write_atomic(p, data),
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(data)?;
            so.flush()?;
            Ok(())
        }
    }
}

async fn detach(a: DetachArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let raw = read_input(&a.input)?;
    let (store, config) = open_store(a.store.as_deref(), config)?;
    let links = match &a.base_url {
        Some(base) => mime::Links::Signed(eml_signed_links(base, &a)?),
        None => mime::Links::Template,
    };
    let links_config = config.as_ref().map(|c| &c.links);
    let note = !a.no_note && links_config.is_none_or(|l| l.note);
    let entries = a
        .entries
        .or(links_config.map(|l| l.entries))
        .unwrap_or_default();
    let policy = Policy {
        min_size: a.min_size.max(1),
        include_types: a.include_types,
        exclude_types: a.exclude_types,
        detach_signed: a.allow_signed,
        link_template: a
            .link_template
            .or_else(|| config.and_then(|c| c.policy.link_template))
            .unwrap_or_else(|| store.default_link_template()),
        links,
        stub_format: if a.html_stub {
            mime::StubFormat::Html
        } else {
            mime::StubFormat::Text
        },
        note,
        entries,
        now: now_unix(),
    };
    let d = crate::eml::detach_into(&raw, &store, &policy)
        .await
        .with_context(|| format!("cannot detach {}", a.input.display()))?;
    let output: &[u8] = d.rewritten.as_deref().unwrap_or(&raw);
    for n in &d.notes {
        eprintln!("slimbox: note: {n}");
    }
    if a.json {
        if let Some(out) = &a.out {
            write_output(Some(out), output)?;
        }
        let summary = JsonSummary {
            detached: d
                .parts
                .iter()
                .map(|p| JsonPart {
                    sha256: hex::encode(p.sha256),
                    size: p.size,
                    filename: &p.filename,
                    content_type: &p.content_type,
                    path: &p.path,
                    link: &p.link,
                })
                .collect(),
            untouched_reason: d.untouched_reason.as_deref(),
            original_size: raw.len(),
            rewritten_size: output.len(),
            notes: &d.notes,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        write_output(a.out.as_deref(), output)?;
        match &d.untouched_reason {
            Some(r) => eprintln!("slimbox: left as it was: {r}"),
            None => eprintln!(
                "slimbox: detached {} attachment(s), {} -> {} bytes",
                d.parts.len(),
                raw.len(),
                output.len()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--base-url` with `--secret-file` (and `--expires`) as the engine takes them.
fn eml_signed_links(base: &str, a: &DetachArgs) -> anyhow::Result<mime::SignedLinks> {
    let path = a
        .secret_file
        .as_deref()
        .context("--base-url needs --secret-file")?;
    let secret = crate::links::Secret::load_or_create(path)?;
    Ok(mime::SignedLinks {
        secret: std::sync::Arc::new(secret),
        base: base.trim_end_matches('/').to_string(),
        expires: crate::links::expires_after(a.expires),
    })
}

async fn reattach(a: ReattachArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let raw = read_input(&a.input)?;
    if !mime::is_processed(&raw) {
        write_output(a.out.as_deref(), &raw)?;
        eprintln!(
            "slimbox: {} was not processed by slimbox (no {} header): written unchanged",
            a.input.display(),
            mime::MARKER_HEADER
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (store, _) = open_store(a.store.as_deref(), config)?;
    let original = crate::eml::rebuild(&raw, &store)
        .await
        .with_context(|| format!("cannot reattach {}", a.input.display()))?;
    write_output(a.out.as_deref(), &original)?;
    Ok(ExitCode::SUCCESS)
}
