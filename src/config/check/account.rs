//! `[[account]]`: server, TLS, login, and the password or token source of
//! one account.

use std::net::IpAddr;

use super::Ctx;
use crate::config::raw::RawAccount;
use crate::config::{
    AccountConfig, AuthSetting, ConfigError, PasswordSource, PresetAuth, Provider, TlsSetting,
};

/// Checks one `[[account]]`, the `i`-th in the file.
pub(super) fn account_config(
    ctx: &Ctx,
    i: usize,
    raw: RawAccount,
    has_oauth: bool,
) -> Result<AccountConfig, ConfigError> {
    let key = |k: &str| format!("account[{i}].{k}");
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(ctx.err(
            key("name"),
            "is empty; give the account a short name such as \"work\" (it is what \
             --account selects)",
        ));
    }
    // From here on, say which account as well: `account[3]` alone means
    // counting tables in the file.
    let key = |k: &str| format!("account[{i}].{k} (account {name:?})");

    let provider = raw.provider.unwrap_or_default();
    let (host, port, tls) = server(ctx, &key, &raw)?;

    let ca_file = match &raw.ca_file {
        Some(p) => Some(ctx.resolve_path(&key("ca_file"), p)?),
        None => None,
    };

    let user = raw.user;
    if user.is_empty() {
        return Err(ctx.err(key("user"), "is empty; write the IMAP login name"));
    }

    let password_keys = (raw.password_env, raw.password_command, raw.password);
    let auth = raw
        .auth
        .unwrap_or_else(|| default_auth(provider, &password_keys));
    let tokens = (raw.token_command, has_oauth);
    let (password, token_command) = credentials(ctx, &key, auth, tokens, password_keys)?;
    let master_user = super::fleet::master_user(ctx, &key, auth, raw.master_user)?;
    let max_connections = super::fleet::max_connections(ctx, &key, raw.max_connections)?;
    let mut overrides =
        super::fleet::overrides(ctx, &key, raw.folders, raw.min_size, raw.older_than)?;
    overrides.quota_target = super::target::target(ctx, &key("quota_target"), raw.quota_target)?;
    overrides.quota = super::target::quota(ctx, &key("quota"), raw.quota)?;

    if let Some(t) = &raw.trash {
        if t.trim().is_empty() {
            return Err(ctx.err(
                key("trash"),
                "is empty; write a folder name, or remove the key to use the \\Trash \
                 special-use folder",
            ));
        }
    }

    Ok(AccountConfig {
        name,
        provider,
        host,
        port,
        tls,
        ca_file,
        user,
        auth,
        password,
        token_command,
        trash: raw.trash,
        email: raw.email,
        // Filled in by `check::oauth`, which needs the index's folder.
        oauth: None,
        // Filled in by `check::rules`.
        rules: Vec::new(),
        master_user,
        max_connections,
        overrides,
        // Filled in by `check::fleet`, which knows the file's text.
        origin: String::new(),
    })
}

/// The server's name: not empty, and not a URL or `host:port`.
fn check_host(ctx: &Ctx, key: &dyn Fn(&str) -> String, raw: &str) -> Result<String, ConfigError> {
    let host = raw.trim().to_string();
    if host.is_empty() {
        return Err(ctx.err(
            key("host"),
            "is empty; write the IMAP server's name, e.g. \"imap.example.com\"",
        ));
    }
    if host.contains('/') {
        return Err(ctx.err(
            key("host"),
            format!("{host:?} looks like a URL; write only the server's name (\"imap.example.com\"), and set tls and port separately"),
        ));
    }
    if host.contains(':') && unbracket(&host).parse::<IpAddr>().is_err() {
        return Err(ctx.err(
            key("host"),
            format!("{host:?} contains a `:`; write only the server's name and put the port in port = ..."),
        ));
    }
    Ok(host)
}

