//! Where a PostgreSQL index is and how to reach it: the url (with its
//! `sslmode`), the password, and TLS by rustls against the system's roots
//! plus `ca_file`. TLS is verified whenever it is on; `sslmode=disable`
//! is the only way to go without it (a trusted network only).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::IndexError;

/// A PostgreSQL index: plain data, filled from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTarget {
    /// `postgres://user@host:port/database?sslmode=...` (or the
    /// `key=value` form). `sslmode`: `disable` (no TLS), or `require`,
    /// `verify-ca`, `verify-full`, or none: TLS, verified.
    pub url: String,
    /// The password, when not in the url (from the environment or a
    /// command, like the other secrets).
    pub password: Option<String>,
    /// A PEM file of certificates to trust besides the system's: the CA
    /// that signed the server's certificate, or that certificate itself.
    pub ca_file: Option<PathBuf>,
}

/// What the connection thread needs to connect, again and again.
pub(super) struct Connector {
    config: Config,
    tls: Option<MakeRustlsConnect>,
    /// host:port, for messages.
    pub(super) host: String,
    /// The url without its password, for messages.
    pub(super) shown: String,
}

impl Connector {
    pub(super) fn new(target: &PgTarget) -> Result<Connector, IndexError> {
        let (url, sslmode) = split_sslmode(&target.url);
        let bad = |reason: String| IndexError::Url {
            url: shown_url(&target.url),
            reason,
        };
        let mut config = Config::from_str(&url).map_err(|e| bad(e.to_string()))?;
        if let Some(p) = &target.password {
            config.password(p.as_bytes());
        }
        // A database host that does not answer at all fails a call in
        // seconds (as transient), not after the system's TCP timeouts.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        if !url.contains("keepalives_idle") {
            config.keepalives_idle(std::time::Duration::from_secs(30));
        }
        let host = match (config.get_hosts().first(), config.get_ports().first()) {
            (Some(Host::Tcp(h)), p) => format!("{h}:{}", p.copied().unwrap_or(5432)),
            #[cfg(unix)]
            (Some(Host::Unix(d)), _) => d.display().to_string(),
            (None, _) => return Err(bad("it names no host".into())),
        };
        let tls = match sslmode.as_deref() {
            Some("disable") => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            None | Some("require" | "verify-ca" | "verify-full") => {
                config.ssl_mode(SslMode::Require);
                Some(MakeRustlsConnect::new(tls_config(target, &host)?))
            }
            Some(other) => {
                return Err(bad(format!(
                    "sslmode={other} is not supported; use sslmode=verify-full (the default: TLS, \
                     the server's certificate checked) or, on a trusted network only, \
                     sslmode=disable"
                )))
            }
        };
        Ok(Connector {
            config,
            tls,
            host,
            shown: shown_url(&target.url),
        })
    }

    /// One new connection; its driving task runs on the calling runtime.
    pub(super) async fn connect(&self) -> Result<Client, IndexError> {
        let failed = |source: tokio_postgres::Error| match tls_failure(&source) {
            Some(reason) => IndexError::Tls {
                host: self.host.clone(),
                reason,
            },
            None => IndexError::Connect {
                host: self.host.clone(),
                source,
            },
        };
        match &self.tls {
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("PostgreSQL index connection ended: {e}");
                    }
                });
                Ok(client)
            }
            None => {
                let (client, conn) = self.config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("PostgreSQL index connection ended: {e}");
                    }
                });
                Ok(client)
            }
        }
    }
}

/// The url without its `sslmode` parameter (tokio-postgres knows only
/// some of libpq's modes; slimbox reads it itself), and that mode.
fn split_sslmode(url: &str) -> (String, Option<String>) {
    let mut mode = None;
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| match kv.strip_prefix("sslmode=") {
                Some(m) => {
                    mode = Some(m.to_string());
                    false
                }
                None => true,
            })
            .collect();
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, mode)
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|kv| match kv.strip_prefix("sslmode=") {
                Some(m) => {
                    mode = Some(m.to_string());
                    false
                }
                None => true,
            })
            .collect();
        (kept.join(" "), mode)
    }
}

/// The url as messages show it: without a password.
fn shown_url(url: &str) -> String {
    match url.parse::<url::Url>() {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Why TLS failed, when that is why connecting failed.
fn tls_failure(e: &tokio_postgres::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        if let Some(r) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r.to_string());
        }
        cause = c.source();
    }
    None
}

fn tls_config(target: &PgTarget, host: &str) -> Result<rustls::ClientConfig, IndexError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let mut pinned = Vec::new();
    if let Some(path) = &target.ca_file {
        let ca_err = |reason: String| IndexError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ca_err(e.to_string()))?;
            roots.add(cert.clone()).map_err(|e| ca_err(e.to_string()))?;
            pinned.push(cert);
        }
        if pinned.is_empty() {
            return Err(ca_err("it holds no certificate".into()));
        }
    }
    let tls_err = |reason: String| IndexError::Tls {
        host: host.to_string(),
        reason,
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_err(e.to_string()))?;
    let verifier = Verifier {
        webpki,
        pinned,
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The system's and `ca_file`'s roots, as rustls checks them; and, as
/// libpq does, a server certificate that is itself in `ca_file` (the
/// self-signed certificate PostgreSQL's documentation sets up, which
/// WebPKI refuses as a CA used as a server certificate) is trusted for
/// the names it carries.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue22_sslmode_is_taken_out_of_the_url() {
        assert_eq!(
            split_sslmode("postgres://u@h:5/d?sslmode=verify-full&application_name=x"),
            (
                "postgres://u@h:5/d?application_name=x".to_string(),
                Some("verify-full".to_string())
            )
        );
        assert_eq!(
            split_sslmode("postgres://u@h/d"),
            ("postgres://u@h/d".to_string(), None)
        );
        assert_eq!(
            split_sslmode("host=h sslmode=disable user=u"),
            ("host=h user=u".to_string(), Some("disable".to_string()))
        );
    }

    #[test]
    fn issue22_an_unknown_sslmode_is_refused_naming_the_choices() {
        let err = Connector::new(&PgTarget {
            url: "postgres://u:secret@h/d?sslmode=prefer".into(),
            ..Default::default()
        })
        .err()
        .expect("refused");
        let text = err.to_string();
        assert!(
            text.contains("sslmode=verify-full") && text.contains("sslmode=disable"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }
}
