//! `[account.oauth]`: client, tenant, token file, app-only and service
//! account settings, and endpoint overrides of one account.

use std::path::Path;

use super::Ctx;
use crate::config::oauth::DEFAULT_TENANT;
use crate::config::raw::RawOAuth;
use crate::config::{ClientSecret, ConfigError, OAuthConfig};

/// Checks the `[account.oauth]` table of the `i`-th account, `name`, whose
/// token file defaults to the folder beside `index`.
pub(super) fn oauth_config(
    ctx: &Ctx,
    i: usize,
    name: &str,
    index: &Path,
    raw: RawOAuth,
) -> Result<OAuthConfig, ConfigError> {
    let key = |k: &str| format!("account[{i}].oauth.{k} (account {name:?})");

    let client_id =
        match raw.client_id {
            Some(id) if id.trim().is_empty() => return Err(ctx.err(
                key("client_id"),
                "is empty; write the client ID of the app you registered (README: \"Signing in\")",
            )),
            Some(id) => Some(id.trim().to_string()),
            None if raw.service_account_file.is_some() => None,
            None => {
                return Err(ctx.err(
                    key("client_id"),
                    "is missing; write the client ID of the app you registered at Google or \
                 Microsoft (README: \"Signing in\" says how)",
                ))
            }
        };
    let client_secret = client_secret(ctx, &key, raw.client_secret, raw.client_secret_env)?;

    let tenant = raw.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string());
    let tenant = tenant.trim().to_string();
    if tenant.is_empty() || tenant.contains(['/', '?', '#', ' ']) {
        return Err(ctx.err(
            key("tenant"),
            format!(
                "{tenant:?} is not a tenant; write your tenant's ID or domain \
                 (\"contoso.onmicrosoft.com\"), or remove the key for \"common\""
            ),
        ));
    }

    let token_file = match &raw.token_file {
        Some(p) => ctx.resolve_path(&key("token_file"), p)?,
        None => {
            let dir = index.parent().unwrap_or(Path::new("."));
            dir.join("tokens").join(format!("{}.json", file_safe(name)))
        }
    };
    let service_account_file = match &raw.service_account_file {
        Some(p) => Some(ctx.resolve_path(&key("service_account_file"), p)?),
        None => None,
    };
    if raw.app_only && service_account_file.is_some() {
        return Err(ctx.err(
            key("app_only"),
            "and service_account_file are both set; app_only is Microsoft 365's app access, \
             service_account_file Google's: keep the one of your provider",
        ));
    }
    if raw.app_only && client_secret.is_none() {
        return Err(ctx.err(
            key("client_secret_env"),
            "is missing: app-only access (app_only = true) signs in as the app, with its \
             secret; set client_secret_env = \"VAR\" (or client_secret)",
        ));
    }

    Ok(OAuthConfig {
        client_id,
        client_secret,
        tenant,
        token_file,
        app_only: raw.app_only,
        service_account_file,
        authorize_url: endpoint(ctx, &key, "authorize_url", raw.authorize_url)?,
        token_url: endpoint(ctx, &key, "token_url", raw.token_url)?,
        device_url: endpoint(ctx, &key, "device_url", raw.device_url)?,
        scopes: scopes(ctx, &key, raw.scopes)?,
    })
}

fn client_secret(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    inline: Option<String>,
    env: Option<String>,
) -> Result<Option<ClientSecret>, ConfigError> {
    match (inline, env) {
        (Some(_), Some(_)) => Err(ctx.err(
            key("client_secret_env"),
            "and client_secret are both set; keep one",
        )),
        (Some(s), None) if s.is_empty() => Err(ctx.err(
            key("client_secret"),
            "is empty; write the secret, or remove the key if the app has none",
        )),
        (Some(s), None) => Ok(Some(ClientSecret::Inline(s))),
        (None, Some(var)) => {
            let var = var.trim();
            let bare = var.strip_prefix('$').unwrap_or(var);
            if var.starts_with('$') || bare.is_empty() || bare.contains(['=', '\0']) {
                return Err(ctx.err(
                    key("client_secret_env"),
                    format!(
                        "{var:?} is not an environment variable name; write e.g. \
                         client_secret_env = \"SLIMBOX_CLIENT_SECRET\" (no `$`)"
                    ),
                ));
            }
            Ok(Some(ClientSecret::Env(var.to_string())))
        }
        (None, None) => Ok(None),
    }
}

/// An endpoint: an https URL, or http on loopback (a test provider).
fn endpoint(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    name: &str,
    raw: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let raw = raw.trim().to_string();
    let url = url::Url::parse(&raw).map_err(|e| {
        ctx.err(
            key(name),
            format!("{raw:?} is not a URL ({e}); write e.g. \"https://login.example.com/token\""),
        )
    })?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(Some(raw)),
        "http" if loopback => Ok(Some(raw)),
        _ => Err(ctx.err(
            key(name),
            format!(
                "{raw:?} must be an https:// URL (http:// only for a provider on this machine): \
                 tokens and secrets travel over it"
            ),
        )),
    }
}

