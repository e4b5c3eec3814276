//! `[owner_report] delivery` and `[owner_report.smtp]`: how the owner
//! report reaches its owner, and the SMTP server it goes through.

use super::account::{is_loopback, password_source};
use super::Ctx;
use crate::config::raw::{RawOwnerReport, RawSmtp};
use crate::config::{ConfigError, ReportDelivery, SmtpConfig, SmtpTls};

const SMTP: &str = "owner_report.smtp";

/// `delivery` (default "inbox"), and with "smtp" its server and a `from`.
pub(super) fn delivery(ctx: &Ctx, raw: &mut RawOwnerReport) -> Result<ReportDelivery, ConfigError> {
    let smtp = raw.smtp.take();
    match (raw.delivery.as_deref().map(str::trim), smtp) {
        (None | Some("inbox"), None) => Ok(ReportDelivery::Inbox),
        (None | Some("inbox"), Some(_)) => Err(ctx.err(
            SMTP,
            "is set, but delivery is \"inbox\" (the default), so it would not be used; \
             set [owner_report] delivery = \"smtp\", or remove [owner_report.smtp]",
        )),
        (Some("smtp"), None) => Err(ctx.err(
            SMTP,
            "is missing: delivery = \"smtp\" needs the server, e.g.\n\n\
             [owner_report.smtp]\nhost = \"smtp.example.com\"",
        )),
        (Some("smtp"), Some(s)) => {
            if raw.from.is_none() {
                return Err(ctx.err(
                    "owner_report.from",
                    "is needed for delivery = \"smtp\": it is the sender the SMTP server \
                     sees (and the report's From); write one the server lets you send as, \
                     e.g. from = \"IT <it@example.com>\"",
                ));
            }
            Ok(ReportDelivery::Smtp(smtp_config(ctx, s)?))
        }
        (Some(other), _) => Err(ctx.err(
            "owner_report.delivery",
            format!(
                "{other:?} is not a delivery; write \"inbox\" (the default: APPEND into the \
                 owner's INBOX) or \"smtp\" (send it through [owner_report.smtp])"
            ),
        )),
    }
}

/// `[owner_report.smtp]`: host, TLS, port, trust root and login.
fn smtp_config(ctx: &Ctx, raw: RawSmtp) -> Result<SmtpConfig, ConfigError> {
    let key = |k: &str| format!("{SMTP}.{k}");
    let host = host(ctx, raw.host.as_deref())?;
    let tls = match raw.tls.as_deref().map(str::trim) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("implicit") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            return Err(ctx.err(
                key("tls"),
                format!(
                    "{other:?} is not a TLS setting; write \"starttls\" (the default, port \
                     587), \"implicit\" (port 465) or \"none\" (loopback only)"
                ),
            ))
        }
    };
    if tls == SmtpTls::None && !is_loopback(&host) {
        return Err(ctx.err(
            key("tls"),
            format!(
                "\"none\" would send the reports (and any password) to {host:?} in the \
                 clear, so it is only allowed for loopback hosts (localhost, 127.0.0.0/8, \
                 ::1); use \"starttls\" or \"implicit\""
            ),
        ));
    }
    let port = match raw.port {
        Some(0) => {
            return Err(ctx.err(
                key("port"),
                "is 0; write the server's port (587 for starttls, 465 for implicit), or \
                 remove the key",
            ))
        }
        Some(p) => p,
        None if tls == SmtpTls::Implicit => 465,
        None => 587,
    };
    let ca_file = match &raw.ca_file {
        Some(p) => Some(ctx.resolve_path(&key("ca_file"), p)?),
        None => None,
    };
    let login = login(ctx, raw.user, raw.password_env, raw.password_command)?;
    Ok(SmtpConfig {
        host,
        port,
        tls,
        ca_file,
        login,
    })
}

fn host(ctx: &Ctx, raw: Option<&str>) -> Result<String, ConfigError> {
    const KEY: &str = "owner_report.smtp.host";
    let host = raw.map(str::trim).unwrap_or_default();
    if host.is_empty() {
        return Err(ctx.err(
            KEY,
            "is missing or empty; write the SMTP server's name, e.g. host = \"smtp.example.com\"",
        ));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains('/')
        || (host.contains(':') && !bracketed && host.parse::<std::net::IpAddr>().is_err())
    {
        return Err(ctx.err(
            KEY,
            format!(
                "{host:?} is not a host name; write only the server's name \
                 (\"smtp.example.com\") and set port and tls separately"
            ),
        ));
    }
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string())
}

