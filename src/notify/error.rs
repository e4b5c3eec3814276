use std::path::PathBuf;

use crate::config::ConfigError;
use crate::imap::ImapError;

/// Why an owner report could not be written or delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "the owner report's address {address:?} is not an email address; set the account's \
         `email` (or [owner_report] from) to one like \"Alice <alice@example.com>\""
    )]
    Address { address: String },
    #[error("the owner report could not be built: {0}")]
    Build(String),
    #[error("the owner report could not be put into INBOX: {0}")]
    Imap(#[from] ImapError),
    /// The SMTP server answered with a 4xx or 5xx reply.
    #[error(
        "the owner report could not be sent: the SMTP server {host}:{port} answered {code} \
         {reply:?}; check [owner_report] from, the owner's address and [owner_report.smtp] \
         user against what that server accepts"
    )]
    SmtpRefused {
        host: String,
        port: u16,
        code: String,
        reply: String,
        /// A 4xx reply: the server may take it later.
        transient: bool,
    },
    /// No conversation: connection, TLS or timeout.
    #[error(
        "the owner report could not be sent through the SMTP server {host}:{port}: {source}; \
         check [owner_report.smtp] host, port and tls (and ca_file for a private CA)"
    )]
    Smtp {
        host: String,
        port: u16,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error(
        "the owner report's SMTP ca_file {} cannot be used: {problem}; point \
         [owner_report.smtp] ca_file at the CA certificate (PEM) of the server",
        path.display()
    )]
    SmtpCaFile { path: PathBuf, problem: String },
    #[error("the owner report's SMTP password could not be had: {0}")]
    SmtpPassword(#[source] ConfigError),
}

impl NotifyError {
    /// Only the server's side can get better by itself: a 4xx reply, or a
    /// connection that failed or timed out (not TLS, not a refusal).
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Imap(e) => e.is_transient(),
            NotifyError::SmtpRefused { transient, .. } => *transient,
            NotifyError::Smtp { source, .. } => {
                source.is_timeout()
                    || !(source.is_tls()
                        || source.is_client()
                        || source.is_response()
                        || source.is_permanent())
            }
            _ => false,
        }
    }
}
