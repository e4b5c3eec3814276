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
    #[serde(default)]
    pub(super) serve: RawServe,
    #[serde(default)]
    pub(super) links: RawLinks,
}

/// `[serve]`: `slimbox serve`'s address and optional TLS.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub(super) listen: Option<String>,
    pub(super) tls_cert: Option<String>,
    pub(super) tls_key: Option<String>,
}

/// `[links]`: the secret file links are signed with.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinks {
    pub(super) secret_file: Option<String>,
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIndex {
    pub(super) path: Option<String>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: String,
    /// `provider = "gmail"` etc.: fills host, port and TLS when not given.
    #[serde(default)]
    pub(super) provider: Provider,
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
    /// `[account.oauth]`: slimbox's own sign-in (checked in `check::oauth`).
    pub(super) oauth: Option<RawOAuth>,
}

/// `[account.oauth]`: where slimbox's own sign-in gets its tokens.
#[derive(Deserialize)]
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
