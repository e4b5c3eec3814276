//! A signed-in user's tokens: the access token from the token file while it
//! is good, else a new one from the refresh token, saving the refresh token
//! the provider may have rotated. Also in the middle of a long run: the IMAP
//! side asks again whenever it logs in, and forces a new one when refused.

use std::path::PathBuf;

use oauth2::{RefreshToken, Scope, TokenResponse};

use super::oauth::Session;
use super::provider::IdentityProvider;
use super::token_file::{self, StoredTokens};
use super::{OAuthError, SigninError, TokenFuture, TokenSource};
use crate::config::{AccountConfig, OAuthConfig};

/// The token source of an account signed in with `slimbox login`.
#[derive(Debug)]
pub struct UserTokenSource {
    session: Session,
    token_file: PathBuf,
    /// The last tokens read or obtained; one refresh at a time.
    cache: tokio::sync::Mutex<Option<StoredTokens>>,
}

impl UserTokenSource {
    /// The source of `account`; reads nothing until asked for a token.
    pub fn new(
        account: &AccountConfig,
        oauth: &OAuthConfig,
        provider: IdentityProvider,
    ) -> Result<UserTokenSource, SigninError> {
        Ok(UserTokenSource {
            session: Session::new(account, oauth, provider)?,
            token_file: oauth.token_file.clone(),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    async fn get(&self, force_new: bool) -> Result<String, OAuthError> {
        let mut cache = self.cache.lock().await;
        let now = token_file::now_secs();
        if !force_new {
            if let Some(t) = cache.as_ref().and_then(|t| t.fresh_access_token(now)) {
                return Ok(t.to_string());
            }
        }
        // Read the file again each time: another slimbox may have
        // refreshed meanwhile, and rotated the refresh token ours was.
        let stored = self.read()?;
        if !force_new {
            if let Some(t) = stored.fresh_access_token(now) {
                let t = t.to_string();
                *cache = Some(stored);
                return Ok(t);
            }
        }
        let fresh = self.refresh(&stored).await?;
        token_file::save(&self.token_file, &fresh)?;
        let token = fresh.access_token.clone().unwrap_or_default();
        *cache = Some(fresh);
        Ok(token)
    }

    /// The token file, which must be this app's.
    fn read(&self) -> Result<StoredTokens, OAuthError> {
        let account = &self.session.account;
        let stored = token_file::load(account, &self.token_file)?.ok_or_else(|| {
            OAuthError::NotSignedIn {
                account: account.clone(),
                path: self.token_file.clone(),
            }
        })?;
        if stored.client_id != self.session.client.client_id().as_str()
            || stored.token_url != self.session.endpoints.token_url
        {
            return Err(OAuthError::TokenFileMismatch {
                account: account.clone(),
                path: self.token_file.clone(),
            });
        }
        Ok(stored)
    }

    /// New tokens from the refresh token in `stored`.
    async fn refresh(&self, stored: &StoredTokens) -> Result<StoredTokens, OAuthError> {
        let s = &self.session;
        let refresh = RefreshToken::new(stored.refresh_token.clone());
        let answer = s
            .client
            .exchange_refresh_token(&refresh)
            .add_scopes(s.endpoints.scopes.iter().cloned().map(Scope::new))
            .request_async(&s.http)
            .await
            .map_err(|e| s.failed(&s.endpoints.token_url, e))?;
        let (expires_at, lifetime) =
            token_file::expiry(token_file::now_secs(), answer.expires_in());
        tracing::info!(account = %s.account, lifetime, rotated = answer.refresh_token().is_some(), "refreshed the access token");
        Ok(StoredTokens {
            access_token: Some(answer.access_token().secret().clone()),
            // Providers that rotate send a new one; the others keep the old.
            refresh_token: answer
                .refresh_token()
                .map_or_else(|| stored.refresh_token.clone(), |r| r.secret().clone()),
            expires_at,
            lifetime,
            ..stored.clone()
        })
    }
}

impl TokenSource for UserTokenSource {
    fn token(&self, force_new: bool) -> TokenFuture<'_> {
        Box::pin(async move { self.get(force_new).await.map_err(SigninError::from) })
    }
}
