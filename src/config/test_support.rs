//! Helpers shared by the config tests: a valid account, a fake environment,
//! and parsing that expects success or failure.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use super::check::parse_with_env;
use super::{Config, ConfigError};

pub(super) const ACCOUNT: &str = r#"
[[account]]
name = "me"
host = "imap.example.com"
user = "me@example.com"
password_env = "MAIL_PASSWORD"
"#;

pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |k| map.get(k).cloned()
}

pub(super) fn parse_env(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
    let env = env_of(&[("HOME", "/home/me")]);
    parse_with_env(text, path, &env)
}

pub(super) fn ok(text: &str) -> Config {
    match parse_env(text, Some(Path::new("/etc/slimbox/config.toml"))) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

/// Parses `text` expecting an error, and returns its message.
pub(super) fn err(text: &str) -> String {
    match parse_env(text, Some(Path::new("/etc/slimbox/config.toml"))) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn with_store(rest: &str) -> String {
    format!("[store]\nurl = \"/srv/store\"\n{rest}")
}
