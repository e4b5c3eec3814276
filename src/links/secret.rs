//! The secret links are signed with: a file of random bytes.

use std::io::Write;
use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::LinkError;

const MIN_LEN: usize = 32;

/// The key every link is signed and checked with.
pub struct Secret {
    key: hmac::Key,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from raw bytes (at least 32 of them for a file; tests use this).
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// Reads the secret file.
    pub fn load(path: &Path) -> Result<Secret, LinkError> {
        let bytes = std::fs::read(path).map_err(|source| LinkError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.len() < MIN_LEN {
            return Err(LinkError::TooShort {
                path: path.to_path_buf(),
                len: bytes.len(),
            });
        }
        Ok(Secret::from_bytes(&bytes))
    }

    /// Reads the secret file, writing a new random one (mode 0600) first when
    /// there is none, so a first `run` or `serve` needs no set-up step.
    pub fn load_or_create(path: &Path) -> Result<Secret, LinkError> {
        if !path.exists() {
            create(path)?;
        }
        Secret::load(path)
    }

    pub(super) fn sign(&self, message: &[u8]) -> String {
        let tag = hmac::sign(&self.key, message);
        base64_simd::URL_SAFE_NO_PAD.encode_to_string(tag.as_ref())
    }

    /// The HMAC key, for the short forms' truncated tags.
    pub(super) fn key(&self) -> &hmac::Key {
        &self.key
    }

    /// Constant-time comparison, through ring.
    pub(super) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, message, tag).is_ok()
    }
}

fn create(path: &Path) -> Result<(), LinkError> {
    let err = |source| LinkError::Create {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = [0u8; MIN_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| err(std::io::Error::other("the system's random source failed")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Missing folders are made 0700 (an existing one is the user's).
        crate::private::create_private_dir(dir).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    // create_new: two processes starting at once never overwrite each
    // other's secret; the loser reads the winner's.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(err),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e)),
    }
}
