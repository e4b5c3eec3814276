//! Errors of a restore. Some stop it before anything is written (nothing
//! chosen, an ambiguous prefix, a folder that cannot be created); the ones
//! about a single file ([`RestoreError::is_per_file`]) are collected in
//! [`Restored::problems`](super::Restored::problems) while the other files
//! are written.

use std::path::PathBuf;

use crate::index::IndexError;
use crate::store::StoreError;

/// What went wrong restoring files, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The SHA-256 given is not one, nor a prefix of one.
    #[error("{given:?} is not a SHA-256 or a prefix of one (4 to 64 hex digits)")]
    NotAHash { given: String },

    /// Neither a hash, a Message-ID nor a filter says what to restore:
    /// restoring everything by accident could fill a disk.
    #[error("say what to restore: a SHA-256 (or prefix), --message-id, or filters such as --name")]
    NothingChosen,

    /// A hash prefix matches more than one file.
    #[error(
        "{prefix} matches {} files; give more digits:\n  {}",
        matches.len(),
        matches.join("\n  ")
    )]
    Ambiguous {
        prefix: String,
        /// The full hashes it matches, sorted.
        matches: Vec<String>,
    },

    /// Nothing in the index (nor, for a full hash, in the store) matches.
    #[error("nothing in the index matches; `slimbox list` shows what there is")]
    NothingMatches,

    /// The folder or a file in it could not be created or written.
    #[error(
        "cannot write {}: {source}; check that the folder can be created and is writable by \
         this user and the disk is not full, or choose another folder with --to",
        path.display()
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file of that name is already in the folder (per file).
    #[error(
        "{} exists; not overwritten (use --force, or restore into another folder)",
        path.display()
    )]
    Exists { path: PathBuf },

    /// The index holds something that is not a SHA-256 for this file (per
    /// file).
    #[error(
        "{file}: the index holds a damaged hash {hash:?}; `slimbox verify` checks the \
         index, and a backup of the index file repairs it"
    )]
    DamagedHash { file: String, hash: String },

    /// A made-safe name would still land outside the folder; it cannot by
    /// construction, and is checked all the same (per file).
    #[error("{name:?} would leave {}; skipped", dir.display())]
    OutsideFolder { name: String, dir: PathBuf },

    /// The file's object could not be read from the store, or did not match
    /// its SHA-256 (per file).
    #[error("{file}: {source}")]
    Object { file: String, source: StoreError },

    /// The store could not be asked whether it holds an object.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The index could not be searched.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl RestoreError {
    /// Whether this is about one file only, the others being written.
    pub fn is_per_file(&self) -> bool {
        matches!(
            self,
            RestoreError::Exists { .. }
                | RestoreError::DamagedHash { .. }
                | RestoreError::OutsideFolder { .. }
                | RestoreError::Object { .. }
        )
    }

    /// Whether trying again later may succeed (a busy index, a store that
    /// did not answer), as opposed to needing a change first.
    pub fn is_transient(&self) -> bool {
        match self {
            RestoreError::Store(e) | RestoreError::Object { source: e, .. } => e.is_transient(),
            RestoreError::Index(e) => e.is_transient(),
            _ => false,
        }
    }
}
