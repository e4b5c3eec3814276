//! What the audit found: the report `verify` prints (or writes as JSON),
//! and the problems in it, each worded with what is wrong and how to
//! repair it.

use std::collections::BTreeMap;

use crate::store::{object_key, parse_hex, Store};

/// Everything the audit found. Serialized as is by `verify --json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Findings {
    /// The store's URL.
    pub store: String,
    /// Objects looked up (or, with `read_data`, read and hashed).
    pub objects_checked: u64,
    /// Bytes read from the store (only with `read_data`).
    pub bytes_read: u64,
    /// Processed messages on the servers whose stubs were resolved.
    pub messages_checked: u64,
    /// What is wrong; empty when all is well.
    pub problems: Vec<Problem>,
    /// Objects no message slimbox knows of uses (harmless).
    pub orphans: Vec<Orphan>,
    /// Messages an interrupted run left half-way (per account); the next
    /// `slimbox run` finishes them. Their objects are in the store but not
    /// yet in the index, so they may show up as orphans until then.
    pub in_flight: BTreeMap<String, usize>,
}

/// A message that uses an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct MessageRef {
    pub account: String,
    pub folder: String,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub uid: Option<u32>,
}

impl std::fmt::Display for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ", self.account, self.folder)?;
        match &self.message_id {
            Some(id) => write!(f, "<{id}>")?,
            None => f.write_str("(no Message-ID)")?,
        }
        match self.uid {
            Some(uid) => write!(f, " (UID {uid})"),
            None => Ok(()),
        }
    }
}

impl MessageRef {
    /// The index names a user as its Message-ID or as `UID n`.
    pub(super) fn from_index(account: String, folder: String, who: String) -> MessageRef {
        let uid = who.strip_prefix("UID ").and_then(|n| n.parse::<u32>().ok());
        MessageRef {
            account,
            folder,
            message_id: if uid.is_some() { None } else { Some(who) },
            uid,
        }
    }

    /// Adds `self` to `list` unless the same message is already there; a
    /// UID learnt from the server fills in an index entry that lacked it.
    pub(super) fn add_to(self, list: &mut Vec<MessageRef>) {
        let same = |m: &MessageRef| {
            m.account == self.account
                && m.folder == self.folder
                && match (&m.message_id, &self.message_id) {
                    (Some(a), Some(b)) => a == b,
                    _ => m.uid.is_some() && m.uid == self.uid,
                }
        };
        match list.iter_mut().find(|m| same(m)) {
            Some(m) => {
                if m.uid.is_none() {
                    m.uid = self.uid;
                }
            }
            None => list.push(self),
        }
    }
}

/// What kind of thing is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// An object is not in the store.
    Missing,
    /// An object's content does not hash to its name.
    Corrupt,
    /// An object's size differs from the size the index knows.
    SizeMismatch,
    /// The store could not be asked.
    Unreadable,
    /// The index holds a damaged SHA-256.
    BadHash,
    /// A processed message's stubs cannot be read.
    DamagedMessage,
    /// A server could not be checked.
    Server,
    /// A folder holds one message more than once.
    Duplicate,
    /// A converted message on the server has no row in the index.
    NotIndexed,
}

impl ProblemKind {
    /// The name printed and written to JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::SizeMismatch => "size-mismatch",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::BadHash => "bad-hash",
            ProblemKind::DamagedMessage => "damaged-message",
            ProblemKind::Server => "server",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::NotIndexed => "not-indexed",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ProblemKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One thing that is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub sha256: Option<String>,
    /// The object's key in the store.
    pub key: Option<String>,
    /// The messages that use the object (none for an orphan).
    pub messages: Vec<MessageRef>,
    /// What is wrong.
    pub detail: String,
    /// How to repair it.
    pub repair: String,
}

/// An object no message slimbox knows of uses.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Orphan {
    pub sha256: String,
    pub key: String,
    pub size: Option<u64>,
}

impl Problem {
    /// A problem that is not about one object.
    fn general(kind: ProblemKind, messages: Vec<MessageRef>, detail: String, repair: &str) -> Self {
        Problem {
            kind,
            sha256: None,
            key: None,
            messages,
            detail,
            repair: repair.to_string(),
        }
    }

    /// The index holds a SHA-256 that is not one.
    pub(super) fn bad_hash(hex: &str, users: Vec<MessageRef>) -> Problem {
        Problem {
            sha256: Some(hex.to_string()),
            ..Problem::general(
                ProblemKind::BadHash,
                users,
                format!("the index holds a damaged SHA-256 {hex:?}"),
                "this index row is damaged, so `slimbox list` and `slimbox restore` cannot \
                 use it; the message's stubs on the server still name its objects, and this \
                 run checked those against the store (see the other findings)",
            )
        }
    }

    /// A processed message whose stubs cannot be read.
    pub(super) fn damaged_message(who: MessageRef, why: &str) -> Problem {
        Problem::general(
            ProblemKind::DamagedMessage,
            vec![who],
            format!("the slimbox stubs in this message cannot be read: {why}"),
            "slimbox reattach cannot rebuild this message; its attachments can still be \
             written out with `slimbox restore --message-id ID` when the index knows them. \
             Keep the message: do not delete it",
        )
    }

    /// The store could not list its objects.
    pub(super) fn unlisted(why: &str) -> Problem {
        Problem::general(
            ProblemKind::Unreadable,
            Vec::new(),
            format!("cannot list the objects in the store: {why}"),
            "orphans were not looked for (nor, with --read-data, read); check the store is \
             reachable and readable, then run verify again",
        )
    }

    /// An account's server (or one of its folders) could not be checked.
    pub(super) fn server(account: &str, folder: Option<&str>, why: &str) -> Problem {
        // The connector's error often already names the account.
        let why = why
            .strip_prefix(&format!("account {account}: "))
            .unwrap_or(why);
        let (detail, repair) = match folder {
            Some(f) => (
                format!("account {account}: cannot check folder {f} on the server: {why}"),
                "the processed mail in that folder was not checked; run verify again once the \
                 server answers",
            ),
            None => (
                format!("account {account}: cannot check the mail on the server: {why}"),
                "the processed mail of this account was not checked; check the server is \
                 reachable and the account's settings in the config, then run verify again",
            ),
        };
        Problem::general(ProblemKind::Server, Vec::new(), detail, repair)
    }
}

/// Where an object lives, for people: a file path for a local store.
pub(super) fn object_place(store: &Store, hex: &str) -> (String, String) {
    let key = parse_hex(hex).map_or_else(
        || format!("sha256/{}/{hex}", hex.get(..2).unwrap_or("")),
        |h| object_key(&h).to_string(),
    );
    let place = match store.local_root() {
        Some(root) => root.join(&key).display().to_string(),
        None => format!("{}/{key}", store.url()),
    };
    (key, place)
}
