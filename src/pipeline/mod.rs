//! The main job, and the one module that owns the safety order.
//!
//! It works as plan then execute (as rustic's prepare_restore/restore): [`plan`]
//! chooses folders and candidates on the server without changing anything
//! (`slimbox scan` prints it), [`execute`] converts the planned messages one
//! by one in the order that keeps the promise:
//!
//! fetch → detach → store objects, read back and verified → prove the
//! original reconstructible from the store → journal the intent (on disk) →
//! APPEND the rewritten message (same folder, same flags, same INTERNALDATE)
//! → verify the copy on the server → remove the original by UID only →
//! commit to the index.
//!
//! Over quota the APPEND may be refused; the original (already proven
//! reconstructible) is then removed first and the APPEND retried; if it
//! still fails the journal keeps the rewritten message for the next run.
//! Each run starts by finishing or rolling back whatever the journal shows
//! in flight ([`recover`]).
//!
//! For speed, the two halves of that order overlap across messages: while
//! message k is committed on the server (journal, APPEND, verify, remove),
//! message k+1, downloaded ahead on a second read-only connection
//! (`ahead`), is detached, stored and proven. No server step of a message
//! starts before its own local steps are done.

pub mod recover;
pub mod select;

mod ahead;
mod execute;
mod reattach;

pub use execute::{
    execute, plan, recover_account, AccountPlan, AccountReport, FolderPlan, FolderReport,
    JobPolicy, Observer, PipelineError,
};
pub use reattach::{reattach_message, ReattachTarget};