fn scopes(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    raw: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(ctx.err(
            key("scopes"),
            "is empty; write the scopes to ask for, or remove the key for the provider's own",
        ));
    }
    for (j, s) in raw.iter().enumerate() {
        if s.trim().is_empty() || s.contains(char::is_whitespace) {
            return Err(ctx.err(
                key(&format!("scopes[{j}]")),
                format!("{s:?} is not one scope; write each scope as its own string"),
            ));
        }
    }
    Ok(Some(raw))
}

/// The account name as a file name: anything but letters, digits, `.`, `-`
/// and `_` becomes `_`, so a name like "me/work" stays one file.
fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use std::path::PathBuf;

    fn with_oauth(table: &str) -> String {
        with_store(&format!("{ACCOUNT}[account.oauth]\n{table}\n"))
    }

    #[test]
    fn defaults_fill_in() {
        let c = ok(&with_oauth("client_id = \"abc\""));
        let o = c.accounts[0].oauth.as_ref().expect("oauth");
        assert_eq!(o.client_id.as_deref(), Some("abc"));
        assert_eq!(o.tenant, "common");
        assert_eq!(o.token_file, PathBuf::from("/srv/tokens/me.json"));
        assert!(!o.app_only && o.client_secret.is_none() && o.scopes.is_none());
        assert!(ok(&with_store(ACCOUNT)).accounts[0].oauth.is_none());
    }

    #[test]
    fn full_table_parses() {
        let c = ok(&with_oauth(
            "client_id = \"abc\"\nclient_secret_env = \"SECRET\"\ntenant = \"contoso.com\"\n\
             token_file = \"tok/me.json\"\napp_only = true\n\
             authorize_url = \"http://127.0.0.1:3000/auth\"\n\
             token_url = \"https://login.example.com/token\"\n\
             device_url = \"http://localhost:3000/device\"\nscopes = [\"openid\", \"imap\"]",
        ));
        let o = c.accounts[0].oauth.as_ref().expect("oauth");
        assert_eq!(o.client_secret, Some(ClientSecret::Env("SECRET".into())));
        assert_eq!(o.tenant, "contoso.com");
        assert_eq!(o.token_file, PathBuf::from("/etc/slimbox/tok/me.json"));
        assert!(o.app_only);
        assert_eq!(
            o.scopes.as_deref(),
            Some(&["openid".to_string(), "imap".to_string()][..])
        );
        let c = ok(&with_oauth("service_account_file = \"sa.json\""));
        let o = c.accounts[0].oauth.as_ref().expect("oauth");
        assert_eq!(o.client_id, None);
        assert_eq!(
            o.service_account_file,
            Some(PathBuf::from("/etc/slimbox/sa.json"))
        );
    }

    #[test]
    fn oauth_errors_name_the_key() {
        let cases = [
            ("client_secret = \"x\"", "oauth.client_id"),
            ("client_id = \" \"", "oauth.client_id"),
            (
                "client_id = \"a\"\nclient_secret = \"x\"\nclient_secret_env = \"Y\"",
                "oauth.client_secret_env",
            ),
            (
                "client_id = \"a\"\nclient_secret_env = \"$Y\"",
                "oauth.client_secret_env",
            ),
            (
                "client_id = \"a\"\nclient_secret = \"\"",
                "oauth.client_secret",
            ),
            ("client_id = \"a\"\ntenant = \"a/b\"", "oauth.tenant"),
            ("client_id = \"a\"\ntoken_file = \"\"", "oauth.token_file"),
            (
                "client_id = \"a\"\napp_only = true",
                "oauth.client_secret_env",
            ),
            (
                "client_id = \"a\"\nclient_secret = \"s\"\napp_only = true\n\
                 service_account_file = \"k.json\"",
                "oauth.app_only",
            ),
            (
                "client_id = \"a\"\ntoken_url = \"http://login.example.com/t\"",
                "oauth.token_url",
            ),
            (
                "client_id = \"a\"\nauthorize_url = \"nope\"",
                "oauth.authorize_url",
            ),
            ("client_id = \"a\"\nscopes = []", "oauth.scopes"),
            ("client_id = \"a\"\nscopes = [\"a b\"]", "oauth.scopes[0]"),
            ("client_id = \"a\"\nclientid = \"a\"", "clientid"),
        ];
        for (table, key) in cases {
            let msg = err(&with_oauth(table));
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
        }
    }

    #[test]
    fn token_file_names_are_safe() {
        assert_eq!(file_safe("work"), "work");
        assert_eq!(file_safe("me/work"), "me_work");
        assert_eq!(file_safe("..x"), "_..x");
        assert_eq!(file_safe("ü b"), "__b");
    }
}
