//! [`RetentionError`]: why `store gc`, `hold`, `release` or `erase` could
//! not do what was asked.

use std::path::PathBuf;

/// Why a retention command could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(
        "account {account} is under legal hold (by {by} at {at}{note}); nothing it references \
         is erased. Lift the hold first with `slimbox release {account}` if that is decided"
    )]
    Held {
        account: String,
        by: String,
        at: String,
        note: String,
    },
    #[error(
        "erasing account {account} deletes its index rows and every file only it used, for \
         good; run `slimbox erase --account {account} --yes` to confirm"
    )]
    NotConfirmed { account: String },
    #[error(
        "no account {account:?} in the config or the index; check the name (`slimbox stats` \
         lists the accounts the index knows)"
    )]
    UnknownAccount { account: String },
    #[error(
        "mailbox(es) {} are being worked on (a run, a reattach); erase when they are done, as no \
         file may go while a run could be using it",
        .mailboxes.join(", ")
    )]
    Busy { mailboxes: Vec<String> },
    #[error("SLIMBOX_TEST_NOW={given:?} is not Unix seconds (a test setting; unset it)")]
    TestNow { given: String },
    #[error("cannot {what} the readable copy {path}: {source}; check that the store's files/ folder is writable by this user, then run the same command again")]
    Readable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}
