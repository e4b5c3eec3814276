//! The connection to the queue's PostgreSQL, made again when it drops.
//!
//! [`connect`] is the one place a connection is made (TLS when the URL says
//! `sslmode=require` or `verify-full`), so that the shared connect of the
//! PostgreSQL index can replace it in one line. [`Db`] keeps one client
//! and reconnects with growing waits when the server went away (a restart,
//! a failover): every statement of the queue goes through [`Db::run`],
//! which tries it again on a fresh connection. The statements are written
//! so that running one twice is harmless (see `jobs` and `lease`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::QueueError;

/// How long [`Db::run`] keeps trying to reach the database before it gives
/// up on a statement.
const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// A connection to `url` (without the password, which comes apart):
/// TLS when `sslmode` is `require`, `verify-ca` or `verify-full` (the
/// server's certificate is checked against `ca_file` or `sslrootcert` and
/// the system's roots: stricter than libpq's `require`), plain otherwise.
/// The connection's task is spawned on the current runtime.
pub async fn connect(
    url: &str,
    password: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<Client, QueueError> {
    let (url, tls, root) = split_tls(url);
    let root = ca_file.map(|p| p.display().to_string()).or(root);
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| QueueError::Url {
        url: url.clone(),
        source: e,
    })?;
    if let Some(p) = password {
        config.password(p);
    }
    let failed = |source| QueueError::Connect {
        url: url.clone(),
        source,
    };
    if !tls {
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(failed)?;
        tokio::spawn(async move { drop(conn.await) });
        return Ok(client);
    }
    let tls = rustls_config(root.as_deref())?;
    let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let (client, conn) = config.connect(make).await.map_err(failed)?;
    tokio::spawn(async move { drop(conn.await) });
    Ok(client)
}

/// The URL without `sslmode` and `sslrootcert` (tokio-postgres knows no
/// `verify-full`), whether to use TLS, and the CA file.
fn split_tls(url: &str) -> (String, bool, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false, None);
    };
    let (mut tls, mut root, mut kept) = (false, None, Vec::new());
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => {
                tls = matches!(mode, "require" | "verify-full" | "verify-ca")
            }
            Some(("sslrootcert", path)) => {
                root = Some(
                    percent_encoding::percent_decode_str(path)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, tls, root)
}

fn rustls_config(root: Option<&str>) -> Result<rustls::ClientConfig, QueueError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(path) = root {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| QueueError::Tls {
                problem: format!("cannot read the CA file {path} (sslrootcert): {e}"),
            })?;
        for c in certs {
            roots.add(c).map_err(|e| QueueError::Tls {
                problem: format!("the CA file {path} (sslrootcert) holds a bad certificate: {e}"),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| QueueError::Tls {
            problem: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The queue's database: one client, made again when it drops.
pub struct Db {
    url: String,
    password: Option<String>,
    ca_file: Option<PathBuf>,
    /// The runtime the connections live on: a mailbox's job runs on a
    /// short-lived runtime of its own, which must not own the connection.
    handle: tokio::runtime::Handle,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
    /// Connections made so far: more than one means the database went
    /// away and came back (or the network did).
    connections: std::sync::atomic::AtomicU64,
}

impl Db {
    /// The database at `url`, connected and its tables migrated.
    pub async fn open(
        url: &str,
        password: Option<String>,
        ca_file: Option<PathBuf>,
    ) -> Result<Arc<Db>, QueueError> {
        let db = Arc::new(Db {
            url: url.to_string(),
            password,
            ca_file,
            handle: tokio::runtime::Handle::current(),
            client: tokio::sync::Mutex::new(None),
            connections: std::sync::atomic::AtomicU64::new(0),
        });
        let client = db.client().await?;
        super::schema::migrate(&client).await?;
        Ok(db)
    }

    /// The runtime the queue's own tasks (heartbeat, releases) run on.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The client, connecting (on the queue's runtime) when there is none
    /// or it was closed.
    async fn client(&self) -> Result<Arc<Client>, QueueError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let (url, password) = (self.url.clone(), self.password.clone());
        let ca = self.ca_file.clone();
        let made = self
            .handle
            .spawn(async move { connect(&url, password.as_deref(), ca.as_deref()).await })
            .await
            .map_err(|e| QueueError::Task(e.to_string()))??;
        let client = Arc::new(made);
        *slot = Some(client.clone());
        self.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(client)
    }

    /// Connections made so far (see the field).
    pub fn connections(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `statement` on the client; when the connection is gone (the
    /// server restarted), connects again with growing waits and runs it
    /// again, for up to [`RECONNECT_FOR`]. An error the server answered
    /// (a constraint, a syntax error) is returned at once.
    pub async fn run<T, F, Fut>(&self, statement: F) -> Result<T, QueueError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let start = Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            let outcome = match self.client().await {
                Ok(c) => statement(c.clone()).await.map_err(|e| {
                    (
                        e.as_db_error().is_none() || c.is_closed(),
                        QueueError::Sql(e),
                    )
                }),
                Err(e) => Err((true, e)),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err((true, e)) if start.elapsed() < RECONNECT_FOR => {
                    tracing::warn!("queue database: {e}; trying again in {wait:?}");
                    self.client.lock().await.take();
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err((_, e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue22_sslmode_and_root_come_out_of_the_url() {
        let (url, tls, root) = split_tls(
            "postgres://u@h:5/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=5",
        );
        assert_eq!(url, "postgres://u@h:5/d?connect_timeout=5");
        assert!(tls);
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (url, tls, root) = split_tls("postgres://u@h/d");
        assert_eq!((url.as_str(), tls, root), ("postgres://u@h/d", false, None));
        assert!(!split_tls("postgres://u@h/d?sslmode=disable").1);
    }
}
