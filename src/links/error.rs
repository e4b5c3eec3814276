use std::path::PathBuf;

/// What can go wrong with the links' secret.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(
        "cannot read the links secret {path}: {source}; set [links] secret_file to a \
         readable file (slimbox creates one when it is missing)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the links secret {path}: {source}; check that its folder is writable")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the links secret {path} holds {len} bytes; it needs at least 32 random bytes \
         (remove it and slimbox writes a new one, which invalidates every link signed so far)"
    )]
    TooShort { path: PathBuf, len: usize },
}

impl LinkError {
    /// Nothing about a secret file gets better by trying again.
    pub fn is_transient(&self) -> bool {
        false
    }
}
