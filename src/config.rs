//! slimbox's configuration file (TOML): where the store and index live, what
//! to detach, and which IMAP accounts to work on.
//!
//! [`load`] finds the file (`--config FILE`, else `$SLIMBOX_CONFIG`, else
//! `$XDG_CONFIG_HOME/slimbox/config.toml`, default
//! `~/.config/slimbox/config.toml`); [`parse`] turns text into a validated
//! [`Config`] and is pure apart from reading `$HOME` / `$XDG_DATA_HOME` for
//! `~` and default paths, so tests can feed it strings.
//!
//! Everything a typo could get wrong is an error rather than a silent default:
//! unknown keys are rejected, and every message names the file, the key
//! (`account[1].password_env`) and what to write instead. Paths in the file
//! (`store.url` as a plain path, `index.path`, `ca_file`) are relative to the
//! file's folder, so a config keeps working from any working directory.
//!
//! ```toml
//! [store]
//! url = "~/slimbox/store"
//!
//! [[account]]
//! name = "me"
//! host = "imap.example.com"
//! user = "me@example.com"
//! password_command = "pass show mail"
//! ```

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default `policy.min_size`: attachments under 1 MiB cost little quota and
/// are not worth a link.
pub const DEFAULT_MIN_SIZE: u64 = 1024 * 1024;

/// Default `policy.folders`: sent and archived mail is what people keep for
/// years and rarely open, so it is the safest to slim.
pub const DEFAULT_FOLDERS: [&str; 2] = ["\\Sent", "\\Archive"];

/// The smallest working config, shown when none is found.
pub const MINIMAL_EXAMPLE: &str = r#"[store]
url = "~/slimbox/store"            # a folder, or an object_store URL

[[account]]
name = "me"
host = "imap.example.com"
user = "me@example.com"
password_command = "pass show mail"   # or password_env = "MAIL_PASSWORD"
"#;

/// The IMAP special-use flags (RFC 6154, plus `\Important` from RFC 8457).
/// Anything else starting with `\` is almost surely a typo, and would
/// otherwise match no folder without a word.
const SPECIAL_USE: [&str; 8] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Important",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// Placeholders that `mime::stub::render_link` fills in.
const LINK_PLACEHOLDERS: [&str; 4] = ["sha256", "sha256_2", "name", "size"];

/// A validated configuration, with defaults filled in and paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreConfig,
    pub index: IndexConfig,
    pub policy: PolicyConfig,
    /// The `[[account]]` tables, in file order; never empty.
    pub accounts: Vec<AccountConfig>,
    /// The file this was read from (absolute when it came from [`load`]).
    pub path: Option<PathBuf>,
}

/// `[store]`: where detached attachments go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// An `object_store` URL as written (`file:///…`, …), or for a plain path
    /// the path with `~` expanded and made relative to the config file's
    /// folder; either way ready for `store::Store::open`.
    pub url: String,
}

/// `[index]`: the local SQLite index of what was detached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    /// `index.path`, or the default: `index.sqlite` beside a local store's
    /// folder, else `$XDG_DATA_HOME/slimbox/index.sqlite`.
    pub path: PathBuf,
}

/// `[policy]`: what to detach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Smallest decoded attachment size to detach, in bytes.
    pub min_size: u64,
    /// Only touch mail older than this.
    pub older_than: Option<Duration>,
    /// Special-use flags (`\Sent`, canonical spelling), folder names or
    /// globs with `*` and `?`; never empty.
    pub folders: Vec<String>,
    /// Content types to detach (`image/*`); empty means all.
    pub include_types: Vec<String>,
    /// Content types never to detach.
    pub exclude_types: Vec<String>,
    /// Also rewrite signed or encrypted messages (breaks the signature).
    pub detach_signed: bool,
    /// Link written into stubs; `None`: the store's default.
    pub link_template: Option<String>,
}

/// One `[[account]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Unique, non-empty; what `--account NAME` selects.
    pub name: String,
    pub host: String,
    /// `port`, or 993 for implicit TLS and 143 otherwise.
    pub port: u16,
    pub tls: TlsSetting,
    /// Extra trust root (PEM), resolved against the config file's folder.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub password: PasswordSource,
    /// Folder for the no-UIDPLUS fallback; `None`: the `\Trash` special-use
    /// folder.
    pub trash: Option<String>,
}

/// How to talk TLS to the IMAP server (`tls = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsSetting {
    /// TLS from the first byte (IMAPS, port 993). The default: nothing is
    /// ever sent in the clear.
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    #[serde(rename = "starttls")]
    StartTls,
    /// No TLS at all: only allowed for loopback hosts (test servers), since
    /// it would send the password in the clear.
    None,
}

impl TlsSetting {
    /// The usual port for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            TlsSetting::Implicit => 993,
            TlsSetting::StartTls | TlsSetting::None => 143,
        }
    }
}

/// Where an account's password comes from: exactly one of `password_env`,
/// `password_command` or `password`.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The name of an environment variable.
    Env(String),
    /// A shell command whose standard output is the password.
    Command(String),
    /// The password itself, written in the file.
    Inline(String),
}

