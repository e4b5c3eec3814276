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
//!
//! An account logs in with a password (the default) or, with
//! `auth = "xoauth2"` or `"oauthbearer"`, with an OAuth2 access token from
//! `token_command` (or slimbox's own sign-in; see `crate::signin`).
//!
//! The parts: `raw` mirrors the file for serde, `check` turns that into the
//! checked types here (one file per section), `password` fetches passwords,
//! `error` says what went wrong.

mod check;
mod edit;
mod error;
mod oauth;
mod password;
mod provider;
mod raw;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use check::parse_with_env;

/// `stub_format = "text" | "html"`: the engine's own setting.
pub use crate::mime::StubFormat;
pub use check::{database_from_args, parse_age};
pub use edit::{edit_store, set_store_url, EditError, StoreEdit, StoreUrlChange};
pub use error::ConfigError;
pub use oauth::{ClientSecret, OAuthConfig};
pub use password::PasswordSource;
pub use provider::{keeps_deleted_mail, recoverable_items_note, PresetAuth, Provider};

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

/// A validated configuration, with defaults filled in and paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreConfig,
    pub index: IndexConfig,
    pub policy: PolicyConfig,
    /// `[[rule]]`: thresholds for some folders or senders, in file order;
    /// an account's own rules come before these.
    pub rules: Vec<RuleConfig>,
    /// The `[[account]]` tables, in file order; never empty.
    pub accounts: Vec<AccountConfig>,
    /// `[owner_report]`, when on.
    pub owner_report: Option<OwnerReportConfig>,
    /// `[serve]`: where `slimbox serve` listens.
    pub serve: ServeConfig,
    /// `[links]`: signed links, their secret, the stub format.
    pub links: LinksConfig,
    /// `[worker]`: the lease length of `slimbox worker`.
    pub worker: WorkerConfig,
    /// `[retention]`: `store gc`'s grace period.
    pub retention: RetentionConfig,
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
    /// `compress = "zstd"`: the zstd level (`compress_level`, default 3)
    /// new objects of types that compress are stored with; `None`: off.
    pub compress_zstd_level: Option<i32>,
    /// Settings for s3://, az:// and gs:// stores (`Store::open_with`).
    pub remote: crate::store::RemoteOptions,
    /// `world_readable` (default false): a local store's objects and
    /// readable copies readable by every user of the machine (0644 files,
    /// 0755 folders) instead of by the owner and group only (0640, 0750).
    pub world_readable: bool,
    /// `encryption = "age"` (issue 24): where the key comes from; `None`:
    /// objects are stored as they are.
    pub encryption: Option<crate::store::KeySource>,
}

/// `[serve]`: where `slimbox serve` listens, its TLS certificate, and
/// what one connection may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// `listen`, as `host:port` (default [`DEFAULT_LISTEN`]).
    pub listen: String,
    /// `tls_cert` and `tls_key` (PEM), both or neither: with them the
    /// server speaks HTTPS itself; without, plain HTTP (behind a proxy).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `open_on_loopback` (default false): pages open without their signed
    /// link to requests from this machine's loopback. Any local process
    /// then gets every mailbox; only for a machine of one user.
    pub open_on_loopback: bool,
    /// `form_token_max_age` (default [`DEFAULT_FORM_TOKEN_MAX_AGE`]): how
    /// long a page's "put back" buttons stay good after it was shown.
    pub form_token_max_age: Duration,
    /// `max_connections`: served at once; past it a client gets a 503.
    pub max_connections: usize,
    /// `header_timeout`: for a request's head, from connecting or from its
    /// first byte (and for a TLS handshake).
    pub header_timeout: Duration,
    /// `body_timeout`: for a request body (the pages' "put back" form).
    pub body_timeout: Duration,
    /// `idle_timeout`: a kept-alive connection with no request.
    pub idle_timeout: Duration,
    /// `write_timeout`: a response the client takes nothing of.
    pub write_timeout: Duration,
}

/// Default `serve.form_token_max_age`: one hour.
pub const DEFAULT_FORM_TOKEN_MAX_AGE: Duration = Duration::from_secs(3600);

/// Defaults of `[serve]`'s limits: `max_connections`, and the header,
/// body, idle and write timeouts.
pub const DEFAULT_SERVE_MAX_CONNECTIONS: usize = 2048;
pub const DEFAULT_SERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_SERVE_BODY_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_SERVE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_SERVE_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `serve.listen`: loopback only, so a server started by hand is
/// not reachable from the network until someone says so.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8025";

