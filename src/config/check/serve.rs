//! `[serve]`: the HTTP server's address and TLS files (`[links]`, the
//! secret links are signed with, is `links.rs`).

use std::time::Duration;

use super::super::raw::RawServe;
use super::super::{ServeConfig, DEFAULT_FORM_TOKEN_MAX_AGE, DEFAULT_LISTEN};
use super::super::{
    DEFAULT_SERVE_BODY_TIMEOUT, DEFAULT_SERVE_HEADER_TIMEOUT, DEFAULT_SERVE_IDLE_TIMEOUT,
    DEFAULT_SERVE_MAX_CONNECTIONS, DEFAULT_SERVE_WRITE_TIMEOUT,
};
use super::policy::age_at;
use super::{ConfigError, Ctx};

pub(super) fn serve_config(ctx: &Ctx, raw: &RawServe) -> Result<ServeConfig, ConfigError> {
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN).trim();
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(ctx.err(
            "serve.listen",
            format!(
                "{listen:?} is not an address and port; write e.g. \"127.0.0.1:8025\" \
                 or \"[::]:443\""
            ),
        ));
    }
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((
            ctx.resolve_path("serve.tls_cert", cert)?,
            ctx.resolve_path("serve.tls_key", key)?,
        )),
        (Some(_), None) | (None, Some(_)) => {
            return Err(ctx.err(
                "serve.tls_cert",
                "tls_cert and tls_key go together; set both (PEM files) for HTTPS, or \
                 neither to serve plain HTTP behind a reverse proxy",
            ))
        }
    };
    let timeout = |key: &str, raw: &Option<toml::Value>, default| timeout(ctx, key, raw, default);
    Ok(ServeConfig {
        listen: listen.to_string(),
        tls,
        open_on_loopback: raw.open_on_loopback,
        form_token_max_age: timeout(
            "form_token_max_age",
            &raw.form_token_max_age,
            DEFAULT_FORM_TOKEN_MAX_AGE,
        )?,
        max_connections: max_connections(ctx, raw.max_connections)?,
        header_timeout: timeout(
            "header_timeout",
            &raw.header_timeout,
            DEFAULT_SERVE_HEADER_TIMEOUT,
        )?,
        body_timeout: timeout(
            "body_timeout",
            &raw.body_timeout,
            DEFAULT_SERVE_BODY_TIMEOUT,
        )?,
        idle_timeout: timeout(
            "idle_timeout",
            &raw.idle_timeout,
            DEFAULT_SERVE_IDLE_TIMEOUT,
        )?,
        write_timeout: timeout(
            "write_timeout",
            &raw.write_timeout,
            DEFAULT_SERVE_WRITE_TIMEOUT,
        )?,
    })
}

/// `serve.max_connections`: at least 1, at most a million.
fn max_connections(ctx: &Ctx, raw: Option<i64>) -> Result<usize, ConfigError> {
    match raw {
        None => Ok(DEFAULT_SERVE_MAX_CONNECTIONS),
        Some(n @ 1..=1_000_000) => Ok(n as usize),
        Some(n) => Err(ctx.err(
            "serve.max_connections",
            format!(
                "{n} is out of range; write how many connections slimbox serve takes at \
                 once (1 to 1000000; default {DEFAULT_SERVE_MAX_CONNECTIONS}), or remove the key"
            ),
        )),
    }
}

