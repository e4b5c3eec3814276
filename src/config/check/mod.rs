//! Checking: turns the raw file into a [`Config`], one section at a time
//! (`store` and `index` here, `policy` and `account` in their own files),
//! with every error naming the file and the key.

mod account;
mod compress;
mod encryption;
mod fleet;
mod index;
mod links;
mod oauth;
mod owner_report;
mod policy;
mod retention;
mod rules;
mod serve;
mod size;
mod target;
mod worker;

use std::path::{Path, PathBuf};

use account::account_config;
use index::index_config;
use policy::policy_config;
use rules::rules_config;

use super::raw::{RawAccount, RawConfig, RawOwnerReport, RawServer, RawStore};
use super::{
    env_nonempty, AccountConfig, Config, ConfigError, Env, IndexConfig, OwnerReportConfig,
    StoreConfig,
};

pub use index::database_from_args;
pub use policy::parse_age;

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

/// [`super::parse`] with the environment as a parameter, for tests.
pub(super) fn parse_with_env(
    text: &str,
    path: Option<&Path>,
    env: Env,
) -> Result<Config, ConfigError> {
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
    let (mut store, local_store) = store_config(&ctx, raw_store)?;
    store.compress_zstd_level = compress::compress_level(&ctx, raw_store)?;
    store.encryption = encryption::encryption(&ctx, raw_store)?;
    let index = index_config(&ctx, &raw.index, local_store.as_deref())?;
    let policy = policy_config(&ctx, raw.policy)?;
    let rules = rules_config(&ctx, "rule", raw.rules)?;
    let links = links::links_config(&ctx, raw.links, &index.path)?;
    encryption::needs_served_links(
        &ctx,
        store.encryption.is_some(),
        links.base_url.is_some(),
        policy.link_template.is_some(),
    )?;
    let serve = serve::serve_config(&ctx, &raw.serve)?;
    let worker = worker::worker_config(&ctx, &raw.worker)?;
    let retention = retention::retention_config(&ctx, raw.retention)?;

    let accounts = accounts(
        &ctx,
        text,
        path,
        raw.accounts,
        raw.server,
        raw.accounts_file,
        &index,
    )?;

    let owner_report = owner_report_config(&ctx, raw.owner_report, &accounts)?;
    Ok(Config {
        store,
        index,
        policy,
        rules,
        accounts,
        owner_report,
        serve,
        links,
        worker,
        retention,
        path: path.map(Path::to_path_buf),
    })
}

/// `[owner_report]`: on unless `enabled = false`; every address it will
/// use must be one, so a typo shows now and not after a night's run.
fn owner_report_config(
    ctx: &Ctx,
    raw: Option<RawOwnerReport>,
    accounts: &[AccountConfig],
) -> Result<Option<OwnerReportConfig>, ConfigError> {
    let Some(mut raw) = raw.filter(|r| r.enabled != Some(false)) else {
        return Ok(None);
    };
    let delivery = owner_report::delivery(ctx, &mut raw)?;
    let is_address = |a: &str| a.parse::<lettre::message::Mailbox>().is_ok();
    if let Some(from) = raw.from.as_deref().filter(|f| !is_address(f)) {
        return Err(ctx.err(
            "owner_report.from",
            format!("{from:?} is not an email address; write one like \"IT <it@example.com>\""),
        ));
    }
    for (i, a) in accounts.iter().enumerate() {
        let Some(to) = a.owner_address() else {
            return Err(ctx.err(
                format!("account[{i}].email"),
                format!(
                    "is needed for the owner report: the login name {:?} is no email address; \
                     write the owner's address, or set [owner_report] enabled = false",
                    a.user
                ),
            ));
        };
        if !is_address(to) {
            return Err(ctx.err(
                format!("account[{i}].email"),
                format!("{to:?} is not an email address for the owner report"),
            ));
        }
    }
    Ok(Some(OwnerReportConfig {
        from: raw.from,
        delivery,
    }))
}

