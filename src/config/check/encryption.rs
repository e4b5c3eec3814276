//! `[store] encryption` and where its key comes from (issue 24): one of
//! `encryption_key_file`, `encryption_key_command`, `encryption_key_env`.
//! The key itself is read when the store opens (`store::Keys::load`).

use super::super::raw::RawStore;
use super::Ctx;
use crate::config::ConfigError;
use crate::store::KeySource;

/// `store.encryption` and its key source: `None` when it is off.
pub(super) fn encryption(ctx: &Ctx, raw: &RawStore) -> Result<Option<KeySource>, ConfigError> {
    let on = match raw.encryption.as_deref().map(str::trim) {
        None | Some("none") => false,
        Some("age") => true,
        Some(other) => {
            return Err(ctx.err(
                "store.encryption",
                format!("{other:?} is not an encryption slimbox knows; write \"age\" or \"none\""),
            ))
        }
    };
    let mut sources = Vec::new();
    if let Some(p) = &raw.encryption_key_file {
        sources.push(KeySource::File(
            ctx.resolve_path("store.encryption_key_file", p)?,
        ));
    }
    if let Some(c) = raw
        .encryption_key_command
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        sources.push(KeySource::Command(c.to_string()));
    }
    if let Some(v) = raw
        .encryption_key_env
        .as_deref()
        .filter(|v| !v.trim().is_empty())
    {
        sources.push(KeySource::Env(v.trim().to_string()));
    }
    match (on, sources.len()) {
        (false, 0) => Ok(None),
        (false, _) => Err(ctx.err(
            "store.encryption",
            "is off but a key (encryption_key_file, _command or _env) is set; add \
             encryption = \"age\", or remove the key",
        )),
        (true, 1) => Ok(sources.pop()),
        (true, 0) => Err(ctx.err(
            "store.encryption",
            "is \"age\" but says nowhere where its key is; add encryption_key_file \
             (an age identity file from age-keygen), encryption_key_command or \
             encryption_key_env",
        )),
        (true, _) => Err(ctx.err(
            "store.encryption",
            "has more than one key source; keep one of encryption_key_file, \
             encryption_key_command, encryption_key_env",
        )),
    }
}

/// An encrypted store's stubs cannot link to its files: they need
/// `slimbox serve` (`[links] base_url`) or a `[policy] link_template`.
pub(super) fn needs_served_links(
    ctx: &Ctx,
    encrypted: bool,
    base_url: bool,
    template: bool,
) -> Result<(), ConfigError> {
    if encrypted && !base_url && !template {
        return Err(ctx.err(
            "store.encryption",
            "is on but [links] base_url is not set: the store's files are encrypted, so \
             stubs must link to `slimbox serve`, which decrypts them; set [links] base_url \
             to where serve is reached",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;
    use crate::store::KeySource;

    const LINKS: &str = "[links]\nbase_url = \"https://files.example.com\"\n";

    fn on(extra: &str) -> String {
        format!("[store]\nurl = \"/srv/store\"\n{extra}\n{LINKS}{ACCOUNT}")
    }

    #[test]
    fn issue24_encryption_keys() {
        assert_eq!(ok(&with_store(ACCOUNT)).store.encryption, None);
        let c = ok(&on(
            "encryption = \"age\"\nencryption_key_file = \"keys/store.txt\"",
        ));
        assert_eq!(
            c.store.encryption,
            Some(KeySource::File("/etc/slimbox/keys/store.txt".into()))
        );
        let c = ok(&on(
            "encryption = \"age\"\nencryption_key_command = \"pass show x\"",
        ));
        assert_eq!(
            c.store.encryption,
            Some(KeySource::Command("pass show x".into()))
        );
        let c = ok(&on(
            "encryption = \"age\"\nencryption_key_env = \"STORE_KEY\"",
        ));
        assert_eq!(c.store.encryption, Some(KeySource::Env("STORE_KEY".into())));

        let e = err(&on("encryption = \"age\""));
        assert!(e.contains("encryption_key_file"), "{e}");
        let e = err(&on("encryption_key_env = \"K\""));
        assert!(
            e.contains("encryption = \\\"age\\\"") || e.contains("is off"),
            "{e}"
        );
        let e = err(&on("encryption = \"aes\"\nencryption_key_env = \"K\""));
        assert!(e.contains("\"aes\""), "{e}");
        let e = err(&on(
            "encryption = \"age\"\nencryption_key_env = \"K\"\nencryption_key_command = \"c\"",
        ));
        assert!(e.contains("more than one"), "{e}");
        let no_links = format!(
            "[store]\nurl = \"/srv/store\"\nencryption = \"age\"\nencryption_key_env = \"K\"\n{ACCOUNT}"
        );
        let e = err(&no_links);
        assert!(e.contains("base_url"), "{e}");
    }
}
