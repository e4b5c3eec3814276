//! The job policy of a mailbox (what to move and how its stubs link back),
//! and the signed links: file links in stubs, page links in owner reports
//! and for `slimbox link --page` / `slimbox page`.

use std::sync::Arc;

use super::ServiceError;
use crate::config::{AccountConfig, Config};
use crate::pipeline::select::SelectPolicy;
use crate::pipeline::JobPolicy;
use crate::store::Store;

/// How a mailbox's job shares the machine: alone (`run`), or side by side
/// with others (`run --all`).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The least a job may fetch ahead ([`crate::pipeline::AHEAD_MIN_BUDGET`]).
    pub ahead_floor: u64,
    /// Whether it fetches ahead on a second connection at all.
    pub fetch_ahead: bool,
}

impl Tuning {
    /// One mailbox at a time: the whole fetch-ahead budget.
    pub const ALONE: Tuning = Tuning {
        ahead_floor: crate::pipeline::AHEAD_MIN_BUDGET,
        fetch_ahead: true,
    };
}

/// The policy of `account`'s job; an account's own folders, min_size and
/// older_than (accounts_file) win over `[policy]`.
pub fn job_policy(config: &Config, store: &Store, account: &AccountConfig) -> JobPolicy {
    let p = &config.policy;
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
        ahead_floor: Tuning::ALONE.ahead_floor,
        fetch_ahead: Tuning::ALONE.fetch_ahead,
        quota_target: o.quota_target.or(p.quota_target),
        quota_limit: o.quota,
    }
}

/// `[links]` as the detach engine takes it: the secret read, created on
/// first use; `None` without a base_url or when `[policy] link_template`
/// is set.
pub fn signed_links(config: &Config) -> Result<Option<crate::mime::SignedLinks>, ServiceError> {
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

/// The secret owner reports sign page links with, only when `[links]
/// base_url` is set. `None` (with a warning) when it cannot be read: the
/// reports then name the commands.
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
) -> Result<String, ServiceError> {
    if !config.accounts.iter().any(|a| a.name == account) {
        return Err(ServiceError::NoAccount {
            account: account.to_string(),
            known: config.accounts.iter().map(|a| a.name.clone()).collect(),
        });
    }
    let secret =
        crate::links::Secret::load_or_create(&config.links.secret_file).map_err(|error| {
            ServiceError::Sign {
                what: "page link",
                error,
            }
        })?;
    Ok(secret.page_link(base, account, expires))
}
