//! The `oauth2` crate's client for one account, its HTTP client (reqwest
//! over rustls, redirects off), and the provider's refusals turned into
//! [`OAuthError`]s. Decisions are taken on the `error` code and Microsoft's
//! typed `suberror` / `error_codes` fields, never on the description text.

use std::time::Duration;

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenResponse,
};
use oauth2::{
    AuthUrl, ClientId, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    ErrorResponse, HttpClientError, RequestTokenError, StandardRevocableToken, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::provider::{endpoints, Endpoints, IdentityProvider};
use super::OAuthError;
use crate::config::{AccountConfig, ClientSecret, OAuthConfig};

/// The `oauth2` client as slimbox uses it: the token URL always known, the
/// authorization and device URLs where the provider has them.
pub(super) type OAuthClient = oauth2::Client<
    ProviderError,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What a request to the provider can fail with.
pub(super) type RequestError<TE> = RequestTokenError<HttpClientError<reqwest::Error>, TE>;

/// One account's way to its provider.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) account: String,
    pub(super) endpoints: Endpoints,
    pub(super) client: OAuthClient,
    pub(super) http: reqwest::Client,
}

impl Session {
    /// The session of `account`, whose `[account.oauth]` is `oauth`.
    pub(super) fn new(
        account: &AccountConfig,
        oauth: &OAuthConfig,
        provider: IdentityProvider,
    ) -> Result<Session, OAuthError> {
        let name = account.name.clone();
        let setup = |problem: String| OAuthError::Setup {
            account: name.clone(),
            problem,
        };
        let endpoints = endpoints(provider, oauth).map_err(setup)?;
        let Some(client_id) = &oauth.client_id else {
            return Err(setup(
                "[account.oauth] has no client_id; write the client ID of the app you \
                 registered (README: \"Signing in\")"
                    .to_string(),
            ));
        };
        let bad_url = |u: &str, e: url::ParseError| setup(format!("{u:?} is not a URL: {e}"));
        let auth = match &endpoints.authorize_url {
            Some(u) => Some(AuthUrl::new(u.clone()).map_err(|e| bad_url(u, e))?),
            None => None,
        };
        let device = match &endpoints.device_url {
            Some(u) => Some(DeviceAuthorizationUrl::new(u.clone()).map_err(|e| bad_url(u, e))?),
            None => None,
        };
        let token = TokenUrl::new(endpoints.token_url.clone())
            .map_err(|e| bad_url(&endpoints.token_url, e))?;
        let mut client = oauth2::Client::new(ClientId::new(client_id.clone()))
            .set_auth_uri_option(auth)
            .set_device_authorization_url_option(device)
            .set_token_uri(token);
        if let Some(secret) = &oauth.client_secret {
            client = client.set_client_secret(oauth2::ClientSecret::new(client_secret(
                &account.name,
                secret,
            )?));
        }
        Ok(Session {
            account: account.name.clone(),
            endpoints,
            client,
            http: http_client()?,
        })
    }

    /// `e`, from a request to `url`, as an error naming the fix.
    pub(super) fn failed<TE: ErrorResponse + 'static>(
        &self,
        url: &str,
        e: RequestError<TE>,
    ) -> OAuthError {
        request_failed(&self.account, url, &self.endpoints.scopes, e)
    }
}

/// The HTTP client for the provider: rustls with the system's roots, no
/// redirects (a token endpoint that redirects is misconfigured, and
/// following it could send the code elsewhere), bounded waits.
pub(super) fn http_client() -> Result<reqwest::Client, OAuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| OAuthError::Client { reason: chain(&e) })
}

/// The client secret's value.
fn client_secret(account: &str, secret: &ClientSecret) -> Result<String, OAuthError> {
    match secret {
        ClientSecret::Inline(s) => Ok(s.clone()),
        ClientSecret::Env(var) => std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::SecretEnv {
                account: account.to_string(),
                var: var.clone(),
            }),
    }
}

/// A provider's error answer (RFC 6749 5.2), with the typed fields
/// Microsoft adds (`suberror`, `error_codes`: the AADSTS numbers).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub(super) struct ProviderError {
    pub(super) error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) error_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) suberror: Option<String>,
    /// Loose: only numbers in it are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) error_codes: Option<serde_json::Value>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl ErrorResponse for ProviderError {}

impl ProviderError {
    /// An error answer of another type (the device flow's) in this shape.
    pub(super) fn from_response<T: Serialize>(t: &T) -> ProviderError {
        serde_json::to_value(t)
            .and_then(serde_json::from_value)
            .unwrap_or_else(|_| ProviderError::code("unknown_error"))
    }