/// `user` with `password_env` or `password_command`, or none of them (a
/// relay that takes mail without AUTH).
fn login(
    ctx: &Ctx,
    user: Option<String>,
    env: Option<String>,
    command: Option<String>,
) -> Result<Option<(String, crate::config::PasswordSource)>, ConfigError> {
    let key = |k: &str| format!("{SMTP}.{k}");
    let Some(user) = user else {
        if env.is_some() || command.is_some() {
            let k = if env.is_some() {
                "password_env"
            } else {
                "password_command"
            };
            return Err(ctx.err(
                key(k),
                "is set but user is not; write the login as user = \"...\", or remove the \
                 password key for a server that takes mail without AUTH",
            ));
        }
        return Ok(None);
    };
    if user.trim().is_empty() {
        return Err(ctx.err(
            key("user"),
            "is empty; write the SMTP login, or remove user, password_env and password_command",
        ));
    }
    if env.is_none() && command.is_none() {
        return Err(ctx.err(
            key("password_env"),
            format!(
                "is missing: user {user:?} needs a password; set password_env = \"VAR\" \
                 or password_command = \"pass show smtp\""
            ),
        ));
    }
    let source = password_source(ctx, &key, env, command, None)?;
    Ok(Some((user, source)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::test_support::{err, ok, with_store, ACCOUNT};
    use crate::config::{PasswordSource, ReportDelivery, SmtpConfig, SmtpTls};

    fn report(extra: &str) -> String {
        with_store(&format!("{ACCOUNT}\n[owner_report]\n{extra}"))
    }

    fn smtp(extra: &str) -> SmtpConfig {
        let text = report(&format!(
            "from = \"IT <it@example.com>\"\ndelivery = \"smtp\"\n[owner_report.smtp]\n{extra}"
        ));
        match ok(&text).owner_report.expect("on").delivery {
            ReportDelivery::Smtp(s) => s,
            other => panic!("expected smtp, got {other:?}"),
        }
    }

    #[test]
    fn issue13_delivery_defaults_to_inbox() {
        let c = ok(&report(""));
        assert_eq!(c.owner_report.unwrap().delivery, ReportDelivery::Inbox);
        let c = ok(&report("delivery = \"inbox\""));
        assert_eq!(c.owner_report.unwrap().delivery, ReportDelivery::Inbox);
    }

    #[test]
    fn issue13_smtp_defaults_and_settings() {
        let s = smtp("host = \"smtp.example.com\"");
        assert_eq!(
            s,
            SmtpConfig {
                host: "smtp.example.com".into(),
                port: 587,
                tls: SmtpTls::StartTls,
                ca_file: None,
                login: None,
            }
        );
        assert_eq!(
            smtp("host = \"smtp.example.com\"\ntls = \"implicit\"").port,
            465
        );
        let s = smtp(
            "host = \"smtp.example.com\"\nport = 2525\nca_file = \"ca.pem\"\n\
             user = \"reports\"\npassword_env = \"SMTP_PASSWORD\"",
        );
        assert_eq!(s.port, 2525);
        assert_eq!(s.ca_file, Some(PathBuf::from("/etc/slimbox/ca.pem")));
        assert_eq!(
            s.login,
            Some((
                "reports".to_string(),
                PasswordSource::Env("SMTP_PASSWORD".into())
            ))
        );
        let s = smtp("host = \"localhost\"\ntls = \"none\"\nport = 25\nuser = \"r\"\npassword_command = \"pass smtp\"");
        assert_eq!(s.tls, SmtpTls::None);
        assert_eq!(
            s.login.map(|l| l.1),
            Some(PasswordSource::Command("pass smtp".into()))
        );
        assert_eq!(
            smtp("host = \"127.0.0.1\"\ntls = \"none\"").host,
            "127.0.0.1"
        );
        assert_eq!(smtp("host = \"[::1]\"\ntls = \"none\"").host, "::1");
    }

    #[test]
    fn issue13_bad_smtp_settings_name_the_key_and_the_fix() {
        let base = "from = \"IT <it@example.com>\"\ndelivery = \"smtp\"\n[owner_report.smtp]\n";
        for (extra, key, fix) in [
            ("delivery = \"mail\"", "owner_report.delivery", "\"smtp\""),
            ("delivery = \"smtp\"", "owner_report.smtp", "host ="),
            (
                "[owner_report.smtp]\nhost = \"smtp.example.com\"",
                "owner_report.smtp",
                "delivery = \"smtp\"",
            ),
            (
                "delivery = \"smtp\"\n[owner_report.smtp]\nhost = \"smtp.example.com\"",
                "owner_report.from",
                "from = ",
            ),
            (
                &format!("{base}port = 25"),
                "owner_report.smtp.host",
                "host = ",
            ),
            (
                &format!("{base}host = \"\""),
                "owner_report.smtp.host",
                "host = ",
            ),
            (
                &format!("{base}host = \"smtp://smtp.example.com\""),
                "owner_report.smtp.host",
                "port and tls",
            ),
            (
                &format!("{base}host = \"smtp.example.com:587\""),
                "owner_report.smtp.host",
                "port",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\ntls = \"none\""),
                "owner_report.smtp.tls",
                "loopback",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\ntls = \"ssl\""),
                "owner_report.smtp.tls",
                "\"implicit\"",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\nport = 0"),
                "owner_report.smtp.port",
                "587",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\nuser = \"r\""),
                "owner_report.smtp.password_env",
                "password_command",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\npassword_env = \"P\""),
                "owner_report.smtp.password_env",
                "user = ",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\nuser = \" \"\npassword_env = \"P\""),
                "owner_report.smtp.user",
                "login",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\nuser = \"r\"\npassword_env = \"$P\""),
                "owner_report.smtp.password_env",
                "password_env = \"P\"",
            ),
            (
                &format!(
                    "{base}host = \"smtp.example.com\"\nuser = \"r\"\npassword_env = \"P\"\n\
                     password_command = \"x\""
                ),
                "owner_report.smtp.password_command",
                "exactly one",
            ),
            (
                &format!("{base}host = \"smtp.example.com\"\nca_file = \"\""),
                "owner_report.smtp.ca_file",
                "path",
            ),
        ] {
            let msg = err(&report(extra));
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
            assert!(msg.contains(fix), "expected {fix:?} in: {msg}");
        }
        // An inline password is not a key of this table.
        let msg = err(&report(&format!(
            "{base}host = \"smtp.example.com\"\nuser = \"r\"\npassword = \"x\""
        )));
        assert!(msg.contains("password"), "{msg}");
    }
}
