//! What a rebuild could not do, each worded with what is wrong and how to
//! repair it. Serialized as is by `index rebuild --json`.

use serde::Serialize;

/// A converted message on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRef {
    pub folder: String,
    pub uid: u32,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
}

impl std::fmt::Display for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} UID {}", self.folder, self.uid)?;
        if let Some(id) = &self.message_id {
            write!(f, " <{id}>")?;
        }
        if let Some(s) = &self.subject {
            write!(f, " {s:?}")?;
        }
        Ok(())
    }
}

/// What the store holds for an object a stub needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ObjectState {
    Missing,
    /// Stored, but of another size than the recipe says.
    WrongSize {
        actual: u64,
        expected: u64,
    },
    /// Its content hashes to `actual` (only found with `--read-data`).
    Corrupt {
        actual: String,
    },
    /// The store could not be asked.
    Unreadable {
        why: String,
    },
}

/// Something the rebuild could not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// A stub's object is not in the store as it should be. The message is
    /// in the index all the same (`list` shows it); getting its file back
    /// waits for the object.
    Object {
        message: MessageRef,
        sha256: String,
        file: String,
        #[serde(flatten)]
        state: ObjectState,
    },
    /// A converted message whose stubs cannot be read back: it is not in
    /// the index.
    Unreadable { message: MessageRef, why: String },
    /// A folder (or, without one, the whole account) could not be read.
    Server { folder: Option<String>, why: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Object {
                message,
                sha256,
                file,
                state,
            } => {
                let what = match state {
                    ObjectState::Missing => "is missing from the store".to_string(),
                    ObjectState::WrongSize { actual, expected } => {
                        format!("has {actual} bytes in the store, not the {expected} its stub says")
                    }
                    ObjectState::Corrupt { actual } => {
                        format!("is corrupt in the store (its content hashes to {actual})")
                    }
                    ObjectState::Unreadable { why } => format!("cannot be read: {why}"),
                };
                write!(
                    f,
                    "{message}: the object {sha256} of {file:?} {what}. The message is in the \
                     index, but its file cannot come back until the object is restored from a \
                     backup of the store (check that the config names the right store)"
                )
            }
            Finding::Unreadable { message, why } => write!(
                f,
                "{message}: cannot be read back ({why}), so it is not in the index. It was \
                 changed after slimbox wrote it, or written by a newer slimbox; keep it as it \
                 is, and try `slimbox eml reattach` on a saved copy"
            ),
            Finding::Server { folder, why } => {
                match folder {
                    Some(name) => write!(f, "folder {name:?} could not be read: {why}")?,
                    None => write!(f, "the account could not be read: {why}")?,
                }
                f.write_str(
                    "; run `slimbox index rebuild` again once it can (what was written stays \
                     as it is)",
                )
            }
        }
    }
}

/// An error with its causes, each once.
pub(super) fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}
