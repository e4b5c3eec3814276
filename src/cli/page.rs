//! `slimbox page`: a mailbox's self-service page opened in the browser on a
//! fresh signed link, or the link printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::print;
use crate::config::Config;

/// Open a mailbox's self-service page in the browser, on a fresh signed
/// link (the one way in for a person at the machine `slimbox serve` runs
/// on: no page opens without its link).
///
/// The link is good for --expires (default 12h) and points at [links]
/// base_url, else at [serve] listen on this machine. It is opened with
/// xdg-open (open on macOS) when there is a display, and printed either
/// way; --print only prints it. `slimbox serve` must be running.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// The mailbox: an account name of the config (may be left out when the
    /// config has one account).
    account: Option<String>,
    /// Print the link; do not start a browser.
    #[arg(long)]
    print: bool,
    /// How long the link stays good (30m, 12h, 7d).
    #[arg(long, value_parser = crate::config::parse_age, default_value = "12h")]
    expires: Duration,
}

pub fn run(args: PageArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let service = print::open(config.as_deref())?;
    let config = service.config();
    let account = match (&args.account, config.accounts.as_slice()) {
        (Some(a), _) => a.clone(),
        (None, [only]) => only.name.clone(),
        (None, all) => {
            let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
            anyhow::bail!(
                "which mailbox? name one: slimbox page ACCOUNT (the config's accounts: {})",
                names.join(", ")
            );
        }
    };
    let base = base_url(config)?;
    let expires = crate::links::expires_after(Some(args.expires));
    let link = service.page_link(&base, &account, expires)?;
    if !args.print && crate::desktop::open_browser(&link) {
        println!(
            "opened the page of {account} in the browser; its link, good for {}:",
            show_age(args.expires)
        );
    }
    println!("{link}");
    Ok(ExitCode::SUCCESS)
}

/// `[links] base_url`, else the server's own address on this machine: a
/// server listening on all addresses (0.0.0.0, [::]) is reached on
/// loopback.
fn base_url(config: &Config) -> anyhow::Result<String> {
    if let Some(base) = &config.links.base_url {
        return Ok(base.clone());
    }
    let mut addr: std::net::SocketAddr = config.serve.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "[serve] listen = {:?} is not an address; set [links] base_url to the address \
             `slimbox serve` answers at",
            config.serve.listen
        )
    })?;
    if addr.ip().is_unspecified() {
        let lo: std::net::IpAddr = match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(lo);
    }
    let scheme = if config.serve.tls.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{addr}"))
}

fn show_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
