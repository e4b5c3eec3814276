//! `[serve]`: the HTTP server's address and TLS files (`[links]`, the
//! secret links are signed with, is `links.rs`).

use super::super::raw::RawServe;
use super::super::{ServeConfig, DEFAULT_FORM_TOKEN_MAX_AGE, DEFAULT_LISTEN};
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
    Ok(ServeConfig {
        listen: listen.to_string(),
        tls,
        open_on_loopback: raw.open_on_loopback,
        form_token_max_age: form_token_max_age(ctx, raw)?,
    })
}

fn form_token_max_age(ctx: &Ctx, raw: &RawServe) -> Result<std::time::Duration, ConfigError> {
    let key = "serve.form_token_max_age";
    match &raw.form_token_max_age {
        None => Ok(DEFAULT_FORM_TOKEN_MAX_AGE),
        Some(toml::Value::String(s)) => {
            let age = super::parse_age(s).map_err(|p| ctx.err(key, p))?;
            if age.is_zero() {
                return Err(ctx.err(
                    key,
                    "is 0, so no \"put back\" button would ever work; write an age such as \"1h\"",
                ));
            }
            Ok(age)
        }
        Some(other) => Err(ctx.err(
            key,
            format!("{other} is not an age; write a string with a unit, e.g. \"1h\""),
        )),
    }
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
}
