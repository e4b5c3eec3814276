//! Rebuilding a lost index (`slimbox index rebuild`). Every message slimbox
//! converted says on the server what was detached from it: the marker
//! header (the original's size, when it was converted) and, in each stub,
//! the recipe (the file's SHA-256 and size, the part's original headers and
//! so its file name and type). So the rows a run wrote can be written again
//! from the mailbox, and `list`, `restore` and `reattach` work again.
//!
//! What belongs here: reading an account's converted messages (`server`,
//! read-only: folders are EXAMINEd, messages fetched with `BODY.PEEK[]`),
//! turning each into its index record (`record`, pure), checking that the
//! store holds every object they need (`objects`), and writing what was
//! found (`crate::index`). Messages the index has already are left as they
//! are, so a rebuild can run again and on an index that was never lost.
//! What cannot be done is a [`Finding`], worded with the repair; the
//! rebuild goes on. Not here: connecting (the caller passes a connector, as
//! it knows how passwords are resolved) and printing (`cli/index.rs`).

mod findings;
mod objects;
mod record;
mod server;

pub use findings::{Finding, MessageRef, ObjectState};

use serde::Serialize;

use crate::config::AccountConfig;
use crate::imap::Session;
use crate::index::{Index, IndexError};
use crate::store::Store;

/// Why a connector could not reach an account: shown to the user with its
/// causes, never inspected.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// Why the rebuild stopped. Everything about one message, folder or
/// account is a [`Finding`] instead.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(
        "cannot write the {messages} messages found in account {account} into the index: \
         {source}; check that the index file ([index] path in the config) is writable by \
         this user and not damaged, then run `slimbox index rebuild` again"
    )]
    Write {
        account: String,
        messages: usize,
        source: IndexError,
    },
}

impl RebuildError {
    /// The index was busy (another slimbox writing it): trying again later
    /// may work.
    pub fn is_transient(&self) -> bool {
        match self {
            RebuildError::Write { source, .. } => source.is_transient(),
        }
    }
}

/// What the rebuild did for one account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountRebuild {
    pub account: String,
    /// Folders looked at.
    pub folders: usize,
    /// Converted messages found on the server.
    pub found: usize,
    /// Messages written to the index, and their detached parts.
    pub written: usize,
    pub parts: usize,
    /// Messages the index had already, left as they were.
    pub known: usize,
    /// Distinct objects looked up in the store.
    pub objects_checked: usize,
    pub findings: Vec<Finding>,
}

/// Rebuilds the index rows of `accounts` from their servers (connecting to
/// each with `connect` in turn), checking each object in `store` (with
/// `read_data` read whole and its SHA-256 checked, else only looked up).
pub async fn rebuild(
    store: &Store,
    index: &mut Index,
    accounts: &[AccountConfig],
    connect: impl AsyncFn(&AccountConfig) -> Result<Session, ConnectError>,
    read_data: bool,
) -> Result<Vec<AccountRebuild>, RebuildError> {
    let mut out = Vec::new();
    for account in accounts {
        let mut report = AccountRebuild {
            account: account.name.clone(),
            ..AccountRebuild::default()
        };
        let found = match connect(account).await {
            Ok(mut session) => {
                let found = server::read_account(&mut session, &mut report).await;
                // Nothing was changed on the server: a failed goodbye loses
                // nothing.
                let _ = session.logout().await;
                found
            }
            Err(e) => {
                report.findings.push(Finding::Server {
                    folder: None,
                    why: findings::error_text(e.as_ref()),
                });
                Vec::new()
            }
        };
        report.found = found.len();
        let compressed = objects::check(store, &found, read_data, &mut report).await;
        let write_err = |source| RebuildError::Write {
            account: account.name.clone(),
            messages: found.len(),
            source,
        };
        let written = index.add_rebuilt(&found).map_err(write_err)?;
        index.note_compressed(&compressed).map_err(write_err)?;
        report.written = written.messages;
        report.parts = written.parts;
        report.known = written.known;
        out.push(report);
    }
    Ok(out)
}

/// The converted messages `session`'s account holds now, in every folder
/// (read-only, as the rebuild reads them), and what could not be read:
/// what `store gc` takes for the references of a mailbox.
pub async fn converted_messages(
    session: &mut Session,
    account: &str,
) -> (Vec<crate::index::Rebuilt>, Vec<Finding>) {
    let mut report = AccountRebuild {
        account: account.to_string(),
        ..AccountRebuild::default()
    };
    let found = server::read_account(session, &mut report).await;
    (found, report.findings)
}
