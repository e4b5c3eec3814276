//! The scheduler's decisions, pure: whether a mailbox is tried again and
//! after how long, the totals of a run, and its exit status.

use std::time::Duration;

use serde::Serialize;

/// How often one mailbox is tried in one run: the first try and up to
/// three more after the server turned it away.
pub const MAX_ATTEMPTS: u32 = 4;

/// The wait before the first retry; it doubles with each further one.
pub const FIRST_RETRY: Duration = Duration::from_secs(2);

/// The longest wait between two tries of one mailbox.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// What to do after one try of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done: it went well, or failed in a way a retry would not mend
    /// (credentials, quota, a bug), or the tries are used up.
    Finish,
    /// The server turned it away for now: try again after this long.
    RetryAfter(Duration),
}

/// After try number `attempt` (from 1): only a mailbox the server turned
/// away (`throttled`) is tried again, at most [`MAX_ATTEMPTS`] times in
/// all, waiting `first`, then twice that, and so on up to
/// [`MAX_RETRY_WAIT`].
pub fn next(throttled: bool, attempt: u32, first: Duration) -> Next {
    if !throttled || attempt >= MAX_ATTEMPTS {
        return Next::Finish;
    }
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    Next::RetryAfter(first.saturating_mul(factor).min(MAX_RETRY_WAIT))
}

/// How one mailbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Worked through, nothing failed.
    Ok,
    /// Something failed or still waits; its `error` or report says what.
    Failed,
    /// Another slimbox holds the mailbox; skipped.
    Busy,
}

/// The last row of the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub mailboxes: usize,
    pub ok: usize,
    pub failed: usize,
    pub busy: usize,
    pub converted: u64,
    pub failed_messages: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_saved: u64,
}

/// One mailbox's figures, for [`totals`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub converted: u64,
    pub failed_messages: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Adds up the mailboxes of a run.
pub fn totals(rows: &[(Status, Figures)]) -> Totals {
    let mut t = Totals {
        mailboxes: rows.len(),
        ..Totals::default()
    };
    for (status, f) in rows {
        match status {
            Status::Ok => t.ok += 1,
            Status::Failed => t.failed += 1,
            Status::Busy => t.busy += 1,
        }
        t.converted += f.converted;
        t.failed_messages += f.failed_messages;
        t.bytes_before += f.bytes_before;
        t.bytes_after += f.bytes_after;
    }
    t.bytes_saved = t.bytes_before.saturating_sub(t.bytes_after);
    t
}

/// 0 when every mailbox went well, 1 when any failed or was busy (it was
/// not worked on, so the job is not done). A config error (2) never gets
/// this far.
pub fn exit_status(statuses: impl IntoIterator<Item = Status>) -> u8 {
    u8::from(statuses.into_iter().any(|s| s != Status::Ok))
}

/// Whether each mailbox downloads ahead on a second connection: only when
/// one runs at a time. With several side by side, the others keep the
/// server and the cores busy while one converts, so a second connection
/// per mailbox only costs the server another login, TLS session and
/// process: over `scripts/bench-fleet`'s 20 mailboxes at concurrency 8,
/// Dovecot used 0.4 to 0.7 CPU seconds more than without, and the run was
/// no faster.
pub fn fetch_ahead(concurrency: usize) -> bool {
    concurrency <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_a_second_connection_only_for_one_mailbox_at_a_time() {
        assert!(fetch_ahead(1));
        assert!(fetch_ahead(0), "0 runs as 1");
        assert!(!fetch_ahead(2));
        assert!(!fetch_ahead(8));
    }

    #[test]
    fn issue13_only_throttled_mailboxes_are_retried_with_growing_waits() {
        let s = Duration::from_secs;
        assert_eq!(next(false, 1, s(2)), Next::Finish);
        assert_eq!(next(true, 1, s(2)), Next::RetryAfter(s(2)));
        assert_eq!(next(true, 2, s(2)), Next::RetryAfter(s(4)));
        assert_eq!(next(true, 3, s(2)), Next::RetryAfter(s(8)));
        assert_eq!(next(true, MAX_ATTEMPTS, s(2)), Next::Finish);
        assert_eq!(next(true, 3, s(40)), Next::RetryAfter(MAX_RETRY_WAIT));
    }

    #[test]
    fn issue13_exit_status_and_totals() {
        assert_eq!(exit_status([Status::Ok, Status::Ok]), 0);
        assert_eq!(exit_status([]), 0);
        assert_eq!(exit_status([Status::Ok, Status::Failed]), 1);
        assert_eq!(exit_status([Status::Busy]), 1);
        let f = |c, b, a| Figures {
            converted: c,
            failed_messages: 0,
            bytes_before: b,
            bytes_after: a,
        };
        let t = totals(&[
            (Status::Ok, f(2, 100, 10)),
            (Status::Failed, f(1, 50, 5)),
            (Status::Busy, Figures::default()),
        ]);
        assert_eq!((t.mailboxes, t.ok, t.failed, t.busy), (3, 1, 1, 1));
        assert_eq!((t.converted, t.bytes_saved), (3, 135));
    }
}
