//! The owner report: after a run moved something out of a mailbox, a short
//! message to its owner saying what moved, the space it freed and how to get
//! files back, delivered into their INBOX (or sent over SMTP).
//!
//! What belongs here: composing that message (pure, tested without a
//! server) and handing it to the mailbox or an SMTP server (`smtp`). What
//! moved comes from the index (`Index::moved_since`); the IMAP work goes
//! through `imap::Session`.

mod compose;
mod error;
mod smtp;

pub use compose::{compose, OwnerReport, WayBack};
pub use error::NotifyError;

use serde::Serialize;

use crate::config::{AccountConfig, OwnerReportConfig, ReportDelivery};
use crate::imap::Folder;
use crate::index::{Index, IndexError, PartFilter};
use crate::pipeline::{AccountReport, Connector};

/// The owner report of one run, as the summary and `--json` show it: how
/// many files it listed, or why it could not be delivered.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerNote {
    pub files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// After a run: tells the owner what it moved (the messages indexed after
/// `mark`) and notes the outcome in `report.owner_report`. Nothing when the
/// run moved nothing.
pub async fn after_run<C: Connector>(
    conn: &C,
    index: &Index,
    account: &AccountConfig,
    cfg: &OwnerReportConfig,
    way_back: &WayBack,
    mark: i64,
    report: &mut AccountReport,
) {
    report.owner_report = match tell_owner(conn, index, account, cfg, way_back, mark, report).await
    {
        Ok(0) => None,
        Ok(files) => Some(OwnerNote { files, error: None }),
        Err(e) => {
            tracing::error!("account {}: {e}", account.name);
            Some(OwnerNote {
                files: 0,
                error: Some(e.to_string()),
            })
        }
    };
}

/// Tells one mailbox's owner what a run moved: the messages indexed after
/// `mark` ([`Index::last_message`] before the run). Returns how many files
/// the report lists; 0 means the run moved nothing and no report was
/// written.
async fn tell_owner<C: Connector>(
    conn: &C,
    index: &Index,
    account: &AccountConfig,
    cfg: &OwnerReportConfig,
    way_back: &WayBack,
    mark: i64,
    report: &AccountReport,
) -> Result<usize, NotifyError> {
    let saved = report
        .folders
        .iter()
        .map(|f| f.bytes_before.saturating_sub(f.bytes_after))
        .sum();
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
    let from = cfg.from.as_deref().unwrap_or(to);
    let message = compose(&OwnerReport {
        to,
        from,
        moved: &moved,
        saved,
        way_back,
        now: crate::dates::now_unix(),
        target: report.quota_target.as_ref(),
    })?;
    match &cfg.delivery {
        ReportDelivery::Inbox => deliver(conn, &message).await?,
        ReportDelivery::Smtp(server) => smtp::send(server, from, to, &message).await?,
    }
    Ok(moved.len())
}

/// Puts the report into the owner's INBOX, unread, dated now.
///
/// An APPEND rather than a sent mail: it needs no SMTP relay, reaches only
/// this mailbox, and never leaves the server.
pub async fn deliver<C: Connector>(conn: &C, message: &[u8]) -> Result<(), NotifyError> {
    let mut session = conn.connect().await?;
    session
        .append(&Folder::from_name("INBOX"), &[], "", message)
        .await?;
    // The report is in; a failed LOGOUT changes nothing about that.
    let _ = session.logout().await;
    Ok(())
}
