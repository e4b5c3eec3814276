//! What `scan` and `run` share: the config, the store and index it names,
//! connecting to an account, claiming its mailbox, the job policy, and
//! printing tables.

use anyhow::Context;

use std::sync::Arc;

use crate::config::{AccountConfig, AuthSetting, Config, TlsSetting};
use crate::imap::{ImapAuth, ImapConfig, OAuthMechanism, Session, TlsMode};
use crate::lock::{Claim, LockError, Locks, Mailbox};
use crate::pipeline::select::SelectPolicy;
use crate::pipeline::JobPolicy;
use crate::store::Store;

/// Loads the config and prints its warnings.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = crate::config::load(path)?;
    for w in config.warnings() {
        eprintln!("slimbox: warning: {w}");
    }
    Ok(config)
}

/// A config that cannot work: said on stderr, exit status 2 (as clap
/// does for a wrong command line), so a scheduler can tell "fix the
/// config" from "some mailbox failed".
pub fn config_error(e: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("slimbox: error: {e:#}");
    std::process::ExitCode::from(2)
}

pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let compression = crate::store::Compression::from_zstd_level(config.store.compress_zstd_level);
    let store = Store::open_with(&config.store.url, &config.store.remote)?
        .with_compression(compression)
        .with_world_readable(config.store.world_readable)?;
    Ok(match &config.store.encryption {
        Some(source) => store.with_encryption(crate::store::Keys::load(source)?),
        None => store,
    })
}

pub fn job_policy(config: &Config, store: &Store, account: &AccountConfig) -> JobPolicy {
    let p = &config.policy;
    // An account's own folders, min_size, older_than win (accounts_file).
    let o = &account.overrides;
    JobPolicy {
        select: SelectPolicy {
            min_size: o.min_size.unwrap_or(p.min_size),
            include_types: p.include_types.clone(),
            exclude_types: p.exclude_types.clone(),
            detach_signed: p.detach_signed,
        },
        older_than: o.older_than.or(p.older_than),
        folders: o.folders.clone().unwrap_or_else(|| p.folders.clone()),
        link_template: p
            .link_template
            .clone()
            .unwrap_or_else(|| store.default_link_template()),
        links: crate::mime::Links::Template,
        stub_format: config.links.stub_format,
        note: config.links.note,
        entries: config.links.entries,
        // Without a server, a local store's stubs link to readable copies;
        // an explicit link_template always wins.
        readable_copies: p.link_template.is_none()
            && config.links.base_url.is_none()
            && store.local_root().is_some(),
        trash: account.trash.clone(),
        provider: account.provider,
        rules: crate::pipeline::rules::for_account(p, &config.rules, &account.rules),
        ahead_floor: crate::pipeline::AHEAD_MIN_BUDGET,
        fetch_ahead: true,
        quota_target: o.quota_target.or(p.quota_target),
        quota_limit: o.quota,
    }
}

/// Signed links for `policy` when `[links] base_url` is set (and no
/// explicit `link_template` overrides it): reads the secret, creating it on
/// first use. Only `run`, which writes stubs, needs this.
pub fn with_signed_links(config: &Config, mut policy: JobPolicy) -> anyhow::Result<JobPolicy> {
    if let Some(links) = signed_links(config)? {
        policy.links = crate::mime::Links::Signed(links);
    }
    Ok(policy)
}

/// `[links]` as the detach engine takes it; `None` without a base_url or
/// when `[policy] link_template` is set.
pub fn signed_links(config: &Config) -> anyhow::Result<Option<crate::mime::SignedLinks>> {
    let (Some(base), None) = (&config.links.base_url, &config.policy.link_template) else {
        return Ok(None);
    };
    let secret = crate::links::Secret::load_or_create(&config.links.secret_file)?;
    let expires = crate::links::expires_after(config.links.expires);
    Ok(Some(crate::mime::SignedLinks {
        secret: Arc::new(secret),
        base: base.clone(),
        expires,
    }))
}

/// The secret owner reports sign page links with: read once per run, and
/// only when `[links] base_url` is set. `None` (with a warning) when it
/// cannot be read: the reports then name the commands.
pub fn page_secret(config: &Config) -> Option<crate::links::Secret> {
    config.links.base_url.as_ref()?;
    crate::links::Secret::load_or_create(&config.links.secret_file)
        .map_err(|e| tracing::warn!("owner reports name the commands, not the page: {e}"))
        .ok()
}

/// How the owner report tells `account`'s owner to get files back: their
/// self-service page when `[links] base_url` is set (a signed page link,
/// expiring with `[links] expires`), else the commands.
pub fn way_back(
    config: &Config,
    secret: Option<&crate::links::Secret>,
    account: &AccountConfig,
) -> crate::notify::WayBack {
    match (&config.links.base_url, secret) {
        (Some(base), Some(secret)) => crate::notify::WayBack::Page(secret.page_link(
            base,
            &account.name,
            crate::links::expires_after(config.links.expires),
        )),
        _ => crate::notify::WayBack::Commands {
            account: account.name.clone(),
        },
    }
}

