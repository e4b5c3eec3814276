//! What the commands share: the service opened from the config (its
//! warnings said), the exit status of a config that cannot work, tables,
//! and the note on Microsoft's Recoverable Items.

use crate::config::AccountConfig;
use crate::service::Service;

/// The leases of this process's command, when its index is PostgreSQL.
static LEASES: std::sync::OnceLock<std::sync::Arc<crate::queue::DbClaims>> =
    std::sync::OnceLock::new();

/// Waits until the leases this command let go of are deleted in the
/// database: a lease dropped at the end of a command is released by a
/// task, which the process must not exit before (the next command, here or
/// on another host, would find the mailbox busy until the lease expires).
pub async fn settle_leases() {
    if let Some(claims) = LEASES.get() {
        claims.0.settle().await;
    }
}

/// The service of the config, its warnings printed. With a PostgreSQL
/// index, its claims on mailboxes are leases in that database (as the
/// workers' are), so that no two processes on any hosts work one mailbox;
/// otherwise lock files beside the index.
pub fn open(path: Option<&std::path::Path>) -> anyhow::Result<Service> {
    let config = crate::config::load(path)?;
    let service = match tokio::runtime::Handle::try_current() {
        // The leases' heartbeat runs on the command's runtime; commands
        // without one (list, stats, link, page, hold) claim nothing.
        Ok(rt) if config.index.database.is_some() => {
            let claims =
                tokio::task::block_in_place(|| rt.block_on(crate::queue::db_claims(&config)))?;
            let _ = LEASES.set(claims.clone());
            Service::with_claims(config, claims)
        }
        _ => Service::new(config),
    };
    for w in service.warnings() {
        eprintln!("slimbox: warning: {w}");
    }
    Ok(service)
}

/// A config that cannot work: said on stderr, exit status 2 (as clap
/// does for a wrong command line), so a scheduler can tell "fix the
/// config" from "some mailbox failed".
pub fn config_error(e: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("slimbox: error: {e:#}");
    std::process::ExitCode::from(2)
}

/// The note on Microsoft's Recoverable Items, once for all the `accounts`
/// it concerns (see [`crate::config::keeps_deleted_mail`]); `None` when
/// it concerns none.
pub fn recoverable_items_note(accounts: &[&AccountConfig]) -> Option<String> {
    let names: Vec<&str> = accounts
        .iter()
        .filter(|a| crate::config::keeps_deleted_mail(a.provider, &a.host))
        .map(|a| a.name.as_str())
        .collect();
    (!names.is_empty()).then(|| crate::config::recoverable_items_note(&names))
}

/// Prints rows as an aligned table, the first column left-aligned and the
/// others right-aligned.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i == 0 {
                s.push_str(&format!("{c:<w$}"));
            } else {
                s.push_str(&format!("  {c:>w$}"));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}
