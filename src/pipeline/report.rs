//! What the job tells its caller: the errors that stop it or fail one
//! message, the per-folder and per-account reports, the progress observer,
//! and the per-message step timings logged with `-vv`.

use std::time::Duration;

use serde::Serialize;

use crate::imap::ImapError;
use crate::index::IndexError;
use crate::store::StoreError;

/// Errors of the pipeline. Those of one message are reported in its
/// folder's report and the job goes on; a transient one (the connection is
/// gone) makes the job reconnect, recover and go on.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A readable copy (`files/...`) of a local store could not be made.
    #[error(transparent)]
    Readable(#[from] crate::readable::ReadableError),
    #[error("folder {folder} was recreated on the server (UIDVALIDITY {was} is now {now}); its journal entries are kept: run slimbox verify")]
    UidValidity { folder: String, was: u32, now: u32 },
    #[error("folder {folder} is gone from the server; recreate it or put the message back with slimbox restore")]
    FolderGone { folder: String },
    #[error("{folder} UID {uid}: the original could not be rebuilt byte for byte from the store ({reason}); the message is left untouched")]
    NotRebuildable {
        folder: String,
        uid: u32,
        reason: String,
    },
    #[error("{folder}: the APPEND of the copy failed: {source}")]
    Append {
        folder: String,
        #[source]
        source: ImapError,
    },
    #[error("{folder}: the server did not say where the copy went (no APPENDUID) and no identical copy can be found; the journal keeps it and the next run looks again")]
    CopyNotFound { folder: String },
    #[error(
        "{folder}: the copy at UID {uid} vanished before it was verified; the original is kept"
    )]
    CopyVanished { folder: String, uid: u32 },
    #[error("{folder}: the copy at UID {uid} is not byte-identical to what was appended; the original is kept")]
    CopyAltered { folder: String, uid: u32 },
    #[error("{folder}: the copy at UID {uid} has INTERNALDATE {got} instead of {want}; the original is kept")]
    CopyDate {
        folder: String,
        uid: u32,
        got: String,
        want: String,
    },
    #[error("{folder}: the copy at UID {uid} has flags {got:?} instead of {want:?}; the original is kept")]
    CopyFlags {
        folder: String,
        uid: u32,
        got: Vec<String>,
        want: Vec<String>,
    },
    #[error("{folder} UID {uid}: over quota, the original was removed and the APPEND of the smaller copy failed ({source}); the copy is kept in the journal and the next run puts it back")]
    OverQuotaAppend {
        folder: String,
        uid: u32,
        #[source]
        source: ImapError,
    },
    #[error("{folder}: the mailbox is over quota ({text}): the whole message does not fit; nothing was changed, free some space and try again")]
    NoRoom { folder: String, text: String },
    #[error("{folder} UID {uid}: the original could not be removed ({reason}); its verified copy is there, and the next run removes the original")]
    NotRemoved {
        folder: String,
        uid: u32,
        reason: String,
    },
    #[error("{folder} UID {uid}: the original vanished during recovery; the journal entry is kept, run slimbox verify")]
    OriginalVanished { folder: String, uid: u32 },
    #[error("the processed message {message_id} is no longer in {folder}; slimbox restore gets its files back")]
    StubGone { folder: String, message_id: String },
    #[error("the IMAP connection was lost ({why}); a new one finishes the job")]
    ConnectionLost { why: String },
}

impl PipelineError {
    /// A dropped connection or a busy store: reconnecting (or the next
    /// run) finishes the job.
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Imap(e) => e.is_transient(),
            PipelineError::Store(e) => e.is_transient(),
            PipelineError::Index(e) => e.is_transient(),
            PipelineError::Readable(e) => e.is_transient(),
            PipelineError::Append { source, .. }
            | PipelineError::OverQuotaAppend { source, .. } => source.is_transient(),
            PipelineError::ConnectionLost { .. } => true,
            _ => false,
        }
    }

    /// The server turned the connection away for now (see
    /// `ImapError::is_throttled`).
    pub fn is_throttled(&self) -> bool {
        matches!(self, PipelineError::Imap(e) if e.is_throttled())
    }

    /// Over quota, an original is gone and the server refused its copy:
    /// the copy waits in the journal until there is room.
    pub fn is_waiting_for_room(&self) -> bool {
        matches!(self, PipelineError::OverQuotaAppend { .. })
    }

    /// The copy on the server is not faithful (as opposed to: the server
    /// could not be asked).
    pub fn is_unfaithful_copy(&self) -> bool {
        matches!(
            self,
            PipelineError::CopyVanished { .. }
                | PipelineError::CopyAltered { .. }
                | PipelineError::CopyDate { .. }
                | PipelineError::CopyFlags { .. }
        )
    }
}