// Written by hand so that `{:?}` of a Config (logs, panics) never shows an
// inline password.
impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            PasswordSource::Command(cmd) => f.debug_tuple("Command").field(cmd).finish(),
            PasswordSource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

impl PasswordSource {
    /// Fetches the password: reads the variable, runs the command (via
    /// `sh -c`, standard output minus its trailing newline) or returns the
    /// inline value.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        match self {
            PasswordSource::Inline(p) => Ok(p.clone()),
            PasswordSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(ConfigError::PasswordEnvEmpty { var: var.clone() }),
                Err(std::env::VarError::NotPresent) => {
                    Err(ConfigError::PasswordEnvUnset { var: var.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(ConfigError::PasswordEnvNotUnicode { var: var.clone() })
                }
            },
            PasswordSource::Command(cmd) => run_password_command(cmd),
        }
    }
}

fn run_password_command(cmd: &str) -> Result<String, ConfigError> {
    // stdin stays inherited so that tools which prompt (a gpg pinentry on
    // the terminal) still work; stderr is captured to explain a failure.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .output()
        .map_err(|source| ConfigError::PasswordCommandSpawn {
            command: cmd.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(ConfigError::PasswordCommandFailed {
            command: cmd.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let Ok(mut text) = String::from_utf8(out.stdout) else {
        return Err(ConfigError::PasswordCommandOutput {
            command: cmd.to_string(),
            problem: "printed something that is not UTF-8 text",
        });
    };
    // Only the line ending goes: spaces may be part of a password.
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(ConfigError::PasswordCommandOutput {
            command: cmd.to_string(),
            problem: "printed nothing",
        });
    }
    Ok(text)
}

/// Everything that can go wrong finding, reading, checking a config or
/// fetching a password. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no slimbox config file found (looked for {}); create one there, pass \
         --config FILE or set $SLIMBOX_CONFIG. A minimal config:\n\n{MINIMAL_EXAMPLE}",
        show_paths(.looked)
    )]
    NotFound { looked: Vec<PathBuf> },

    #[error(
        "config file {} (given by {origin}) does not exist; check the path, or \
         create it, for example:\n\n{MINIMAL_EXAMPLE}",
        .path.display()
    )]
    Missing { path: PathBuf, origin: &'static str },

    #[error(
        "cannot find a config file: neither $XDG_CONFIG_HOME nor $HOME is set; \
         pass --config FILE or set $SLIMBOX_CONFIG"
    )]
    NoConfigDir,

    #[error("cannot read config file {}: {source}; check that it is a readable file", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// toml's own message: it shows the line, column and offending key.
    #[error("{file} is not a valid slimbox config:\n{message}")]
    Syntax { file: String, message: String },

    #[error("{file}: {key}: {problem}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
    },

    #[error("no account named {name:?} in {file}; the accounts are: {}", .known.join(", "))]
    UnknownAccount {
        name: String,
        file: String,
        known: Vec<String>,
    },

    #[error(
        "environment variable ${var} (password_env) is not set; export it before \
         running slimbox, or use password_command instead"
    )]
    PasswordEnvUnset { var: String },

    #[error(
        "environment variable ${var} (password_env) is empty; set it to the \
         password, or use password_command instead"
    )]
    PasswordEnvEmpty { var: String },

    #[error("environment variable ${var} (password_env) is not valid UTF-8; set it to the password as text")]
    PasswordEnvNotUnicode { var: String },

    #[error("password_command `{command}` could not be started: {source}; slimbox runs it with `sh -c`, check that sh is installed")]
    PasswordCommandSpawn {
        command: String,
        source: std::io::Error,
    },

    #[error("password_command `{command}` failed ({status}): {stderr}; run it by hand to see what is wrong")]
    PasswordCommandFailed {
        command: String,
        status: String,
        stderr: String,
    },

    #[error(
        "password_command `{command}` {problem}; it must print the password on standard output"
    )]
    PasswordCommandOutput {
        command: String,
        problem: &'static str,
    },
}

fn show_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// Finds and reads the config: `explicit` (`--config FILE`), else
/// `$SLIMBOX_CONFIG`, else `$XDG_CONFIG_HOME/slimbox/config.toml`, else
/// `~/.config/slimbox/config.toml`.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    load_with_env(explicit, &|k| std::env::var_os(k))
}

/// Parses and validates config text. `path` is where the text came from: it
/// is named in errors and relative paths are resolved against its folder.
pub fn parse(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
    parse_with_env(text, path, &|k| std::env::var_os(k))
}

/// Reads an environment variable; a parameter so tests need not change the
/// process environment (which other tests running in parallel share).
type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// An environment variable that is set and not empty.
fn env_nonempty(env: Env, key: &str) -> Option<OsString> {
    env(key).filter(|v| !v.is_empty())
}

