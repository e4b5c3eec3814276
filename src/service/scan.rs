//! Scanning one mailbox: what `run` would do, changing nothing (nothing is
//! claimed: a scan only reads).

use super::{account, policy, Service, ServiceError};
use crate::imap::{Connector, ImapConfig};
use crate::pipeline::AccountPlan;

impl Service {
    /// The plan of account `name`'s mailbox, connecting through `via` (the
    /// fleet puts its connection gate there). A failed connection or
    /// selection is the job's own error, without the account's name (the
    /// caller names it where it says it).
    pub async fn scan_mailbox<C: Connector>(
        &self,
        name: &str,
        via: impl FnOnce(ImapConfig) -> C,
    ) -> Result<AccountPlan, ServiceError> {
        let account = self.account(name)?;
        let policy = policy::job_policy(self.config(), self.store()?, account);
        let conn = via(account::imap_config(account)?);
        let index = self.store_index()?;
        Ok(crate::pipeline::scan_account(&conn, &index, &account.name, &policy).await?)
    }
}
