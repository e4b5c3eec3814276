//! Errors of the object store, worded for the person running slimbox: each
//! names the store, key or hash involved and says what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong opening or using a [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store location could not be understood.
    #[error(
        "store location {location:?} is not usable: {reason}; give a directory path \
         (it is created if missing) or a URL such as file:///var/lib/slimbox/store"
    )]
    BadLocation { location: String, reason: String },

    /// The URL scheme is recognised by nobody, or its backend is not compiled in.
    #[error(
        "store URL {url} uses the scheme {scheme:?}, which this build of slimbox does not \
         support yet; use a local directory path or a file:// URL instead{}",
        path_hint(url)
    )]
    UnsupportedScheme { url: String, scheme: String },

    /// A `[store]` setting for a remote store is unusable.
    #[error("{key} {reason}")]
    Setting { key: &'static str, reason: String },

    /// A plain `http://` endpoint set outside `[store]` (object_store's
    /// environment variables) without `[store] allow_http`.
    #[error(
        "{origin} sets the store's endpoint to {endpoint}, a plain http:// URL, and [store] \
         allow_http is not set; use an https:// endpoint, or for a server on this machine set \
         allow_http = true in [store]"
    )]
    PlainHttpEndpoint { origin: String, endpoint: String },

    /// `store.credentials_command` failed or printed something unusable.
    #[error(
        "store.credentials_command {command:?}: {reason}; it must exit 0 and print \
         KEY=VALUE lines (e.g. AWS_ACCESS_KEY_ID=...) or a JSON object, see the README"
    )]
    CredentialsCommand { command: String, reason: String },

    /// `[store] encryption`'s key could not be had.
    #[error(
        "cannot get the store's encryption key from {source_name}: {reason}; the key is an \
         age identity (make one with age-keygen), see the README's encryption section"
    )]
    EncryptionKey { source_name: String, reason: String },

    /// The store's objects were not written with this key.
    #[error(
        "store {url} was not written with the encryption key from {source_name} \
         (recipient {recipient}){}; point [store] encryption_key_file (or _command, _env) at the key the store was written with",
        found_keys(found)
    )]
    WrongKey {
        url: String,
        source_name: String,
        recipient: String,
        found: Vec<String>,
    },

    /// The local store directory could not be created or resolved.
    #[error(
        "cannot open store directory {}: {source}; check that it exists or can be created, \
         and that it is a directory writable by this user",
        path.display()
    )]
    OpenDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A caller passed data that does not hash to the hash it claimed.
    #[error(
        "refusing to store data under key {key}: the data hashes to {actual}, not to \
         {expected}; this is a bug in the caller, which must pass the SHA-256 of exactly \
         the bytes being stored"
    )]
    HashMismatch {
        key: String,
        expected: String,
        actual: String,
    },

    /// A stored object's content no longer matches its key.
    #[error(
        "object {key} in store {url} is corrupt: its content hashes to {actual}; restore \
         the object from a backup, or delete it so that the next run can store it again"
    )]
    Corrupt {
        key: String,
        url: String,
        actual: String,
    },

    /// The object is not in the store.
    #[error(
        "object {key} is missing from store {url}; check that this is the right store URL, \
         or restore the object from a backup"
    )]
    NotFound { key: String, url: String },

    /// The backend cannot do an operation the store relies on.
    #[error(
        "store {url} cannot {op} {key}: the backend does not support it ({source}); \
         use a backend that supports create-only writes, such as a local directory"
    )]
    Unsupported {
        op: &'static str,
        key: String,
        url: String,
        // Boxed: object_store's error is large and would bloat every Result.
        source: Box<object_store::Error>,
    },

    /// Any other failure reported by the backend.
    #[error(
        "store {url} failed to {op} {key}: {source}; check that the store is reachable \
         and writable, then retry"
    )]
    Backend {
        op: &'static str,
        key: String,
        url: String,
        // Boxed: object_store's error is large and would bloat every Result.
        source: Box<object_store::Error>,
    },

    /// Flushing a local object to stable storage failed.
    #[error(
        "cannot flush {} to disk: {source}; check the disk holding the store for errors \
         or free space, then retry",
        path.display()
    )]
    Sync {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot set the mode of {path} (objects are kept from other users): {source}; check \
         that this user owns the store's folders, or set [store] world_readable",
        path = path.display()
    )]
    Mode {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn found_keys(found: &[String]) -> String {
    if found.is_empty() {
        ": its objects are not encrypted; turn a plain store into an encrypted one with \
         `slimbox store copy`"
            .to_string()
    } else {
        format!(": it holds objects for {}", found.join(", "))
    }
}

/// `foo:bar` parses as a URL but may well have been meant as a directory name;
/// say how to get that. Not offered for real `scheme://` URLs.
fn path_hint(location: &str) -> String {
    if location.contains("://") {
        String::new()
    } else {
        format!(" (if {location} is a local directory, write it as ./{location})")
    }
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (network or I/O
    /// trouble), as opposed to errors that need a human or a code fix.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::BadLocation { .. }
            | StoreError::UnsupportedScheme { .. }
            | StoreError::HashMismatch { .. }
            | StoreError::Corrupt { .. }
            | StoreError::NotFound { .. }
            | StoreError::Unsupported { .. }
            | StoreError::Setting { .. }
            | StoreError::PlainHttpEndpoint { .. }
            | StoreError::CredentialsCommand { .. }
            | StoreError::EncryptionKey { .. }
            | StoreError::WrongKey { .. } => false,
            StoreError::OpenDir { source, .. }
            | StoreError::Sync { source, .. }
            | StoreError::Mode { source, .. } => io_is_transient(source),
            StoreError::Backend { source, .. } => backend_is_transient(source),
        }
    }
}

/// I/O errors are transient unless they say the setup itself is wrong.
fn io_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    !matches!(
        e.kind(),
        K::PermissionDenied
            | K::NotFound
            | K::AlreadyExists
            | K::InvalidInput
            | K::InvalidData
            | K::Unsupported
            | K::NotADirectory
            | K::IsADirectory
            | K::ReadOnlyFilesystem
    )
}

/// `object_store::Error` is non-exhaustive; unknown kinds (and the catch-all
/// `Generic`, which carries network and I/O failures) count as transient so
/// that callers retry rather than give up on a hiccup.
fn backend_is_transient(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    !matches!(
        e,
        E::NotFound { .. }
            | E::InvalidPath { .. }
            | E::NotSupported { .. }
            | E::NotImplemented
            | E::AlreadyExists { .. }
            | E::Precondition { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
    )
}