/// An XDG base directory: the spec says to ignore relative values.
fn xdg_dir(env: Env, var: &str, home_default: &str) -> Option<PathBuf> {
    env_nonempty(env, var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env_nonempty(env, "HOME").map(|h| PathBuf::from(h).join(home_default)))
}

fn load_with_env(explicit: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
    let (path, origin) = if let Some(p) = explicit {
        (p.to_path_buf(), Some("--config"))
    } else if let Some(p) = env_nonempty(env, "SLIMBOX_CONFIG") {
        (PathBuf::from(p), Some("$SLIMBOX_CONFIG"))
    } else {
        let dir = xdg_dir(env, "XDG_CONFIG_HOME", ".config").ok_or(ConfigError::NoConfigDir)?;
        (dir.join("slimbox").join("config.toml"), None)
    };
    // Absolute, so that paths resolved against its folder stay right
    // whatever the process later does with its working directory.
    let path = std::path::absolute(&path).unwrap_or(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match origin {
                Some(origin) => ConfigError::Missing { path, origin },
                None => ConfigError::NotFound { looked: vec![path] },
            });
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let config = parse_with_env(&text, Some(&path), env)?;
    tracing::debug!(path = %path.display(), accounts = config.accounts.len(), "loaded config");
    Ok(config)
}

// ---- the file as written ----
//
// Raw structs mirror the file one to one; `deny_unknown_fields` turns a
// misspelt key into an error naming it instead of a silently ignored line.
// Values needing more than a type check stay loose here and are checked in
// `parse_with_env`, where the key can be named in the message.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Optional here only so that its absence gets a message with an example.
    store: Option<RawStore>,
    #[serde(default)]
    index: RawIndex,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default, rename = "account")]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    /// A string ("1MiB") or an integer (bytes), hence a loose value.
    min_size: Option<toml::Value>,
    /// Loose so that `older_than = 30` gets "add a unit" rather than a type error.
    older_than: Option<toml::Value>,
    folders: Option<Vec<String>>,
    #[serde(default)]
    include_types: Vec<String>,
    #[serde(default)]
    exclude_types: Vec<String>,
    #[serde(default)]
    detach_signed: bool,
    link_template: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    host: String,
    port: Option<u16>,
    #[serde(default)]
    tls: TlsSetting,
    ca_file: Option<String>,
    user: String,
    password_env: Option<String>,
    password_command: Option<String>,
    password: Option<String>,
    trash: Option<String>,
}

/// Builds `Invalid` errors for one file.
struct Ctx<'a> {
    file: String,
    /// The config file's folder: the base for relative paths.
    base: Option<&'a Path>,
    env: Env<'a>,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Expands `~/` and anchors a relative path at the config file's folder.
    fn resolve_path(&self, key: &str, raw: &str) -> Result<PathBuf, ConfigError> {
        if raw.trim().is_empty() {
            return Err(self.err(key, "is empty; write a path, or remove the key"));
        }
        let path = if raw == "~" || raw.starts_with("~/") {
            let Some(home) = env_nonempty(self.env, "HOME") else {
                return Err(self.err(
                    key,
                    format!("{raw:?} starts with ~ but $HOME is not set; write an absolute path"),
                ));
            };
            PathBuf::from(home).join(raw.trim_start_matches('~').trim_start_matches('/'))
        } else {
            PathBuf::from(raw)
        };
        Ok(match self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        })
    }
}

/// `path` as a string, for `store.url`; the store API takes `&str`.
fn path_string(ctx: &Ctx, key: &str, path: &Path) -> Result<String, ConfigError> {
    path.to_str().map(str::to_string).ok_or_else(|| {
        ctx.err(
            key,
            format!(
                "the resolved path {} is not valid UTF-8; write an absolute UTF-8 path",
                path.display()
            ),
        )
    })
}

