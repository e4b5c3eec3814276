//! The problem reported for an object in a bad state, and how to repair it.
//!
//! The store never overwrites an object (`Store::put` is create-only: when
//! the key exists it reads the object there back and fails if it is
//! corrupt). So a damaged object must be moved out of the way before
//! anything can store that attachment again, and every repair says so.

use super::findings::{object_place, MessageRef, Problem, ProblemKind};
use super::objects::ObjectState;
use crate::store::Store;

/// The problem for object `hex` in `state`, used by `users` (none for an
/// orphan); `None` when the object is good.
pub(super) fn object_problem(
    store: &Store,
    hex: &str,
    state: &ObjectState,
    users: Vec<MessageRef>,
) -> Option<Problem> {
    let (key, place) = object_place(store, hex);
    let restore = restore_text(store, hex, &place);
    let aside = format!(
        "move the damaged file aside (keep it, e.g. as {place}.corrupt; the store never \
         overwrites an object, so while it is there every attempt to store this attachment \
         again reads it back and fails as corrupt), then"
    );
    let (kind, detail, repair) = match state {
        ObjectState::Good => return None,
        ObjectState::Missing => (
            ProblemKind::Missing,
            "the object is not in the store".to_string(),
            restore,
        ),
        ObjectState::Corrupt { actual } if users.is_empty() => (
            ProblemKind::Corrupt,
            format!(
                "the object's content hashes to {actual}, not to {hex}; no message slimbox \
                 knows of uses it"
            ),
            orphan_text(hex, &place),
        ),
        ObjectState::Corrupt { actual } => (
            ProblemKind::Corrupt,
            format!("the object's content hashes to {actual}, not to {hex}"),
            format!("{aside} {restore}"),
        ),
        ObjectState::WrongSize { actual, expected } => (
            ProblemKind::SizeMismatch,
            format!(
                "the object is {actual} bytes; the index says {expected}: it is probably damaged"
            ),
            format!(
                "run `slimbox verify --read-data` to check its content; if it is corrupt, \
                 {aside} {restore}"
            ),
        ),
        ObjectState::Unreadable(e) => (
            ProblemKind::Unreadable,
            format!("the store could not be asked about the object: {e}"),
            "check that the store is reachable and readable by this user, then run verify again"
                .to_string(),
        ),
    };
    Some(Problem {
        kind,
        sha256: Some(hex.to_string()),
        key: Some(key),
        messages: users,
        detail,
        repair,
    })
}

/// How to put an object the messages need back into the store.
fn restore_text(store: &Store, hex: &str, place: &str) -> String {
    format!(
        "restore the object into the store at {place}: any copy of the file whose SHA-256 is \
         {hex} will do, e.g. the attachment from a backup of the mail. `slimbox eml detach \
         ORIGINAL.eml --store {url} --min-size 1 --json` of an original copy of a message \
         carrying it (a .eml from a backup) stores it there, and so does the next `slimbox run` \
         that detaches the same attachment from another message. Until then `slimbox reattach` \
         cannot rebuild the messages that use it and `slimbox restore` cannot write it out. \
         Never delete those messages: their stubs are what names the file",
        url = store.url()
    )
}

/// How to deal with a damaged object nothing uses.
fn orphan_text(hex: &str, place: &str) -> String {
    format!(
        "delete the damaged file {place}: no index entry and no processed message checked links \
         to it. While it is there, the next message carrying this attachment cannot be \
         processed: the store never overwrites an object, it reads the one there back and \
         refuses it as corrupt; once it is gone, that message's run stores the attachment \
         afresh. If verify ran with --account or could not reach a server, or copies of stubs \
         outside these mailboxes (forwarded mail, a local archive) may link to it, restore it \
         from a backup instead (any copy of the file whose SHA-256 is {hex})"
    )
}
