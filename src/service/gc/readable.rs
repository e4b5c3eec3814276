//! Readable copies go with their object: the entries under a local
//! store's `files/` that hold an object being deleted (a hard link to it,
//! or a copy, decompressed for a `.zst` object), and for an erasure the
//! whole folder of the erased account.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::RetentionError;
use crate::index::Deletion;
use crate::readable::FOLDER;
use crate::store::{parse_hex, Sha256, Store};

/// Removes the readable copies holding any of `gone` (to be called before
/// the objects themselves go, while a hard link can still be told by its
/// inode); how many were removed.
pub(super) fn remove_copies(store: &Store, gone: &[Deletion]) -> Result<u64, RetentionError> {
    let Some(root) = files_root(store) else {
        return Ok(0);
    };
    let mut sizes: HashMap<u64, HashSet<Sha256>> = HashMap::new();
    for d in gone {
        if let Some(h) = parse_hex(&d.sha256) {
            sizes.entry(d.size).or_default().insert(h);
        }
    }
    if sizes.is_empty() {
        return Ok(0);
    }
    let mut removed = 0;
    for file in walk(&root)? {
        let meta = std::fs::symlink_metadata(&file).map_err(|e| io("read", &file, e))?;
        let Some(wanted) = sizes.get(&meta.len()) else {
            continue;
        };
        // Only a file of a deleted object's size is read to be sure.
        let hash = hash_file(&file)?;
        if wanted.contains(&hash) {
            remove(&file)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes the readable-copy folder of `account` (`files/<account>/`)
/// whole; how many files it held.
pub(super) fn remove_account(store: &Store, account: &str) -> Result<u64, RetentionError> {
    let Some(root) = files_root(store) else {
        return Ok(0);
    };
    let dir = root.join(crate::restore::safe_file_name(account));
    if !dir.is_dir() {
        return Ok(0);
    }
    let files = walk(&dir)?.len() as u64;
    std::fs::remove_dir_all(&dir).map_err(|e| io("remove", &dir, e))?;
    Ok(files)
}

fn files_root(store: &Store) -> Option<PathBuf> {
    crate::readable::Readable::for_store(store)?;
    let root = store.local_root()?.join(FOLDER);
    root.is_dir().then_some(root)
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, RetentionError> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io("list", &d, e))? {
            let entry = entry.map_err(|e| io("list", &d, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| io("read", &entry.path(), e))?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

fn hash_file(path: &Path) -> Result<Sha256, RetentionError> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| io("read", path, e))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| io("read", path, e))?;
    Ok(h.finalize().into())
}

fn remove(path: &Path) -> Result<(), RetentionError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", path, e)),
    }
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> RetentionError {
    RetentionError::Readable {
        what,
        path: path.to_path_buf(),
        source,
    }
}