fn parse_with_env(text: &str, path: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
    let file = match path {
        Some(p) => p.display().to_string(),
        None => "config".to_string(),
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let ctx = Ctx {
        file,
        base: path.and_then(Path::parent),
        env,
    };

    let Some(raw_store) = &raw.store else {
        return Err(ctx.err(
            "store",
            "there is no [store] table; say where detached attachments go, e.g.\n\n\
             [store]\nurl = \"~/slimbox/store\"",
        ));
    };
    let (store, local_store) = store_config(&ctx, raw_store)?;
    let index = index_config(&ctx, &raw.index, local_store.as_deref())?;
    let policy = policy_config(&ctx, raw.policy)?;

    if raw.accounts.is_empty() {
        return Err(ctx.err(
            "account",
            "no [[account]] is configured; add one, for example:\n\n\
             [[account]]\nname = \"me\"\nhost = \"imap.example.com\"\n\
             user = \"me@example.com\"\npassword_env = \"MAIL_PASSWORD\"",
        ));
    }
    let mut seen = HashSet::new();
    let mut accounts = Vec::with_capacity(raw.accounts.len());
    for (i, a) in raw.accounts.into_iter().enumerate() {
        let account = account_config(&ctx, i, a)?;
        if !seen.insert(account.name.clone()) {
            return Err(ctx.err(
                format!("account[{i}].name"),
                format!(
                    "{:?} is used by an earlier account too; give each account its own name \
                     (it is what --account selects)",
                    account.name
                ),
            ));
        }
        accounts.push(account);
    }

    Ok(Config {
        store,
        index,
        policy,
        accounts,
        path: path.map(Path::to_path_buf),
    })
}

/// Returns the store config and, for a local store, its folder.
fn store_config(ctx: &Ctx, raw: &RawStore) -> Result<(StoreConfig, Option<PathBuf>), ConfigError> {
    let key = "store.url";
    let url = raw.url.trim();
    if url.is_empty() {
        return Err(ctx.err(
            key,
            "is empty; write a folder (\"~/slimbox/store\") or an object_store URL \
             (\"file:///srv/slimbox/store\")",
        ));
    }
    // Same rule as store::Store::open: a one-letter "scheme" is a Windows
    // drive letter, so that is a path too.
    match url::Url::parse(url) {
        Ok(u) if u.scheme().len() > 1 => {
            let local = if u.scheme() == "file" {
                Some(u.to_file_path().map_err(|()| {
                    ctx.err(
                        key,
                        format!(
                            "{url:?} is not a usable file:// URL: it must name an absolute \
                             local path (file:///srv/slimbox/store), with no host other than \
                             localhost"
                        ),
                    )
                })?)
            } else {
                None
            };
            Ok((
                StoreConfig {
                    url: url.to_string(),
                },
                local,
            ))
        }
        _ => {
            let dir = ctx.resolve_path(key, url)?;
            let url = path_string(ctx, key, &dir)?;
            Ok((StoreConfig { url }, Some(dir)))
        }
    }
}

fn index_config(
    ctx: &Ctx,
    raw: &RawIndex,
    local_store: Option<&Path>,
) -> Result<IndexConfig, ConfigError> {
    if let Some(p) = &raw.path {
        return Ok(IndexConfig {
            path: ctx.resolve_path("index.path", p)?,
        });
    }
    // Beside a local store keeps the two side by side, to be backed up together;
    // a remote store gets the index in the user's data folder.
    let path = match local_store {
        Some(store) => match store.parent() {
            Some(parent) => parent.join("index.sqlite"),
            None => store.join("index.sqlite"),
        },
        None => xdg_dir(ctx.env, "XDG_DATA_HOME", ".local/share")
            .map(|d| d.join("slimbox").join("index.sqlite"))
            .ok_or_else(|| {
                ctx.err(
                    "index.path",
                    "is not set, and its default ($XDG_DATA_HOME/slimbox/index.sqlite) \
                     is unknown because neither $XDG_DATA_HOME nor $HOME is set; set \
                     index.path in [index]",
                )
            })?,
    };
    Ok(IndexConfig { path })
}

fn policy_config(ctx: &Ctx, raw: RawPolicy) -> Result<PolicyConfig, ConfigError> {
    let min_size = match raw.min_size {
        None => DEFAULT_MIN_SIZE,
        // parse_size's message already shows the bad value and examples.
        Some(toml::Value::String(s)) => crate::units::parse_size(&s)
            .map_err(|e| ctx.err("policy.min_size", format!("{e}; the default is \"1MiB\"")))?,
        Some(toml::Value::Integer(n)) => u64::try_from(n).map_err(|_| {
            ctx.err(
                "policy.min_size",
                format!("{n} is negative; write a size such as \"1MiB\" or 1048576"),
            )
        })?,
        Some(other) => {
            return Err(ctx.err(
                "policy.min_size",
                format!(
                    "{other} is not a size; write a string such as \"1MiB\" or \"512KiB\", \
                     or a number of bytes"
                ),
            ))
        }
    };

    let older_than = match raw.older_than {
        None => None,
        Some(toml::Value::String(s)) => {
            Some(parse_age(&s).map_err(|problem| ctx.err("policy.older_than", problem))?)
        }
        Some(other) => {
            return Err(ctx.err(
                "policy.older_than",
                format!(
                    "{other} is not an age; write a string with a unit: \"30d\", \"12h\", \
                     \"2w\" (units s, m, h, d, w)"
                ),
            ))
        }
    };

    let folders = match raw.folders {
        None => DEFAULT_FOLDERS.iter().map(|f| f.to_string()).collect(),
        Some(list) => {
            if list.is_empty() {
                return Err(ctx.err(
                    "policy.folders",
                    "is empty, so slimbox would look at no folder; list some, e.g. \
                     [\"\\\\Sent\", \"\\\\Archive\"], or remove the key for that default",
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, f)| check_folder(ctx, &format!("policy.folders[{i}]"), f))
                .collect::<Result<_, _>>()?
        }
    };

    for (name, list) in [
        ("include_types", &raw.include_types),
        ("exclude_types", &raw.exclude_types),
    ] {
        for (i, t) in list.iter().enumerate() {
            check_type_pattern(t)
                .map_err(|problem| ctx.err(format!("policy.{name}[{i}]"), problem))?;
        }
    }

    if let Some(t) = &raw.link_template {
        check_link_template(t).map_err(|problem| ctx.err("policy.link_template", problem))?;
    }

    Ok(PolicyConfig {
        min_size,
        older_than,
        folders,
        include_types: raw.include_types,
        exclude_types: raw.exclude_types,
        detach_signed: raw.detach_signed,
        link_template: raw.link_template,
    })
}

/// Parses an age like `30d`: a whole number and one unit. No months or
/// years: their length varies, and `m` already means minutes.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    const HINT: &str = "write a whole number and a unit: \"30d\", \"12h\", \"2w\" \
                        (s seconds, m minutes, h hours, d days, w weeks)";
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let Ok(n) = num.parse::<u64>() else {
        return Err(format!("{s:?} is not an age; {HINT}"));
    };
    let secs_per: u64 = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(format!("{s:?} has no unit; {HINT}")),
        _ => return Err(format!("{s:?} has an unknown unit; {HINT}")),
    };
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long an age; {HINT}"))
}

