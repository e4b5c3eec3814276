//! The byte stream under an IMAP session: TCP, optionally wrapped in rustls
//! (ring provider, native roots plus an optional PEM CA file), with an idle
//! timeout so a dead server cannot hang slimbox forever. Also the rule that
//! plain text is only allowed to loopback hosts.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::client::TlsStream;

use super::ImapError;

/// Time allowed for TCP connect, TLS handshake and the greeting, each.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest silence tolerated while slimbox waits for the server. Progress
/// (any byte read or written) restarts the clock, so large transfers are fine;
/// Dovecot sends `* OK Searched n%` keep-alives during long searches.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// True for 127.0.0.0/8, ::1 (also as `[::1]` or IPv4-mapped) and `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Plain TCP or TLS over TCP.
enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The stream handed to async-imap: [`Inner`] plus an idle timeout.
pub(crate) struct Transport {
    inner: Inner,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Plain(_) => "plain",
            Inner::Tls(_) => "tls",
        };
        f.debug_struct("Transport").field("kind", &kind).finish()
    }
}

impl Transport {
    fn new(inner: Inner) -> Self {
        Transport {
            inner,
            idle: IDLE_TIMEOUT,
            deadline: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
        }
    }

    pub(crate) fn plain(tcp: TcpStream) -> Self {
        Self::new(Inner::Plain(tcp))
    }

    pub(crate) fn tls(tls: TlsStream<TcpStream>) -> Self {
        Self::new(Inner::Tls(Box::new(tls)))
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// The TCP stream of a plain transport, for STARTTLS.
    pub(crate) fn into_tcp(self) -> Option<TcpStream> {
        match self.inner {
            Inner::Plain(tcp) => Some(tcp),
            Inner::Tls(_) => None,
        }
    }

    /// Restarts the idle clock. Called when a command starts, so time spent
    /// between commands does not count against the server.
    pub(crate) fn arm(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    fn poll_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no data from the IMAP server for {} s", self.idle.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match res {
            Poll::Ready(r) => {
                this.arm();
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        match res {
            Poll::Ready(r) => {
                this.arm();
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        };
        match res {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        };
        match res {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

/// Opens the TCP connection, within [`CONNECT_TIMEOUT`].
pub(crate) async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ImapError> {
    let addr_host = host.trim_start_matches('[').trim_end_matches(']');
    let connect = TcpStream::connect((addr_host, port));
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => {
            return Err(ImapError::Connect {
                host: host.to_string(),
                port,
                source,
            })
        }
        Err(_) => {
            return Err(ImapError::Connect {
                host: host.to_string(),
                port,
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ),
            })
        }
    };
    // IMAP is a chatty request/response protocol: small writes must not wait.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The operating system's trust roots, loaded once per process.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for err in &loaded.errors {
            tracing::warn!("could not load some system CA certificates: {err}");
        }
        loaded.certs
    })
}

/// Reads every certificate in a PEM file.
async fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ImapError> {
    let pem = tokio::fs::read(path).await.map_err(|e| {
        ImapError::Config(format!(
            "cannot read the CA file {}: {e}; check ca_file",
            path.display()
        ))
    })?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&pem) {
        let cert = item.map_err(|e| {
            ImapError::Config(format!(
                "the CA file {} is not valid PEM: {e}; it should contain \
                 -----BEGIN CERTIFICATE----- blocks",
                path.display()
            ))
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(ImapError::Config(format!(
            "the CA file {} holds no certificate; it should contain \
             -----BEGIN CERTIFICATE----- blocks",
            path.display()
        )));
    }
    Ok(certs)
}

/// A rustls client config on the ring provider trusting the native roots plus `ca_file`.
pub(crate) async fn tls_config(
    host: &str,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(native_roots().iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_ca_file(path).await? {
            roots.add(cert).map_err(|e| {
                ImapError::Config(format!(
                    "the CA file {} holds a certificate rustls cannot use as a trust root: {e}",
                    path.display()
                ))
            })?;
        }
    } else if added == 0 {
        return Err(ImapError::Tls {
            host: host.to_string(),
            reason: "no system CA certificates were found to verify the server with".into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs the TLS handshake over `tcp`, verifying the certificate for `host`.
pub(crate) async fn tls_handshake(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, ImapError> {
    let name_host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(name_host.to_string()).map_err(|e| {
        ImapError::Config(format!("{host:?} is not a valid host name for TLS: {e}"))
    })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(server_name, tcp)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(tls_error(host, e)),
        Err(_) => Err(ImapError::Timeout {
            what: format!("the TLS handshake with {host}"),
            secs: CONNECT_TIMEOUT.as_secs(),
        }),
    }
}

/// A certificate or protocol failure is a TLS error (retrying will not help);
/// a reset or EOF during the handshake is plain I/O (it may).
fn tls_error(host: &str, e: io::Error) -> ImapError {
    let is_rustls = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if is_rustls || e.kind() == io::ErrorKind::InvalidData {
        ImapError::Tls {
            host: host.to_string(),
            reason: e.to_string(),
        }
    } else {
        ImapError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "128.0.0.1",
            "::2",
            "localhost.example.com",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