/// `[worker]`: `slimbox worker`'s settings (its queue lives in the
/// PostgreSQL index, `[index] url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// `worker.lease` (default 60 s): a holder that stops renewing loses
    /// its mailbox after this long.
    pub lease: Duration,
}

/// Default `worker.lease`.
pub const DEFAULT_WORKER_LEASE: Duration = Duration::from_secs(60);

/// `[retention]`: reclaiming the store (`store gc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// How long an object must stay unreferenced (from the `store gc` that
    /// first found it so) before a `store gc` deletes it.
    pub grace: Duration,
}

/// Default `retention.grace`: 30 days.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            grace: DEFAULT_GRACE,
        }
    }
}

/// `[index]`: the local SQLite index of what was detached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    /// `index.path`, or the default: `index.sqlite` beside a local store's
    /// folder, else `$XDG_DATA_HOME/slimbox/index.sqlite`.
    pub path: PathBuf,
    /// `index.url`: a shared PostgreSQL index instead of the SQLite file
    /// (`path` then only keeps a store copy's checkpoint).
    pub database: Option<DatabaseConfig>,
}

/// `[index]` of a PostgreSQL index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=...]`, no password.
    pub url: String,
    /// `password_env` or `password_command`; none for trust or certificate
    /// logins.
    pub password: Option<PasswordSource>,
    /// `ca_file`: a private certificate authority for the server's
    /// certificate, beside the system's.
    pub ca_file: Option<PathBuf>,
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
    /// `quota_target`: stop once the mailbox's projected usage is at or
    /// under this share of its quota, in percent; `None`: move everything.
    pub quota_target: Option<u8>,
}

/// `[links]`: what stubs link to and how they look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinksConfig {
    /// `base_url` of `slimbox serve` (no trailing `/`); when set, stubs carry
    /// signed links under it. https, or http only for a loopback host.
    pub base_url: Option<String>,
    /// The secret links are signed with: `secret_file`, or `links.key`
    /// beside the index.
    pub secret_file: PathBuf,
    /// `expires`: how long a signed link stays good; `None`: for ever.
    pub expires: Option<Duration>,
    /// `stub_format`: the stub as text (the default) or as a small HTML page.
    pub stub_format: StubFormat,
    /// `note`: insert the note that lists the moved files with their links
    /// (default true).
    pub note: bool,
    /// `entries`: how each stub's attachment entry looks, `"note"` or
    /// `"original"` (default [`crate::mime::DEFAULT_ENTRIES`]).
    pub entries: crate::mime::Entries,
}

/// One `[[account]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Unique, non-empty; what `--account NAME` selects.
    pub name: String,
    /// The provider preset (`generic` when not set); it has filled in
    /// host, port and TLS where the account left them out.
    pub provider: Provider,
    pub host: String,
    /// `port`, or 993 for implicit TLS and 143 otherwise.
    pub port: u16,
    pub tls: TlsSetting,
    /// Extra trust root (PEM), resolved against the config file's folder.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    /// `auth`: how the account logs in.
    pub auth: AuthSetting,
    /// The password source; set exactly when `auth` is `Password`.
    pub password: Option<PasswordSource>,
    /// `token_command`: prints an access token (`auth` xoauth2 or
    /// oauthbearer).
    pub token_command: Option<String>,
    /// Folder for the no-UIDPLUS fallback; `None`: the `\Trash` special-use
    /// folder.
    pub trash: Option<String>,
    /// `[account.oauth]`: slimbox's own sign-in (`slimbox login`), if set.
    pub oauth: Option<OAuthConfig>,
    /// `email`: where the owner report goes when `user` is no address.
    pub email: Option<String>,
    /// `[[account.rule]]`: this account's rules, tried before `[[rule]]`.
    pub rules: Vec<RuleConfig>,
    /// `master_user`: the administrator who logs in for `user` (`auth =
    /// "master"` as `user*admin`, or `"plain"` as SASL PLAIN's authcid).
    pub master_user: Option<String>,
    /// `max_connections` of its server: at most this many connections to
    /// that server at once across a `run --all` ([`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: u32,
    /// This mailbox's own folders, min_size, older_than (accounts_file).
    pub overrides: PolicyOverrides,
    /// Where the account is defined (`accounts.csv line 3`), for messages.
    pub origin: String,
}

impl AccountConfig {
    /// The mailbox owner's address: `email`, else the login name when it is
    /// an address (as it is at most providers).
    pub fn owner_address(&self) -> Option<&str> {
        self.email
            .as_deref()
            .or_else(|| self.user.contains('@').then_some(self.user.as_str()))
    }
}