/// The `[[account]]` tables and the accounts file's rows, each completed
/// from `[server]` and checked; no name or mailbox twice.
fn accounts(
    ctx: &Ctx,
    text: &str,
    path: Option<&Path>,
    tables: Vec<RawAccount>,
    server: Option<RawServer>,
    accounts_file: Option<String>,
    index: &IndexConfig,
) -> Result<Vec<AccountConfig>, ConfigError> {
    let mut raws = tables;
    let config_file = path.unwrap_or(Path::new("config"));
    for a in &mut raws {
        a.origin = Some((
            config_file.display().to_string(),
            fleet::line_of(text, a.name.span().start),
        ));
    }
    if let Some(f) = &accounts_file {
        raws.extend(fleet::accounts_file(ctx, f)?);
    }
    if raws.is_empty() {
        return Err(ctx.err(
            "account",
            "no [[account]] is configured; add one, for example:\n\n\
             [[account]]\nname = \"me\"\nhost = \"imap.example.com\"\n\
             user = \"me@example.com\"\npassword_env = \"MAIL_PASSWORD\"",
        ));
    }
    let mut accounts = Vec::with_capacity(raws.len());
    for (i, mut a) in raws.into_iter().enumerate() {
        if let Some(server) = &server {
            fleet::merge_server(server, &mut a);
        }
        let (file, line) = a.origin.take().unwrap_or_default();
        let origin = fleet::origin(Path::new(&file), line);
        let at = |e: ConfigError| match e {
            ConfigError::Invalid { file, key, problem } => ConfigError::Invalid {
                file,
                key: format!("{key} at {origin}"),
                problem,
            },
            other => other,
        };
        let raw_oauth = a.oauth.take();
        let raw_rules = std::mem::take(&mut a.rules);
        let mut account = account_config(ctx, i, a, raw_oauth.is_some()).map_err(at)?;
        account.rules = rules_config(ctx, &format!("account[{i}].rule"), raw_rules).map_err(at)?;
        if let Some(o) = raw_oauth {
            account.oauth =
                Some(oauth::oauth_config(ctx, i, &account.name, &index.path, o).map_err(at)?);
        }
        account.origin = origin.clone();
        accounts.push(account);
    }
    fleet::check_duplicates(ctx, &accounts, server.is_some() || accounts_file.is_some())?;
    Ok(accounts)
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
                    compress_zstd_level: None,
                    remote: remote_options(raw),
                    world_readable: raw.world_readable,
                    encryption: None,
                },
                local,
            ))
        }
        _ => {
            let dir = ctx.resolve_path(key, url)?;
            let url = path_string(ctx, key, &dir)?;
            Ok((
                StoreConfig {
                    url,
                    compress_zstd_level: None,
                    remote: remote_options(raw),
                    world_readable: raw.world_readable,
                    encryption: None,
                },
                Some(dir),
            ))
        }
    }
}

/// Checked when the store opens (`store::Store::open_with`), where each
/// refusal names its key; a local store ignores them.
fn remote_options(raw: &RawStore) -> crate::store::RemoteOptions {
    crate::store::RemoteOptions {
        endpoint: raw.endpoint.clone(),
        region: raw.region.clone(),
        path_style: raw.path_style,
        allow_http: raw.allow_http,
        account: raw.account.clone(),
        access_key_id_env: raw.access_key_id_env.clone(),
        secret_access_key_env: raw.secret_access_key_env.clone(),
        credentials_command: raw.credentials_command.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use crate::config::{PasswordSource, TlsSetting};
    use std::time::Duration;

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
        assert_eq!(
            a.password,
            Some(PasswordSource::Env("MAIL_PASSWORD".into()))
        );
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
        assert_eq!(
            a.password,
            Some(PasswordSource::Command("pass show mail".into()))
        );
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

    /// Every validation failure names its key (accounts: see
    /// `account::tests::account_validation_errors_name_the_key`).
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
    fn issue13_the_owner_report_checks_its_addresses() {
        let c = ok(&with_store(&format!("{ACCOUNT}\n[owner_report]\n")));
        assert_eq!(
            c.owner_report,
            Some(OwnerReportConfig {
                from: None,
                delivery: crate::config::ReportDelivery::Inbox
            })
        );
        assert_eq!(c.accounts[0].owner_address(), Some("me@example.com"));
        let off = ok(&with_store(&format!(
            "{ACCOUNT}\n[owner_report]\nenabled = false\n"
        )));
        assert_eq!(off.owner_report, None);
        let msg = err(&with_store(&format!(
            "{ACCOUNT}\n[owner_report]\nfrom = \"it at example\"\n"
        )));
        assert!(msg.contains("owner_report.from"), "{msg}");
        let plain_user = ACCOUNT.replace("user = \"me@example.com\"", "user = \"me\"");
        let msg = err(&with_store(&format!("{plain_user}\n[owner_report]\n")));
        assert!(
            msg.contains("account[0].email") && msg.contains("\"me\""),
            "{msg}"
        );
        let with_email = format!("{plain_user}email = \"me@example.com\"\n[owner_report]\n");
        assert_eq!(
            ok(&with_store(&with_email)).accounts[0].owner_address(),
            Some("me@example.com")
        );
    }
}
