//! The age files the layer writes and reads: encrypting a whole buffer
//! (what `put` is given), decrypting a stream of ciphertext as it comes,
//! and a file's plaintext size from its header and stored size.
//!
//! All cryptography is the `age` crate's; the sizes follow from the age v1
//! format (a text header ending in a `--- ` MAC line, a 16-byte nonce, then
//! chunks of 64 KiB of plaintext plus a 16-byte tag each, the last one
//! shorter and never absent).

use std::io::Write;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{AsyncReadExt, StreamExt, TryStreamExt};

use super::Keys;

/// Plaintext bytes per STREAM chunk.
const CHUNK: u64 = 64 * 1024;
/// Poly1305 tag after each chunk.
const TAG: u64 = 16;
/// The payload's nonce, after the header.
const NONCE: u64 = 16;

/// Bytes read from the start of an object to learn its header's length:
/// an X25519 header is about 200 bytes.
pub(super) const HEADER_PROBE: u64 = 1024;

/// Why an age file could not be read.
#[derive(Debug)]
pub(super) enum Unreadable {
    /// None of the header's stanzas is for this key.
    NotOurKey,
    /// The file is not a well-formed age file, or a chunk fails its tag.
    Damaged(String),
    /// The ciphertext could not be read from the backend.
    Backend(object_store::Error),
}

/// `data` as an age file for this key's recipient.
pub(super) fn encrypt(keys: &Keys, data: &[Bytes]) -> std::io::Result<Vec<u8>> {
    let len: usize = data.iter().map(Bytes::len).sum();
    let chunks = (len as u64).div_ceil(CHUNK).max(1);
    let mut out = Vec::with_capacity(len + (chunks * TAG) as usize + 256);
    encrypt_into(keys, data, &mut out)?;
    Ok(out)
}

/// `data` written to `out` as an age file for this key's recipient.
fn encrypt_into(keys: &Keys, data: &[Bytes], out: impl Write) -> std::io::Result<()> {
    let recipient: &dyn age::Recipient = &keys.recipient;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))
        .map_err(std::io::Error::other)?;
    let mut w = encryptor.wrap_output(out)?;
    for part in data {
        w.write_all(part)?;
    }
    w.finish()?;
    Ok(())
}

