//! Sending the owner report through an SMTP server (`[owner_report]
//! delivery = "smtp"`): lettre's async transport on tokio with rustls.
//!
//! The message is the one `compose` wrote, sent as it is (`send_raw`): the
//! owner gets the same bytes whichever way it goes. One connection per
//! report; a report is one short message per mailbox and run.

use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::NotifyError;
use crate::config::{SmtpConfig, SmtpTls};

/// How long one SMTP step (connect, a command and its reply) may take: a
/// server that hangs must not keep a run from finishing.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `message` from `from` to `to` (both as in the message's headers,
/// `Name <addr>` or a bare address) through the server of `cfg`.
pub async fn send(
    cfg: &SmtpConfig,
    from: &str,
    to: &str,
    message: &[u8],
) -> Result<(), NotifyError> {
    let envelope = Envelope::new(Some(address(from)?), vec![address(to)?])
        .map_err(|e| NotifyError::Build(e.to_string()))?;
    let transport = transport(cfg).await?;
    // lettre ends DATA with CRLF "." CRLF whatever the message ends with,
    // so a message that already ends in CRLF would arrive with an empty
    // line more than `compose` wrote: hand it over without that CRLF.
    let message = message.strip_suffix(b"\r\n").unwrap_or(message);
    match transport.send_raw(&envelope, message).await {
        Ok(_) => Ok(()),
        Err(e) => Err(refusal_or_failure(cfg, e)),
    }
}

/// The bare address of a header mailbox, for the envelope.
fn address(mailbox: &str) -> Result<Address, NotifyError> {
    mailbox
        .parse::<Mailbox>()
        .map(|m| m.email)
        .map_err(|_| NotifyError::Address {
            address: mailbox.to_string(),
        })
}

async fn transport(cfg: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let tls = match cfg.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_parameters(cfg).await?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters(cfg).await?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.as_str())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(STEP_TIMEOUT));
    if let Some((user, source)) = &cfg.login {
        let password = source.resolve().map_err(NotifyError::SmtpPassword)?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// The system's trust roots, and `ca_file` when set (a private CA).
async fn tls_parameters(cfg: &SmtpConfig) -> Result<TlsParameters, NotifyError> {
    let mut params = TlsParameters::builder(cfg.host.clone());
    if let Some(path) = &cfg.ca_file {
        let ca_error = |problem: String| NotifyError::SmtpCaFile {
            path: path.clone(),
            problem,
        };
        let pem = tokio::fs::read(path)
            .await
            .map_err(|e| ca_error(e.to_string()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
        params = params.add_root_certificate(cert);
    }
    params.build_rustls().map_err(|source| NotifyError::Smtp {
        host: cfg.host.clone(),
        port: cfg.port,
        source,
    })
}

/// A negative reply becomes [`NotifyError::SmtpRefused`] with the server's
/// code and words; anything else (connection, TLS, timeout) stays as it is.
fn refusal_or_failure(cfg: &SmtpConfig, e: lettre::transport::smtp::Error) -> NotifyError {
    match e.status() {
        Some(code) => NotifyError::SmtpRefused {
            host: cfg.host.clone(),
            port: cfg.port,
            code: code.to_string(),
            reply: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            transient: e.is_transient(),
        },
        None => NotifyError::Smtp {
            host: cfg.host.clone(),
            port: cfg.port,
            source: e,
        },
    }
}
