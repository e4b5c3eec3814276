//! The file as written: structs that mirror the TOML one to one, for serde.
//!
//! `deny_unknown_fields` turns a misspelt key into an error naming it instead
//! of a silently ignored line. Values needing more than a type check stay
//! loose here and are checked in `check`, where the key can be named in the
//! message.

use serde::Deserialize;

use super::{AuthSetting, Provider, TlsSetting};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// Optional here only so that its absence gets a message with an example.
    pub(super) store: Option<RawStore>,
    #[serde(default)]
    pub(super) index: RawIndex,
    #[serde(default)]
    pub(super) policy: RawPolicy,
    #[serde(default, rename = "account")]
    pub(super) accounts: Vec<RawAccount>,
    pub(super) owner_report: Option<RawOwnerReport>,
    /// `[[rule]]` tables, loose so that an error can name the rule by its
    /// number (checked in `check::rules`).
    #[serde(default, rename = "rule")]
    pub(super) rules: Vec<toml::Table>,
    #[serde(default)]
    pub(super) serve: RawServe,
    #[serde(default)]
    pub(super) links: RawLinks,
    /// `[retention]`: how `store gc` reclaims (checked in `check::retention`).
    #[serde(default)]
    pub(super) retention: RawRetention,
    /// `[server]`: what every account leaves out (see `check::fleet`).
    pub(super) server: Option<RawServer>,
    /// More accounts, one per row or table, in a CSV or TOML file.
    pub(super) accounts_file: Option<String>,
    /// `[worker]`: the lease length (see `check::worker`).
    #[serde(default)]
    pub(super) worker: RawWorker,
}

/// `[worker]`: how long a lease on a mailbox lasts without a heartbeat
/// (the queue itself lives in the PostgreSQL index, `[index] url`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorker {
    pub(super) lease: Option<String>,
}

/// `[owner_report]`: a message to each mailbox's owner after a run that
/// moved something.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOwnerReport {
    /// Present but `false`: written down, switched off.
    pub(super) enabled: Option<bool>,
    pub(super) from: Option<String>,
    /// `"inbox"` or `"smtp"` (checked in `check::owner_report`).
    pub(super) delivery: Option<String>,
    pub(super) smtp: Option<RawSmtp>,
}

/// `[owner_report.smtp]`: the server for `delivery = "smtp"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
}

/// `[links]`: how stubs link to their files (checked in `check::links`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinks {
    pub(super) base_url: Option<String>,
    pub(super) secret_file: Option<String>,
    pub(super) expires: Option<toml::Value>,
    pub(super) stub_format: Option<String>,
    pub(super) note: Option<bool>,
    pub(super) entries: Option<String>,
}

/// `[retention]`: how long an object stays unreferenced before `store gc`
/// deletes it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub(super) grace: Option<toml::Value>,
}

/// `[server]`: one server template the accounts share; an account's own
/// key wins.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) provider: Option<Provider>,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<TlsSetting>,
    pub(super) ca_file: Option<String>,
    pub(super) auth: Option<AuthSetting>,
    pub(super) master_user: Option<String>,
    pub(super) token_command: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) password: Option<String>,
    pub(super) trash: Option<String>,
    pub(super) max_connections: Option<i64>,
    pub(super) oauth: Option<RawOAuth>,
}

/// An accounts file in TOML: `[[account]]` tables, as in the config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccountsFile {
    #[serde(default, rename = "account")]
    pub(super) accounts: Vec<RawAccount>,
}

