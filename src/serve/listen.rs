//! Accepting connections: plain TCP or TLS (rustls), one task per
//! connection and at most `max_connections` of them (see [`refuse`] for
//! the rest), each with `limits`' timeouts, and a graceful stop on Ctrl-C or SIGTERM that lets requests
//! in flight finish (for at most [`DRAIN`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use futures::future::BoxFuture;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::limits::{Activity, Guarded, InFlight, Limits, Open};
use super::ServeError;

/// How long a stop waits for requests in flight (a large download on a
/// slow line may take longer; it is cut then).
const DRAIN: Duration = Duration::from_secs(30);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: String,
    /// PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
}

/// Connections past `max_connections` being told so at once (a quick
/// 503); past this many more, they are closed without a word.
const REFUSING: usize = 64;

/// hyper's buffer per connection: request heads up to this size (larger
/// ones get 431), and the response bytes it holds before it stops polling
/// the body. With one of the store's pieces (64 KiB), what a stalled
/// download holds in memory: about 80 KiB, so 1,000 of them 80 MiB.
const CONN_BUFFER: usize = 16 * 1024;

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
    raise_fd_limit(options.limits.max_connections);
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    ready(listener.local_addr().map_err(bind_err)?, tls.is_some());
    let graceful = GracefulShutdown::new();
    let stop = stop_signal();
    tokio::pin!(stop);
    let slots = Arc::new(Semaphore::new(options.limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING));
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
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(stream, peer, tls.is_some(), &refusing);
            continue;
        };
        // Small answers go out at once: with Nagle's algorithm a response
        // whose last segment is short waits for the client's delayed ACK
        // (about 40 ms a request for small files).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY for {peer}: {e}");
        }
        let open = Open::count();
        let activity = Arc::new(Activity::default());
        let stream = Guarded::new(stream, options.limits, Arc::clone(&activity));
        let watcher = graceful.watcher();
        let service = Service {
            router: router.clone(),
            peer,
            activity,
        };
        let tls = tls.clone();
        let handshake_timeout = options.limits.header_timeout;
        tokio::spawn(async move {
            let result = match tls {
                None => watcher.watch(connection(stream, service)).await,
                Some(tls) => match handshake(&tls, stream, handshake_timeout).await {
                    Some(s) => watcher.watch(connection(s, service)).await,
                    None => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            drop((slot, open));
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

/// A connection past `max_connections`. Plain HTTP gets a quick `503`
/// with `Retry-After` and `Connection: close`, without its request being
/// read, then the socket lingers a moment so the close does not reset the
/// answer away. TLS connections are closed at once: answering would cost
/// a handshake, the very work being refused.
fn refuse(stream: TcpStream, peer: SocketAddr, tls: bool, refusing: &Arc<Semaphore>) {
    tracing::warn!("refused a connection from {peer}: max_connections are open");
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        return;
    };
    if tls {
        return;
    }
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(1), busy_answer(stream)).await;
    });
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\
Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n\
Service Unavailable\n";

async fn busy_answer(mut stream: TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(BUSY).await?;
    stream.shutdown().await?;
    // Reads what the client sent (a little of it) until it closes, so
    // that closing does not send a reset that can drop the 503 unread.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if stream.read(&mut sink).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// Lifts the soft limit on open files to what `max_connections` needs (a
/// socket and a store file each, and some to spare), within the hard
/// limit: a service manager's default soft limit of 1,024 would otherwise
/// refuse connections well below it.
#[cfg(unix)]
fn raise_fd_limit(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let want = (2 * max_connections + REFUSING + 256) as u64;
    let mut limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return;
    };
    if current >= want {
        return;
    }
    let target = limit.maximum.map_or(want, |max| want.min(max));
    limit.current = Some(target);
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) if target < want => tracing::warn!(
            "open files are limited to {target}, below the {want} that max_connections \
             = {max_connections} needs; raise the limit (LimitNOFILE= in a systemd unit) or \
             lower max_connections"
        ),
        Ok(()) => {}
        Err(e) => tracing::warn!("cannot raise the open files limit to {want}: {e}"),
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_max_connections: usize) {}

/// The router for one connection, each request told its peer's address
/// (`ConnectInfo`: the pages decide access on it) and counted in flight
/// until its response body is done (the read timeouts wait meanwhile).
#[derive(Clone)]
struct Service {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = InFlight::start(&self.activity);
        // A router is always ready: no poll_ready needed.
        let answer = tower::Service::call(&mut self.router.clone(), req);
        Box::pin(async move {
            let (parts, body) = answer.await?.into_parts();
            let body = body.into_data_stream().map(move |chunk| {
                // Moved in so that it ends when the body is dropped.
                let _ = &in_flight;
                chunk
            });
            Ok(axum::response::Response::from_parts(
                parts,
                Body::from_stream(body),
            ))
        })
    }
}

/// One HTTP/1.1 connection (keep-alive); its timeouts are [`Guarded`]'s.
fn connection<S>(
    io: S,
    service: Service,
) -> hyper::server::conn::http1::Connection<TokioIo<S>, Service>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_buf_size(CONN_BUFFER)
        .serve_connection(TokioIo::new(io), service)
}

async fn handshake(
    tls: &TlsAcceptor,
    stream: Guarded<TcpStream>,
    timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<Guarded<TcpStream>>> {
    match tokio::time::timeout(timeout, tls.accept(stream)).await {
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
