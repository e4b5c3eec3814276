//! Signing in without a password: where an account's OAuth2 access tokens
//! come from, and getting a fresh one when the last has expired.
//!
//! The IMAP side (`crate::imap`) only asks a [`TokenSource`] for a bearer
//! token when it logs in (and again, forcing a new one, when the server
//! refused the last). What belongs here: the sources (a `token_command`,
//! slimbox's own sign-in with its refresh token kept in a file, app-only
//! client credentials, a Google service account), the OAuth2 flows of
//! `slimbox login`, and [`SigninError`], whose messages name the fix.
//!
//! The OAuth2 parts: `provider` (endpoints and scopes of Google, Microsoft or
//! a generic provider), `oauth` (the `oauth2` crate's client and HTTP, and
//! the provider's refusals turned into errors by their `error` code),
//! `token_file` (the refresh token on disk, 0600, written atomically),
//! `login` and `loopback` (the code + PKCE and device flows), `user`
//! (refreshing a signed-in user's token), `app_only` (client credentials)
//! and `service_account` (Google domain-wide delegation).

mod app_only;
mod login;
mod loopback;
mod oauth;
mod provider;
mod service_account;
mod token_file;
mod user;

mod command;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::AccountConfig;

pub use app_only::ClientCredentialsSource;
pub use login::{login, LoginOptions, LoginOutcome, LoginUi};
pub use provider::IdentityProvider;
pub use service_account::ServiceAccountSource;
pub use user::UserTokenSource;

pub use command::{CommandTokenSource, FORCE_NEW_ENV};

/// A future a [`TokenSource`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SigninError>> + Send + 'a>>;

/// Where a bearer token for one account comes from.
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// An access token valid now. With `force_new` the source must not hand
    /// out one it gave before (the server just refused it): it refreshes or
    /// asks again.
    fn token(&self, force_new: bool) -> TokenFuture<'_>;
}

/// Errors of signing in. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error("the token command `{command}` failed: {reason}; run it by hand to see why, or fix token_command in the config")]
    Command { command: String, reason: String },
    #[error("the token command `{command}` printed nothing; it must print an access token on its first line")]
    CommandEmpty { command: String },
    #[error(transparent)]
    OAuth(#[from] Box<OAuthError>),
}