pub(super) fn password_source(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    env: Option<String>,
    command: Option<String>,
    inline: Option<String>,
) -> Result<PasswordSource, ConfigError> {
    let given: Vec<&str> = [
        ("password_env", env.is_some()),
        ("password_command", command.is_some()),
        ("password", inline.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if given.len() > 1 {
        return Err(ctx.err(
            key(given[1]),
            format!(
                "{} are {} set; keep exactly one password source",
                given.join(" and "),
                if given.len() == 2 { "both" } else { "all" }
            ),
        ));
    }
    if let Some(var) = env {
        let var = var.trim();
        if let Some(bare) = var.strip_prefix('$') {
            return Err(ctx.err(
                key("password_env"),
                format!("names the variable with a `$`; write password_env = {bare:?}"),
            ));
        }
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err(ctx.err(
                key("password_env"),
                format!(
                    "{var:?} is not an environment variable name; write e.g. \"MAIL_PASSWORD\""
                ),
            ));
        }
        return Ok(PasswordSource::Env(var.to_string()));
    }
    if let Some(cmd) = command {
        if cmd.trim().is_empty() {
            return Err(ctx.err(
                key("password_command"),
                "is empty; write a command that prints the password, e.g. \"pass show mail\"",
            ));
        }
        return Ok(PasswordSource::Command(cmd));
    }
    if let Some(p) = inline {
        if p.is_empty() {
            return Err(ctx.err(
                key("password"),
                "is empty; write the password, or better use password_env or password_command",
            ));
        }
        return Ok(PasswordSource::Inline(p));
    }
    Err(ctx.err(
        key("password_env"),
        "no password source: set exactly one of password_env = \"VAR\", \
         password_command = \"pass show mail\" or password = \"...\"",
    ))
}

/// The server of an account: host, port and TLS, the provider preset
/// filling in what the account leaves out.
fn server(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    raw: &RawAccount,
) -> Result<(String, u16, TlsSetting), ConfigError> {
    let provider = raw.provider.unwrap_or_default();
    let host = match (raw.host.as_deref(), provider.host()) {
        (Some(h), _) => check_host(ctx, key, h)?,
        (None, Some(h)) => h.to_string(),
        (None, None) => {
            return Err(ctx.err(
                key("host"),
                "is missing; write the IMAP server's name (host = \"imap.example.com\"), \
                 or set provider = \"gmail\", \"microsoft365\" or \"outlook.com\" to use \
                 that provider's server",
            ))
        }
    };
    let tls = raw.tls.unwrap_or_else(|| provider.tls());

    if tls == TlsSetting::None && !is_loopback(&host) {
        return Err(ctx.err(
            key("tls"),
            format!(
                "\"none\" would send the password or access token to {host:?} in the clear, so it is only \
                 allowed for loopback hosts (localhost, 127.0.0.0/8, ::1); use \"implicit\" \
                 or \"starttls\""
            ),
        ));
    }
    let port = raw.port.unwrap_or_else(|| provider.port(tls));
    if port == 0 {
        return Err(ctx.err(key("port"), "is 0; write the server's port (993 for implicit TLS, 143 otherwise), or remove the key"));
    }
    Ok((host, port, tls))
}

/// `auth` and what it needs: a password source for "password", a token
/// source for "xoauth2" and "oauthbearer"; a key of the other kind is an
/// error naming it.
fn credentials(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    auth: AuthSetting,
    (token_command, has_oauth): (Option<String>, bool),
    password_keys: (Option<String>, Option<String>, Option<String>),
) -> Result<(Option<PasswordSource>, Option<String>), ConfigError> {
    match auth {
        AuthSetting::Password | AuthSetting::Master | AuthSetting::Plain => {
            if token_command.is_some() {
                return Err(ctx.err(
                    key("token_command"),
                    "is only used with auth = \"xoauth2\" or \"oauthbearer\"; set auth to the \
                     one the server takes, or remove token_command to log in with a password",
                ));
            }
            let (env, command, inline) = password_keys;
            let source = password_source(ctx, key, env, command, inline)?;
            Ok((Some(source), None))
        }
        AuthSetting::XOAuth2 | AuthSetting::OAuthBearer => {
            no_password_keys(ctx, key, auth, &password_keys)?;
            let command = token_source(ctx, key, auth, token_command, has_oauth)?;
            Ok((None, command))
        }
    }
}

/// With a token login, a password key is a mistake worth naming.
fn no_password_keys(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    auth: AuthSetting,
    (env, command, inline): &(Option<String>, Option<String>, Option<String>),
) -> Result<(), ConfigError> {
    let given = [
        ("password_env", env.is_some()),
        ("password_command", command.is_some()),
        ("password", inline.is_some()),
    ];
    match given.into_iter().find(|(_, set)| *set) {
        Some((k, _)) => Err(ctx.err(
            key(k),
            format!(
                "is for auth = \"password\", but this account has auth = \"{}\", which logs in \
                 with an access token from token_command or [account.oauth]; remove {k}, or set \
                 auth = \"password\"",
                auth.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// `auth` when the account does not say: a password key means a password
/// login (an app password, say), else the provider preset's (XOAUTH2 for
/// Gmail and Microsoft, a password elsewhere).
fn default_auth(
    provider: Provider,
    (env, command, inline): &(Option<String>, Option<String>, Option<String>),
) -> AuthSetting {
    if env.is_some() || command.is_some() || inline.is_some() {
        return AuthSetting::Password;
    }
    match provider.default_auth() {
        PresetAuth::Password => AuthSetting::Password,
        PresetAuth::Xoauth2 => AuthSetting::XOAuth2,
    }
}

/// Where the access tokens of an `xoauth2` / `oauthbearer` account come
/// from: `token_command` (returned), or slimbox's own sign-in
/// (`[account.oauth]`, `None` here); exactly one of them.
fn token_source(
    ctx: &Ctx,
    key: &dyn Fn(&str) -> String,
    auth: AuthSetting,
    token_command: Option<String>,
    has_oauth: bool,
) -> Result<Option<String>, ConfigError> {
    match token_command {
        Some(cmd) if cmd.trim().is_empty() => Err(ctx.err(
            key("token_command"),
            "is empty; write a command that prints an access token on its first line, e.g. \
             \"oama access me@example.com\"",
        )),
        Some(_) if has_oauth => Err(ctx.err(
            key("token_command"),
            "and [account.oauth] are both set; keep one: token_command for a helper that \
             prints tokens, or [account.oauth] for `slimbox login`",
        )),
        Some(cmd) => Ok(Some(cmd)),
        None if has_oauth => Ok(None),
        None => Err(ctx.err(
            key("token_command"),
            format!(
                "no token source: set token_command or [account.oauth] (auth = \"{}\" logs in \
                 with an OAuth2 access token; for a password, set auth = \"password\")",
                auth.as_str()
            ),
        )),
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Hosts where `tls = "none"` cannot leak a password off the machine.
pub(super) fn is_loopback(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    h.eq_ignore_ascii_case("localhost")
        || unbracket(h)
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    #[test]
    fn ports_follow_tls() {
        let c = ok(&with_store(
            &ACCOUNT
                .replace("user =", "tls = \"none\"\nuser =")
                .replace("imap.example.com", "127.0.0.1"),
        ));
        assert_eq!(
            (c.accounts[0].tls, c.accounts[0].port),
            (TlsSetting::None, 143)
        );
        let c = ok(&with_store(
            &ACCOUNT.replace("user =", "port = 10993\nuser ="),
        ));
        assert_eq!(c.accounts[0].port, 10993);
    }

    /// Every account validation failure names its key (the account half of
    /// check's `validation_errors_name_the_key`).
    #[test]
    fn account_validation_errors_name_the_key() {
        let two = |a: &str, b: &str| {
            with_store(&format!(
                "{}{}",
                ACCOUNT.replace("\"me\"", a),
                ACCOUNT.replace("\"me\"", b)
            ))
        };
        let one = |from: &str, to: &str| with_store(&ACCOUNT.replace(from, to));
        let cases: Vec<(String, &str)> = vec![
            (two("\"me\"", "\"me\""), "account[1].name"),
            (one("name = \"me\"", "name = \" \""), "account[0].name"),
            (one("\"imap.example.com\"", "\"\""), "account[0].host"),
            (
                one("\"imap.example.com\"", "\"imaps://imap.example.com\""),
                "account[0].host",
            ),
            (
                one("\"imap.example.com\"", "\"imap.example.com:993\""),
                "account[0].host",
            ),
            (one("user =", "tls = \"none\"\nuser ="), "account[0].tls"),
            (one("user =", "port = 0\nuser ="), "account[0].port"),
            (
                one("user = \"me@example.com\"", "user = \"\""),
                "account[0].user",
            ),
            (
                one("user =", "ca_file = \"\"\nuser ="),
                "account[0].ca_file",
            ),
            (one("user =", "trash = \"\"\nuser ="), "account[0].trash"),
            (
                one("password_env = \"MAIL_PASSWORD\"", ""),
                "account[0].password_env",
            ),
            (
                one("password_env", "password_command = \"x\"\npassword_env"),
                "account[0].password_command",
            ),
            (
                one("password_env", "password = \"x\"\npassword_env"),
                "account[0].password",
            ),
            (
                one("\"MAIL_PASSWORD\"", "\"$MAIL_PASSWORD\""),
                "account[0].password_env",
            ),
            (one("\"MAIL_PASSWORD\"", "\"\""), "account[0].password_env"),
            (
                one(
                    "password_env = \"MAIL_PASSWORD\"",
                    "password_command = \" \"",
                ),
                "account[0].password_command",
            ),
            (
                one("password_env = \"MAIL_PASSWORD\"", "password = \"\""),
                "account[0].password",
            ),
        ];
        for (text, key) in &cases {
            let msg = err(text);
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
        }
    }

    #[test]
    fn issue10_auth_and_token_command() {
        let c = ok(&with_store(ACCOUNT));
        assert_eq!(c.accounts[0].auth, AuthSetting::Password);
        assert_eq!(c.accounts[0].token_command, None);
        for (written, auth) in [
            ("xoauth2", AuthSetting::XOAuth2),
            ("oauthbearer", AuthSetting::OAuthBearer),
        ] {
            let c = ok(&with_store(&ACCOUNT.replace(
                "password_env = \"MAIL_PASSWORD\"",
                &format!("auth = \"{written}\"\ntoken_command = \"oama access me\""),
            )));
            let a = &c.accounts[0];
            assert_eq!(a.auth, auth);
            assert_eq!(a.password, None);
            assert_eq!(a.token_command.as_deref(), Some("oama access me"));
        }
    }

    /// Each mix of auth and credential keys that cannot work names the key
    /// and says what to do.
    #[test]
    fn issue10_auth_errors_name_the_key() {
        let xoauth2 = |rest: &str| {
            with_store(&ACCOUNT.replace(
                "password_env = \"MAIL_PASSWORD\"",
                &format!("auth = \"xoauth2\"\n{rest}"),
            ))
        };
        let cases: Vec<(String, &str, &str)> = vec![
            (
                xoauth2(""),
                "account[0].token_command",
                "no token source: set token_command or [account.oauth]",
            ),
            (
                xoauth2("token_command = \" \""),
                "account[0].token_command",
                "is empty",
            ),
            (
                xoauth2("token_command = \"t\"\npassword_env = \"P\""),
                "account[0].password_env",
                "auth = \"password\"",
            ),
            (
                xoauth2("token_command = \"t\"\npassword = \"p\""),
                "account[0].password ",
                "remove password",
            ),
            (
                with_store(&ACCOUNT.replace("user =", "token_command = \"t\"\nuser =")),
                "account[0].token_command",
                "auth = \"xoauth2\"",
            ),
        ];
        for (text, key, fix) in &cases {
            let msg = err(text);
            assert!(
                msg.contains(key) && msg.contains(fix),
                "expected {key:?}, {fix:?} in: {msg}"
            );
        }
        let msg = err(&xoauth2("").replace("xoauth2", "oauth"));
        assert!(msg.contains("auth") && msg.contains("xoauth2"), "{msg}");
    }

    #[test]
    fn tls_none_only_on_loopback() {
        for host in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "imap.example.com",
            "localhost.example.com",
            "::2",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
    #[test]
    fn issue10_provider_presets_fill_only_what_is_missing() {
        use crate::config::Provider;
        let no_host = |provider: &str| {
            with_store(&ACCOUNT.replace(
                "host = \"imap.example.com\"",
                &format!("provider = \"{provider}\""),
            ))
        };
        let c = ok(&no_host("gmail"));
        let a = &c.accounts[0];
        assert_eq!(a.provider, Provider::Gmail);
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("imap.gmail.com", 993, TlsSetting::Implicit)
        );
        for p in ["microsoft365", "outlook.com"] {
            let c = ok(&no_host(p));
            assert_eq!(c.accounts[0].host, "outlook.office365.com");
            assert_eq!(c.accounts[0].port, 993);
        }
        // What the account says wins over the preset.
        let c = ok(&with_store(&ACCOUNT.replace(
            "user =",
            "provider = \"gmail\"\nport = 1993\ntls = \"starttls\"\nuser =",
        )));
        let a = &c.accounts[0];
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("imap.example.com", 1993, TlsSetting::StartTls)
        );
        // No preset: generic, and the host is needed.
        assert_eq!(
            ok(&with_store(ACCOUNT)).accounts[0].provider,
            Provider::Generic
        );
        let msg = err(&no_host("generic"));
        assert!(
            msg.contains("account[0].host") && msg.contains("provider"),
            "{msg}"
        );
        let msg = err(&no_host("yahoo"));
        assert!(
            msg.contains("yahoo") && msg.contains("microsoft365"),
            "{msg}"
        );
    }
}
