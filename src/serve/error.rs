use std::path::PathBuf;

/// What keeps `slimbox serve` from starting. Refused links and failed reads
/// are answered per request (403/404/503) and logged; they are not errors
/// of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{addr:?} is not an address to listen on; write host:port, e.g. 127.0.0.1:8025")]
    BadAddress { addr: String },
    #[error(
        "cannot listen on {addr}: {source}; check that no other program uses that port and \
         that this user may bind it (ports below 1024 need privileges)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the TLS {what} {path}: {source}; check serve.tls_cert and serve.tls_key (PEM files)")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("the TLS certificate and key do not make a usable server identity: {source}; check that the key belongs to the certificate")]
    Tls { source: rustls::Error },
    #[error(transparent)]
    Secret(#[from] crate::links::LinkError),
}

impl ServeError {
    /// A port held by another program may be freed; the rest needs a fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, ServeError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    }
}
