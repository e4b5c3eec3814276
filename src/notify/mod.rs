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

use crate::imap::{Folder, ImapConfig, Session};

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
