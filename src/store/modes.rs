//! Who may read a local store: its objects and readable copies are
//! attachments of someone's mail, so by default only the owner and the
//! owner's group read them (files 0640, folders 0750), whatever the umask.
//! `[store] world_readable = true` makes them 0644 and 0755 (a store served
//! by a web server of another user, say).
//!
//! The folders an object goes in are made with their mode before the object
//! is written, so the file is never reachable by others, not even while
//! `object_store` writes it with the umask's mode; the file's mode is set
//! right after. A folder or object of an older store is brought to the
//! mode when an object is written in it.

use std::path::Path;

use super::{Store, StoreError};

/// The modes of a local store's files and folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    pub file: u32,
    pub dir: u32,
}

impl Modes {
    pub const PRIVATE: Modes = Modes {
        file: 0o640,
        dir: 0o750,
    };
    pub const WORLD_READABLE: Modes = Modes {
        file: 0o644,
        dir: 0o755,
    };

    pub fn new(world_readable: bool) -> Modes {
        if world_readable {
            Modes::WORLD_READABLE
        } else {
            Modes::PRIVATE
        }
    }

    /// Creates `dir` and its missing parents with this folder mode.
    pub fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        crate::private::create_dir_all(dir, self.dir)
    }

    /// Gives `path` the mode `mode` (keeping only its permission bits)
    /// unless it has it already.
    pub fn set(path: &Path, mode: u32) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let now = std::fs::metadata(path)?.permissions().mode() & 0o7777;
            if now != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
        }
        #[cfg(not(unix))]
        {
            let mut perms = std::fs::metadata(path)?.permissions();
            perms.set_readonly(mode & 0o222 == 0);
            std::fs::set_permissions(path, perms)?;
        }
        Ok(())
    }

    /// The folders between `root` and `file` (both excluded for the root),
    /// created with this mode or brought to it.
    pub fn prepare_dirs(&self, root: &Path, file: &Path) -> std::io::Result<()> {
        let Some(parent) = file.parent() else {
            return Ok(());
        };
        self.create_dir_all(parent)?;
        let mut dir = Some(parent);
        while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
            Modes::set(d, self.dir)?;
            dir = d.parent();
        }
        Ok(())
    }
}

impl Store {
    /// `[store] world_readable`: a local store's new objects, readable
    /// copies and their folders (and its root) readable by every user
    /// (0644/0755) instead of owner and group only (0640/0750, the default).
    pub fn with_world_readable(mut self, world_readable: bool) -> Result<Store, StoreError> {
        self.modes = Modes::new(world_readable);
        if let (true, Some(root)) = (world_readable, &self.local_root) {
            Modes::set(root, self.modes.dir).map_err(|source| StoreError::Mode {
                path: root.clone(),
                source,
            })?;
        }
        Ok(self)
    }

    /// A local store's file and folder modes.
    pub fn modes(&self) -> Modes {
        self.modes
    }

    /// A local store: the folders `key` goes in, made or brought to the
    /// folder mode before the object is written.
    pub(super) fn folders_for(&self, key: &object_store::path::Path) -> Result<(), StoreError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(self.physical_key(key).as_ref());
        self.modes
            .prepare_dirs(root, &file)
            .map_err(|source| StoreError::Mode {
                path: file.parent().unwrap_or(root).to_path_buf(),
                source,
            })
    }

    /// A local store: the object just written at `key` given the file mode.
    pub(super) fn protect(&self, key: &object_store::path::Path) -> Result<(), StoreError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(self.physical_key(key).as_ref());
        Modes::set(&file, self.modes.file).map_err(|source| StoreError::Mode { path: file, source })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::store::PutOptions;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_get_their_mode_whatever_they_had() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::create_dir(root.join("sha256")).unwrap();
        std::fs::set_permissions(root.join("sha256"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let file = root.join("sha256/ab/abcd");
        Modes::PRIVATE.prepare_dirs(root, &file).unwrap();
        assert_eq!(mode(&root.join("sha256")), 0o750);
        assert_eq!(mode(&root.join("sha256/ab")), 0o750);
        assert_eq!(mode(root), 0o711, "the root is the user's");
        Modes::WORLD_READABLE.prepare_dirs(root, &file).unwrap();
        assert_eq!(mode(&root.join("sha256/ab")), 0o755);
    }

    #[tokio::test]
    async fn issue20_objects_are_private_unless_world_readable() {
        let t = tempfile::tempdir().unwrap();
        for (world, file, dir) in [(false, 0o640, 0o750), (true, 0o644, 0o755)] {
            let root = t.path().join(format!("store-{world}"));
            let store = Store::open(&root.to_string_lossy())
                .unwrap()
                .with_world_readable(world)
                .unwrap();
            let data = bytes::Bytes::from_static(b"an attachment");
            let hash = crate::store::sha256(&data);
            store.put(&hash, data, PutOptions::new()).await.unwrap();
            let obj = root.join(crate::store::object_key(&hash).as_ref());
            assert_eq!(mode(&obj), file, "world_readable = {world}");
            assert_eq!(mode(obj.parent().unwrap()), dir);
            assert_eq!(mode(&root.join("sha256")), dir);
            assert_eq!(mode(&root), dir, "a root slimbox made");
        }
    }
}
