//! `[index]`: where the index lives. A SQLite file (`path`, or its default
//! beside a local store), or a shared PostgreSQL database (`url`, with its
//! password from `password_env` / `password_command` and, for a private
//! certificate authority, `ca_file`).

use std::path::Path;

use super::account::password_source;
use super::Ctx;
use crate::config::raw::RawIndex;
use crate::config::{xdg_dir, ConfigError, DatabaseConfig, IndexConfig};

/// `sslmode` values slimbox accepts; `prefer` and `allow` would fall back
/// to plain text without saying so.
const SSL_MODES: [&str; 4] = ["disable", "require", "verify-ca", "verify-full"];

pub(super) fn index_config(
    ctx: &Ctx,
    raw: &RawIndex,
    local_store: Option<&Path>,
) -> Result<IndexConfig, ConfigError> {
    let database = database_config(ctx, raw)?;
    if let Some(p) = &raw.path {
        if database.is_some() {
            return Err(ctx.err(
                "index.path",
                "and index.url are both set; keep path for a SQLite index on this host, \
                 or url for a shared PostgreSQL index",
            ));
        }
        return Ok(IndexConfig {
            path: ctx.resolve_path("index.path", p)?,
            database,
        });
    }
    // Beside a local store keeps the two side by side, to be backed up together;
    // a remote store gets the index in the user's data folder.
    let path = match local_store {
        Some(store) => match store.parent() {
            Some(parent) => parent.join("index.sqlite"),
            None => store.join("index.sqlite"),
        },
        None => match xdg_dir(ctx.env, "XDG_DATA_HOME", ".local/share") {
            Some(d) => d.join("slimbox").join("index.sqlite"),
            // With a database the file is never opened; its folder only
            // keeps a store copy's checkpoint.
            None if database.is_some() => std::env::temp_dir().join("slimbox").join("index.sqlite"),
            None => {
                return Err(ctx.err(
                    "index.path",
                    "is not set, and its default ($XDG_DATA_HOME/slimbox/index.sqlite) \
                     is unknown because neither $XDG_DATA_HOME nor $HOME is set; set \
                     index.path in [index]",
                ))
            }
        },
    };
    Ok(IndexConfig { path, database })
}

/// A PostgreSQL index named on the command line (`index migrate --to`),
/// checked as `[index] url` and its keys are.
pub fn database_from_args(
    url: &str,
    password_env: Option<String>,
    password_command: Option<String>,
    ca_file: Option<String>,
) -> Result<DatabaseConfig, ConfigError> {
    let env = |k: &str| std::env::var_os(k);
    let ctx = Ctx {
        file: "the command line".into(),
        base: None,
        env: &env,
    };
    let raw = RawIndex {
        path: None,
        url: Some(url.to_string()),
        password_env,
        password_command,
        ca_file,
    };
    let database = database_config(&ctx, &raw)?;
    Ok(database.expect("a url was given"))
}

/// `index.url` and its credentials, when the index is a PostgreSQL database.
fn database_config(ctx: &Ctx, raw: &RawIndex) -> Result<Option<DatabaseConfig>, ConfigError> {
    let Some(text) = &raw.url else {
        for (key, set) in [
            ("index.password_env", raw.password_env.is_some()),
            ("index.password_command", raw.password_command.is_some()),
            ("index.ca_file", raw.ca_file.is_some()),
        ] {
            if set {
                return Err(ctx.err(
                    key,
                    "is set without index.url; it belongs to a PostgreSQL index",
                ));
            }
        }
        return Ok(None);
    };
    let url = database_url(ctx, text)?;
    let password = if raw.password_env.is_some() || raw.password_command.is_some() {
        let key = |k: &str| format!("index.{k}");
        Some(password_source(
            ctx,
            &key,
            raw.password_env.clone(),
            raw.password_command.clone(),
            None,
        )?)
    } else {
        None
    };
    let ca_file = match &raw.ca_file {
        Some(p) => Some(ctx.resolve_path("index.ca_file", p)?),
        None => None,
    };
    Ok(Some(DatabaseConfig {
        url,
        password,
        ca_file,
    }))
}

