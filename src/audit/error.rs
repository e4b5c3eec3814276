//! Errors that stop the audit before it has anything to report. Everything
//! else that goes wrong (a missing object, a server that does not answer) is
//! a finding, not an error: the audit goes on and reports it.

use crate::index::IndexError;

/// Why the audit could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The list of objects the index references could not be read.
    #[error(
        "cannot read from the index which objects its messages use: {source}; check that \
         the index file ([index] path in the config) is readable by this user and not \
         damaged (`sqlite3 INDEX 'PRAGMA integrity_check'`), then run verify again"
    )]
    ObjectRefs { source: IndexError },

    /// An account's journal (messages an interrupted run left half-way)
    /// could not be read.
    #[error(
        "cannot read account {account}'s journal from the index: {source}; check that the \
         index file ([index] path in the config) is readable by this user and not damaged, \
         then run verify again"
    )]
    Journal { account: String, source: IndexError },

    /// Which converted copies an account's index rows name could not be read.
    #[error(
        "cannot read account {account}'s processed messages from the index: {source}; check \
         that the index file ([index] path in the config) is readable by this user and not \
         damaged, then run verify again"
    )]
    Copies { account: String, source: IndexError },
}

impl AuditError {
    /// Whether running the audit again later may succeed (the index was
    /// busy or locked by another slimbox), as opposed to needing a human.
    pub fn is_transient(&self) -> bool {
        match self {
            AuditError::ObjectRefs { source }
            | AuditError::Journal { source, .. }
            | AuditError::Copies { source, .. } => source.is_transient(),
        }
    }
}
