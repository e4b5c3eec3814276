//! Signing in without a password: where an account's OAuth2 access tokens
//! come from, and getting a fresh one when the last has expired.
//!
//! The IMAP side (`crate::imap`) only asks a [`TokenSource`] for a bearer
//! token when it logs in (and again, forcing a new one, when the server
//! refused the last). What belongs here: the sources (a `token_command`,
//! slimbox's own sign-in with its refresh token kept in a file, app-only
//! client credentials, a Google service account), the OAuth2 flows of
//! `slimbox login`, and [`SigninError`], whose messages name the fix.

mod command;

use std::future::Future;
use std::pin::Pin;

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
}

impl SigninError {
    /// Worth trying again later (a provider that did not answer); a refused
    /// or revoked grant is not.
    pub fn is_transient(&self) -> bool {
        false
    }
}
