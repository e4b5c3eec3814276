//! `worker --metrics-listen ADDR`: the same figures as the metrics file,
//! served at `GET /metrics` for Prometheus to scrape, plus the worker's
//! own: the queue's depth, leases taken over, jobs done and failed.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{render, MailboxFigures};

/// What a worker adds to its mailboxes' figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerFigures {
    /// Queued jobs now (`None`: the database could not say).
    pub queue_depth: Option<i64>,
    pub lease_takeovers: u64,
    pub jobs_done: u64,
    pub jobs_failed: u64,
}

/// The exposition of a worker: each mailbox's last run, then its own
/// figures (counters since the worker started).
pub fn render_worker(mailboxes: &[MailboxFigures], worker: &WorkerFigures) -> String {
    let mut out = render(mailboxes);
    let mut family = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", super::number(v));
        }
    };
    family(
        "slimbox_queue_depth",
        "gauge",
        "Jobs waiting in the queue.",
        worker.queue_depth.map(|d| d as f64),
    );
    family(
        "slimbox_lease_takeovers_total",
        "counter",
        "Mailbox leases this worker took over after their holder stopped renewing them.",
        Some(worker.lease_takeovers as f64),
    );
    family(
        "slimbox_jobs_done_total",
        "counter",
        "Jobs this worker finished without trouble.",
        Some(worker.jobs_done as f64),
    );
    family(
        "slimbox_jobs_failed_total",
        "counter",
        "Jobs this worker finished with something failed or waiting.",
        Some(worker.jobs_failed as f64),
    );
    out
}

/// Makes the exposition on each scrape.
pub type Exposition = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr} for metrics: {source}; pick a free address and port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `addr` (the returned address is the one bound, for port 0), then
/// serves `GET /metrics` until `stop` ends.
pub async fn listen(
    addr: SocketAddr,
    exposition: Exposition,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ListenError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ListenError::Bind { addr, source })?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let exposition = exposition.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    exposition().await,
                )
            }
        }),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::warn!("the metrics endpoint stopped: {e}");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue22_worker_figures_parse_beside_the_mailboxes() {
        let text = render_worker(
            &[],
            &WorkerFigures {
                queue_depth: Some(3),
                lease_takeovers: 1,
                jobs_done: 5,
                jobs_failed: 0,
            },
        );
        let samples = super::super::parse::parse(&text).expect(&text);
        let value = |n: &str| samples.iter().find(|s| s.name == n).map(|s| s.value);
        assert_eq!(value("slimbox_queue_depth"), Some(3.0));
        assert_eq!(value("slimbox_lease_takeovers_total"), Some(1.0));
        assert_eq!(value("slimbox_jobs_done_total"), Some(5.0));
    }
}
