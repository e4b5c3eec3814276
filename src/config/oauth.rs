//! `[account.oauth]`: the settings of slimbox's own sign-in (`slimbox login`,
//! app-only client credentials, a Google service account). Checked in
//! `check::oauth`; used by `crate::signin`.

use std::path::PathBuf;

/// Microsoft's tenant when none is written: any work, school or personal
/// account.
pub const DEFAULT_TENANT: &str = "common";

/// A checked `[account.oauth]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The app's client ID; `None` only with `service_account_file` (the key
    /// file names its own).
    pub client_id: Option<String>,
    /// Where the provider needs one (Google desktop apps, app-only access).
    pub client_secret: Option<ClientSecret>,
    /// Microsoft's tenant (ID or domain); [`DEFAULT_TENANT`] when not set.
    pub tenant: String,
    /// Where the refresh token is kept: `token_file`, or
    /// `<index folder>/tokens/<account>.json`.
    pub token_file: PathBuf,
    /// Microsoft 365 app-only access (client credentials): no user signs in,
    /// the account's `user` is the mailbox the app acts on.
    pub app_only: bool,
    /// A Google service account's key file (domain-wide delegation).
    pub service_account_file: Option<PathBuf>,
    /// Endpoint overrides; the provider's own when `None`.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
    /// Scopes to ask for; the provider's own when `None`. Never empty.
    pub scopes: Option<Vec<String>>,
}

/// Where the client secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// `client_secret = "…"` (Google's desktop-app "secret" is not one: it
    /// ships inside every installed copy, so the config may hold it).
    Inline(String),
    /// `client_secret_env = "VAR"`.
    Env(String),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSecret::Inline(_) => f.write_str("Inline(..)"),
            ClientSecret::Env(var) => f.debug_tuple("Env").field(var).finish(),
        }
    }
}
