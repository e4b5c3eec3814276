//! `[serve]`: the HTTP server's address and TLS files (`[links]`, the
//! secret links are signed with, is `links.rs`).

use super::super::raw::RawServe;
use super::super::{ServeConfig, DEFAULT_LISTEN};
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
    })
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
    }
}