/// `[owner_report]`: after a run that moved something, each owner gets a
/// short message in their INBOX (or sent to them over SMTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerReportConfig {
    /// `From`; `None`: the owner's own address, named "slimbox". Always set
    /// with SMTP delivery, where it is the envelope sender too.
    pub from: Option<String>,
    /// `delivery`: how the report reaches its owner.
    pub delivery: ReportDelivery,
}

/// `[owner_report] delivery = "inbox" | "smtp"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReportDelivery {
    /// APPENDed into the owner's INBOX over the run's own IMAP login (the
    /// default: no relay needed).
    #[default]
    Inbox,
    /// Sent through an SMTP server (`[owner_report.smtp]`).
    Smtp(SmtpConfig),
}

/// `[owner_report.smtp]`: the server the owner reports are sent through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    /// `port`, or 587 (465 with `tls = "implicit"`).
    pub port: u16,
    pub tls: SmtpTls,
    /// Extra trust root (PEM), resolved against the config file's folder.
    pub ca_file: Option<PathBuf>,
    /// `user` and its password source, when the server wants AUTH.
    pub login: Option<(String, PasswordSource)>,
}

/// `[owner_report.smtp] tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, required (submission, 587).
    #[default]
    StartTls,
    /// TLS from the first byte (submissions, 465).
    Implicit,
    /// No TLS: only to a loopback host (a local relay).
    None,
}

/// One `[[rule]]` (or `[[account.rule]]`): which messages it is about, and
/// the `[policy]` values it replaces for them. The first rule that matches
/// a message applies; a message no rule matches gets `[policy]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// `rule[0]` or `account[1].rule[0]`: how errors and notes name it.
    pub name: String,
    /// Folders as in `policy.folders`; `None`: the policy's folders.
    pub folders: Option<Vec<String>>,
    /// Address globs (`*@example.com`), any sender matching any of them;
    /// empty: any sender.
    pub from: Vec<String>,
    /// Address globs matched against To and Cc; empty: any recipient.
    pub to: Vec<String>,
    /// Replaces `policy.min_size`.
    pub min_size: Option<u64>,
    /// Replaces `policy.older_than`.
    pub older_than: Option<Duration>,
    /// Replaces `policy.include_types`.
    pub types: Option<Vec<String>>,
    /// Replaces `policy.quota_target` for the messages of this rule.
    pub quota_target: Option<u8>,
}

/// Default `max_connections` per server: Dovecot's per user and IP limit
/// is 10 (`mail_max_userip_connections`); a master user counts as one.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// What one account sets instead of `[policy]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyOverrides {
    pub folders: Option<Vec<String>>,
    pub min_size: Option<u64>,
    pub older_than: Option<Duration>,
    /// Replaces `policy.quota_target` (issue 25).
    pub quota_target: Option<u8>,
    /// `quota`: what 100 % is where the server has no QUOTA (Microsoft
    /// 365), in bytes.
    pub quota: Option<u64>,
}

impl AccountConfig {
    /// The name the server sees at login: `user*admin` for a master user
    /// login (Dovecot's `auth_master_user_separator`), else `user`.
    pub fn login_name(&self) -> String {
        match (&self.auth, &self.master_user) {
            (AuthSetting::Master, Some(admin)) => format!("{}*{admin}", self.user),
            _ => self.user.clone(),
        }
    }
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

/// How an account logs in (`auth = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthSetting {
    /// LOGIN with a password (the default).
    #[default]
    Password,
    /// SASL XOAUTH2 with an OAuth2 access token (Gmail, Microsoft).
    #[serde(rename = "xoauth2")]
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token.
    #[serde(rename = "oauthbearer")]
    OAuthBearer,
    /// LOGIN as `user*master_user` with the master user's password.
    Master,
    /// SASL PLAIN as `master_user` (authcid) for `user` (authzid), with
    /// the master user's password.
    Plain,
}

impl AuthSetting {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSetting::Password => "password",
            AuthSetting::XOAuth2 => "xoauth2",
            AuthSetting::OAuthBearer => "oauthbearer",
            AuthSetting::Master => "master",
            AuthSetting::Plain => "plain",
        }
    }
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
            .filter(|a| matches!(a.password, Some(PasswordSource::Inline(_))))
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
        if self.policy.link_template.is_some() && self.links.base_url.is_some() {
            out.push(format!(
                "{}: both [policy] link_template and [links] base_url are set; stubs get                  link_template's links (it wins); remove it for signed links",
                self.file_name()
            ));
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
    use super::test_support::*;
    use super::*;

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
        let password = c.accounts[0].password.as_ref().expect("password source");
        assert_eq!(password.resolve().expect("inline"), "hunter2");
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
}