/// Writes `data` as an age file at `target`, create-only, without holding
/// the ciphertext: encrypted into a temporary file beside it, which is then
/// hard-linked to `target` (as object_store's local create-only put does).
/// `Ok(false)`: `target` was there already.
pub(super) fn encrypt_to_file(
    keys: &Keys,
    data: &[Bytes],
    target: &std::path::Path,
) -> std::io::Result<bool> {
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("an object's path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new().prefix(".age-").tempfile_in(dir)?;
    {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file());
        encrypt_into(keys, data, &mut out)?;
        out.flush()?;
    }
    match std::fs::hard_link(tmp.path(), target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Decrypts a whole small age file (a pointer).
pub(super) fn decrypt_small(keys: &Keys, file: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let d = age::Decryptor::new_buffered(file).map_err(header_err)?;
    let identity: &dyn age::Identity = &keys.identity;
    let mut r = d.decrypt(std::iter::once(identity)).map_err(header_err)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut out).map_err(|e| Unreadable::Damaged(e.to_string()))?;
    Ok(out)
}

fn header_err(e: age::DecryptError) -> Unreadable {
    match e {
        age::DecryptError::NoMatchingKeys => Unreadable::NotOurKey,
        other => Unreadable::Damaged(format!("its age header is not valid: {other}")),
    }
}

/// The length of the age header at the start of `head`, if it is all there.
pub(super) fn header_len(head: &[u8]) -> Option<usize> {
    let mac = memchr::memmem::find(head, b"\n--- ")? + 1;
    let end = memchr::memchr(b'\n', &head[mac..])?;
    Some(mac + end + 1)
}

/// The plaintext size of an age file of `stored` bytes whose header is
/// `header` bytes long; `None` when no age file can be that long.
pub(super) fn plaintext_size(stored: u64, header: usize) -> Option<u64> {
    let payload = stored.checked_sub(header as u64 + NONCE)?;
    let chunks = payload.div_ceil(CHUNK + TAG).max(1);
    payload.checked_sub(chunks * TAG)
}

/// The plaintext of the ciphertext `chunks`, `piece` bytes at a time, as
/// it comes. A chunk that fails its tag ends the stream with `Damaged`;
/// the caller hashes what it reads anyway.
pub(super) async fn decrypt_stream(
    keys: &Keys,
    chunks: BoxStream<'static, object_store::Result<Bytes>>,
) -> Result<BoxStream<'static, Result<Bytes, Unreadable>>, Unreadable> {
    let reader = chunks
        .map_err(|e| std::io::Error::other(Backend(e)))
        .into_async_read();
    let decryptor = match age::Decryptor::new_async_buffered(reader).await {
        Ok(d) => d,
        Err(age::DecryptError::Io(e)) => return Err(io_fault(e)),
        Err(e) => return Err(header_err(e)),
    };
    let identity: &dyn age::Identity = &keys.identity;
    let plain = decryptor
        .decrypt_async(std::iter::once(identity))
        .map_err(header_err)?;
    let out = futures::stream::try_unfold(plain, |mut r| async move {
        let mut buf = vec![0u8; CHUNK as usize];
        let mut filled = 0;
        // Whole chunks where the source allows: fewer, larger pieces.
        while filled < buf.len() {
            match r.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Err(io_fault(e)),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        Ok(Some((Bytes::from(buf), r)))
    });
    Ok(out.boxed())
}

/// A backend error carried through the age reader.
#[derive(Debug)]
struct Backend(object_store::Error);

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Backend {}

/// An I/O error from the age reader: the backend's own, or a chunk that
/// fails to decrypt.
fn io_fault(e: std::io::Error) -> Unreadable {
    let text = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<Backend>()) {
        Some(Ok(b)) => Unreadable::Backend(b.0),
        _ => Unreadable::Damaged(format!("its ciphertext fails to decrypt: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> std::sync::Arc<Keys> {
        let id = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        Keys::parse(id.to_string().expose_secret(), "test").unwrap()
    }

    #[test]
    fn sizes_follow_from_the_header() {
        let k = keys();
        for len in [0usize, 1, 65535, 65536, 65537, 3 * 65536, 200_000] {
            let data = vec![7u8; len];
            let file = encrypt(&k, &[Bytes::from(data)]).unwrap();
            let h = header_len(&file).unwrap();
            assert_eq!(
                plaintext_size(file.len() as u64, h),
                Some(len as u64),
                "{len}"
            );
        }
    }

    #[tokio::test]
    async fn stream_round_trips_and_finds_damage() {
        let k = keys();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let file = encrypt(&k, &[Bytes::from(data.clone())]).unwrap();
        let pieces = |f: Vec<u8>| {
            let parts: Vec<object_store::Result<Bytes>> = f
                .chunks(1000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            futures::stream::iter(parts).boxed()
        };
        let s = decrypt_stream(&k, pieces(file.clone())).await.unwrap();
        let got: Vec<Bytes> = s.try_collect().await.unwrap();
        assert_eq!(got.concat(), data);

        let mut bad = file.clone();
        let at = bad.len() - 100;
        bad[at] ^= 1;
        let s = decrypt_stream(&k, pieces(bad)).await.unwrap();
        let r: Result<Vec<Bytes>, _> = s.try_collect().await;
        assert!(matches!(r, Err(Unreadable::Damaged(_))), "{r:?}");

        let other = keys();
        let r = decrypt_stream(&other, pieces(file)).await;
        assert!(matches!(r, Err(Unreadable::NotOurKey)));
    }
}
