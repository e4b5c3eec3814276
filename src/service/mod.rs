//! The service: the one front door to the work of slimbox on mailboxes,
//! for every caller (the command line, `run --all`'s scheduler, `serve`'s
//! pages, workers to come).
//!
//! A [`Service`] is built once from the config and cloned freely (an `Arc`
//! inside): it holds the config, the store (opened on first use, with its
//! compression and modes), the way to the index (a fresh SQLite connection
//! per operation), the claims on mailboxes ([`Claims`]) and the links
//! secret when signing needs it. Each operation owns its whole sequence
//! (claim, policy, connect, the job, the owner report, recording the
//! result) and returns a typed outcome; callers print it.
//!
//! What belongs here: opening things from the config, account settings
//! (`account`), the job policy and signed links (`policy`), claims
//! (`claims`), work that must run on a thread of its own because it holds
//! the index across awaits (`thread`), and one file per operation: `run`,
//! `scan`, `reattach`, `restore` (restore, verify, index rebuild), `query`
//! (list, stats, links), `store_copy`, `gc` (store gc, hold, erase). Not
//! here: scheduling many mailboxes (`crate::fleet`), HTTP
//! (`crate::serve`), printing (`crate::cli`), and the steps of a job
//! themselves (`crate::pipeline`, `crate::notify`, ...).

pub mod account;
mod claims;
mod error;
pub mod gc;
mod index_db;
mod locate;
pub mod policy;
mod query;
mod reattach;
mod restore;
mod run;
mod scan;
mod store_copy;
mod thread;

pub use claims::{ClaimError, Claims, Held, LockClaims, SharedSlot, SharedSlots};
pub use error::{chain, ServiceError};
pub use index_db::{IndexMigration, TableRows};
pub use locate::ObjectPlace;
pub use policy::Tuning;
pub use query::FileLink;
pub use run::{MailboxRun, Ran, RunOptions, RunReport};
pub use store_copy::StoreCopy;
pub use thread::on_own_thread;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::config::{AccountConfig, Config};
use crate::index::Index;
use crate::links::Secret;
use crate::mime::SignedLinks;
use crate::store::Store;

/// The handle every caller holds; cloning it is cheap.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    claims: Arc<dyn Claims>,
    store: OnceLock<Store>,
    signed_links: OnceLock<Option<SignedLinks>>,
    page_secret: OnceLock<Option<Secret>>,
    /// A PostgreSQL index's settings, its password fetched once.
    database: OnceLock<crate::index::PgTarget>,
}

impl Service {
    /// The service of the config at `path` (or the default config); its
    /// warnings are [`Service::warnings`].
    pub fn load(path: Option<&Path>) -> Result<Service, ServiceError> {
        Ok(Service::new(crate::config::load(path)?))
    }

    /// The service of `config`, claiming mailboxes with lock files beside
    /// its index.
    pub fn new(config: Config) -> Service {
        let claims = Arc::new(LockClaims::beside_index(&config.index.path));
        Service::with_claims(config, claims)
    }

    /// The service of `config` with claims of another kind.
    pub fn with_claims(config: Config, claims: Arc<dyn Claims>) -> Service {
        Service {
            inner: Arc::new(Inner {
                config,
                claims,
                store: OnceLock::new(),
                signed_links: OnceLock::new(),
                page_secret: OnceLock::new(),
                database: OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// What the config check found worth saying, but not fatal.
    pub fn warnings(&self) -> Vec<String> {
        self.inner.config.warnings()
    }

    pub fn claims(&self) -> &dyn Claims {
        self.inner.claims.as_ref()
    }

    /// The config's account `name`, or all of them without one.
    pub fn accounts(&self, name: Option<&str>) -> Result<Vec<&AccountConfig>, ServiceError> {
        Ok(self.inner.config.account(name)?)
    }

    /// The account `name` of the config.
    pub fn account(&self, name: &str) -> Result<&AccountConfig, ServiceError> {
        let config = &self.inner.config;
        config
            .accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ServiceError::NoAccount {
                account: name.to_string(),
                known: config.accounts.iter().map(|a| a.name.clone()).collect(),
            })
    }

    /// The store, opened on first use (commands that only read the index
    /// never open it).
    pub fn store(&self) -> Result<&Store, ServiceError> {
        if let Some(store) = self.inner.store.get() {
            return Ok(store);
        }
        let store = open_store(&self.inner.config)?;
        Ok(self.inner.store.get_or_init(|| store))
    }

    /// A connection to the index (created on first use), SQLite or
    /// PostgreSQL, for reading what it knows. Each operation has its own:
    /// SQLite in WAL mode serialises the writers, PostgreSQL its
    /// transactions.
    pub fn index(&self) -> Result<Index, ServiceError> {
        self.open_index(&self.inner.database)
    }

    /// A connection to the index for work that also uses the store, bound
    /// to that store: an index of another store is refused (the one place
    /// where the index is checked against its store).
    pub fn store_index(&self) -> Result<Index, ServiceError> {
        let store = self.store()?;
        let index = self.index()?;
        index.bind_store(&store.identity())?;
        Ok(index)
    }

    /// Opens the store and creates (and migrates) the index once, before
    /// jobs side by side each open their own connection.
    pub fn ready_index(&self) -> Result<(), ServiceError> {
        self.store_index().map(drop)
    }

    /// Signed links for the stubs (`[links] base_url`), the secret read
    /// once; `None` when links are not signed.
    pub fn signed_links(&self) -> Result<Option<SignedLinks>, ServiceError> {
        if let Some(links) = self.inner.signed_links.get() {
            return Ok(links.clone());
        }
        let links = policy::signed_links(&self.inner.config)?;
        Ok(self.inner.signed_links.get_or_init(|| links).clone())
    }

    /// The secret owner reports sign page links with, read once.
    pub fn page_secret(&self) -> Option<&Secret> {
        self.inner
            .page_secret
            .get_or_init(|| policy::page_secret(&self.inner.config))
            .as_ref()
    }
}

/// The store `config` names, with its compression and file modes.
pub fn open_store(config: &Config) -> Result<Store, ServiceError> {
    let compression = crate::store::Compression::from_zstd_level(config.store.compress_zstd_level);
    let store = Store::open_with(&config.store.url, &config.store.remote)?
        .with_compression(compression)
        .with_world_readable(config.store.world_readable)?;
    Ok(match &config.store.encryption {
        Some(source) => store.with_encryption(crate::store::Keys::load(source)?),
        None => store,
    })
}

/// The store at `url` rather than the config's (`eml --store`): as it is
/// without a config; with one, its remote settings and compression.
pub fn open_store_at(url: &str, config: Option<&Config>) -> Result<Store, ServiceError> {
    let Some(c) = config else {
        return Ok(Store::open(url)?);
    };
    let compression = crate::store::Compression::from_zstd_level(c.store.compress_zstd_level);
    Ok(Store::open_with(url, &c.store.remote)?.with_compression(compression))
}
