//! `slimbox serve`: the HTTP server for the links in stubs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::job;
use crate::links::Secret;
use crate::serve::{self, AppState, Options};

/// Serve detached files over HTTP(S) by their signed links.
///
/// Answers `GET` and `HEAD` for `/f/<sha256>/<name>?sig=…[&exp=…]` only,
/// streaming the object from the store (any kind, compressed or not) and
/// checking it against its SHA-256 on the way; a link that is unsigned,
/// tampered with, expired or names no object gets a bare 403 or 404.
/// Listens on [serve] listen (default 127.0.0.1:8025), with HTTPS when
/// [serve] tls_cert and tls_key are set; signs with [links] secret_file.
/// Prints the address it listens on, logs one line per request to stderr,
/// and stops on Ctrl-C or SIGTERM once requests in flight are done.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// host:port to listen on, overriding [serve] listen (port 0: any free port).
    #[arg(long)]
    listen: Option<String>,
}

pub async fn run(args: ServeArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let secret = Secret::load_or_create(&config.links.secret_file)?;
    let options = Options {
        listen: args.listen.unwrap_or(config.serve.listen),
        tls: config.serve.tls,
    };
    let router = serve::router(AppState {
        store: Arc::new(store),
        secret: Arc::new(secret),
    });
    serve::serve(&options, router, |addr, tls| {
        let scheme = if tls { "https" } else { "http" };
        // Printed (and flushed) so that scripts and tests learn the port.
        println!("listening on {scheme}://{addr}");
        let _ = std::io::stdout().flush();
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
