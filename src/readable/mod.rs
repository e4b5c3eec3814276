//! Readable copies: `files/<account>/<YYYY>/<MM>/<original name>` beside the
//! objects of a local store, so a stub's `file://` link opens the file by
//! its name and type without any server.
//!
//! What belongs here: choosing those names (safe as `restore` makes them,
//! numbered on collision, reused for the same file under the same name) and
//! creating the entries: a hard link to a plain object (made read-only, so
//! an editor cannot change the stored bytes through it), a copy where the
//! file system has no hard links, and always a decompressed copy for an
//! object stored as `<hash>.zst`. Nothing here decides what to detach.
//!
//! Names are chosen before detach writes the link into the stub, and the
//! entries are created after the objects are stored and proven, before the
//! original message is removed. A mailbox is worked on by one process at a
//! time (its lock), so a name chosen is still free when it is created.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::restore::{numbered, safe_file_name};
use crate::store::{object_key, to_hex, Modes, Sha256, Store};

/// The folder under a local store's root that holds the readable copies.
pub const FOLDER: &str = "files";

/// What can go wrong with a readable copy.
#[derive(Debug, thiserror::Error)]
pub enum ReadableError {
    #[error("cannot {what} {path}: {source}; check that the store's files/ folder is writable")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the readable copy {path} does not hold the file {sha256} (it hashes differently); \
         move it away and run again"
    )]
    Mismatch { path: PathBuf, sha256: String },
    #[error("cannot read object {sha256} for its readable copy: {source}")]
    Store {
        sha256: String,
        source: crate::store::StoreError,
    },
}

impl ReadableError {
    pub fn is_transient(&self) -> bool {
        match self {
            ReadableError::Store { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

/// One readable copy: where it goes and the link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sha256: Sha256,
    /// The name the stub shows ([`crate::mime::safe_name`]), the key the
    /// detach engine looks its link up by.
    pub stub_name: String,
    pub path: PathBuf,
    /// The `file://` URL of `path`.
    pub url: String,
    /// Already there, holding this file: nothing to create.
    pub exists: bool,
}

/// The readable-copy folder of one local store.
#[derive(Debug, Clone)]
pub struct Readable {
    store_root: PathBuf,
}

impl Readable {
    /// For a local store; `None` for any other (no file:// link reaches it)
    /// and for an encrypted one (its copies would be plain).
    pub fn for_store(store: &Store) -> Option<Readable> {
        let root = store.local_root().filter(|_| !store.is_encrypted());
        root.map(|r| Readable {
            store_root: r.to_path_buf(),
        })
    }

    /// The folder for one account's mail of one month.
    pub fn month_dir(&self, account: &str, year: i32, month: u32) -> PathBuf {
        self.store_root
            .join(FOLDER)
            .join(safe_file_name(account))
            .join(format!("{year:04}"))
            .join(format!("{month:02}"))
    }

    /// Chooses a name in `dir` for each `(sha256, stub name)`: the safe form
    /// of the name, or the first numbered form (`report (2).pdf`) that is
    /// free or already holds the same file.
    pub fn allocate(
        &self,
        dir: &Path,
        files: &[(Sha256, String)],
    ) -> Result<Vec<Entry>, ReadableError> {
        let mut taken: HashMap<String, Sha256> = HashMap::new();
        let mut out: Vec<Entry> = Vec::new();
        for (sha, stub_name) in files {
            if out
                .iter()
                .any(|e| e.sha256 == *sha && e.stub_name == *stub_name)
            {
                continue;
            }
            let base = safe_file_name(stub_name);
            let mut n = 1;
            let (path, exists) = loop {
                let name = if n == 1 {
                    base.clone()
                } else {
                    numbered(&base, n)
                };
                n += 1;
                let key = name.to_lowercase();
                match taken.get(&key) {
                    Some(other) if other == sha => break (dir.join(&name), false),
                    Some(_) => continue,
                    None => {}
                }
                let path = dir.join(&name);
                match holds(&path, sha)? {
                    Some(true) => {
                        taken.insert(key, *sha);
                        break (path, true);
                    }
                    Some(false) => continue,
                    None => {
                        // Another name differing only in case counts as
                        // taken on Windows and macOS.
                        taken.insert(key, *sha);
                        break (path, false);
                    }
                }
            };
            out.push(Entry {
                sha256: *sha,
                stub_name: stub_name.clone(),
                url: file_url(&path),
                path,
                exists,
            });
        }
        Ok(out)
    }

    /// Creates the entries that are not there yet. Each object must be in
    /// the store and proven; the copy is checked against its SHA-256.
    pub async fn create(&self, store: &Store, entries: &[Entry]) -> Result<(), ReadableError> {
        for e in entries.iter().filter(|e| !e.exists) {
            let plain = self.store_root.join(object_key(&e.sha256).as_ref());
            let at = At {
                root: self.store_root.clone(),
                modes: store.modes(),
            };
            if plain.is_file() {
                let (plain, path, sha) = (plain.clone(), e.path.clone(), e.sha256);
                tokio::task::spawn_blocking(move || link_or_copy(&at, &plain, &path, &sha))
                    .await
                    .map_err(|j| io_err("create", &e.path, std::io::Error::other(j)))??;
            } else {
                // Compressed (or not local): the decoded bytes, verified by
                // the store against the hash.
                let data = store
                    .get(&e.sha256)
                    .await
                    .map_err(|source| ReadableError::Store {
                        sha256: to_hex(&e.sha256),
                        source,
                    })?;
                let (path, sha) = (e.path.clone(), e.sha256);
                tokio::task::spawn_blocking(move || write_copy(&at, &path, &data, &sha))
                    .await
                    .map_err(|j| io_err("create", &e.path, std::io::Error::other(j)))??;
            }
        }
        Ok(())
    }
}

fn io_err(what: &'static str, path: &Path, source: std::io::Error) -> ReadableError {
    ReadableError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// `file://` URL of an absolute path (percent-encoded); the plain path as a
/// last resort, which cannot happen for the absolute root of a local store.
pub fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|()| path.display().to_string())
}

/// `None`: nothing at `path`; `Some(same)`: a file there, holding `sha`?
fn holds(path: &Path, sha: &Sha256) -> Result<Option<bool>, ReadableError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("look at", path, e)),
        Ok(m) if !m.is_file() => Ok(Some(false)),
        Ok(_) => Ok(Some(hash_file(path)? == *sha)),
    }
}

