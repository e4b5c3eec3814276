//! App-only access (OAuth2 client credentials): Microsoft 365's
//! IMAP.AccessAsApp, where the app signs in with its own secret and the
//! XOAUTH2 user is the target mailbox. No user, no refresh token, no token
//! file: a new token is asked for when the last one expires.

use oauth2::{Scope, TokenResponse};

use super::oauth::Session;
use super::provider::IdentityProvider;
use super::token_file::{now_secs, MemoryToken};
use super::{OAuthError, SigninError, TokenFuture, TokenSource};
use crate::config::{AccountConfig, OAuthConfig};

/// The token source of an account with `app_only = true`.
#[derive(Debug)]
pub struct ClientCredentialsSource {
    session: Session,
    cache: tokio::sync::Mutex<Option<MemoryToken>>,
}

impl ClientCredentialsSource {
    pub fn new(
        account: &AccountConfig,
        oauth: &OAuthConfig,
        provider: IdentityProvider,
    ) -> Result<ClientCredentialsSource, SigninError> {
        Ok(ClientCredentialsSource {
            session: Session::new(account, oauth, provider)?,
            cache: tokio::sync::Mutex::new(None),
        })
    }

    async fn get(&self, force_new: bool) -> Result<MemoryToken, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let (false, Some(t)) = (force_new, cache.as_ref()) {
            if t.fresh(now_secs()).is_some() {
                return Ok(t.clone());
            }
        }
        let s = &self.session;
        let answer = s
            .client
            .exchange_client_credentials()
            .add_scopes(s.endpoints.scopes.iter().cloned().map(Scope::new))
            .request_async(&s.http)
            .await
            .map_err(|e| s.failed(&s.endpoints.token_url, e))?;
        let fresh = MemoryToken::new(
            answer.access_token().secret().clone(),
            now_secs(),
            answer.expires_in(),
        );
        tracing::info!(account = %s.account, lifetime = fresh.lifetime, "got an app-only access token");
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// A token and its lifetime in seconds (for `slimbox login`'s report).
    pub(super) async fn fetch(&self) -> Result<u64, SigninError> {
        Ok(self.get(true).await?.lifetime)
    }
}

impl TokenSource for ClientCredentialsSource {
    fn token(&self, force_new: bool) -> TokenFuture<'_> {
        Box::pin(async move {
            self.get(force_new)
                .await
                .map(|t| t.token)
                .map_err(SigninError::from)
        })
    }
}
