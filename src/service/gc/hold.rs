//! Legal hold: `slimbox hold ACCOUNT` / `release ACCOUNT`, recorded in the
//! index with who and when. Nothing a held mailbox's rows ever named is
//! deleted, by `store gc` or by `erase`.

use super::{gc_now, retention, RetentionError};
use crate::index::Hold;
use crate::service::{Service, ServiceError};

/// What `hold` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HoldOutcome {
    pub hold: Hold,
    /// Already held before (that hold is kept as it was).
    pub already: bool,
}

/// What `release` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseOutcome {
    pub account: String,
    /// The hold that was lifted; `None`: there was none.
    pub lifted: Option<Hold>,
    pub by: String,
    pub at: i64,
}

/// Who is at the keyboard: `$USER` (or `$LOGNAME`), as the OS says.
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

impl Service {
    /// Puts `account` under legal hold, as `by` (the OS user without one).
    pub fn hold(
        &self,
        account: &str,
        by: Option<&str>,
        note: &str,
    ) -> Result<HoldOutcome, ServiceError> {
        let mut index = self.index()?;
        self.known_account(&index, account)?;
        let by = by.map_or_else(os_user, str::to_string);
        let at = gc_now().map_err(retention)?;
        Ok(match index.hold(account, &by, note, at)? {
            Some(hold) => HoldOutcome {
                hold,
                already: true,
            },
            None => HoldOutcome {
                hold: Hold {
                    account: account.to_string(),
                    by,
                    at,
                    note: note.to_string(),
                },
                already: false,
            },
        })
    }

    /// Lifts the hold on `account`, as `by`.
    pub fn release(
        &self,
        account: &str,
        by: Option<&str>,
        note: &str,
    ) -> Result<ReleaseOutcome, ServiceError> {
        let mut index = self.index()?;
        let by = by.map_or_else(os_user, str::to_string);
        let at = gc_now().map_err(retention)?;
        let lifted = index.release(account, &by, note, at)?;
        Ok(ReleaseOutcome {
            account: account.to_string(),
            lifted,
            by,
            at,
        })
    }

    /// The holds in force.
    pub fn holds(&self) -> Result<Vec<Hold>, ServiceError> {
        Ok(self.index()?.holds()?)
    }

    /// `account` is in the config or the index: a typo is not held.
    pub(super) fn known_account(
        &self,
        index: &crate::index::Index,
        account: &str,
    ) -> Result<(), ServiceError> {
        let in_config = self.config().accounts.iter().any(|a| a.name == account);
        if in_config
            || index.account_rows(account)? > 0
            || !index.account_objects(account)?.is_empty()
        {
            return Ok(());
        }
        Err(retention(RetentionError::UnknownAccount {
            account: account.to_string(),
        }))
    }
}
