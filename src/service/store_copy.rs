//! Moving the store (`slimbox store copy`): every object copied into the
//! new store and checked there, with every mailbox held meanwhile; then,
//! only when all are there, the config pointed at the new store.

use super::{open_store, Service, ServiceError};
use crate::config::{StoreEdit, StoreUrlChange};
use crate::store::copy::{self, CopyOptions, CopyProgress, CopyReport};
use crate::store::Store;

/// A finished copy: what it did, and the config edit that points at the
/// new store (written by [`StoreCopy::point_config`]).
pub struct StoreCopy {
    pub report: CopyReport,
    pub src: Store,
    pub dst: Store,
    /// The config file the copy would change.
    pub path: std::path::PathBuf,
    edit: StoreEdit,
    /// The service whose index moves with the objects.
    service: Service,
}

impl StoreCopy {
    /// The new `[store] url` as the config would say it.
    pub fn new_url(&self) -> &str {
        &self.edit.change.new_url
    }

    /// Points the config at the new store (the rest of the file kept), and
    /// the index with it: it now belongs to the new store.
    pub fn point_config(self) -> Result<StoreUrlChange, ServiceError> {
        let change = self.edit.write()?;
        self.service.index()?.rebind_store(&self.dst.identity())?;
        Ok(change)
    }
}

impl Service {
    /// Copies every object of the store into the store at `to` (with the
    /// `[store]` settings `set`), `jobs` at a time, resuming an
    /// interrupted copy; every mailbox is held meanwhile, so no run stores
    /// an object after the last listing.
    pub async fn copy_store(
        &self,
        to: &str,
        set: &[(String, String)],
        jobs: usize,
        progress: &dyn CopyProgress,
    ) -> Result<StoreCopy, ServiceError> {
        let config = self.config();
        let src = self.store()?.clone();
        let path = config.path.clone().ok_or(ServiceError::NoConfigFile)?;
        // The config as it will be, checked now: the new store is opened
        // from it, and it is written only once every object is there.
        let edit = crate::config::edit_store(&path, &destination(to)?, set)?;
        let dst = open_store(&edit.config).map_err(|e| destination_error(to, e))?;
        let _claims = self.claim_each(&config.accounts, "store copy", |a, error| {
            ServiceError::StoreInUse {
                account: a.name.clone(),
                error: Box::new(error),
            }
        })?;
        let opts = CopyOptions {
            concurrency: jobs,
            checkpoint: Some(copy::checkpoint_path(&config.index.path, &dst)),
        };
        let report = copy::copy_store(&src, &dst, &opts, progress).await?;
        Ok(StoreCopy {
            report,
            src,
            dst,
            path,
            edit,
            service: self.clone(),
        })
    }
}

fn destination_error(to: &str, e: ServiceError) -> ServiceError {
    ServiceError::Destination {
        to: to.to_string(),
        error: Box::new(e),
    }
}

/// How the new store is written in the config: a directory as its
/// absolute path (created now, as the config would resolve a relative
/// path against its own folder, not the working directory), a URL as
/// given.
fn destination(to: &str) -> Result<String, ServiceError> {
    let is_url = url::Url::parse(to).is_ok_and(|u| u.scheme().len() > 1);
    if is_url {
        return Ok(to.to_string());
    }
    let store = Store::open(to).map_err(|e| destination_error(to, e.into()))?;
    match store.local_root().and_then(|p| p.to_str()) {
        Some(path) => Ok(path.to_string()),
        None => Ok(store.url().to_string()),
    }
}
