//! `slimbox serve`: the HTTP server for the links in stubs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::job;
use crate::config::Config;
use crate::index::Index;
use crate::links::Secret;
use crate::pipeline::{ReattachOutcome, ReattachTarget};
use crate::serve::{self, AppState, Limits, Options, Pages, PutBackFn};
use crate::store::Store;

/// Serve detached files over HTTP(S) by their signed links.
///
/// Answers `GET` and `HEAD` for `/f/<key>/<name>` (and the older
/// `/f/<sha256>/<name>?sig=…[&exp=…]`),
/// streaming the object from the store (any kind, compressed or not) and
/// checking it against its SHA-256 on the way; a link that is unsigned,
/// tampered with, expired or names no object gets a bare 403 or 404.
/// Also each mailbox's self-service page, `/m/<account>?sig=…` (`slimbox
/// page` opens it, `slimbox link --page` prints it): its files, searchable,
/// with download and "put back"; never without its link unless [serve]
/// open_on_loopback = true (then loopback requests need none, and `/m/`
/// lists the mailboxes).
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
        listen: args.listen.unwrap_or_else(|| config.serve.listen.clone()),
        tls: config.serve.tls.clone(),
        limits: Limits {
            max_connections: config.serve.max_connections,
            header_timeout: config.serve.header_timeout,
            body_timeout: config.serve.body_timeout,
            idle_timeout: config.serve.idle_timeout,
            write_timeout: config.serve.write_timeout,
        },
    };
    let listen_loopback = options
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    let config = Arc::new(config);
    let store = Arc::new(store);
    let pages = Pages {
        accounts: config.accounts.iter().map(|a| a.name.clone()).collect(),
        index_path: config.index.path.clone(),
        base_url: config.links.base_url.clone(),
        link_expires: config.links.expires,
        listen_loopback,
        open_on_loopback: config.serve.open_on_loopback,
        form_token_max_age: config.serve.form_token_max_age,
        body_timeout: config.serve.body_timeout,
        put_back: put_back_fn(config.clone(), store.clone()),
    };
    if config.serve.open_on_loopback {
        tracing::warn!(
            "[serve] open_on_loopback = true: every process on this machine (every user, any \
             local web app or port forwarder) can open every mailbox's page without a link{}",
            if listen_loopback {
                ""
            } else {
                " (not in effect now: the server does not listen on a loopback address)"
            }
        );
    }
    let router = serve::router(AppState {
        store,
        secret: Arc::new(secret),
        pages: Some(Arc::new(pages)),
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

/// The page's "put back": `slimbox reattach`'s own steps for one message,
/// on a blocking thread (the index is SQLite), with the index opened anew.
fn put_back_fn(config: Arc<Config>, store: Arc<Store>) -> PutBackFn {
    Arc::new(move |target: ReattachTarget| {
        let (config, store) = (config.clone(), store.clone());
        let handle = tokio::runtime::Handle::current();
        Box::pin(async move {
            let account = target.account.clone();
            let t = target.clone();
            let done = tokio::task::spawn_blocking(move || {
                let mut index = Index::open(&config.index.path).map_err(|e| e.to_string())?;
                index
                    .bind_store(&store.identity())
                    .map_err(|e| e.to_string())?;
                let list = vec![t];
                Ok::<_, String>(handle.block_on(super::reattach::put_back(
                    &config, &store, &mut index, &account, list,
                )))
            })
            .await;
            let why = match done {
                Ok(Ok(mut outcomes)) if !outcomes.is_empty() => return outcomes.remove(0),
                Ok(Ok(_)) => "nothing was tried".to_string(),
                Ok(Err(e)) => e,
                Err(e) => format!("the put back stopped: {e}"),
            };
            ReattachOutcome {
                target,
                uid: None,
                note: None,
                error: Some(why),
            }
        })
    })
}
