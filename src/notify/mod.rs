//! The owner report: after a run moved something out of a mailbox, a short
//! message to its owner saying what moved, the space it freed and how to get
//! files back, delivered into their INBOX.
//!
//! What belongs here: composing that message (pure, tested without a
//! server) and handing it to the mailbox. What moved comes from the index
//! (`Index::moved_since`); the IMAP work goes through `imap::Session`.

mod compose;
mod error;

pub use compose::{compose, OwnerReport, WayBack};
pub use error::NotifyError;

use crate::config::{AccountConfig, OwnerReportConfig};
use crate::imap::{Folder, ImapConfig, Session};
use crate::index::{Index, IndexError, PartFilter};

/// Tells one mailbox's owner what a run moved: the messages indexed after
/// `mark` ([`Index::last_message`] before the run). Returns how many files the report lists; 0 means the run
/// moved nothing and no report was written.
pub async fn tell_owner(
    imap: &ImapConfig,
    index: &Index,
    account: &AccountConfig,
    cfg: &OwnerReportConfig,
    way_back: &WayBack,
    mark: i64,
    saved: u64,
) -> Result<usize, NotifyError> {
    let moved = index
        .find_parts(&PartFilter {
            account: Some(account.name.clone()),
            after_message: Some(mark),
            ..PartFilter::default()
        })
        .map_err(|e: IndexError| NotifyError::Build(e.to_string()))?;
    if moved.is_empty() {
        return Ok(0);
    }
    let to = account
        .owner_address()
        .ok_or_else(|| NotifyError::Address {
            address: account.user.clone(),
        })?;
    let message = compose(&OwnerReport {
        to,
        from: cfg.from.as_deref().unwrap_or(to),
        moved: &moved,
        saved,
        way_back,
        now: crate::dates::now_unix(),
    })?;
    deliver(imap, &message).await?;
    Ok(moved.len())
}

/// Puts the report into the owner's INBOX, unread, dated now.
///
/// An APPEND rather than a sent mail: it needs no SMTP relay, reaches only
/// this mailbox, and never leaves the server.
pub async fn deliver(imap: &ImapConfig, message: &[u8]) -> Result<(), NotifyError> {
    let mut session = Session::connect(imap).await?;
    session
        .append(&Folder::from_name("INBOX"), &[], "", message)
        .await?;
    // The report is in; a failed LOGOUT changes nothing about that.
    let _ = session.logout().await;
    Ok(())
}
