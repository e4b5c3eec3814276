//! Encryption at rest (`[store] encryption = "age"`, issue 24): every
//! object encrypted on this host before it is written, under a name keyed
//! with the secret.
//!
//! What belongs here: where the key comes from ([`KeySource`]) and loading
//! it ([`Keys::load`]), the keyed names, and the hooks the rest of the store
//! needs ([`Store::with_encryption`], [`Store::physical_key`]). The work
//! itself is a layer under the store (`layer`): an `ObjectStore` that shows
//! the store the plain layout it knows (`sha256/<2>/<hex>[.zst]`, the bytes
//! it would write without encryption), and writes age files under keyed
//! names to the backend. So reads and their hash checks, compression,
//! pieces for `serve`, `verify` and `store copy` work as they do on a plain
//! store.
//!
//! Format: the age v1 format (<https://age-encryption.org/v1>) through the
//! `age` crate, for one X25519 recipient: ChaCha20-Poly1305 in 64 KiB
//! chunks (STREAM), so neither writing nor reading needs an object whole
//! beyond what the store already holds. The standard `age` tool decrypts
//! any object with the same key file: `age -d -i key.txt OBJECT > file`
//! (then `zstd -d` if the store compresses and the object was compressed).
//! Compression comes before encryption: ciphertext does not compress.
//!
//! Names: HMAC-SHA256 under a key derived from the secret (never the
//! secret itself), of the plain key: `age/<2>/<64 hex>`. Whoever reads the
//! bucket cannot tell which attachment an object is, nor test whether a
//! file they hold is there; the same content under the same secret gets
//! the same name, so deduplication across mailboxes stays. Beside each
//! object, a small age file `age-ix/<2>/<16 hex>.<64 hex>` holds its plain
//! key and size: listing the store (`verify`'s orphans, `store copy`) reads
//! those, and a short link (which carries the first 8 bytes of the content
//! hash) finds its candidates under the 16 hex digits keyed from those 8
//! bytes. A pointer is written before its object (so an object is never
//! without one, whatever interrupts a write), and a pointer whose object is
//! not there is skipped. The marker `age-keys/<16 hex>` holds the public recipient of each
//! key that wrote to the store: an object that cannot be found or opened
//! is then told apart as "wrong key" or "damaged".

mod format;
mod layer;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use object_store::path::Path;

use super::{key, Store, StoreError};

pub(crate) use layer::CryptLayer;

/// Folder of the objects' keyed names.
pub(crate) const OBJECTS: &str = "age";
/// Folder of the small files naming each object (see the module's header).
pub(crate) const POINTERS: &str = "age-ix";
/// Folder of the key markers.
pub(crate) const KEYS: &str = "age-keys";

/// Where `[store] encryption`'s key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `encryption_key_file`: an age identity file (as `age-keygen` writes).
    File(PathBuf),
    /// `encryption_key_command`: `sh -c` prints the identity (a secret
    /// manager, a KMS helper).
    Command(String),
    /// `encryption_key_env`: the environment variable holding the identity.
    Env(String),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "the file {} (store.encryption_key_file)", p.display()),
            KeySource::Command(c) => {
                write!(f, "the command {c:?} (store.encryption_key_command)")
            }
            KeySource::Env(v) => {
                write!(f, "the environment variable {v} (store.encryption_key_env)")
            }
        }
    }
}

/// The secret a store is encrypted with, and what is derived from it.
pub struct Keys {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    /// HMAC key for the names, derived from the identity.
    names: ring::hmac::Key,
    /// Where the identity came from, for messages.
    source: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret: the public recipient and the source only.
        f.debug_struct("Keys")
            .field("recipient", &self.recipient.to_string())
            .field("source", &self.source)
            .finish()
    }
}

impl Keys {
    /// Reads the identity from `source`. A missing file, a failing command,
    /// an unset variable or text without an age identity is a
    /// [`StoreError::EncryptionKey`] naming the source.
    pub fn load(source: &KeySource) -> Result<Arc<Keys>, StoreError> {
        let fail = |reason: String| StoreError::EncryptionKey {
            source_name: source.to_string(),
            reason,
        };
        let text = match source {
            KeySource::File(p) => {
                std::fs::read_to_string(p).map_err(|e| fail(format!("it cannot be read: {e}")))?
            }
            KeySource::Command(c) => run_key_command(c).map_err(fail)?,
            KeySource::Env(v) => std::env::var(v).map_err(|_| fail("it is not set".into()))?,
        };
        Keys::parse(&text, &source.to_string()).map_err(fail)
    }