/// Checks `index.url`: a `postgres://` URL without a password, whose
/// `sslmode` (verify-full when absent) never silently falls back to plain
/// text, and is `disable` only on a loopback host.
fn database_url(ctx: &Ctx, text: &str) -> Result<String, ConfigError> {
    let key = "index.url";
    let url = url::Url::parse(text.trim()).map_err(|e| {
        ctx.err(
            key,
            format!("{text:?} is not a URL ({e}); write e.g. \"postgres://slimbox@db.example.org/slimbox\""),
        )
    })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(ctx.err(
            key,
            format!(
                "{text:?} is not a PostgreSQL URL; write postgres://USER@HOST/DATABASE \
                 (for a SQLite file, use index.path)"
            ),
        ));
    }
    if url.password().is_some() {
        return Err(ctx.err(
            key,
            "holds a password; take it out of the URL and give it with \
             index.password_env or index.password_command",
        ));
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(ctx.err(
            key,
            format!("{text:?} names no host; write postgres://USER@HOST/DATABASE"),
        ));
    }
    let mode = url
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.into_owned());
    if let Some(mode) = &mode {
        if !SSL_MODES.contains(&mode.as_str()) {
            return Err(ctx.err(
                key,
                format!(
                    "sslmode={mode} is not one slimbox takes; use verify-full (the default), \
                     verify-ca, require, or disable on a loopback host"
                ),
            ));
        }
        if mode == "disable" && !is_loopback(host) {
            return Err(ctx.err(
                key,
                format!(
                    "sslmode=disable sends the index and its password in plain text to {host}; \
                     that is allowed only on a loopback address: remove sslmode (TLS, verified) \
                     and set index.ca_file for a private certificate authority"
                ),
            ));
        }
    }
    Ok(url.to_string())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    const STORE: &str = "[store]\nurl = \"/srv/store\"\n";

    fn with_index(index: &str) -> String {
        format!("{STORE}[index]\n{index}\n{ACCOUNT}")
    }

    #[test]
    fn issue22_a_postgres_url_with_its_password_source() {
        let c = ok(&with_index(
            "url = \"postgres://slimbox@db.example.org/slimbox\"\npassword_env = \"DB_PASSWORD\"\nca_file = \"/etc/ca.pem\"",
        ));
        let db = c.index.database.expect("a database");
        assert_eq!(db.url, "postgres://slimbox@db.example.org/slimbox");
        assert_eq!(
            db.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert!(format!("{:?}", db.password).contains("DB_PASSWORD"));
    }

    #[test]
    fn issue22_the_sqlite_default_is_unchanged() {
        let c = ok(&format!("{STORE}{ACCOUNT}"));
        assert!(c.index.database.is_none());
        assert_eq!(c.index.path, std::path::Path::new("/srv/index.sqlite"));
    }

    #[test]
    fn issue22_bad_database_settings_are_named() {
        for (index, wanted) in [
            ("url = \"postgres://u:secret@db/x\"", "password_env"),
            ("url = \"mysql://u@db/x\"", "postgres://"),
            (
                "url = \"postgres://u@db.example.org/x?sslmode=disable\"",
                "loopback",
            ),
            ("url = \"postgres://u@db/x?sslmode=prefer\"", "verify-full"),
            (
                "url = \"postgres://u@db/x\"\npath = \"/x.sqlite\"",
                "both set",
            ),
            ("password_env = \"P\"", "without index.url"),
        ] {
            let e = err(&with_index(index));
            assert!(e.contains(wanted), "{index}: {e}");
        }
        ok(&with_index(
            "url = \"postgres://u@127.0.0.1:5432/x?sslmode=disable\"",
        ));
    }
}
