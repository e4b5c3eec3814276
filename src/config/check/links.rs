//! `[links]`: the base URL of `slimbox serve`, the secret links are signed
//! with, how long they last, the stub format, the note and the entry style.

use std::path::Path;

use super::Ctx;
use crate::config::raw::RawLinks;
use crate::config::{ConfigError, LinksConfig, StubFormat};

/// Checks `[links]`, filling in defaults (the secret beside the index).
pub(super) fn links_config(
    ctx: &Ctx,
    raw: RawLinks,
    index_path: &Path,
) -> Result<LinksConfig, ConfigError> {
    let base_url = raw
        .base_url
        .as_deref()
        .map(|u| base_url(ctx, u))
        .transpose()?;
    let secret_file = match &raw.secret_file {
        Some(p) => ctx.resolve_path("links.secret_file", p)?,
        None => index_path.with_file_name("links.key"),
    };
    let expires = match raw.expires {
        None => None,
        Some(toml::Value::String(s)) => {
            let age = super::parse_age(&s).map_err(|p| ctx.err("links.expires", p))?;
            if age.is_zero() {
                return Err(ctx.err(
                    "links.expires",
                    "is 0, so every link would be expired when written; write an age such \
                     as \"90d\", or remove the key so links never expire",
                ));
            }
            Some(age)
        }
        Some(other) => {
            return Err(ctx.err(
                "links.expires",
                format!("{other} is not an age; write a string with a unit, e.g. \"90d\""),
            ))
        }
    };
    let stub_format = match raw.stub_format.as_deref() {
        None | Some("text") => StubFormat::Text,
        Some("html") => StubFormat::Html,
        Some(other) => {
            return Err(ctx.err(
                "links.stub_format",
                format!("{other:?} is not a stub format; write \"text\" (the default) or \"html\""),
            ))
        }
    };
    let entries = match raw.entries.as_deref() {
        None => crate::mime::DEFAULT_ENTRIES,
        Some(s) => s.parse().map_err(|e: String| ctx.err("links.entries", e))?,
    };
    Ok(LinksConfig {
        base_url,
        secret_file,
        expires,
        stub_format,
        note: raw.note.unwrap_or(true),
        entries,
    })
}

/// `links.base_url`: an absolute http(s) URL without query or fragment;
/// plain http only for a loopback host, since a link is as good as a
/// password to its file.
fn base_url(ctx: &Ctx, raw: &str) -> Result<String, ConfigError> {
    const KEY: &str = "links.base_url";
    let raw = raw.trim();
    let u = url::Url::parse(raw).map_err(|e| {
        ctx.err(
            KEY,
            format!("{raw:?} is not a URL ({e}); write e.g. \"https://files.example.com\""),
        )
    })?;
    if u.query().is_some() || u.fragment().is_some() || u.cannot_be_a_base() {
        return Err(ctx.err(
            KEY,
            format!("{raw:?} has a query or fragment; write only scheme, host and path"),
        ));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(ctx.err(
                KEY,
                format!(
                    "{raw:?} uses plain http to a host that is not loopback, so links \
                     (which open files without a password) would travel in the clear; \
                     use https (e.g. behind a reverse proxy)"
                ),
            ))
        }
        s => {
            return Err(ctx.err(
                KEY,
                format!("{raw:?} has the scheme {s:?}; write an https:// URL"),
            ))
        }
    }
    Ok(raw.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{err, ok, with_store, ACCOUNT};
    use crate::config::StubFormat;
    use std::time::Duration;

    fn acct(extra: &str) -> String {
        with_store(&format!("{ACCOUNT}{extra}"))
    }

    #[test]
    fn issue12_links_defaults() {
        let c = ok(&acct(""));
        assert_eq!(c.links.base_url, None);
        assert_eq!(c.links.expires, None);
        assert_eq!(c.links.stub_format, StubFormat::Text);
        assert_eq!(
            c.links.secret_file,
            c.index.path.with_file_name("links.key")
        );
    }

    #[test]
    fn issue12_links_settings() {
        let c = ok(&acct(
            "[links]\nbase_url = \"https://files.example.com/x/\"\nexpires = \"90d\"\n\
             stub_format = \"html\"\nsecret_file = \"/etc/slimbox/links.key\"",
        ));
        assert_eq!(
            c.links.base_url.as_deref(),
            Some("https://files.example.com/x")
        );
        assert_eq!(c.links.expires, Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(c.links.stub_format, StubFormat::Html);
        assert_eq!(c.links.secret_file.to_str(), Some("/etc/slimbox/links.key"));
        let c = ok(&acct("[links]\nbase_url = \"http://127.0.0.1:8080\""));
        assert_eq!(c.links.base_url.as_deref(), Some("http://127.0.0.1:8080"));
    }

    #[test]
    fn issue12_link_template_and_base_url_together_warn() {
        let c = ok(&acct("[links]\nbase_url = \"https://f.example\""));
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        let c = ok(&acct(
            "[policy]\nlink_template = \"https://x/{sha256}\"\n\
             [links]\nbase_url = \"https://f.example\"",
        ));
        let w = c.warnings().join("\n");
        assert!(w.contains("link_template") && w.contains("base_url"), "{w}");
    }

    #[test]
    fn issue12_bad_links_settings_name_the_key() {
        for (text, key) in [
            (
                "[links]\nbase_url = \"http://files.example.com\"",
                "links.base_url",
            ),
            ("[links]\nbase_url = \"ftp://x\"", "links.base_url"),
            (
                "[links]\nbase_url = \"files.example.com\"",
                "links.base_url",
            ),
            ("[links]\nbase_url = \"https://x/?a=b\"", "links.base_url"),
            ("[links]\nexpires = \"90\"", "links.expires"),
            ("[links]\nexpires = 90", "links.expires"),
            ("[links]\nexpires = \"0d\"", "links.expires"),
            ("[links]\nstub_format = \"rtf\"", "links.stub_format"),
            ("[links]\nentries = \"thunderbird\"", "links.entries"),
            ("[links]\nnote = \"no\"", "note"),
        ] {
            let msg = err(&acct(text));
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
        }
    }

    #[test]
    fn issue19_note_and_entries() {
        use crate::mime::{Entries, DEFAULT_ENTRIES};
        let c = ok(&acct(""));
        assert!(c.links.note);
        assert_eq!(c.links.entries, DEFAULT_ENTRIES);
        let c = ok(&acct("[links]\nnote = false\nentries = \"original\""));
        assert!(!c.links.note);
        assert_eq!(c.links.entries, Entries::Original);
        let c = ok(&acct("[links]\nentries = \"note\""));
        assert_eq!(c.links.entries, Entries::Note);
    }
}
