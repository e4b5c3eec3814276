//! Errors of the mailbox lock, worded for the person running slimbox: each
//! names the mailbox or file involved and says what to do.

use std::path::PathBuf;

use super::Holder;

/// Why a mailbox could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another slimbox holds the mailbox now.
    #[error("mailbox {mailbox} is busy: {}", busy_text(holder))]
    Busy {
        mailbox: String,
        /// Who holds it, when its lock file says so (a holder that has just
        /// started or is just finishing has not written it, or cleared it).
        holder: Option<Holder>,
    },
    #[error(
        "cannot create the lock folder {}: {source}; it lives beside the index: check that \
         folder is writable, or set [index] path in the config",
        path.display()
    )]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open or write the lock file {}: {source}; check the folder beside the index \
         is writable by this user",
        path.display()
    )]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot lock {}: {source}; the file system may not support file locks (a network \
         share?): put the index on a local disk",
        path.display()
    )]
    Unsupported {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LockError {
    /// A busy mailbox is free again once its holder finishes; nothing else
    /// mends itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, LockError::Busy { .. })
    }

    /// The mailbox is held by another slimbox (as opposed to: the lock
    /// could not be taken at all).
    pub fn is_busy(&self) -> bool {
        matches!(self, LockError::Busy { .. })
    }
}

fn busy_text(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => format!(
            "{h}; when it has finished, run again (if it is stuck, stopping that process \
             frees the mailbox: its lock goes with it)"
        ),
        None => "another slimbox is working on it (it is just starting or finishing); run \
                 again in a moment"
            .to_string(),
    }
}