    pub(super) fn code(error: &str) -> ProviderError {
        ProviderError {
            error: error.to_string(),
            error_description: None,
            error_uri: None,
            suberror: None,
            error_codes: None,
        }
    }

    /// Microsoft's AADSTS numbers.
    fn aadsts(&self) -> Vec<u64> {
        match &self.error_codes {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).collect(),
            _ => Vec::new(),
        }
    }

    /// The code as shown: `invalid_grant`, with Microsoft's sub-error and
    /// AADSTS numbers when it sent them.
    fn shown(&self) -> String {
        let mut s = self.error.clone();
        if let Some(sub) = &self.suberror {
            s.push_str(&format!("/{sub}"));
        }
        for n in self.aadsts() {
            s.push_str(&format!(", AADSTS{n}"));
        }
        s
    }
}

/// What a refusal means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    LoginAgain,
    Consent,
    Declined,
    Client(&'static str),
    Scope,
    DeviceCodeExpired,
    Unavailable,
    Other,
}

const FIX_CLIENT: &str = "check client_id, client_secret and tenant in [account.oauth] against \
    the app's registration (README: \"Signing in\")";
const FIX_PUBLIC: &str = "the Entra ID app registration does not allow sign-in without a \
    secret: under Authentication, set \"Allow public client flows\" to Yes (or set client_secret_env)";
const FIX_NOT_IN_TENANT: &str = "the client ID is not an app in this tenant: check client_id, \
    and tenant in [account.oauth] (a single-tenant app needs its tenant's ID, not \"common\")";
const FIX_SECRET: &str = "the client secret is wrong or has expired: create a new one (Entra ID: \
    Certificates & secrets) and update client_secret_env";
const FIX_OTHER_TENANT: &str = "the user belongs to another tenant than the app: set tenant in \
    [account.oauth] to the user's tenant, or make the app multi-tenant";
const FIX_FLOW: &str = "the app may not use this way of signing in: at Google use an OAuth \
    client of type \"Desktop app\" (a service account needs domain-wide delegation of \
    https://mail.google.com/ in the Admin console); at Microsoft allow public client flows for \
    --device, or grant IMAP.AccessAsApp with admin consent for app_only";

/// The meaning of a refusal, from its codes alone.
pub(super) fn classify(e: &ProviderError) -> Refusal {
    let codes = e.aadsts();
    let has = |n: u64| codes.contains(&n);
    if e.suberror.as_deref() == Some("consent_required") || has(65001) {
        return Refusal::Consent;
    }
    if has(65004) {
        return Refusal::Declined;
    }
    if has(7000218) {
        return Refusal::Client(FIX_PUBLIC);
    }
    if has(700016) {
        return Refusal::Client(FIX_NOT_IN_TENANT);
    }
    if has(7000215) || has(7000222) {
        return Refusal::Client(FIX_SECRET);
    }
    if has(50020) {
        return Refusal::Client(FIX_OTHER_TENANT);
    }
    match e.error.as_str() {
        "invalid_grant" | "interaction_required" | "login_required" => Refusal::LoginAgain,
        "consent_required" => Refusal::Consent,
        "access_denied" | "authorization_declined" => Refusal::Declined,
        "invalid_client" => Refusal::Client(FIX_CLIENT),
        "unauthorized_client" => Refusal::Client(FIX_FLOW),
        "invalid_scope" => Refusal::Scope,
        "expired_token" => Refusal::DeviceCodeExpired,
        "temporarily_unavailable" | "server_error" => Refusal::Unavailable,
        _ => Refusal::Other,
    }
}

/// A refusal as the error the user sees.
pub(super) fn refused(account: &str, scopes: &[String], e: &ProviderError) -> OAuthError {
    let account = account.to_string();
    let code = e.shown();
    match classify(e) {
        Refusal::LoginAgain => OAuthError::LoginExpired { account, code },
        Refusal::Consent => OAuthError::ConsentMissing { account, code },
        Refusal::Declined => OAuthError::Declined { account, code },
        Refusal::Client(fix) => OAuthError::ClientRejected { account, code, fix },
        Refusal::Scope => OAuthError::ScopeRejected {
            account,
            code,
            scopes: scopes.join(" "),
        },
        Refusal::DeviceCodeExpired => OAuthError::DeviceCodeExpired { account },
        Refusal::Unavailable => OAuthError::Unavailable { account, code },
        Refusal::Other => OAuthError::Refused {
            account,
            code,
            description: e.error_description.clone(),
        },
    }
}