/// Progress reports from the job, for a progress bar or logs. `Sync`, so
/// that a job can run as a task of its own (`crate::fleet`).
pub trait Observer: Sync {
    fn planned(&self, _messages: u64, _bytes: u64) {}
    fn message_done(&self, _bytes: u64) {}
    fn note(&self, _text: &str) {}
}

/// An observer that shows nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// What happened in one folder.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub folder: String,
    pub candidates: usize,
    pub converted: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Over quota: originals removed whose copies the server has no room
    /// for yet (they wait in the journal; the account lists them).
    pub waiting: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Message bytes downloaded (candidates, plus the copies read back to
    /// verify them).
    pub bytes_fetched: u64,
    pub notes: Vec<String>,
}

impl FolderReport {
    /// Adds a later pass over the same folder (after a reconnect): its
    /// candidates are ones the first pass counted already (and it counts
    /// no message the first pass left alone).
    fn absorb(&mut self, later: FolderReport) {
        self.candidates = self.candidates.max(later.candidates);
        self.converted += later.converted;
        self.skipped += later.skipped;
        self.failed += later.failed;
        self.waiting += later.waiting;
        self.bytes_before += later.bytes_before;
        self.bytes_after += later.bytes_after;
        self.bytes_fetched += later.bytes_fetched;
        self.notes.extend(later.notes);
    }
}

/// What happened in one account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountReport {
    pub account: String,
    /// Journal entries an earlier run (or this one, before a reconnect)
    /// left in flight and that were finished or rolled back.
    pub recovered: usize,
    /// How often the connection was lost and made again during the run.
    pub reconnects: usize,
    pub folders: Vec<FolderReport>,
    /// Messages still in the journal at the end of the run, each with
    /// what to do.
    pub waiting: Vec<Waiting>,
    pub error: Option<String>,
    /// The quota that governs INBOX at the start of the run and at its
    /// end (GETQUOTAROOT); `None` where the server has no QUOTA, or the
    /// run did not get that far.
    pub quota_before: Option<super::quota::QuotaReport>,
    pub quota_after: Option<super::quota::QuotaReport>,
    /// The server turned a connection away for now (a limit, BYE,
    /// `[UNAVAILABLE]`: `ImapError::is_throttled`), so `error` may go away
    /// when the account is tried again later (`crate::fleet` does).
    #[serde(skip)]
    pub throttled: bool,
    /// `[owner_report]`: what the owner was told after this run, if anything
    /// (`crate::notify::after_run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_report: Option<crate::notify::OwnerNote>,
    /// With a `quota_target`: where the mailbox ended against it (issue 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_target: Option<super::target::TargetEnd>,
}

/// A message the journal still holds when the run ends.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub folder: String,
    pub subject: Option<String>,
    /// The message's Date header, RFC 3339.
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// Why it waits and what to do.
    pub why: String,
}

impl AccountReport {
    pub fn new(account: &str) -> Self {
        AccountReport {
            account: account.to_string(),
            ..AccountReport::default()
        }
    }

    /// Adds the reports of one pass over the folders.
    pub(super) fn absorb(&mut self, pass: Vec<FolderReport>) {
        for f in pass {
            match self.folders.iter_mut().find(|r| r.folder == f.folder) {
                Some(r) => r.absorb(f),
                None => self.folders.push(f),
            }
        }
    }

    /// Anything failed or waits: something is left undone. A run that
    /// lost its connection, reconnected and finished everything has no
    /// trouble (issue 25): it gets [`AccountReport::reconnect_warning`].
    pub fn had_trouble(&self) -> bool {
        self.error.is_some()
            || !self.waiting.is_empty()
            || self.folders.iter().any(|f| f.failed > 0)
            || self
                .owner_report
                .as_ref()
                .is_some_and(|n| n.error.is_some())
    }