/// Checks one `policy.folders` entry; special-use flags come back in their
/// canonical spelling (IMAP flags are case-insensitive).
fn check_folder(ctx: &Ctx, key: &str, f: &str) -> Result<String, ConfigError> {
    if f.trim().is_empty() {
        return Err(ctx.err(
            key,
            "is empty; write a special-use flag (\"\\\\Sent\"), a folder name or a glob",
        ));
    }
    if f.starts_with('\\') {
        return match SPECIAL_USE.iter().find(|s| s.eq_ignore_ascii_case(f)) {
            Some(s) => Ok(s.to_string()),
            None => Err(ctx.err(
                key,
                format!(
                    "{f:?} is not a special-use flag; use one of {} (in TOML \"\\\\Sent\"), \
                     or a folder name without the backslash",
                    SPECIAL_USE.join(", ")
                ),
            )),
        };
    }
    Ok(f.to_string())
}

/// Content-type patterns as `mime` matches them: `*`, `type/*` or
/// `type/subtype`.
fn check_type_pattern(t: &str) -> Result<(), String> {
    let p = t.trim();
    if p == "*" {
        return Ok(());
    }
    let bad = || {
        format!(
            "{t:?} is not a content-type pattern; write \"type/subtype\" \
             (\"application/pdf\"), \"type/*\" (\"image/*\") or \"*\""
        )
    };
    let (main, sub) = p.split_once('/').ok_or_else(bad)?;
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    if token_ok(main) && (sub == "*" || token_ok(sub)) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A link template must tell attachments apart, and a misspelt placeholder
/// would end up verbatim in every stub.
fn check_link_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!(
                "{t:?} has a `{{` without a closing `}}`; placeholders are {{sha256}}, \
                 {{sha256_2}}, {{name}} and {{size}}"
            ));
        };
        let name = &after[..close];
        if !LINK_PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "{t:?} has the unknown placeholder {{{name}}}; the placeholders are \
                 {{sha256}}, {{sha256_2}}, {{name}} and {{size}}"
            ));
        }
        rest = &after[close + 1..];
    }
    if !t.contains("{sha256}") {
        return Err(format!(
            "{t:?} does not contain {{sha256}}, so every stub would carry the same link; \
             add it, e.g. \"https://files.example.com/sha256/{{sha256_2}}/{{sha256}}\""
        ));
    }
    Ok(())
}

fn account_config(ctx: &Ctx, i: usize, raw: RawAccount) -> Result<AccountConfig, ConfigError> {
    let key = |k: &str| format!("account[{i}].{k}");
    let name = raw.name.trim().to_string();
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

    let host = raw.host.trim().to_string();
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

    if raw.tls == TlsSetting::None && !is_loopback(&host) {
        return Err(ctx.err(
            key("tls"),
            format!(
                "\"none\" would send the password to {host:?} in the clear, so it is only \
                 allowed for loopback hosts (localhost, 127.0.0.0/8, ::1); use \"implicit\" \
                 or \"starttls\""
            ),
        ));
    }
    let port = raw.port.unwrap_or_else(|| raw.tls.default_port());
    if port == 0 {
        return Err(ctx.err(key("port"), "is 0; write the server's port (993 for implicit TLS, 143 otherwise), or remove the key"));
    }

    let ca_file = match &raw.ca_file {
        Some(p) => Some(ctx.resolve_path(&key("ca_file"), p)?),
        None => None,
    };

    let user = raw.user;
    if user.is_empty() {
        return Err(ctx.err(key("user"), "is empty; write the IMAP login name"));
    }

    let password = password_source(
        ctx,
        &key,
        raw.password_env,
        raw.password_command,
        raw.password,
    )?;

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
        host,
        port,
        tls: raw.tls,
        ca_file,
        user,
        password,
        trash: raw.trash,
    })
}

