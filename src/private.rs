//! Files and folders created with their own modes, whatever the umask: the
//! index, the links secret, tokens and a local store hold people's mail.
//! Only the creating is here; which mode each thing gets is its owner's.

use std::path::Path;

/// Creates `dir` and its missing parents with `mode` (unix; elsewhere the
/// system's default). An existing folder is left as it is: it may be one
/// the user chose and shares on purpose.
pub fn create_dir_all(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, mode);
    #[cfg(not(unix))]
    let _ = mode;
    b.create(dir)
}

/// [`create_dir_all`] with 0700: for the owner alone.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    create_dir_all(dir, 0o700)
}
