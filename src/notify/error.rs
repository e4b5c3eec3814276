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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str, transient: bool) -> NotifyError {
        NotifyError::SmtpRefused {
            host: "smtp.example.com".into(),
            port: 587,
            code: code.into(),
            reply: "5.1.1 <alice@example.com>: no such mailbox".into(),
            transient,
        }
    }

    #[test]
    fn issue13_an_smtp_refusal_names_the_server_and_its_reply() {
        let e = refused("550", false);
        let msg = e.to_string();
        assert!(
            msg.contains("smtp.example.com:587")
                && msg.contains("550")
                && msg.contains("no such mailbox")
                && msg.contains("[owner_report] from"),
            "{msg}"
        );
        assert!(!e.is_transient());
        assert!(refused("451", true).is_transient());
    }

    #[test]
    fn issue13_an_unusable_ca_file_says_which_key_to_fix() {
        let e = NotifyError::SmtpCaFile {
            path: "/etc/ssl/ca.pem".into(),
            problem: "No such file or directory".into(),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("/etc/ssl/ca.pem") && msg.contains("ca_file"),
            "{msg}"
        );
        assert!(!e.is_transient());
    }
}
