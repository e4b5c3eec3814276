//! Accepting connections: plain TCP or TLS (rustls), one task per
//! connection, and a graceful stop on Ctrl-C or SIGTERM that lets requests
//! in flight finish (for at most [`DRAIN`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::ServeError;

/// How long a stop waits for requests in flight (a large download on a
/// slow line may take longer; it is cut then).
const DRAIN: Duration = Duration::from_secs(30);

/// A client gets this long to send its request headers, and to finish a
/// TLS handshake: idle connections must not pile up.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: String,
    /// PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Serves `router` until Ctrl-C or SIGTERM. `ready` is told the bound
/// address (port 0 picks a free one) once connections are accepted.
pub async fn serve(
    options: &Options,
    router: Router,
    ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError> {
    let addr: SocketAddr = options.listen.parse().map_err(|_| ServeError::BadAddress {
        addr: options.listen.clone(),
    })?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(acceptor(cert, key)?),
        None => None,
    };
    let bind_err = |source| ServeError::Bind {
        addr: options.listen.clone(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    ready(listener.local_addr().map_err(bind_err)?, tls.is_some());
    let graceful = GracefulShutdown::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // Out of file descriptors and the like: wait, do not spin.
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Small answers go out at once: with Nagle's algorithm a response
        // whose last segment is short waits for the client's delayed ACK
        // (about 40 ms a request for small files).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY for {peer}: {e}");
        }
        let watcher = graceful.watcher();
        let service = with_peer(&router, peer);
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => watcher.watch(connection(stream, service)).await,
                Some(tls) => match handshake(&tls, stream).await {
                    Some(s) => watcher.watch(connection(s, service)).await,
                    None => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("stopping: waiting for requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("stopped"),
        () = tokio::time::sleep(DRAIN) => tracing::warn!("stopped with requests still in flight"),
    }
    Ok(())
}

/// The router for one connection, each request told its peer's address
/// (`ConnectInfo`): the pages open without sign-in only to loopback.
#[derive(Clone)]
struct Service {
    router: Router,
    peer: SocketAddr,
}

fn with_peer(router: &Router, peer: SocketAddr) -> Service {
    Service {
        router: router.clone(),
        peer,
    }
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower::Service<Request<Incoming>>>::Future;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // A router is always ready: no poll_ready needed.
        tower::Service::call(&mut self.router.clone(), req)
    }
}

/// One HTTP/1.1 connection (keep-alive), with a timeout for its headers.
fn connection<S>(
    io: S,
    service: Service,
) -> hyper::server::conn::http1::Connection<TokioIo<S>, Service>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
}

async fn handshake(
    tls: &TlsAcceptor,
    stream: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            None
        }
        Err(_) => None,
    }
}

/// The rustls acceptor for a PEM certificate chain and key.
fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let file_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ServeError::TlsFile { what, path, source }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(file_err("certificate", cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(file_err("certificate", cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(file_err("key", key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| ServeError::Tls { source })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Ctrl-C, or SIGTERM (what service managers and `docker stop` send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