/// A failed request to `url` as an error naming the fix.
pub(super) fn request_failed<TE: ErrorResponse + 'static>(
    account: &str,
    url: &str,
    scopes: &[String],
    e: RequestError<TE>,
) -> OAuthError {
    let bad = |reason: String| OAuthError::BadResponse {
        account: account.to_string(),
        url: url.to_string(),
        reason,
    };
    match e {
        RequestTokenError::ServerResponse(r) => {
            refused(account, scopes, &ProviderError::from_response(&r))
        }
        RequestTokenError::Request(e) => OAuthError::Unreachable {
            account: account.to_string(),
            url: url.to_string(),
            reason: chain(&e),
        },
        RequestTokenError::Parse(e, body) => bad(format!(
            "{e}; it sent: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        RequestTokenError::Other(s) => bad(s),
    }
}

/// An error with its causes, one line.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ProviderError {
        serde_json::from_str(json).expect("error json")
    }

    #[test]
    fn refusals_are_decided_on_codes() {
        let cases = [
            (r#"{"error":"invalid_grant"}"#, Refusal::LoginAgain),
            (
                r#"{"error":"invalid_grant","error_description":"AADSTS65001: consent","error_codes":[65001],"suberror":"consent_required"}"#,
                Refusal::Consent,
            ),
            (
                r#"{"error":"invalid_grant","error_codes":[65001]}"#,
                Refusal::Consent,
            ),
            (
                r#"{"error":"invalid_grant","suberror":"bad_token","error_codes":[70008]}"#,
                Refusal::LoginAgain,
            ),
            (r#"{"error":"interaction_required"}"#, Refusal::LoginAgain),
            (r#"{"error":"consent_required"}"#, Refusal::Consent),
            (r#"{"error":"access_denied"}"#, Refusal::Declined),
            (r#"{"error":"authorization_declined"}"#, Refusal::Declined),
            (
                r#"{"error":"invalid_client","error_codes":[7000218]}"#,
                Refusal::Client(FIX_PUBLIC),
            ),
            (
                r#"{"error":"unauthorized_client","error_codes":[700016]}"#,
                Refusal::Client(FIX_NOT_IN_TENANT),
            ),
            (r#"{"error":"invalid_client"}"#, Refusal::Client(FIX_CLIENT)),
            (r#"{"error":"invalid_scope"}"#, Refusal::Scope),
            (r#"{"error":"expired_token"}"#, Refusal::DeviceCodeExpired),
            (
                r#"{"error":"temporarily_unavailable"}"#,
                Refusal::Unavailable,
            ),
            (r#"{"error":"something_new"}"#, Refusal::Other),
            // Loose error_codes: not numbers, ignored rather than fatal.
            (
                r#"{"error":"invalid_grant","error_codes":"x"}"#,
                Refusal::LoginAgain,
            ),
        ];
        for (json, want) in cases {
            assert_eq!(classify(&parse(json)), want, "{json}");
        }
    }

    /// The description may say anything: only the codes decide.
    #[test]
    fn descriptions_do_not_decide() {
        let e = parse(
            r#"{"error":"invalid_grant","error_description":"AADSTS65001: consent_required access_denied"}"#,
        );
        assert_eq!(classify(&e), Refusal::LoginAgain);
    }

    #[test]
    fn messages_name_the_fix() {
        let msg = refused("work", &[], &parse(r#"{"error":"invalid_grant"}"#)).to_string();
        assert!(
            msg.contains("run `slimbox login work`") && msg.contains("invalid_grant"),
            "{msg}"
        );
        let msg = refused(
            "work",
            &[],
            &parse(
                r#"{"error":"invalid_grant","suberror":"consent_required","error_codes":[65001]}"#,
            ),
        )
        .to_string();
        assert!(
            msg.contains("not granted")
                && msg.contains("AADSTS65001")
                && msg.contains("Grant admin consent"),
            "{msg}"
        );
        let msg = refused(
            "w",
            &[],
            &parse(r#"{"error":"invalid_client","error_codes":[7000218]}"#),
        )
        .to_string();
        assert!(msg.contains("Allow public client flows"), "{msg}");
        let msg = refused(
            "w",
            &["a".into(), "b".into()],
            &parse(r#"{"error":"invalid_scope"}"#),
        )
        .to_string();
        assert!(msg.contains("a b") && msg.contains("scopes"), "{msg}");
        assert!(refused("w", &[], &parse(r#"{"error":"server_error"}"#)).is_transient());
        assert!(!refused("w", &[], &parse(r#"{"error":"invalid_grant"}"#)).is_transient());
    }

    #[test]
    fn device_flow_errors_convert() {
        let d: oauth2::DeviceCodeErrorResponse =
            serde_json::from_str(r#"{"error":"expired_token","error_description":"late"}"#)
                .expect("device error");
        let p = ProviderError::from_response(&d);
        assert_eq!(p.error, "expired_token");
        assert_eq!(p.error_description.as_deref(), Some("late"));
    }
}
