//! [`Session`]: one authenticated IMAP connection on top of the protocol
//! engine in `conn`: connecting (TCP, then TLS or STARTTLS) and logging in,
//! what the server announced, keeping the connection alive, logging out.
//! Its operations live beside it, one concern a file (`login`, `mailbox`,
//! `fetch`, `append`, `remove`, `condstore`, `quota`). Everything is
//! addressed by UID; sequence numbers never leave the `imap` module.

use super::command::Command;
use super::conn::{Conn, Greeting};
use super::oauth::credentials;
use super::transport::{is_loopback_host, tcp_connect, tls_config, tls_handshake, Transport};
use super::{ImapConfig, ImapError, TlsMode};

/// The folder currently selected or examined.
#[derive(Debug, Clone)]
pub(super) struct Selected {
    pub raw_name: String,
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: u32,
}

/// An authenticated IMAP connection.
#[derive(Debug)]
pub struct Session {
    pub(super) conn: Conn,
    host: String,
    user: String,
    pub(super) selected: Option<Selected>,
    /// Whatever must live exactly as long as this connection (a permit
    /// of a per-server connection limit, see [`Session::hold`]).
    guard: Option<ConnectionGuard>,
}

/// Something a [`Session`] keeps until it is dropped.
pub struct ConnectionGuard(#[allow(dead_code)] Box<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionGuard(..)")
    }
}

impl Session {
    /// Connects (TCP, then TLS as configured), reads the greeting, logs in
    /// (LOGIN, or AUTHENTICATE PLAIN when the server sets LOGINDISABLED; with
    /// OAuth, AUTHENTICATE XOAUTH2 or OAUTHBEARER with a token asked of the
    /// account's source first) and caches the post-login capabilities.
    pub async fn connect(cfg: &ImapConfig) -> Result<Session, ImapError> {
        if cfg.host.trim().is_empty() {
            return Err(ImapError::Config("the IMAP host is empty".into()));
        }
        if cfg.tls == TlsMode::None && !is_loopback_host(&cfg.host) {
            return Err(ImapError::Config(format!(
                "refusing to send the password or token of {:?} to {} without TLS; use implicit TLS \
                 (port 993) or STARTTLS (port 143). Plain text is only allowed to a loopback host \
                 (127.0.0.1, ::1, localhost)",
                cfg.user, cfg.host
            )));
        }
        let creds = credentials(&cfg.auth, &cfg.user).await?;

        let tcp = tcp_connect(&cfg.host, cfg.port).await?;
        let transport = match cfg.tls {
            TlsMode::Implicit => {
                let config = tls_config(&cfg.host, cfg.ca_file.as_deref()).await?;
                Transport::tls(tls_handshake(tcp, &cfg.host, config).await?)
            }
            TlsMode::StartTls | TlsMode::None => Transport::plain(tcp),
        };
        let mut conn = Conn::new(transport, 0);
        let greeting = conn.read_greeting(&cfg.host).await?;

        if cfg.tls == TlsMode::StartTls {
            if greeting == Greeting::PreAuth {
                // Nothing could protect the session after a PREAUTH: the
                // connection is already authenticated in plain text.
                return Err(ImapError::Tls {
                    host: cfg.host.clone(),
                    reason: "the server pre-authenticated the plain connection, so STARTTLS \
                             is impossible"
                        .into(),
                });
            }
            if conn.caps.is_empty() {
                conn.refresh_capabilities().await?;
            }
            if !conn.has("STARTTLS") {
                return Err(ImapError::Tls {
                    host: cfg.host.clone(),
                    reason: "the server does not offer STARTTLS on this port".into(),
                });
            }
            conn.run(Command::new("STARTTLS"), |_| {})
                .await?
                .check("STARTTLS")?;
            let config = tls_config(&cfg.host, cfg.ca_file.as_deref()).await?;
            let (transport, next_tag) = conn.into_transport();
            let tcp = transport.into_tcp().ok_or_else(|| {
                ImapError::Usage("STARTTLS on a connection that is already TLS".into())
            })?;
            let tls = tls_handshake(tcp, &cfg.host, config).await?;
            // No greeting after STARTTLS; capabilities seen in plain text
            // must be forgotten and asked again (RFC 3501 6.2.1).
            conn = Conn::new(Transport::tls(tls), next_tag);
            conn.refresh_capabilities().await?;
        } else if conn.caps.is_empty() {
            conn.refresh_capabilities().await?;
        }

        let mut session = Session {
            conn,
            host: cfg.host.clone(),
            user: cfg.user.clone(),
            selected: None,
            guard: None,
        };
        if greeting != Greeting::PreAuth {
            session.log_in(cfg, creds).await?;
        }
        tracing::debug!(
            host = %session.host,
            user = %session.user,
            tls = session.conn.is_tls(),
            caps = ?session.conn.caps,
            "IMAP session ready"
        );
        Ok(session)
    }

    /// Keeps `guard` until this session is dropped: whoever limits
    /// connections (`crate::fleet`) hands its permit to the connection it
    /// counts, so it cannot outlive or be lost before it.
    pub fn hold(mut self, guard: impl std::any::Any + Send + Sync) -> Session {
        self.guard = Some(ConnectionGuard(Box::new(guard)));
        self
    }

    /// True if the server announced `cap` (case-insensitive), e.g. "UIDPLUS", "AUTH=PLAIN".
    pub fn has_capability(&self, cap: &str) -> bool {
        self.conn.has(cap)
    }

    /// The cached capabilities, upper-cased and sorted (for logs and reports).
    pub fn capabilities(&self) -> Vec<String> {
        let mut v: Vec<String> = self.conn.caps.iter().cloned().collect();
        v.sort();
        v
    }

    /// The connection failed (dropped, timed out, garbled): every further
    /// command is refused, and only a new session can go on.
    pub fn is_broken(&self) -> bool {
        self.conn.is_broken()
    }

    /// NOOP: keeps the connection alive and lets the server report changes.
    pub async fn noop(&mut self) -> Result<(), ImapError> {
        self.conn
            .run(Command::new("NOOP"), |_| {})
            .await?
            .check("NOOP")?;
        Ok(())
    }

    /// LOGOUT and close the connection.
    pub async fn logout(mut self) -> Result<(), ImapError> {
        let res = self.conn.run(Command::new("LOGOUT"), |_| {}).await;
        self.conn.shutdown().await;
        match res {
            Ok(done) => done.check("LOGOUT").map(|_| ()),
            // The server may hang up right after its BYE; we are done anyway.
            Err(ImapError::Unavailable { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
