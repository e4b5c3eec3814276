//! How full the mailbox is, for `scan`: the quota that governs INBOX
//! (GETQUOTAROOT, on servers with QUOTA), and at or near the limit what
//! `run` will do about it.

use serde::Serialize;

use crate::imap::{Folder, ImapError, QuotaUsage, Session};
use crate::units::human_size;

/// From this share of the limit on, `scan` warns: a run may find the
/// server refusing the converted copies.
pub const NEAR_FULL_PERCENT: u64 = 95;

/// A mailbox's quota, as `scan` shows it (and writes to JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaReport {
    /// The quota root's name.
    pub root: String,
    pub used_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    pub messages: Option<u64>,
    pub message_limit: Option<u64>,
    /// The larger share of its limit used by any resource.
    pub percent_used: Option<u64>,
    /// At or over [`NEAR_FULL_PERCENT`]: what is wrong and how the run
    /// will proceed.
    pub warning: Option<String>,
}

impl QuotaReport {
    pub fn from_usage(u: &QuotaUsage) -> QuotaReport {
        let percent = u.percent_used();
        let mut report = QuotaReport {
            root: u.root.clone(),
            used_bytes: u.storage.map(|s| s.0),
            limit_bytes: u.storage.map(|s| s.1),
            messages: u.messages.map(|m| m.0),
            message_limit: u.messages.map(|m| m.1),
            percent_used: percent,
            warning: None,
        };
        if percent.is_some_and(|p| p >= NEAR_FULL_PERCENT) {
            report.warning = Some(report.warning_text());
        }
        report
    }

    /// Usage against limit, for people: "2.9 MiB of 3.0 MiB (97%)".
    pub fn usage_text(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(used), Some(limit)) = (self.used_bytes, self.limit_bytes) {
            parts.push(format!("{} of {}", human_size(used), human_size(limit)));
        }
        if let (Some(n), Some(limit)) = (self.messages, self.message_limit) {
            parts.push(format!("{n} of {limit} messages"));
        }
        let share = self
            .percent_used
            .map_or_else(String::new, |p| format!(" ({p}% used)"));
        format!("{}{share}", parts.join(", "))
    }

    fn warning_text(&self) -> String {
        let state = match self.percent_used {
            Some(p) if p >= 100 => "is over its quota",
            _ => "is at its quota",
        };
        format!(
            "the mailbox {state}: {}. The server may refuse the converted copies, so `slimbox \
             run` frees space first: over quota it removes an original before APPENDing its \
             converted copy, once the original is proven rebuildable from the store. A copy \
             the server still refuses is retried later in the run, as further removals free \
             space; one that still cannot go in waits in the journal (in the index, with its \
             attachments in the store) and the next run puts it in first. Nothing is lost, but \
             until then such a message is missing from the mailbox",
            self.usage_text()
        )
    }
}

/// The quota that governs INBOX; `None` when the server has no QUOTA or
/// sets no limit. A refusal (NO, BAD) is logged and counts as unknown; a
/// failed connection is an error.
pub async fn quota_report(session: &mut Session) -> Result<Option<QuotaReport>, ImapError> {
    match session.quota(&Folder::from_name("INBOX")).await {
        Ok(q) => Ok(q.as_ref().map(QuotaReport::from_usage)),
        Err(e) if !session.is_broken() => {
            tracing::info!("the server did not say how full the mailbox is: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: u64, limit: u64) -> QuotaUsage {
        QuotaUsage {
            root: "User quota".into(),
            storage: Some((used, limit)),
            messages: None,
        }
    }

    #[test]
    fn issue9_near_or_over_the_limit_warns_and_says_how_the_run_proceeds() {
        let fine = QuotaReport::from_usage(&usage(50 << 20, 100 << 20));
        assert_eq!(fine.percent_used, Some(50));
        assert_eq!(fine.warning, None);
        assert_eq!(fine.usage_text(), "50.0 MiB of 100.0 MiB (50% used)");

        let at = QuotaReport::from_usage(&usage(96 << 20, 100 << 20));
        let w = at.warning.expect("a warning at 96%");
        assert!(w.contains("is at its quota"), "{w}");
        assert!(w.contains("frees space first"), "{w}");
        assert!(w.contains("retried later in the run"), "{w}");
        assert!(w.contains("waits in the journal"), "{w}");

        let over = QuotaReport::from_usage(&usage(101 << 20, 100 << 20));
        assert!(over.warning.expect("warning").contains("is over its quota"));
    }
}