/// A signed link to `account`'s self-service page under `base`; the
/// account must be in the config.
pub fn page_link(
    config: &Config,
    base: &str,
    account: &str,
    expires: Option<u64>,
) -> anyhow::Result<String> {
    if !config.accounts.iter().any(|a| a.name == account) {
        let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        anyhow::bail!(
            "no account {account:?} in the config; its accounts are: {}",
            names.join(", ")
        );
    }
    let secret = crate::links::Secret::load_or_create(&config.links.secret_file)
        .context("cannot sign the page link")?;
    Ok(secret.page_link(base, account, expires))
}

pub async fn connect(account: &AccountConfig) -> anyhow::Result<Session> {
    let cfg = imap_config(account)?;
    Session::connect(&cfg)
        .await
        .with_context(|| format!("account {}", account.name))
}

/// How to reach an account: the password resolved once, here; an access
/// token asked of its source at each connection.
pub fn imap_config(account: &AccountConfig) -> anyhow::Result<ImapConfig> {
    let auth = imap_auth(account).with_context(|| format!("account {}", account.name))?;
    Ok(ImapConfig {
        host: account.host.clone(),
        port: account.port,
        tls: match account.tls {
            TlsSetting::Implicit => TlsMode::Implicit,
            TlsSetting::StartTls => TlsMode::StartTls,
            TlsSetting::None => TlsMode::None,
        },
        ca_file: account.ca_file.clone(),
        user: account.login_name(),
        auth,
    })
}

fn imap_auth(account: &AccountConfig) -> anyhow::Result<ImapAuth> {
    let mechanism = match account.auth {
        AuthSetting::Password => {
            let source = account.password.as_ref().context(
                "no password source (the config check should have refused this account)",
            )?;
            return Ok(ImapAuth::Password(source.resolve()?));
        }
        // The master user's password; the login name says whose mailbox.
        AuthSetting::Master | AuthSetting::Plain => {
            let source = account.password.as_ref().context(
                "no password source (the config check should have refused this account)",
            )?;
            let password = source.resolve()?;
            return Ok(match (&account.auth, &account.master_user) {
                (AuthSetting::Plain, Some(admin)) => ImapAuth::PlainAs {
                    authcid: admin.clone(),
                    password,
                },
                (AuthSetting::Plain, None) => ImapAuth::PlainAs {
                    authcid: account.user.clone(),
                    password,
                },
                _ => ImapAuth::Password(password),
            });
        }
        AuthSetting::XOAuth2 => OAuthMechanism::XOAuth2,
        AuthSetting::OAuthBearer => OAuthMechanism::OAuthBearer,
    };
    // The config check let through exactly one token source.
    let tokens: Arc<dyn crate::signin::TokenSource> = match &account.token_command {
        Some(command) => Arc::new(crate::signin::CommandTokenSource::new(command.clone())),
        None => {
            let provider = crate::signin::IdentityProvider::of_account(account);
            crate::signin::oauth_source(account, provider)?
        }
    };
    Ok(ImapAuth::OAuth { mechanism, tokens })
}

/// The note on Microsoft's Recoverable Items, once for all the `accounts`
/// it concerns (see [`crate::config::keeps_deleted_mail`]); `None` when
/// it concerns none.
pub fn recoverable_items_note(accounts: &[&AccountConfig]) -> Option<String> {
    let names: Vec<&str> = accounts
        .iter()
        .filter(|a| crate::config::keeps_deleted_mail(a.provider, &a.host))
        .map(|a| a.name.as_str())
        .collect();
    (!names.is_empty()).then(|| crate::config::recoverable_items_note(&names))
}

/// Claims the mailbox of `account` for `command` (see `crate::lock`): at
/// once, or with `wait` when another slimbox lets go of it (saying so on
/// stderr).
pub async fn claim(
    config: &Config,
    account: &AccountConfig,
    command: &str,
    wait: bool,
) -> Result<Claim, LockError> {
    let locks = Locks::beside_index(&config.index.path);
    let mailbox = Mailbox::new(&account.host, account.port, &account.user);
    let claim = if wait {
        let tell = |e: &LockError| {
            eprintln!(
                "slimbox: account {}: {e}; waiting for it (--wait)",
                account.name
            )
        };
        locks
            .claim_waiting(&mailbox, &account.name, command, tell)
            .await
    } else {
        locks.try_claim(&mailbox, &account.name, command)
    }?;
    if let Some(dead) = claim.taken_over() {
        tracing::info!(
            "account {}: took over mailbox {mailbox} from a slimbox that ended without \
             letting go of it (pid {} on host {}); what it left in flight is finished now",
            account.name,
            dead.pid,
            dead.host
        );
    }
    Ok(claim)
}

/// Prints rows as an aligned table, the first column left-aligned and the
/// others right-aligned.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i == 0 {
                s.push_str(&format!("{c:<w$}"));
            } else {
                s.push_str(&format!("  {c:>w$}"));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}
