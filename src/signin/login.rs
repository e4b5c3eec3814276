//! `slimbox login`: the authorization-code flow with PKCE and a loopback
//! redirect (RFC 7636, RFC 8252), or the device flow (RFC 8628) on a
//! machine without a browser; the refresh token goes to the token file only
//! once the provider has handed it out. App-only and service-account
//! accounts have nobody to sign in: login checks they get a token.

use std::path::PathBuf;
use std::time::Duration;

use oauth2::basic::BasicTokenResponse;
use oauth2::{
    AuthorizationCode, CsrfToken, DeviceAuthorizationResponse, EmptyExtraDeviceAuthorizationFields,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use super::app_only::ClientCredentialsSource;
use super::loopback::{Loopback, Redirect};
use super::oauth::{refused, ProviderError, Session};
use super::provider::IdentityProvider;
use super::service_account::ServiceAccountSource;
use super::token_file::{self, StoredTokens};
use super::{OAuthError, SigninError};
use crate::config::{AccountConfig, OAuthConfig};

/// How to sign in.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The device flow instead of the browser on this machine.
    pub device: bool,
    /// Try to start the browser (else only print the address).
    pub open_browser: bool,
    /// How long to wait for the browser's answer.
    pub browser_timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            device: false,
            open_browser: true,
            browser_timeout: Duration::from_secs(600),
        }
    }
}

/// What the user must do, told by the caller (the CLI prints it).
pub trait LoginUi {
    /// Open `url` in a browser; `opened`: slimbox started one itself.
    fn visit(&self, url: &str, opened: bool);
    /// Device flow: enter `user_code` at `uri` (or open `complete`, which
    /// carries the code) within `expires_in`.
    fn enter_code(&self, uri: &str, user_code: &str, complete: Option<&str>, expires_in: Duration);
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in; the refresh token is in `token_file`.
    SignedIn {
        token_file: PathBuf,
        /// Seconds the first access token is valid.
        lifetime: u64,
    },
    /// App-only or service-account access works: a token was obtained;
    /// nothing is stored.
    AppAccess { what: &'static str, lifetime: u64 },
}

/// Signs `account` in with its provider (`provider` gives the endpoints
/// `[account.oauth]` does not). Changes nothing in any mailbox; writes the
/// token file only on success.
pub async fn login(
    account: &AccountConfig,
    provider: IdentityProvider,
    options: &LoginOptions,
    ui: &dyn LoginUi,
) -> Result<LoginOutcome, SigninError> {
    let Some(oauth) = &account.oauth else {
        return Err(setup(
            account,
            "has no [account.oauth] table, so there is nothing to sign in to; add one with \
             the app's client_id (README: \"Signing in\")",
        )
        .into());
    };
    if oauth.app_only {
        let source = ClientCredentialsSource::new(account, oauth, provider)?;
        let lifetime = source.fetch().await?;
        return Ok(LoginOutcome::AppAccess {
            what: "app-only access (client credentials)",
            lifetime,
        });
    }
    if oauth.service_account_file.is_some() {
        let lifetime = ServiceAccountSource::new(account, oauth)?.fetch().await?;
        return Ok(LoginOutcome::AppAccess {
            what: "service account access (domain-wide delegation)",
            lifetime,
        });
    }
    let session = Session::new(account, oauth, provider)?;
    let answer = if options.device {
        if provider == IdentityProvider::Google {
            return Err(setup(
                account,
                "Google does not allow Gmail's scope in the device flow; run `slimbox login` \
                 without --device on a machine with a browser (or copy the printed address \
                 to one: --no-browser)",
            )
            .into());
        }
        device_flow(&session, ui).await?
    } else {
        code_flow(&session, provider, &account.user, options, ui).await?
    };
    Ok(keep(&session, oauth, provider, &answer)?)
}

fn setup(account: &AccountConfig, problem: &str) -> OAuthError {
    OAuthError::Setup {
        account: account.name.clone(),
        problem: problem.to_string(),
    }
}

/// Authorization code + PKCE, with the code brought back to 127.0.0.1.
async fn code_flow(
    session: &Session,
    provider: IdentityProvider,
    user: &str,
    options: &LoginOptions,
    ui: &dyn LoginUi,
) -> Result<BasicTokenResponse, OAuthError> {
    let account = &session.account;
    let setup = |problem: String| OAuthError::Setup {
        account: account.clone(),
        problem,
    };
    let listener = Loopback::bind()
        .await
        .map_err(|source| OAuthError::Listen {
            account: account.clone(),
            source,
        })?;
    let redirect = format!("http://{}:{}/", provider.redirect_host(), listener.port());
    let redirect = RedirectUrl::new(redirect).map_err(|e| setup(e.to_string()))?;
    let client = session.client.clone().set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|_| {
            setup(
                "has no authorize_url: set it in [account.oauth], or use --device with a \
                 provider that has the device flow"
                    .to_string(),
            )
        })?
        .add_scopes(session.endpoints.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", user.to_string());
    for (k, v) in provider.authorize_params() {
        request = request.add_extra_param(*k, *v);
    }
    let (url, state) = request.url();
    let opened = options.open_browser && crate::desktop::open_browser(url.as_str());
    ui.visit(url.as_str(), opened);
    let got = tokio::time::timeout(options.browser_timeout, listener.wait(state.secret()))
        .await
        .map_err(|_| OAuthError::BrowserTimeout {
            account: account.clone(),
            minutes: options.browser_timeout.as_secs().div_ceil(60),
        })?;
    let code = match got {
        Redirect::Code(c) => c,
        Redirect::Refused(error) => {
            return Err(refused(
                account,
                &session.endpoints.scopes,
                &ProviderError::code(&error),
            ))
        }
        Redirect::StateMismatch => {
            return Err(OAuthError::StateMismatch {
                account: account.clone(),
            })
        }
    };
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&session.http)
        .await
        .map_err(|e| session.failed(&session.endpoints.token_url, e))
}

