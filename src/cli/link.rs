//! `slimbox link`: a fresh signed link to one detached file, for help desks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::print;

/// Print a fresh signed link to a detached file, or with --page to a
/// mailbox's self-service page, as `slimbox serve` answers them (needs
/// `[links] base_url`).
///
/// The file is named by its SHA-256 (from `slimbox list`, or the stub); the
/// link carries the file name the index knows for it, or --name (its stem
/// cut, extension kept, where the whole link would pass 100 characters:
/// the download then has the cut name). A page
/// link opens that one mailbox's page (its files, search, download, put
/// back) and no other. Links never expire unless --expires (or `[links]
/// expires`) says so.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The file's SHA-256 (64 hex digits).
    #[arg(required_unless_present = "page")]
    sha256: Option<String>,
    /// A link to this account's self-service page instead of to a file.
    #[arg(long, value_name = "ACCOUNT", conflicts_with_all = ["sha256", "name"])]
    page: Option<String>,
    /// The file name the link shows and downloads as (default: the name the
    /// index knows for this file).
    #[arg(long)]
    name: Option<String>,
    /// How long the link stays good (30m, 12h, 7d, 2w); default `[links]
    /// expires`, else for ever.
    #[arg(long, value_parser = crate::config::parse_age)]
    expires: Option<Duration>,
    /// Print JSON: sha256, name (as the link carries it), link, expires
    /// (Unix seconds or null); for
    /// --page: account, link, expires.
    #[arg(long)]
    json: bool,
}

pub fn run(args: LinkArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config.as_deref())?;
    let config = service.config();
    let Some(base) = &config.links.base_url else {
        bail!(
            "no [links] base_url in the config: a signed link needs the address `slimbox \
             serve` answers at, e.g.\n\n[links]\nbase_url = \"https://files.example.com\""
        );
    };
    let expires = crate::links::expires_after(args.expires.or(config.links.expires));
    if let Some(account) = &args.page {
        let link = service.page_link(base, account, expires)?;
        if args.json {
            let v = serde_json::json!({ "account": account, "link": link, "expires": expires });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("{link}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let given = args.sha256.as_deref().unwrap_or("");
    let file = service.file_link(base, given, args.name.as_deref(), expires)?;
    if args.json {
        let v = serde_json::json!({
            "sha256": file.sha256,
            "name": file.name,
            "link": file.link,
            "expires": expires,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", file.link);
    }
    Ok(ExitCode::SUCCESS)
}
