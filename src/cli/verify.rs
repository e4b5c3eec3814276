//! `slimbox verify`: check that everything slimbox moved can come back.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::job;
use crate::audit::{self, Batch, Findings, Scope};
use crate::config::AccountConfig;
use crate::index::Index;

/// Check the index, the store and the server agree: every detached part has
/// its object; with --read-data every object in the store is read and its
/// SHA-256 checked, unused ones included; every processed message on the
/// server resolves to stored objects; no folder holds a message twice (an
/// original beside its converted copy, or two converted copies of one
/// message) and every converted message has its row in the index; unused
/// objects are listed. Exits non-zero on any problem, saying what is wrong
/// and how to repair it.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read every object in the store, unused ones included, and check its
    /// SHA-256 (slower: reads the whole store).
    #[arg(long)]
    read_data: bool,
    /// Only this account's messages on the server.
    #[arg(long)]
    account: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: VerifyArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let accounts: Vec<AccountConfig> = config
        .account(args.account.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let store = job::open_store(&config)?;
    let index = Index::open(&config.index.path)?;
    index.bind_store(&store.identity())?;
    let scope = Scope {
        accounts: &accounts,
        all_accounts: &config.accounts,
        read_data: args.read_data,
    };
    let bar = Bar {
        read_data: args.read_data,
        bar: RefCell::new(None),
    };
    let connect = async |a: &AccountConfig| job::connect(a).await.map_err(Into::into);
    let findings = audit::run(&store, &index, scope, connect, &bar).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        print_findings(&findings, &accounts, args.read_data);
    }
    Ok(if findings.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The progress bar while objects are checked.
struct Bar {
    read_data: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl audit::Progress for Bar {
    fn checking(&self, batch: Batch, objects: u64, bytes: u64) {
        let what = match batch {
            Batch::Indexed => "objects",
            Batch::Orphans => "unused objects",
        };
        let (len, template) = if self.read_data {
            (
                bytes,
                format!(
                    "{{spinner}} reading {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} \
                     ({{bytes_per_sec}})"
                ),
            )
        } else {
            (
                objects,
                format!("{{spinner}} checking {what} [{{bar:30}}] {{pos}}/{{len}}"),
            )
        };
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        *self.bar.borrow_mut() = Some(bar);
    }

    fn checked(&self, bytes: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(if self.read_data { bytes } else { 1 });
        }
    }

    fn done(&self, _batch: Batch) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}

fn print_findings(findings: &Findings, accounts: &[AccountConfig], read_data: bool) {
    for p in &findings.problems {
        match &p.sha256 {
            Some(h) => println!("PROBLEM ({}): object {h}", p.kind),
            None => println!("PROBLEM ({})", p.kind),
        }
        if let Some(k) = &p.key {
            println!("  key:     {k}");
        }
        println!("  what:    {}", p.detail);
        if !p.messages.is_empty() {
            println!("  used by:");
            for m in &p.messages {
                println!("    {m}");
            }
        }
        println!("  repair:  {}", p.repair);
        println!();
    }
    print_notes(findings);
    let how = if read_data {
        format!(
            "{} objects read and hashed ({})",
            findings.objects_checked,
            crate::units::human_size(findings.bytes_read)
        )
    } else {
        format!(
            "{} objects present (not read: --read-data checks their content)",
            findings.objects_checked
        )
    };
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    println!(
        "verify: {how}; {} processed messages on the server checked ({}); {}",
        findings.messages_checked,
        if names.is_empty() {
            "no accounts".to_string()
        } else {
            names.join(", ")
        },
        match findings.problems.len() {
            0 => "all is well".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        }
    );
}

/// Orphans and messages in flight: worth knowing, not problems.
fn print_notes(findings: &Findings) {
    if !findings.orphans.is_empty() {
        println!(
            "note: {} object(s) in the store {} are not used by any message slimbox knows of:",
            findings.orphans.len(),
            findings.store
        );
        for o in &findings.orphans {
            let size = o.size.map_or_else(String::new, |s| {
                format!(" ({})", crate::units::human_size(s))
            });
            println!("  {}  {}{size}", o.sha256, o.key);
        }
        println!(
            "  They are harmless (an attachment of a message put back with `slimbox reattach`, \
             or left from an interrupted run). An object is unused when verify, run without \
             --account and with every server reachable, lists it here: no index entry and no \
             processed message in any configured account links to it. Copies of stubs outside \
             those mailboxes (forwarded mail, a local archive) may still link to it: search \
             them for the SHA-256 before moving it out of the store."
        );
        println!();
    }
    for (account, n) in &findings.in_flight {
        println!(
            "note: account {account}: {n} message(s) are in flight from an interrupted run; \
             the next `slimbox run` (or `slimbox reattach`) finishes them. Until then their \
             objects may be listed as orphans above."
        );
        println!();
    }
}