fn password_source(
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

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Hosts where `tls = "none"` cannot leak a password off the machine.
fn is_loopback(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    h.eq_ignore_ascii_case("localhost")
        || unbracket(h)
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Config {
    /// The accounts `--account NAME` selects: that one, or all without it.
    pub fn account(&self, name: Option<&str>) -> Result<Vec<&AccountConfig>, ConfigError> {
        let Some(name) = name else {
            return Ok(self.accounts.iter().collect());
        };
        match self.accounts.iter().find(|a| a.name == name) {
            Some(a) => Ok(vec![a]),
            None => Err(ConfigError::UnknownAccount {
                name: name.to_string(),
                file: self.file_name(),
                known: self.accounts.iter().map(|a| a.name.clone()).collect(),
            }),
        }
    }

    /// Problems worth telling the user about that do not stop slimbox:
    /// today, an inline password in a file others can read.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let inline: Vec<&str> = self
            .accounts
            .iter()
            .filter(|a| matches!(a.password, PasswordSource::Inline(_)))
            .map(|a| a.name.as_str())
            .collect();
        if let (false, Some(path)) = (inline.is_empty(), &self.path) {
            if let Some(mode) = group_or_other_access(path) {
                out.push(format!(
                    "config file {} holds the password of account(s) {} and is readable by \
                     others (mode {:o}); run `chmod 600 {}`, or use password_env or \
                     password_command instead",
                    path.display(),
                    inline.join(", "),
                    mode,
                    path.display()
                ));
            }
        }
        out
    }

    fn file_name(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "config".to_string(),
        }
    }
}

