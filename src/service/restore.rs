//! The commands that check or bring back what was moved, through the
//! index and the store: `restore` (files onto a disk), `verify` (index,
//! store and servers agree) and `index rebuild` (a lost index written again
//! from the mailboxes, each claimed for the whole rebuild).

use super::{account, Held, Service, ServiceError};
use crate::audit::{self, Findings, Scope};
use crate::config::AccountConfig;
use crate::rebuild::{self, AccountRebuild};
use crate::restore::{self, Request, Restored};

impl Service {
    /// Writes the files `request` chooses into its folder.
    pub async fn restore(
        &self,
        request: &Request,
        progress: &dyn restore::Progress,
    ) -> Result<Restored, ServiceError> {
        let store = self.store()?;
        let index = self.store_index()?;
        Ok(restore::run(store, &index, request, progress).await?)
    }

    /// Checks that the index, the store and the servers of `accounts`
    /// agree (every object read with `read_data`).
    pub async fn verify(
        &self,
        accounts: &[AccountConfig],
        read_data: bool,
        progress: &dyn audit::Progress,
    ) -> Result<Findings, ServiceError> {
        let store = self.store()?;
        let index = self.store_index()?;
        let scope = Scope {
            accounts,
            all_accounts: &self.config().accounts,
            read_data,
        };
        let connect = async |a: &AccountConfig| account::connect(a).await.map_err(Into::into);
        Ok(audit::run(store, &index, scope, connect, progress).await?)
    }

    /// Writes the index again from the mailboxes of `accounts`, each
    /// claimed for the whole rebuild (a run meanwhile would write the same
    /// messages).
    pub async fn rebuild_index(
        &self,
        accounts: &[AccountConfig],
        read_data: bool,
    ) -> Result<Vec<AccountRebuild>, ServiceError> {
        let store = self.store()?;
        let mut index = self.store_index()?;
        let _claims = self.claim_each(accounts, "slimbox index rebuild", |_, e| e.into())?;
        let connect = async |a: &AccountConfig| account::connect(a).await.map_err(Into::into);
        Ok(rebuild::rebuild(store, &mut index, accounts, connect, read_data).await?)
    }

    /// Claims the mailboxes of `accounts` for `command`, each at once; the
    /// first that cannot be claimed is said by `refused`.
    pub(super) fn claim_each(
        &self,
        accounts: &[AccountConfig],
        command: &str,
        refused: impl Fn(&AccountConfig, super::ClaimError) -> ServiceError,
    ) -> Result<Vec<Held>, ServiceError> {
        let mut claims = Vec::new();
        for a in accounts {
            let mailbox = account::mailbox(a);
            let claim = self
                .claims()
                .try_claim(&mailbox, &a.name, command)
                .map_err(|e| refused(a, e))?;
            claims.push(claim);
        }
        Ok(claims)
    }
}