fn hash_file(path: &Path) -> Result<Sha256, ReadableError> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| io_err("read", path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Where the copies go and with which modes: the folders slimbox makes
/// under the store's root get the store's folder mode, a copy its file
/// mode without write permission (the umask decides nothing).
struct At {
    root: PathBuf,
    modes: Modes,
}

impl At {
    fn folders_for(&self, path: &Path) -> Result<(), ReadableError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        self.modes
            .prepare_dirs(&self.root, path)
            .map_err(|e| io_err("create the folder", dir, e))
    }
}

/// A hard link to the plain object, which is made read-only first: the
/// entry and the object are one file, and the object must never change.
/// A copy where the file system refuses hard links.
fn link_or_copy(at: &At, object: &Path, path: &Path, sha: &Sha256) -> Result<(), ReadableError> {
    at.folders_for(path)?;
    let mut perms = std::fs::metadata(object)
        .map_err(|e| io_err("look at", object, e))?
        .permissions();
    if !perms.readonly() {
        perms.set_readonly(true);
        std::fs::set_permissions(object, perms).map_err(|e| io_err("protect", object, e))?;
    }
    match std::fs::hard_link(object, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => already_there(path, sha),
        Err(_) => {
            let data = std::fs::read(object).map_err(|e| io_err("read", object, e))?;
            write_copy(at, path, &data, sha)
        }
    }
}

/// Writes `data` (whose SHA-256 is checked first) as a new read-only file:
/// to a temporary name, flushed, then linked into place without replacing
/// anything.
fn write_copy(at: &At, path: &Path, data: &[u8], sha: &Sha256) -> Result<(), ReadableError> {
    if crate::store::sha256(data) != *sha {
        return Err(ReadableError::Mismatch {
            path: path.to_path_buf(),
            sha256: to_hex(sha),
        });
    }
    at.folders_for(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", to_hex(sha), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        // Read-only, and readable by whom the store's mode says.
        Modes::set(&tmp, at.modes.file & !0o222)
    };
    let placed = write().and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match placed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => already_there(path, sha),
        Err(e) => Err(io_err("create", path, e)),
    }
}

/// Something appeared at `path` meanwhile: fine only if it is this file.
fn already_there(path: &Path, sha: &Sha256) -> Result<(), ReadableError> {
    if hash_file(path)? == *sha {
        Ok(())
    } else {
        Err(ReadableError::Mismatch {
            path: path.to_path_buf(),
            sha256: to_hex(sha),
        })
    }
}

/// Year and month of an IMAP INTERNALDATE (`23-Nov-2026 12:00:00 +0100`),
/// as the server wrote it; from `unix` (UTC) when it does not read.
pub fn year_month(internal_date: &str, unix: i64) -> (i32, u32) {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mut it = internal_date
        .trim()
        .split(['-', ' '])
        .filter(|s| !s.is_empty());
    let _day = it.next();
    let month = it
        .next()
        .and_then(|m| MONTHS.iter().position(|x| x.eq_ignore_ascii_case(m)));
    let year = it.next().and_then(|y| y.parse::<i32>().ok());
    if let (Some(m), Some(y)) = (month, year) {
        return (y, m as u32 + 1);
    }
    let dt = crate::dates::utc_datetime(unix);
    (i32::from(dt.year()), dt.month().unsigned_abs().into())
}

#[cfg(test)]
mod tests;
