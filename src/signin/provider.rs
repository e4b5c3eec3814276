//! Which OAuth2 provider an account signs in with, and its endpoints and
//! scopes: the provider's own, unless `[account.oauth]` overrides them.

use crate::config::OAuthConfig;

/// The OAuth2 identity provider an account signs in with, for its
/// endpoints and habits (the mail provider preset of an account is
/// [`crate::config::Provider`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityProvider {
    /// Gmail and Google Workspace.
    Google,
    /// Microsoft 365 (Exchange Online) and Outlook.com.
    Microsoft,
    /// Any other: `[account.oauth]` names the endpoints.
    Generic,
}

const GOOGLE_AUTHORIZE: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
/// Gmail's only scope that allows IMAP.
const GOOGLE_SCOPE: &str = "https://mail.google.com/";
const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
const MICROSOFT_SCOPES: [&str; 2] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "offline_access",
];
/// App-only access asks for the app's granted permissions (IMAP.AccessAsApp).
const MICROSOFT_APP_SCOPE: &str = "https://outlook.office365.com/.default";

impl IdentityProvider {
    /// The provider a config's `provider = "…"` names; `None` for a name not
    /// known here.
    pub fn from_config_name(name: &str) -> Option<IdentityProvider> {
        match name {
            "gmail" => Some(IdentityProvider::Google),
            "microsoft365" | "outlook.com" => Some(IdentityProvider::Microsoft),
            "generic" => Some(IdentityProvider::Generic),
            _ => None,
        }
    }

    /// The sign-in provider of `account`: its `provider = "…"` preset, else
    /// the one its host belongs to.
    pub fn of_account(account: &crate::config::AccountConfig) -> IdentityProvider {
        use crate::config::Provider as Preset;
        match account.provider {
            Preset::Gmail => IdentityProvider::Google,
            Preset::Microsoft365 | Preset::OutlookCom => IdentityProvider::Microsoft,
            Preset::Generic => IdentityProvider::from_host(&account.host),
        }
    }

    /// The provider of a well-known IMAP host, for accounts that do not say.
    pub fn from_host(host: &str) -> IdentityProvider {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        match h.as_str() {
            "imap.gmail.com" | "imap.googlemail.com" => IdentityProvider::Google,
            "outlook.office365.com" | "outlook.office.com" | "imap-mail.outlook.com" => {
                IdentityProvider::Microsoft
            }
            _ => IdentityProvider::Generic,
        }
    }

    /// The host of the loopback redirect URI. Microsoft's app registrations
    /// take `http://localhost` (any port); Google and RFC 8252 prefer the
    /// address itself.
    pub(super) fn redirect_host(self) -> &'static str {
        match self {
            IdentityProvider::Microsoft => "localhost",
            IdentityProvider::Google | IdentityProvider::Generic => "127.0.0.1",
        }
    }

    /// Extra parameters of the authorization request: what makes the
    /// provider hand out a refresh token, and which account to sign in.
    pub(super) fn authorize_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // Without both, Google gives a refresh token only at the first
            // consent, and a second `slimbox login` would get none.
            IdentityProvider::Google => &[("access_type", "offline"), ("prompt", "consent")],
            IdentityProvider::Microsoft => &[("prompt", "select_account")],
            // OpenID Connect issues `offline_access` only with consent asked.
            IdentityProvider::Generic => &[("prompt", "consent")],
        }
    }
}

/// Where to sign in, and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoints {
    pub(super) authorize_url: Option<String>,
    pub(super) token_url: String,
    pub(super) device_url: Option<String>,
    pub(super) scopes: Vec<String>,
}