impl SigninError {
    /// Worth trying again later (a provider that did not answer); a refused
    /// or revoked grant is not.
    pub fn is_transient(&self) -> bool {
        match self {
            SigninError::OAuth(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl From<OAuthError> for SigninError {
    fn from(e: OAuthError) -> Self {
        SigninError::OAuth(Box::new(e))
    }
}

/// Errors of slimbox's own sign-in (`[account.oauth]`): `slimbox login`,
/// refreshing, app-only and service-account tokens.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("account {account}: not signed in yet (no token file {}); run `slimbox login {account}`", .path.display())]
    NotSignedIn { account: String, path: PathBuf },
    #[error("account {account}: the sign-in has expired or was revoked (the provider answered {code}); run `slimbox login {account}`")]
    LoginExpired { account: String, code: String },
    #[error("account {account}: the token file {} was written for another app or provider (client ID or token URL changed); run `slimbox login {account}`", .path.display())]
    TokenFileMismatch { account: String, path: PathBuf },
    #[error("account {account}: the permissions slimbox asks for were not granted ({code}); run `slimbox login {account}` and accept them. Where the organisation does not let users consent, an administrator grants them once (Microsoft Entra ID: App registrations > API permissions > Grant admin consent; Google Workspace: Admin console > Security > API controls)")]
    ConsentMissing { account: String, code: String },
    #[error("account {account}: the sign-in was declined at the provider's page ({code}); run `slimbox login {account}` again and accept the request")]
    Declined { account: String, code: String },
    #[error("account {account}: the provider does not accept the app ({code}); {fix}")]
    ClientRejected {
        account: String,
        code: String,
        fix: &'static str,
    },
    #[error("account {account}: the provider refused the scopes {scopes} ({code}); remove `scopes` from [account.oauth] to ask for the provider's own, or allow these scopes in the app's registration")]
    ScopeRejected {
        account: String,
        code: String,
        scopes: String,
    },
    #[error("account {account}: the provider refused the sign-in ({code}{}); check [account.oauth] and the app's registration (README: \"Signing in\")", describe(.description))]
    Refused {
        account: String,
        code: String,
        description: Option<String>,
    },
    #[error(
        "account {account}: the sign-in server is unavailable for now ({code}); try again later"
    )]
    Unavailable { account: String, code: String },
    #[error("account {account}: cannot reach the sign-in server {url}: {reason}; check the network connection (and HTTPS_PROXY behind a proxy) and try again")]
    Unreachable {
        account: String,
        url: String,
        reason: String,
    },
    #[error("account {account}: the sign-in server {url} did not answer as an OAuth2 server ({reason}); check authorize_url, token_url and device_url in [account.oauth], or try again if the provider is having trouble")]
    BadResponse {
        account: String,
        url: String,
        reason: String,
    },
    #[error("account {account}: the provider gave no refresh token, so the sign-in would not outlast this hour; {fix}")]
    NoRefreshToken { account: String, fix: &'static str },
    #[error("account {account}: the answer that came back to 127.0.0.1 does not carry the state slimbox sent (an old browser tab, or someone else's request); run `slimbox login {account}` again")]
    StateMismatch { account: String },
    #[error("account {account}: no answer from the browser within {minutes} minutes; run `slimbox login {account}` again, or `slimbox login {account} --device` on a machine without a browser")]
    BrowserTimeout { account: String, minutes: u64 },
    #[error("account {account}: cannot listen on 127.0.0.1 for the browser's answer: {source}; use `slimbox login {account} --device` instead")]
    Listen {
        account: String,
        source: std::io::Error,
    },
    #[error("account {account}: the code expired before the sign-in was confirmed; run `slimbox login {account} --device` again and enter the code sooner")]
    DeviceCodeExpired { account: String },
    #[error("account {account}: cannot read the token file {}: {reason}; run `slimbox login {account}` to write it anew", .path.display())]
    TokenFileRead {
        account: String,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot write the token file {}: {source}; check that its folder is writable, or set token_file in [account.oauth]", .path.display())]
    TokenFileWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("service account key {}: {reason}; download a new JSON key for the service account (Google Cloud console > IAM > Service accounts > Keys) and point service_account_file at it", .path.display())]
    ServiceAccountKey { path: PathBuf, reason: String },
    #[error("account {account}: the service account may not act for {user} ({code}); check that {user} is a mailbox of the Workspace domain, that the key is still valid and the clock right, and that domain-wide delegation grants the service account's client ID https://mail.google.com/ (Admin console > Security > API controls)")]
    ServiceAccountRefused {
        account: String,
        user: String,
        code: String,
    },
    #[error("account {account}: environment variable ${var} (client_secret_env) is not set or empty; export it with the app's client secret before running slimbox")]
    SecretEnv { account: String, var: String },
    #[error("account {account}: {problem}")]
    Setup { account: String, problem: String },
    #[error("cannot start an HTTPS client: {reason}; check the system's certificate store")]
    Client { reason: String },
}

impl OAuthError {
    /// Worth trying again later: the provider did not answer, or said so.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OAuthError::Unavailable { .. } | OAuthError::Unreachable { .. }
        )
    }
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

/// The token source of an account with an `[account.oauth]` table: a
/// signed-in user's refresh token, app-only client credentials, or a Google
/// service account, as the table says. `provider` supplies the endpoints
/// the table does not override.
pub fn oauth_source(
    account: &AccountConfig,
    provider: IdentityProvider,
) -> Result<Arc<dyn TokenSource>, SigninError> {
    let Some(oauth) = &account.oauth else {
        return Err(OAuthError::Setup {
            account: account.name.clone(),
            problem: "has no [account.oauth] table; add one with the app's client_id \
                      (README: \"Signing in\")"
                .to_string(),
        }
        .into());
    };
    Ok(if oauth.app_only {
        Arc::new(ClientCredentialsSource::new(account, oauth, provider)?)
    } else if oauth.service_account_file.is_some() {
        Arc::new(ServiceAccountSource::new(account, oauth)?)
    } else {
        Arc::new(UserTokenSource::new(account, oauth, provider)?)
    })
}