    /// The identity in `text`: the first `AGE-SECRET-KEY-1…` line (comment
    /// lines, as `age-keygen` writes them, are skipped).
    pub fn parse(text: &str, source: &str) -> Result<Arc<Keys>, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or("it holds no age identity (an AGE-SECRET-KEY-1… line from age-keygen)")?;
        let identity = age::x25519::Identity::from_str(line).map_err(|_| {
            "its first line that is not a comment is not an age X25519 identity \
             (AGE-SECRET-KEY-1…); make one with age-keygen"
                .to_string()
        })?;
        let secret = identity.to_string();
        // A key of its own for the names, so an HMAC never touches the
        // identity's bytes in another role.
        let root = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        let derived = ring::hmac::sign(&root, b"slimbox object names v1");
        Ok(Arc::new(Keys {
            recipient: identity.to_public(),
            identity,
            names: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
            source: source.to_string(),
        }))
    }

    /// The public recipient (`age1…`), which may be shown anywhere.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    /// Where the secret came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn tag(&self, what: &[u8], data: &[u8]) -> String {
        let mut ctx = ring::hmac::Context::with_key(&self.names);
        ctx.update(what);
        ctx.update(&[0]);
        ctx.update(data);
        hex::encode(ctx.sign().as_ref())
    }

    /// The backend's name for the plain key `plain` (`sha256/…`), or
    /// `None` for any other key, which is left as it is.
    pub(crate) fn object_name(&self, plain: &Path) -> Option<Path> {
        let mut parts = plain.parts();
        if parts.next()?.as_ref() != key::PREFIX {
            return None;
        }
        let h = self.tag(b"object", plain.as_ref().as_bytes());
        Some(Path::from_iter([OBJECTS, &h[..2], &h]))
    }

    /// The name of the pointer of the plain key `plain`: keyed by the
    /// first 8 bytes of its hash (what a short link carries), then by the
    /// object's own name.
    pub(crate) fn pointer_name(&self, plain: &Path) -> Option<Path> {
        let object = self.object_name(plain)?;
        let hash = super::compress::parse_stored_key(plain)?.0;
        let dir = self.prefix_tag(&hash[..8]);
        let own = object.filename()?;
        Some(Path::from_iter([
            POINTERS,
            &dir[..2],
            &format!("{dir}.{own}"),
        ]))
    }

    /// The 16 hex digits the pointers of objects whose hash starts with
    /// `prefix` (8 bytes) are named by.
    pub(crate) fn prefix_tag(&self, prefix: &[u8]) -> String {
        self.tag(b"prefix", prefix)[..16].to_string()
    }

    /// This key's marker.
    pub(crate) fn marker_name(&self) -> Path {
        let id = self.tag(b"key id", b"");
        Path::from_iter([KEYS, &id[..16]])
    }
}

/// Runs `sh -c cmd` and returns what it printed.
fn run_key_command(cmd: &str) -> Result<String, String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("it could not be started: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("it failed ({}): {}", out.status, err.trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| "it printed non-UTF-8 output".to_string())
}

impl Store {
    /// This handle, encrypting every object with `keys` (see the module's
    /// header). Objects written before without encryption are not read:
    /// `store copy` turns a plain store into an encrypted one.
    pub fn with_encryption(mut self, keys: Arc<Keys>) -> Store {
        let layer = CryptLayer::new(
            Arc::clone(&self.inner),
            Arc::clone(&keys),
            self.local_root.clone(),
        );
        self.inner = Arc::new(layer);
        self.crypt = Some(keys);
        self
    }

    /// Whether objects are encrypted ([`Store::with_encryption`]).
    pub fn is_encrypted(&self) -> bool {
        self.crypt.is_some()
    }

    /// The name the backend holds the object `key` (a plain key) under:
    /// its keyed name in an encrypted store, else `key` itself.
    pub fn physical_key(&self, key: &Path) -> Path {
        self.crypt
            .as_ref()
            .and_then(|k| k.object_name(key))
            .unwrap_or_else(|| key.clone())
    }

    /// A fault of the encryption layer inside a backend error, as the
    /// store error it is: a wrong key, or a damaged object.
    pub(super) fn crypt_fault(&self, key: &Path, e: &object_store::Error) -> Option<StoreError> {
        let object_store::Error::Generic { source, .. } = e else {
            return None;
        };
        match source.downcast_ref::<layer::Fault>()? {
            layer::Fault::WrongKey { found } => Some(StoreError::WrongKey {
                url: self.url.clone(),
                source_name: self
                    .crypt
                    .as_ref()
                    .map(|k| k.source.clone())
                    .unwrap_or_default(),
                recipient: self
                    .crypt
                    .as_ref()
                    .map(|k| k.recipient())
                    .unwrap_or_default(),
                found: found.clone(),
            }),
            layer::Fault::Damaged { why } => Some(StoreError::Corrupt {
                key: format!("{key} (stored as {})", self.physical_key(key)),
                url: self.url.clone(),
                actual: format!("nothing: it cannot be decrypted ({why})"),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