/// The device flow: the user enters a code on another device; slimbox
/// polls the token endpoint until they have.
async fn device_flow(
    session: &Session,
    ui: &dyn LoginUi,
) -> Result<BasicTokenResponse, OAuthError> {
    let no_device = || OAuthError::Setup {
        account: session.account.clone(),
        problem: "has no device_url: set the provider's device authorization endpoint in \
                  [account.oauth], or sign in without --device"
            .to_string(),
    };
    let url = session.endpoints.device_url.clone().ok_or_else(no_device)?;
    let details: DeviceAuthorizationResponse<EmptyExtraDeviceAuthorizationFields> = session
        .client
        .exchange_device_code()
        .map_err(|_| no_device())?
        .add_scopes(session.endpoints.scopes.iter().cloned().map(Scope::new))
        .request_async(&session.http)
        .await
        .map_err(|e| session.failed(&url, e))?;
    ui.enter_code(
        details.verification_uri().as_str(),
        details.user_code().secret(),
        details
            .verification_uri_complete()
            .map(|c| c.secret().as_str()),
        details.expires_in(),
    );
    session
        .client
        .exchange_device_access_token(&details)
        .request_async(&session.http, tokio::time::sleep, None)
        .await
        .map_err(|e| session.failed(&session.endpoints.token_url, e))
}

/// Writes the new tokens to the token file.
fn keep(
    session: &Session,
    oauth: &OAuthConfig,
    provider: IdentityProvider,
    answer: &BasicTokenResponse,
) -> Result<LoginOutcome, OAuthError> {
    let Some(refresh) = answer.refresh_token() else {
        return Err(OAuthError::NoRefreshToken {
            account: session.account.clone(),
            fix: match provider {
                IdentityProvider::Google => {
                    "remove slimbox's access at https://myaccount.google.com/permissions and \
                     run `slimbox login` again"
                }
                IdentityProvider::Microsoft | IdentityProvider::Generic => {
                    "the scopes must include offline_access: add it to scopes in \
                     [account.oauth] (or remove scopes for the provider's own)"
                }
            },
        });
    };
    let (expires_at, lifetime) = token_file::expiry(token_file::now_secs(), answer.expires_in());
    let tokens = StoredTokens {
        client_id: session.client.client_id().as_str().to_string(),
        token_url: session.endpoints.token_url.clone(),
        refresh_token: refresh.secret().clone(),
        access_token: Some(answer.access_token().secret().clone()),
        expires_at,
        lifetime,
    };
    token_file::save(&oauth.token_file, &tokens)?;
    Ok(LoginOutcome::SignedIn {
        token_file: oauth.token_file.clone(),
        lifetime,
    })
}