/// The file's permission bits when group or others have any access.
#[cfg(unix)]
fn group_or_other_access(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn group_or_other_access(_path: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ACCOUNT: &str = r#"
[[account]]
name = "me"
host = "imap.example.com"
user = "me@example.com"
password_env = "MAIL_PASSWORD"
"#;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn parse_env(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
        let env = env_of(&[("HOME", "/home/me")]);
        parse_with_env(text, path, &env)
    }

    fn ok(text: &str) -> Config {
        match parse_env(text, Some(Path::new("/etc/slimbox/config.toml"))) {
            Ok(c) => c,
            Err(e) => panic!("expected a valid config, got: {e}"),
        }
    }

    /// Parses `text` expecting an error, and returns its message.
    fn err(text: &str) -> String {
        match parse_env(text, Some(Path::new("/etc/slimbox/config.toml"))) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn with_store(rest: &str) -> String {
        format!("[store]\nurl = \"/srv/store\"\n{rest}")
    }

    #[test]
    fn defaults_fill_in() {
        let c = ok(&with_store(ACCOUNT));
        assert_eq!(c.store.url, "/srv/store");
        assert_eq!(c.index.path, PathBuf::from("/srv/index.sqlite"));
        assert_eq!(c.policy.min_size, 1024 * 1024);
        assert_eq!(c.policy.older_than, None);
        assert_eq!(c.policy.folders, ["\\Sent", "\\Archive"]);
        assert!(c.policy.include_types.is_empty());
        assert!(c.policy.exclude_types.is_empty());
        assert!(!c.policy.detach_signed);
        assert_eq!(c.policy.link_template, None);
        assert_eq!(c.path, Some(PathBuf::from("/etc/slimbox/config.toml")));
        let a = &c.accounts[0];
        assert_eq!(a.tls, TlsSetting::Implicit);
        assert_eq!(a.port, 993);
        assert_eq!(a.ca_file, None);
        assert_eq!(a.trash, None);
        assert_eq!(a.password, PasswordSource::Env("MAIL_PASSWORD".into()));
    }

    #[test]
    fn full_example_parses() {
        let c = ok(r#"
[store]
url = "file:///home/me/slimbox/store"
[index]
path = "/home/me/slimbox/index.sqlite"
[policy]
min_size = "64KiB"
older_than = "30d"
folders = ["\\sent", "Archive/*", "Lists/?020"]
include_types = ["image/*", "application/pdf"]
exclude_types = ["image/svg+xml"]
detach_signed = true
link_template = "https://files.example.com/{sha256_2}/{sha256}/{name}?size={size}"
[[account]]
name = "me"
host = "imap.example.com"
tls = "starttls"
ca_file = "extra-ca.pem"
user = "me@example.com"
password_command = "pass show mail"
trash = "Deleted Items"
"#);
        assert_eq!(c.store.url, "file:///home/me/slimbox/store");
        assert_eq!(c.index.path, PathBuf::from("/home/me/slimbox/index.sqlite"));
        assert_eq!(c.policy.min_size, 65536);
        assert_eq!(c.policy.older_than, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(c.policy.folders, ["\\Sent", "Archive/*", "Lists/?020"]);
        assert!(c.policy.detach_signed);
        let a = &c.accounts[0];
        assert_eq!(a.tls, TlsSetting::StartTls);
        assert_eq!(a.port, 143);
        assert_eq!(a.ca_file, Some(PathBuf::from("/etc/slimbox/extra-ca.pem")));
        assert_eq!(a.password, PasswordSource::Command("pass show mail".into()));
        assert_eq!(a.trash.as_deref(), Some("Deleted Items"));
    }

    #[test]
    fn paths_are_relative_to_the_config_folder_and_expand_tilde() {
        let c = ok(&format!("[store]\nurl = \"store\"\n{ACCOUNT}"));
        assert_eq!(c.store.url, "/etc/slimbox/store");
        assert_eq!(c.index.path, PathBuf::from("/etc/slimbox/index.sqlite"));

        let c = ok(&format!(
            "[store]\nurl = \"~/slimbox/store\"\n[index]\npath = \"idx/i.sqlite\"\n{ACCOUNT}"
        ));
        assert_eq!(c.store.url, "/home/me/slimbox/store");
        assert_eq!(c.index.path, PathBuf::from("/etc/slimbox/idx/i.sqlite"));

        // file:// URLs count as local stores for the index default.
        let c = ok(&format!("[store]\nurl = \"file:///data/s\"\n{ACCOUNT}"));
        assert_eq!(c.index.path, PathBuf::from("/data/index.sqlite"));
    }

    #[test]
    fn remote_store_puts_the_index_in_xdg_data_home() {
        let text = format!("[store]\nurl = \"s3://bucket/slimbox\"\n{ACCOUNT}");
        let env = env_of(&[("HOME", "/home/me")]);
        let c = parse_with_env(&text, None, &env).expect("valid");
        assert_eq!(
            c.index.path,
            PathBuf::from("/home/me/.local/share/slimbox/index.sqlite")
        );
        let env = env_of(&[("HOME", "/home/me"), ("XDG_DATA_HOME", "/xdg/data")]);
        let c = parse_with_env(&text, None, &env).expect("valid");
        assert_eq!(
            c.index.path,
            PathBuf::from("/xdg/data/slimbox/index.sqlite")
        );

        let env = env_of(&[]);
        let e = parse_with_env(&text, None, &env).expect_err("no home");
        assert!(e.to_string().contains("index.path"), "{e}");
    }

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

    #[test]
    fn older_than_units() {
        let day = 86_400;
        for (text, secs) in [
            ("45s", 45),
            ("90m", 90 * 60),
            ("12h", 12 * 3600),
            ("30d", 30 * day),
            ("2w", 14 * day),
            (" 7 d ", 7 * day),
            ("0d", 0),
        ] {
            assert_eq!(parse_age(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in [
            "30",
            "d",
            "",
            "1.5d",
            "3mo",
            "1y",
            "-1d",
            "99999999999999999999w",
        ] {
            assert!(parse_age(bad).is_err(), "{bad:?} should not parse");
        }
    }

    /// Every validation failure names its key.
    #[test]
    fn validation_errors_name_the_key() {
        let acct = |extra: &str| with_store(&format!("{ACCOUNT}{extra}"));
        let cases: Vec<(String, &str)> = vec![
            (with_store(""), "account"),
            ("[store]\nurl = \"\"\n".to_string() + ACCOUNT, "store.url"),
            (
                "[store]\nurl = \"file://host/x\"\n".to_string() + ACCOUNT,
                "store.url",
            ),
            (acct("[policy]\nmin_size = \"lots\""), "policy.min_size"),
            (acct("[policy]\nmin_size = -5"), "policy.min_size"),
            (acct("[policy]\nmin_size = true"), "policy.min_size"),
            (acct("[policy]\nolder_than = \"30\""), "policy.older_than"),
            (acct("[policy]\nolder_than = 30"), "policy.older_than"),
            (acct("[policy]\nolder_than = \"3mo\""), "policy.older_than"),
            (acct("[policy]\nfolders = []"), "policy.folders"),
            (
                acct("[policy]\nfolders = [\"INBOX\", \"\\\\Snet\"]"),
                "policy.folders[1]",
            ),
            (acct("[policy]\nfolders = [\"\"]"), "policy.folders[0]"),
            (
                acct("[policy]\ninclude_types = [\"image\"]"),
                "policy.include_types[0]",
            ),
            (
                acct("[policy]\nexclude_types = [\"a/b\", \"image/png*\"]"),
                "policy.exclude_types[1]",
            ),
            (
                acct("[policy]\nlink_template = \"https://x/{name}\""),
                "policy.link_template",
            ),
            (
                acct("[policy]\nlink_template = \"https://x/{sha}/{sha256}\""),
                "policy.link_template",
            ),
            (
                acct("[policy]\nlink_template = \"https://x/{sha256\""),
                "policy.link_template",
            ),
            (acct("[index]\npath = \"\""), "index.path"),
        ];
        for (text, key) in &cases {
            let msg = err(text);
            assert!(msg.contains(key), "expected {key:?} in: {msg}");
            assert!(
                msg.contains("/etc/slimbox/config.toml"),
                "no file in: {msg}"
            );
        }

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
    fn toml_errors_keep_the_key_and_line() {
        let msg = err(&with_store(
            &ACCOUNT.replace("user =", "pasword = \"x\"\nuser ="),
        ));
        assert!(msg.contains("pasword") && msg.contains("line"), "{msg}");
        let msg = err(&with_store(&format!("[polcy]\nmin_size = 1\n{ACCOUNT}")));
        assert!(msg.contains("polcy"), "{msg}");
        let msg = err(&with_store(
            &ACCOUNT.replace("user =", "tls = \"ssl\"\nuser ="),
        ));
        assert!(msg.contains("ssl") && msg.contains("starttls"), "{msg}");
        let msg = err(ACCOUNT);
        assert!(msg.contains("store"), "{msg}");
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
    fn account_selection() {
        let text = with_store(&format!(
            "{ACCOUNT}{}",
            ACCOUNT.replace("\"me\"", "\"work\"")
        ));
        let c = ok(&text);
        assert_eq!(c.account(None).expect("all").len(), 2);
        let w = c.account(Some("work")).expect("work");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].name, "work");
        let msg = c.account(Some("home")).expect_err("unknown").to_string();
        assert!(msg.contains("home") && msg.contains("me, work"), "{msg}");
    }

    #[test]
    fn inline_password_is_redacted_in_debug() {
        let shown = format!("{:?}", PasswordSource::Inline("hunter2".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn inline_password_warns_when_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let text = with_store(
            &ACCOUNT.replace("password_env = \"MAIL_PASSWORD\"", "password = \"hunter2\""),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).expect("write");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let c = load(Some(&path)).expect("load");
        assert_eq!(c.accounts[0].password.resolve().expect("inline"), "hunter2");
        let w = c.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("chmod 600") && w[0].contains(&path.display().to_string()),
            "{w:?}"
        );
        assert!(
            w[0].contains("password_env") && w[0].contains("me"),
            "{w:?}"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(c.warnings().is_empty());

        // No inline password, no warning, whatever the mode.
        std::fs::write(&path, with_store(ACCOUNT)).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(load(Some(&path)).expect("load").warnings().is_empty());
    }

    #[test]
    fn load_follows_the_search_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(xdg.join("slimbox")).expect("mkdir");
        let text = format!("[store]\nurl = \"store\"\n{ACCOUNT}");
        std::fs::write(xdg.join("slimbox/config.toml"), &text).expect("write");
        let other = dir.path().join("other.toml");
        std::fs::write(&other, &text).expect("write");

        let xdg_s = xdg.to_string_lossy().to_string();
        let env = env_of(&[("XDG_CONFIG_HOME", &xdg_s)]);
        let c = load_with_env(None, &env).expect("xdg");
        assert_eq!(c.path, Some(xdg.join("slimbox/config.toml")));
        assert_eq!(c.store.url, xdg.join("slimbox/store").to_string_lossy());

        let other_s = other.to_string_lossy().to_string();
        let env = env_of(&[("XDG_CONFIG_HOME", &xdg_s), ("SLIMBOX_CONFIG", &other_s)]);
        assert_eq!(
            load_with_env(None, &env).expect("env").path,
            Some(other.clone())
        );
        let explicit = dir.path().join("missing.toml");
        let msg = load_with_env(Some(&explicit), &env)
            .expect_err("missing")
            .to_string();
        assert!(
            msg.contains("missing.toml") && msg.contains("--config"),
            "{msg}"
        );

        let home = dir.path().join("home");
        let home_s = home.to_string_lossy().to_string();
        let env = env_of(&[("HOME", &home_s)]);
        let msg = load_with_env(None, &env).expect_err("none").to_string();
        assert!(msg.contains(".config/slimbox/config.toml"), "{msg}");
        assert!(
            msg.contains("[[account]]") && msg.contains("$SLIMBOX_CONFIG"),
            "{msg}"
        );

        let env = env_of(&[]);
        assert!(matches!(
            load_with_env(None, &env),
            Err(ConfigError::NoConfigDir)
        ));
    }

    #[test]
    fn password_env_resolves() {
        // A variable of our own, so no other test can be affected.
        let var = "SLIMBOX_CONFIG_TEST_PASSWORD_RESOLVES";
        let src = PasswordSource::Env(var.into());
        let msg = src.resolve().expect_err("unset").to_string();
        assert!(msg.contains(var), "{msg}");
        // Changing the process environment is fine here: no other test reads
        // this variable.
        std::env::set_var(var, "s3cret");
        assert_eq!(src.resolve().expect("set"), "s3cret");
        std::env::remove_var(var);
    }

    #[cfg(unix)]
    #[test]
    fn password_command_resolves() {
        let src = PasswordSource::Command("printf secret".into());
        assert_eq!(src.resolve().expect("printf"), "secret");
        let src = PasswordSource::Command("echo 'two words '".into());
        assert_eq!(src.resolve().expect("echo"), "two words ");
        let src = PasswordSource::Command("echo no such entry >&2; exit 3".into());
        let msg = src.resolve().expect_err("fails").to_string();
        assert!(
            msg.contains("no such entry") && msg.contains("exit"),
            "{msg}"
        );
        let src = PasswordSource::Command("true".into());
        assert!(src.resolve().is_err());
    }
}
