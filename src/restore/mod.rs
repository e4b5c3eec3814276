//! Getting detached files back onto a disk, safely named: what
//! `slimbox restore` does, and what a browsable folder of the files needs.
//!
//! What belongs here: choosing files from the index (a SHA-256 or prefix, a
//! Message-ID, the filters of `slimbox list`), names made safe to create
//! (see [`safe_file_name`]), writing into one folder without leaving it and
//! without overwriting anything unless asked, every object checked against
//! its SHA-256 as the store reads it. Not here: the server (restoring a
//! whole message is `reattach`), progress bars and printing (`cli/restore.rs`).

mod choose;
mod error;
mod names;

pub use error::RestoreError;
pub use names::{numbered, safe_file_name, NameSet};

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::index::{Index, PartFilter, PartRow};
use crate::store::{parse_hex, Store};

/// What to restore, and where.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A SHA-256, or a prefix of at least 4 hex digits, as typed.
    pub sha256: Option<String>,
    /// All attachments of the message with this Message-ID.
    pub message_id: Option<String>,
    /// The filters of `slimbox list`.
    pub filter: PartFilter,
    /// The folder to write into (created if missing).
    pub to: PathBuf,
    /// Overwrite files that already exist.
    pub force: bool,
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// Its SHA-256, in hex.
    pub sha256: String,
    pub size: u64,
}

/// What a restore did: the files written, and the ones it could not write
/// (each a per-file [`RestoreError`]).
#[derive(Debug, Default)]
pub struct Restored {
    pub written: Vec<Written>,
    pub problems: Vec<RestoreError>,
}

/// Progress reports, for a progress bar.
pub trait Progress {
    /// `files` files of `bytes` bytes in all are about to be written.
    fn starting(&self, _files: usize, _bytes: u64) {}
    /// One file of `bytes` bytes was written.
    fn written(&self, _bytes: u64) {}
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Writes the files `request` chooses into its folder. Stops at a request
/// that chooses nothing or too much, or a folder it cannot write into; a
/// file that cannot be written (one already there, an object missing or
/// damaged in the store) is a problem in [`Restored`], and the rest go on.
pub async fn run(
    store: &Store,
    index: &Index,
    request: &Request,
    progress: &dyn Progress,
) -> Result<Restored, RestoreError> {
    let rows = choose::parts(store, index, request).await?;
    let dir = open_folder(&request.to)?;
    progress.starting(rows.len(), rows.iter().map(|r| r.size).sum());
    let mut names = NameSet::default();
    let mut out = Restored::default();
    for row in &rows {
        match restore_one(store, &dir, &mut names, row, request.force).await {
            Ok(w) => {
                progress.written(row.size);
                out.written.push(w);
            }
            Err(e) if e.is_per_file() => out.problems.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Creates `to` if missing, and resolves it, so that every file is checked
/// to land directly in it.
fn open_folder(to: &Path) -> Result<PathBuf, RestoreError> {
    let io = |source| RestoreError::Io {
        path: to.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(to).map_err(io)?;
    to.canonicalize().map_err(io)
}

/// Writes one part into `dir` under a name not used yet.
async fn restore_one(
    store: &Store,
    dir: &Path,
    names: &mut NameSet,
    row: &PartRow,
    force: bool,
) -> Result<Written, RestoreError> {
    let Some(hash) = parse_hex(&row.sha256) else {
        return Err(RestoreError::DamagedHash {
            file: row.filename.clone(),
            hash: row.sha256.clone(),
        });
    };
    let name = names.claim(&row.filename);
    let path = dir.join(&name);
    // One component below `dir`, by construction; checked all the same.
    if path.parent() != Some(dir) {
        return Err(RestoreError::OutsideFolder {
            name,
            dir: dir.to_path_buf(),
        });
    }
    if !force && path.symlink_metadata().is_ok() {
        return Err(RestoreError::Exists { path });
    }
    let data = store
        .get(&hash)
        .await
        .map_err(|source| RestoreError::Object {
            file: row.filename.clone(),
            source,
        })?;
    write_file(dir, &path, &data, force)?;
    Ok(Written {
        path,
        sha256: row.sha256.clone(),
        size: data.len() as u64,
    })
}

/// Writes a file atomically in `dir`: a temporary file, synced, then linked
/// into place (never replacing anything unless `force`).
fn write_file(dir: &Path, path: &Path, data: &[u8], force: bool) -> Result<(), RestoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { path, source }
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    tmp.write_all(data).map_err(io(dir))?;
    tmp.as_file().sync_all().map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io(dir))?;
    }
    let placed = if force {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    match placed {
        Ok(()) => Ok(()),
        // Created by someone else since it was checked.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists && !force => {
            Err(RestoreError::Exists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(io(path)(e.error)),
    }
}

#[cfg(test)]
mod tests;