/// The endpoints of `provider`, with the config's overrides. `Err` is the
/// problem, worded for the account's [`super::OAuthError::Setup`].
pub(super) fn endpoints(
    provider: IdentityProvider,
    oauth: &OAuthConfig,
) -> Result<Endpoints, String> {
    let ms = |what: &str| format!("{MICROSOFT_LOGIN}/{}/oauth2/v2.0/{what}", oauth.tenant);
    let (authorize, token, device, scopes): (_, _, _, Vec<&str>) = match provider {
        IdentityProvider::Google => (
            Some(GOOGLE_AUTHORIZE.to_string()),
            Some(GOOGLE_TOKEN.to_string()),
            None,
            vec![GOOGLE_SCOPE],
        ),
        IdentityProvider::Microsoft if oauth.app_only => {
            if matches!(
                oauth.tenant.as_str(),
                "common" | "organizations" | "consumers"
            ) {
                return Err(format!(
                    "app-only access signs in to one organisation, but tenant is {:?}; set \
                     tenant in [account.oauth] to your tenant's ID or domain \
                     (\"contoso.onmicrosoft.com\")",
                    oauth.tenant
                ));
            }
            (None, Some(ms("token")), None, vec![MICROSOFT_APP_SCOPE])
        }
        IdentityProvider::Microsoft => (
            Some(ms("authorize")),
            Some(ms("token")),
            Some(ms("devicecode")),
            MICROSOFT_SCOPES.to_vec(),
        ),
        IdentityProvider::Generic => (None, None, None, vec![]),
    };
    let token_url = oauth.token_url.clone().or(token).ok_or_else(|| {
        "has no token URL: for a provider other than Google or Microsoft, set token_url \
         (and authorize_url, device_url, scopes) in [account.oauth]"
            .to_string()
    })?;
    Ok(Endpoints {
        authorize_url: oauth.authorize_url.clone().or(authorize),
        token_url,
        device_url: oauth.device_url.clone().or(device),
        scopes: match &oauth.scopes {
            Some(s) => s.clone(),
            None => scopes.into_iter().map(str::to_string).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    pub(crate) fn oauth() -> OAuthConfig {
        OAuthConfig {
            client_id: Some("id".into()),
            client_secret: None,
            tenant: "common".into(),
            token_file: PathBuf::from("/t/me.json"),
            app_only: false,
            service_account_file: None,
            authorize_url: None,
            token_url: None,
            device_url: None,
            scopes: None,
        }
    }

    #[test]
    fn provider_defaults() {
        let g = endpoints(IdentityProvider::Google, &oauth()).expect("google");
        assert_eq!(g.authorize_url.as_deref(), Some(GOOGLE_AUTHORIZE));
        assert_eq!(g.token_url, GOOGLE_TOKEN);
        assert_eq!(g.scopes, ["https://mail.google.com/"]);
        let mut o = oauth();
        o.tenant = "contoso.com".into();
        let m = endpoints(IdentityProvider::Microsoft, &o).expect("microsoft");
        assert_eq!(
            m.device_url.as_deref(),
            Some("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/devicecode")
        );
        assert_eq!(
            m.token_url,
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(m.scopes.len(), 2);
        o.app_only = true;
        let a = endpoints(IdentityProvider::Microsoft, &o).expect("app-only");
        assert_eq!(a.scopes, ["https://outlook.office365.com/.default"]);
        o.tenant = "common".into();
        let e = endpoints(IdentityProvider::Microsoft, &o).expect_err("common");
        assert!(e.contains("tenant"), "{e}");
    }

    #[test]
    fn overrides_win_and_generic_needs_a_token_url() {
        let e = endpoints(IdentityProvider::Generic, &oauth()).expect_err("no token url");
        assert!(e.contains("token_url"), "{e}");
        let mut o = oauth();
        o.token_url = Some("http://127.0.0.1:1/token".into());
        o.scopes = Some(vec!["openid".into()]);
        let g = endpoints(IdentityProvider::Google, &o).expect("google");
        assert_eq!(g.token_url, "http://127.0.0.1:1/token");
        assert_eq!(g.scopes, ["openid"]);
    }

    #[test]
    fn provider_names_and_hosts() {
        assert_eq!(
            IdentityProvider::from_config_name("gmail"),
            Some(IdentityProvider::Google)
        );
        assert_eq!(
            IdentityProvider::from_config_name("outlook.com"),
            Some(IdentityProvider::Microsoft)
        );
        assert_eq!(IdentityProvider::from_config_name("yahoo"), None);
        assert_eq!(
            IdentityProvider::from_host("IMAP.gmail.com."),
            IdentityProvider::Google
        );
        assert_eq!(
            IdentityProvider::from_host("outlook.office365.com"),
            IdentityProvider::Microsoft
        );
        assert_eq!(
            IdentityProvider::from_host("127.0.0.1"),
            IdentityProvider::Generic
        );
    }
}
