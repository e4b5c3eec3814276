//! How to reach an account: its IMAP settings from the config, the
//! password resolved once, or the source of its access tokens.

use std::sync::Arc;

use super::ServiceError;
use crate::config::{AccountConfig, AuthSetting, TlsSetting};
use crate::imap::{ImapAuth, ImapConfig, OAuthMechanism, Session, TlsMode};
use crate::lock::Mailbox;

/// How to reach `account`: the password resolved once, here; an access
/// token asked of its source at each connection.
pub fn imap_config(account: &AccountConfig) -> Result<ImapConfig, ServiceError> {
    let auth = imap_auth(account).map_err(|e| e.in_account(&account.name))?;
    Ok(ImapConfig {
        host: account.host.clone(),
        port: account.port,
        tls: match account.tls {
            TlsSetting::Implicit => TlsMode::Implicit,
            TlsSetting::StartTls => TlsMode::StartTls,
            TlsSetting::None => TlsMode::None,
        },
        ca_file: account.ca_file.clone(),
        user: account.login_name(),
        auth,
    })
}

/// A session with `account`, for the commands that read a mailbox once
/// (verify, index rebuild).
pub async fn connect(account: &AccountConfig) -> Result<Session, ServiceError> {
    let cfg = imap_config(account)?;
    Session::connect(&cfg)
        .await
        .map_err(|e| ServiceError::from(e).in_account(&account.name))
}

/// What a claim on `account` is about: its server and user.
pub fn mailbox(account: &AccountConfig) -> Mailbox {
    Mailbox::new(&account.host, account.port, &account.user)
}

fn imap_auth(account: &AccountConfig) -> Result<ImapAuth, ServiceError> {
    let mechanism = match account.auth {
        AuthSetting::Password => {
            let source = account
                .password
                .as_ref()
                .ok_or(ServiceError::NoPasswordSource)?;
            return Ok(ImapAuth::Password(source.resolve()?));
        }
        // The master user's password; the login name says whose mailbox.
        AuthSetting::Master | AuthSetting::Plain => {
            let source = account
                .password
                .as_ref()
                .ok_or(ServiceError::NoPasswordSource)?;
            let password = source.resolve()?;
            return Ok(match (&account.auth, &account.master_user) {
                (AuthSetting::Plain, Some(admin)) => ImapAuth::PlainAs {
                    authcid: admin.clone(),
                    password,
                },
                (AuthSetting::Plain, None) => ImapAuth::PlainAs {
                    authcid: account.user.clone(),
                    password,
                },
                _ => ImapAuth::Password(password),
            });
        }
        AuthSetting::XOAuth2 => OAuthMechanism::XOAuth2,
        AuthSetting::OAuthBearer => OAuthMechanism::OAuthBearer,
    };
    // The config check let through exactly one token source.
    let tokens: Arc<dyn crate::signin::TokenSource> = match &account.token_command {
        Some(command) => Arc::new(crate::signin::CommandTokenSource::new(command.clone())),
        None => {
            let provider = crate::signin::IdentityProvider::of_account(account);
            crate::signin::oauth_source(account, provider)?
        }
    };
    Ok(ImapAuth::OAuth { mechanism, tokens })
}
