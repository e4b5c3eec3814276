//! Opening a store: a directory path, a `file://` URL, or a remote URL
//! (`s3://`, `az://`, `gs://` through `backend`, others through
//! object_store's own parser), and the store's identity for the index.

use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

use super::{backend, trim_url, Modes, RemoteOptions, Store, StoreError};

impl Store {
    /// Opens the store at `location`: a directory path (relative or
    /// absolute, created if missing), a `file://` URL, or another URL that
    /// `object_store` understands and this build has the backend for.
    pub fn open(location: &str) -> Result<Store, StoreError> {
        Self::open_with(location, &RemoteOptions::default())
    }

    /// As [`Store::open`], with the `[store]` settings that `s3://`, `az://`
    /// and `gs://` stores take (endpoint, region, credentials, …).
    pub fn open_with(location: &str, remote: &RemoteOptions) -> Result<Store, StoreError> {
        if location.trim().is_empty() {
            return Err(StoreError::BadLocation {
                location: location.to_string(),
                reason: "it is empty".to_string(),
            });
        }
        match Url::parse(location) {
            // A one-letter "scheme" is a Windows drive letter (C:\...), not a URL.
            Ok(url) if url.scheme().len() > 1 => {
                if url.scheme() == "file" {
                    let path = url.to_file_path().map_err(|()| StoreError::BadLocation {
                        location: location.to_string(),
                        reason: "a file:// URL must name an absolute local path, \
                                 with no host other than localhost"
                            .to_string(),
                    })?;
                    Self::open_local(&path)
                } else {
                    Self::open_url(location, &url, remote)
                }
            }
            // Anything that is not an absolute URL is a filesystem path.
            _ => Self::open_local(FsPath::new(location)),
        }
    }

    /// Wraps an already-built backend; `display_url` is used in messages and
    /// link templates. The backend is treated as remote (no local fsync).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, display_url: String) -> Store {
        Store {
            inner,
            url: trim_url(&display_url),
            local_root: None,
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        }
    }

    fn open_local(dir: &FsPath) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::OpenDir {
            path: dir.to_path_buf(),
            source,
        };
        // A root slimbox makes is private; one that exists is the user's.
        Modes::PRIVATE.create_dir_all(dir).map_err(open_err)?;
        // Canonical, absolute root so that links stay valid from any cwd.
        let root = std::fs::canonicalize(dir).map_err(open_err)?;
        if !root.is_dir() {
            return Err(open_err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let url = Url::from_file_path(&root).map_err(|()| StoreError::BadLocation {
            location: root.display().to_string(),
            reason: "the directory cannot be expressed as a file:// URL".to_string(),
        })?;
        let fs = LocalFileSystem::new_with_prefix(&root).map_err(|e| StoreError::OpenDir {
            path: root.clone(),
            source: std::io::Error::other(e),
        })?;
        Ok(Store {
            inner: Arc::new(fs),
            url: trim_url(url.as_str()),
            local_root: Some(root),
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        })
    }

    fn open_url(location: &str, url: &Url, remote: &RemoteOptions) -> Result<Store, StoreError> {
        let unsupported = || StoreError::UnsupportedScheme {
            url: location.to_string(),
            scheme: url.scheme().to_string(),
        };
        // Schemes object_store has never heard of: say so before it does,
        // because its own message does not say what to do instead.
        ObjectStoreScheme::parse(url).map_err(|_| unsupported())?;
        if backend::is_cloud_scheme(url.scheme()) {
            let store = backend::build(url, remote)?;
            // `scheme://bucket/prefix` on every backend (object_store would
            // take az://'s first path segment for a container).
            let prefix = Path::from_url_path(url.path()).map_err(|e| StoreError::BadLocation {
                location: location.to_string(),
                reason: format!("its path is not a usable prefix: {e}"),
            })?;
            return Ok(Self::remote(store, prefix, location));
        }
        // Other backends (memory://, http(s)://) take their options from
        // the environment; keys a backend does not know are ignored.
        let (store, prefix) =
            object_store::parse_url_opts(url, std::env::vars()).map_err(|e| match e {
                // This is how object_store 0.12 reports a backend whose cargo
                // feature is off, which with our features is every cloud one.
                object_store::Error::Generic {
                    store: "parse_url", ..
                } => unsupported(),
                other => StoreError::BadLocation {
                    location: location.to_string(),
                    reason: other.to_string(),
                },
            })?;
        Ok(Self::remote(Arc::from(store), prefix, location))
    }

    fn remote(store: Arc<dyn ObjectStore>, prefix: Path, location: &str) -> Store {
        // The URL path is a prefix inside the bucket; keep keys under it.
        let inner: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Store {
            inner,
            url: trim_url(location),
            local_root: None,
            compress: Arc::default(),
            modes: Modes::PRIVATE,
            crypt: None,
        }
    }

    /// The store as the index records it (issue 21: an index belongs to
    /// one store): its URL as configured, normalised. A local store's is
    /// its canonical `file://` URL, so a relative path, a symlink or a
    /// trailing `/` name the same store; a remote one's is its URL with
    /// the scheme in lower case and no trailing `/`. The endpoint is not
    /// part of it: the same bucket reached another way is the same store.
    pub fn identity(&self) -> String {
        match Url::parse(&self.url) {
            Ok(url) => trim_url(url.as_str()),
            Err(_) => self.url.clone(),
        }
    }
}
