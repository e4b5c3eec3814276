//! Getting detached files back onto a disk, safely named: what
//! `slimbox restore` does, and what a browsable folder of the files needs.
//!
//! What belongs here: choosing files from the index (a SHA-256 or prefix, a
//! Message-ID, the filters of `slimbox list`), names made safe to create
//! (see [`safe_file_name`]), writing into one folder without leaving it and
//! without overwriting anything unless asked, every object checked against
//! its SHA-256 as the store streams it (bounded memory, a few objects at a
//! time). Not here: the server (restoring a whole message is `reattach`),
//! progress bars and printing (`cli/restore.rs`).

mod choose;
mod error;
mod names;

pub use error::RestoreError;
pub use names::{numbered, safe_file_name, NameSet};

use std::path::{Path, PathBuf};

use futures::StreamExt;

use crate::index::{Index, PartFilter, PartRow};
use crate::store::{parse_hex, ReadError, Sha256, Store, READS_IN_FLIGHT};

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
///
/// Objects are streamed from the store into temporary files, at most
/// [`READS_IN_FLIGHT`] at once, so memory stays bounded whatever their
/// size; a file is placed only once its content matched its SHA-256.
pub async fn run(
    store: &Store,
    index: &Index,
    request: &Request,
    progress: &dyn Progress,
) -> Result<Restored, RestoreError> {
    let rows = choose::parts(store, index, request).await?;
    let dir = open_folder(&request.to)?;
    progress.starting(rows.len(), rows.iter().map(|r| r.size).sum());
    // Names are claimed in order before anything is read, so that the
    // numbering of same-named files does not depend on which read ends
    // first.
    let mut names = NameSet::default();
    let jobs: Vec<_> = rows
        .iter()
        .map(|row| plan_one(&dir, &mut names, row, request.force))
        .collect();
    let (dir, force) = (&dir, request.force);
    let mut results = futures::stream::iter(jobs)
        .map(|job| async move { restore_one(store, dir, job?, force).await })
        .buffered(READS_IN_FLIGHT);
    let mut out = Restored::default();
    while let Some(result) = results.next().await {
        match result {
            Ok(w) => {
                progress.written(w.size);
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

/// One file to write: its object, and where.
struct Job {
    hash: Sha256,
    hex: String,
    file: String,
    path: PathBuf,
}

/// Chooses where one part goes in `dir`, under a name not used yet.
fn plan_one(
    dir: &Path,
    names: &mut NameSet,
    row: &PartRow,
    force: bool,
) -> Result<Job, RestoreError> {
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
    Ok(Job {
        hash,
        hex: row.sha256.clone(),
        file: row.filename.clone(),
        path,
    })
}

/// Streams one object into a temporary file in `dir`, hashing it on the
/// way, and places the file only when the hash matched (a damaged
/// object's temporary file is removed).
async fn restore_one(
    store: &Store,
    dir: &Path,
    job: Job,
    force: bool,
) -> Result<Written, RestoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { path, source }
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    let sink = std::io::BufWriter::with_capacity(256 * 1024, tmp);
    let (sink, size) = store
        .read_into(&job.hash, sink)
        .await
        .map_err(|e| match e {
            ReadError::Store(source) => RestoreError::Object {
                file: job.file.clone(),
                source,
            },
            ReadError::Write { source, .. } => io(dir)(source),
        })?;
    let tmp = sink.into_inner().map_err(|e| io(dir)(e.into_error()))?;
    let (d, path) = (dir.to_path_buf(), job.path.clone());
    // fsync of a large file would stall the runtime's thread.
    match tokio::task::spawn_blocking(move || place(&d, &path, tmp, force)).await {
        Ok(placed) => placed?,
        Err(e) => return Err(io(dir)(std::io::Error::other(e))),
    }
    Ok(Written {
        path: job.path,
        sha256: job.hex,
        size,
    })
}

/// Places a checked temporary file in `dir`: synced, then linked into
/// place (never replacing anything unless `force`).
fn place(
    dir: &Path,
    path: &Path,
    tmp: tempfile::NamedTempFile,
    force: bool,
) -> Result<(), RestoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { path, source }
    };
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