/// `[serve]`: `slimbox serve`'s address and optional TLS.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub(super) listen: Option<String>,
    pub(super) tls_cert: Option<String>,
    pub(super) tls_key: Option<String>,
    #[serde(default)]
    pub(super) open_on_loopback: bool,
    pub(super) form_token_max_age: Option<toml::Value>,
    pub(super) max_connections: Option<i64>,
    /// Durations such as `"30s"` (checked in `check`).
    pub(super) header_timeout: Option<toml::Value>,
    pub(super) body_timeout: Option<toml::Value>,
    pub(super) idle_timeout: Option<toml::Value>,
    pub(super) write_timeout: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: String,
    /// `"zstd"` or `"none"` (checked in `check`).
    pub(super) compress: Option<String>,
    pub(super) compress_level: Option<i64>,
    /// Remote stores (s3://, az://, gs://): see `store::RemoteOptions`.
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) path_style: Option<bool>,
    #[serde(default)]
    pub(super) allow_http: bool,
    pub(super) account: Option<String>,
    pub(super) access_key_id_env: Option<String>,
    pub(super) secret_access_key_env: Option<String>,
    pub(super) credentials_command: Option<String>,
    #[serde(default)]
    pub(super) world_readable: bool,
    /// `"age"` or `"none"` (checked in `check::encryption`).
    pub(super) encryption: Option<String>,
    pub(super) encryption_key_file: Option<String>,
    pub(super) encryption_key_command: Option<String>,
    pub(super) encryption_key_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIndex {
    pub(super) path: Option<String>,
    /// A PostgreSQL index (issue 22), checked in `check::index`.
    pub(super) url: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) ca_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    /// A string ("1MiB") or an integer (bytes), hence a loose value.
    pub(super) min_size: Option<toml::Value>,
    /// Loose so that `older_than = 30` gets "add a unit" rather than a type error.
    pub(super) older_than: Option<toml::Value>,
    pub(super) folders: Option<Vec<String>>,
    #[serde(default)]
    pub(super) include_types: Vec<String>,
    #[serde(default)]
    pub(super) exclude_types: Vec<String>,
    #[serde(default)]
    pub(super) detach_signed: bool,
    pub(super) link_template: Option<String>,
    /// `"80%"` (issue 25), checked in `check::target`.
    pub(super) quota_target: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    /// Spanned: a duplicate name is reported with both lines.
    pub(super) name: toml::Spanned<String>,
    /// `provider = "gmail"` etc.: fills host, port and TLS when not given.
    pub(super) provider: Option<Provider>,
    /// Optional only when a provider preset supplies it.
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    /// `None`: the preset's (implicit TLS for every preset and without one).
    pub(super) tls: Option<TlsSetting>,
    pub(super) ca_file: Option<String>,
    pub(super) user: String,
    /// `None`: "password" when a password key is given, else the preset's.
    pub(super) auth: Option<AuthSetting>,
    pub(super) token_command: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) password: Option<String>,
    pub(super) trash: Option<String>,
    /// The owner's address for the owner report, when `user` is none.
    pub(super) email: Option<String>,
    /// `[account.oauth]`: slimbox's own sign-in (checked in `check::oauth`).
    pub(super) oauth: Option<RawOAuth>,
    /// `[[account.rule]]`: rules for this account alone (`check::rules`).
    #[serde(default, rename = "rule")]
    pub(super) rules: Vec<toml::Table>,
    /// The administrator of `auth = "master"` / `"plain"`.
    pub(super) master_user: Option<String>,
    pub(super) max_connections: Option<i64>,
    /// Policy overrides for this mailbox (checked in `check::fleet`).
    pub(super) folders: Option<Vec<String>>,
    pub(super) min_size: Option<toml::Value>,
    pub(super) older_than: Option<toml::Value>,
    /// `quota_target` and the mailbox's `quota` (issue 25).
    pub(super) quota_target: Option<toml::Value>,
    pub(super) quota: Option<toml::Value>,
    /// Where it came from when not the config itself: (file, line).
    #[serde(skip)]
    pub(super) origin: Option<(String, usize)>,
}

/// `[account.oauth]`: where slimbox's own sign-in gets its tokens.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth {
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) client_secret_env: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) token_file: Option<String>,
    #[serde(default)]
    pub(super) app_only: bool,
    pub(super) service_account_file: Option<String>,
    pub(super) authorize_url: Option<String>,
    pub(super) token_url: Option<String>,
    pub(super) device_url: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
}

/// One `[[rule]]` or `[[account.rule]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) folders: Option<Vec<String>>,
    pub(super) from: Option<Vec<String>>,
    pub(super) to: Option<Vec<String>>,
    /// As `policy.min_size`.
    pub(super) min_size: Option<toml::Value>,
    /// As `policy.older_than`.
    pub(super) older_than: Option<toml::Value>,
    /// As `policy.include_types`.
    pub(super) types: Option<Vec<String>>,
    /// As `policy.quota_target`.
    pub(super) quota_target: Option<toml::Value>,
}

impl RawAccount {
    /// An account with only a name (an accounts CSV row fills the rest).
    pub(super) fn named(name: String) -> RawAccount {
        RawAccount {
            name: toml::Spanned::new(0..0, name),
            provider: None,
            host: None,
            port: None,
            tls: None,
            ca_file: None,
            user: String::new(),
            auth: None,
            token_command: None,
            password_env: None,
            password_command: None,
            password: None,
            trash: None,
            oauth: None,
            master_user: None,
            max_connections: None,
            folders: None,
            min_size: None,
            older_than: None,
            quota_target: None,
            quota: None,
            origin: None,
            email: None,
            rules: Vec::new(),
        }
    }
}