/// One of `[serve]`'s durations (the timeouts, the form tokens' age): a
/// string such as `"30s"`, not zero.
fn timeout(
    ctx: &Ctx,
    name: &str,
    raw: &Option<toml::Value>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let key = format!("serve.{name}");
    let Some(raw) = raw else {
        return Ok(default);
    };
    let d = age_at(ctx, &key, raw.clone())?;
    if d.is_zero() {
        return Err(ctx.err(
            &key,
            format!(
                "is zero, which would drop every client; write a duration such as \"{}s\", \
                 or remove the key for that default",
                default.as_secs()
            ),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::{err, ok};

    const BASE: &str = "[store]\nurl = \"/srv/store\"\n[[account]]\nname = \"a\"\n\
                        host = \"h\"\nuser = \"u\"\npassword_env = \"P\"\n";

    #[test]
    fn defaults_listen_on_loopback_and_keep_the_secret_beside_the_index() {
        let c = ok(BASE);
        assert_eq!(c.serve.listen, "127.0.0.1:8025");
        assert_eq!(c.serve.tls, None);
        assert!(
            !c.serve.open_on_loopback,
            "pages need their link by default"
        );
        assert_eq!(c.serve.form_token_max_age.as_secs(), 3600);
        assert!(!c.store.world_readable);
        assert_eq!(
            c.links.secret_file,
            c.index.path.with_file_name("links.key")
        );
    }

    #[test]
    fn listen_and_tls_are_read_and_checked() {
        let c = ok(&format!(
            "{BASE}[serve]\nlisten = \"[::]:8443\"\ntls_cert = \"/etc/c.pem\"\n\
             tls_key = \"/etc/k.pem\"\n[links]\nsecret_file = \"/etc/slimbox.key\"\n"
        ));
        assert_eq!(c.serve.listen, "[::]:8443");
        assert_eq!(
            c.serve.tls,
            Some(("/etc/c.pem".into(), "/etc/k.pem".into()))
        );
        assert_eq!(
            c.links.secret_file,
            std::path::Path::new("/etc/slimbox.key")
        );
        let e = err(&format!("{BASE}[serve]\nlisten = \"localhost\"\n"));
        assert!(e.contains("serve.listen"), "{e}");
        let e = err(&format!("{BASE}[serve]\ntls_cert = \"/c.pem\"\n"));
        assert!(e.contains("tls_key go together"), "{e}");
        let c = ok(&format!(
            "{BASE}[serve]\nopen_on_loopback = true\nform_token_max_age = \"2s\"\n"
        ));
        assert!(c.serve.open_on_loopback);
        assert_eq!(c.serve.form_token_max_age.as_secs(), 2);
        for bad in ["\"0s\"", "60", "\"soon\""] {
            let e = err(&format!("{BASE}[serve]\nform_token_max_age = {bad}\n"));
            assert!(e.contains("serve.form_token_max_age"), "{e}");
        }
    }

    #[test]
    fn issue20_limits_have_defaults_and_are_checked() {
        use std::time::Duration;
        let c = ok(BASE);
        assert_eq!(c.serve.max_connections, 2048);
        assert_eq!(c.serve.header_timeout, Duration::from_secs(20));
        assert_eq!(c.serve.body_timeout, Duration::from_secs(20));
        assert_eq!(c.serve.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.serve.write_timeout, Duration::from_secs(60));
        let c = ok(&format!(
            "{BASE}[serve]\nmax_connections = 3\nheader_timeout = \"2s\"\n\
             body_timeout = \"3s\"\nidle_timeout = \"1m\"\nwrite_timeout = \"4s\"\n"
        ));
        assert_eq!(c.serve.max_connections, 3);
        assert_eq!(c.serve.header_timeout, Duration::from_secs(2));
        assert_eq!(c.serve.body_timeout, Duration::from_secs(3));
        assert_eq!(c.serve.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.serve.write_timeout, Duration::from_secs(4));
        let e = err(&format!("{BASE}[serve]\nmax_connections = 0\n"));
        assert!(e.contains("serve.max_connections"), "{e}");
        let e = err(&format!("{BASE}[serve]\nwrite_timeout = \"0s\"\n"));
        assert!(
            e.contains("serve.write_timeout") && e.contains("zero"),
            "{e}"
        );
        let e = err(&format!("{BASE}[serve]\nidle_timeout = 30\n"));
        assert!(e.contains("serve.idle_timeout"), "{e}");
    }
}
