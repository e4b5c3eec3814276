//! The token file: a signed-in user's refresh token (and the last access
//! token, so a second run within the hour does not refresh), readable only
//! by the user (0600, in a folder slimbox creates 0700), written atomically
//! so a crash never leaves half a refresh token.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::OAuthError;

/// Refresh this long before the provider's expiry, so a token handed out
/// does not expire on its way to the server.
pub(super) const EXPIRY_MARGIN_SECS: u64 = 60;

/// Assumed lifetime of an access token whose answer had no `expires_in`.
pub(super) const DEFAULT_LIFETIME_SECS: u64 = 600;

/// What the token file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredTokens {
    /// The app and provider the tokens belong to: a file from another app
    /// (client_id or token_url changed) is useless, and says so.
    pub(super) client_id: String,
    pub(super) token_url: String,
    pub(super) refresh_token: String,
    pub(super) access_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub(super) expires_at: u64,
    /// Seconds the access token was valid for when obtained.
    #[serde(default)]
    pub(super) lifetime: u64,
}

impl StoredTokens {
    /// The access token, if it is still good at `now` (Unix seconds).
    pub(super) fn fresh_access_token(&self, now: u64) -> Option<&str> {
        let token = self.access_token.as_deref()?;
        still_good(self.expires_at, self.lifetime, now).then_some(token)
    }
}

/// An access token kept in memory only (app-only and service-account
/// tokens: nothing to keep between runs).
#[derive(Debug, Clone)]
pub(super) struct MemoryToken {
    pub(super) token: String,
    pub(super) expires_at: u64,
    pub(super) lifetime: u64,
}

impl MemoryToken {
    /// A token obtained at `now`, valid `expires_in`.
    pub(super) fn new(token: String, now: u64, expires_in: Option<std::time::Duration>) -> Self {
        let (expires_at, lifetime) = expiry(now, expires_in);
        MemoryToken {
            token,
            expires_at,
            lifetime,
        }
    }

    pub(super) fn fresh(&self, now: u64) -> Option<&str> {
        still_good(self.expires_at, self.lifetime, now).then_some(self.token.as_str())
    }
}

/// A token that expires at `expires_at` after living `lifetime` seconds is
/// still good at `now`: not within the margin of its expiry. The margin is
/// at most half the lifetime, so short-lived tokens are still used.
fn still_good(expires_at: u64, lifetime: u64, now: u64) -> bool {
    let margin = EXPIRY_MARGIN_SECS.min(lifetime / 2);
    now.saturating_add(margin) < expires_at
}

/// When a token obtained at `now` that lives `expires_in` seconds expires,
/// and its lifetime.
pub(super) fn expiry(now: u64, expires_in: Option<std::time::Duration>) -> (u64, u64) {
    let lifetime = expires_in.map_or(DEFAULT_LIFETIME_SECS, |d| d.as_secs());
    (now.saturating_add(lifetime), lifetime)
}

/// Unix seconds now.
pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the token file; `Ok(None)` when there is none.
pub(super) fn load(account: &str, path: &Path) -> Result<Option<StoredTokens>, OAuthError> {
    let read_err = |reason: String| OAuthError::TokenFileRead {
        account: account.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e.to_string())),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| read_err(format!("not a slimbox token file ({e})")))
}

/// Writes the token file atomically, 0600; creates its folder 0700.
pub(super) fn save(path: &Path, tokens: &StoredTokens) -> Result<(), OAuthError> {
    let write_err = |source: std::io::Error| OAuthError::TokenFileWrite {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    crate::private::create_private_dir(dir).map_err(write_err)?;
    let data = serde_json::to_vec_pretty(tokens).map_err(|e| write_err(e.into()))?;
    // A NamedTempFile is created 0600 and in the same folder, so the
    // rename is atomic and the secret is never readable by others, not
    // even for a moment.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_err)?;
    }
    tmp.write_all(&data).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    // The rename itself is durable once the folder is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tokens(refresh: &str) -> StoredTokens {
        StoredTokens {
            client_id: "id".into(),
            token_url: "https://t/token".into(),
            refresh_token: refresh.into(),
            access_token: Some("at".into()),
            expires_at: 1000,
            lifetime: 3600,
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn saved_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens/sub/me.json");
        assert_eq!(load("me", &path).expect("no file"), None);
        save(&path, &tokens("r1")).expect("save");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("tokens")), 0o700);
        assert_eq!(mode(&dir.path().join("tokens/sub")), 0o700);
        assert_eq!(load("me", &path).expect("load"), Some(tokens("r1")));

        // Replaced whole: the old content is gone, nothing else is left in
        // the folder, and the mode stays 0600 even if someone widened it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        save(&path, &tokens("r2")).expect("save again");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            load("me", &path)
                .expect("load")
                .expect("some")
                .refresh_token,
            "r2"
        );
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["me.json"]);
    }

    #[test]
    fn an_existing_folder_keeps_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let path = dir.path().join("me.json");
        save(&path, &tokens("r")).expect("save");
        assert_eq!(mode(dir.path()), 0o755);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_damaged_file_says_to_log_in_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("me.json");
        std::fs::write(&path, "{\"refresh_tok").expect("write");
        let msg = load("me", &path).expect_err("damaged").to_string();
        assert!(msg.contains("slimbox login me"), "{msg}");
    }

    #[test]
    fn expiry_margin() {
        let t = tokens("r"); // expires at 1000, lived an hour
        assert_eq!(t.fresh_access_token(900), Some("at"));
        assert_eq!(t.fresh_access_token(939), Some("at"));
        assert_eq!(t.fresh_access_token(940), None);
        assert_eq!(t.fresh_access_token(2000), None);
        // A 10-second token: the margin shrinks to 5 s.
        let short = StoredTokens {
            expires_at: 110,
            lifetime: 10,
            ..tokens("r")
        };
        assert_eq!(short.fresh_access_token(104), Some("at"));
        assert_eq!(short.fresh_access_token(105), None);
        let none = StoredTokens {
            access_token: None,
            ..tokens("r")
        };
        assert_eq!(none.fresh_access_token(0), None);
        assert_eq!(
            expiry(100, Some(std::time::Duration::from_secs(3600))),
            (3700, 3600)
        );
        assert_eq!(expiry(100, None), (700, 600));
    }
}