    /// The warning of a run that lost its connection on the way and still
    /// finished everything (exit status 0, so cron does not alarm on a
    /// blip); `None` without reconnects, or when something is left undone
    /// (then the run failed and says why).
    pub fn reconnect_warning(&self) -> Option<String> {
        if self.reconnects == 0 || self.had_trouble() {
            return None;
        }
        Some(format!(
            "{}: lost the connection {} time(s); reconnected and finished everything",
            self.account, self.reconnects
        ))
    }

    /// A conversion this run started, finished by recovery after a
    /// reconnect: it counts as converted in its folder.
    pub(super) fn finished_after_reconnect(&mut self, folder: &str, before: u64, after: u64) {
        let one = FolderReport {
            folder: folder.to_string(),
            converted: 1,
            bytes_before: before,
            bytes_after: after,
            ..FolderReport::default()
        };
        self.absorb(vec![one]);
    }

    /// A copy that waited for room went in at the end of the run: it
    /// counts as converted in its folder (or as recovered, when an earlier
    /// run left it).
    pub(super) fn put_in_late(&mut self, folder: &str, before: u64, after: u64) {
        match self
            .folders
            .iter_mut()
            .find(|f| f.folder == folder && f.waiting > 0)
        {
            Some(f) => {
                f.waiting -= 1;
                f.converted += 1;
                f.bytes_before += before;
                f.bytes_after += after;
            }
            None => self.recovered += 1,
        }
    }
}

/// How one message ended, for its folder's report.
pub(super) enum Converted {
    Done {
        before: u64,
        after: u64,
        note: Option<String>,
    },
    /// Left as it is for good, and why: the reason goes into the index's
    /// skipped messages, so later runs do not download it again.
    SkippedForGood(String),
    /// The mailbox's owner moved or deleted it (or its copy) during the
    /// run: nothing done, nothing remembered, said in the report.
    OwnerChanged(String),
}

/// Where one message's time went, for `-vv` logs.
pub(super) struct Laps {
    uid: u32,
    last: std::time::Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Laps {
    pub(super) fn new(uid: u32) -> Self {
        Laps {
            uid,
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    pub(super) fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((step, now - self.last));
        self.last = now;
    }

    pub(super) fn log(&self) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let laps: Vec<String> = self
                .laps
                .iter()
                .map(|(s, d)| format!("{s} {:.1} ms", d.as_secs_f64() * 1e3))
                .collect();
            tracing::debug!("UID {}: {}", self.uid, laps.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pass_adds_to_the_first() {
        let mut r = AccountReport::new("a");
        let pass = |converted, failed| FolderReport {
            folder: "Sent".into(),
            candidates: 5,
            converted,
            failed,
            bytes_before: 10,
            ..FolderReport::default()
        };
        r.absorb(vec![pass(2, 0)]);
        r.absorb(vec![pass(3, 1)]);
        assert_eq!(r.folders.len(), 1);
        let f = &r.folders[0];
        assert_eq!((f.candidates, f.converted, f.failed), (5, 5, 1));
        assert_eq!(f.bytes_before, 20);
        assert!(r.had_trouble());
    }
}

#[cfg(test)]
mod issue25_tests {
    use super::*;

    #[test]
    fn issue25_a_run_that_reconnected_and_finished_has_no_trouble_but_a_warning() {
        let mut r = AccountReport::new("alice");
        r.reconnects = 2;
        assert!(!r.had_trouble());
        let w = r.reconnect_warning().expect("a warning");
        assert!(w.contains("alice") && w.contains("2 time(s)"), "{w}");
        assert!(w.contains("finished everything"), "{w}");
    }

    #[test]
    fn issue25_a_run_with_something_left_undone_still_has_trouble() {
        let mut r = AccountReport::new("alice");
        r.reconnects = 1;
        r.folders.push(FolderReport {
            folder: "Sent".into(),
            failed: 1,
            ..FolderReport::default()
        });
        assert!(r.had_trouble());
        assert_eq!(r.reconnect_warning(), None);
        let mut w = AccountReport::new("bob");
        w.reconnects = 1;
        w.error = Some("gave up".into());
        assert!(w.had_trouble());
        assert_eq!(w.reconnect_warning(), None);
        assert_eq!(AccountReport::new("carol").reconnect_warning(), None);
    }
}
