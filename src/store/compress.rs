//! Optional zstd compression of stored objects (`[store] compress = "zstd"`).
//!
//! What belongs here: deciding which objects are worth compressing (by the
//! attachment's declared type and a sniff of its first bytes), the key of a
//! compressed object, writing one, and reading either form back through the
//! same hash check as a plain object.
//!
//! The key says which form an object is in, never its content: a
//! compressed object lives at `sha256/<2>/<hex>.zst`, beside where the
//! plain one would be (`sha256/<2>/<hex>`). Both are keyed by the SHA-256
//! of the original bytes, and both are hash-checked against it on every
//! read. So a stored `.zst` attachment (whose bytes start with the zstd
//! magic) is a plain object at the plain key and is handed back as it is:
//! nothing is ever decompressed because of what its bytes look like.
//!
//! Reads ask first for the form this handle knows (from its own writes or a
//! listing), else the plain key, then the compressed one: one extra round
//! trip for a compressed object this process has not seen.

use std::collections::HashSet;
use std::io::Read;
use std::ops::RangeInclusive;
use std::sync::Mutex;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, GetRange};

use super::key::{self, to_hex, Sha256};
use super::{hash_off_thread, sha256, Put, PutOutcome, Store, StoreError};

/// zstd levels `compress_level` accepts (1 fastest, 19 smallest; the
/// "ultra" levels above need far more memory to write and read).
pub const LEVELS: RangeInclusive<i32> = 1..=19;

/// `compress_level` when not given: zstd's own default, fast and good.
pub const DEFAULT_LEVEL: i32 = 3;

/// Suffix of a compressed object's key.
pub(crate) const SUFFIX: &str = ".zst";

/// A compressed object must save at least this share (in percent) of the
/// original, or the object is kept plain: reading it back then costs no
/// decompression for almost nothing saved.
const MIN_SAVING_PERCENT: usize = 5;

/// Bytes of a zstd frame header at most (magic, descriptor, window, dict
/// id, content size): enough to learn the original's size.
const FRAME_HEADER_MAX: u64 = 18;

/// Memory reserved ahead when decompressing; beyond it the buffer grows
/// only as real output arrives, so a lying header cannot make it allocate.
const RESERVE_MAX: u64 = 64 * 1024 * 1024;

/// How a store compresses new objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Every object is stored as it is (the default).
    #[default]
    Off,
    /// Objects of types that compress are stored zstd-compressed.
    Zstd { level: i32 },
}

impl Compression {
    /// From `[store] compress_level` when `compress = "zstd"`, else `None`.
    pub fn from_zstd_level(level: Option<i32>) -> Compression {
        match level {
            Some(level) => Compression::Zstd { level },
            None => Compression::Off,
        }
    }
}

/// A store handle's compression setting and the objects it knows to be
/// compressed (shared by clones of the handle).
#[derive(Debug, Default)]
pub(crate) struct CompressState {
    setting: Compression,
    compressed: Mutex<HashSet<Sha256>>,
}

impl CompressState {
    pub(super) fn knows_compressed(&self, hash: &Sha256) -> bool {
        self.compressed
            .lock()
            .map(|set| set.contains(hash))
            .unwrap_or(false)
    }

    fn remember(&self, hash: &Sha256) {
        if let Ok(mut set) = self.compressed.lock() {
            set.insert(*hash);
        }
    }
}

/// The key of the compressed form of `hash`: `sha256/<2>/<hex>.zst`.
pub fn compressed_key(hash: &Sha256) -> Path {
    let hex = to_hex(hash);
    Path::from_iter([key::PREFIX, &hex[..2], &format!("{hex}{SUFFIX}")])
}

/// An object key of either form: the hash, and whether it is the
/// compressed form. Anything not in canonical form is `None`.
pub(crate) fn parse_stored_key(path: &Path) -> Option<(Sha256, bool)> {
    if let Some(hash) = key::parse_object_key(path) {
        return Some((hash, false));
    }
    let name = path.filename()?.strip_suffix(SUFFIX)?;
    let hash = key::parse_hex(name)?;
    (compressed_key(&hash) == *path).then_some((hash, true))
}

/// Whether an attachment is worth trying to compress: its declared type
/// is one that compresses (or says nothing: `application/octet-stream`,
/// none) and its first bytes are not those of a compressed format.
pub fn worth_trying(content_type: Option<&str>, data: &[u8]) -> bool {
    type_may_compress(content_type) && !looks_compressed(data)
}

/// Declared types whose content is usually not compressed already. Unknown
/// kinds (`application/octet-stream`, no type) are tried as well: the
/// sniff and the 5 % rule keep what does not shrink plain.
fn type_may_compress(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    // `text/csv; charset=utf-8` → `text/csv`.
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct.is_empty() || ct.starts_with("text/") {
        return true;
    }
    if ct.ends_with("+xml") || ct.ends_with("+json") {
        return true;
    }
    const TYPES: &[&str] = &[
        "application/octet-stream",
        "application/unknown",
        "application/json",
        "application/xml",
        "application/csv",
        "application/pdf",
        "application/postscript",
        "application/rtf",
        "application/x-rtf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-outlook",
        "application/vnd.visio",
        "application/x-tar",
        "application/sql",
        "application/javascript",
        "application/x-sh",
        "application/x-log",
        "message/rfc822",
        "image/bmp",
        "image/x-ms-bmp",
        "image/tiff",
        "audio/wav",
        "audio/x-wav",
    ];
    TYPES.contains(&ct.as_str())
}

/// Whether `data` starts like a compressed format (archives, compressed
/// streams, office files that are ZIPs, images, audio and video): those
/// are stored as they are whatever their declared type says.
pub fn looks_compressed(data: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"PK\x03\x04",                   // ZIP, docx/xlsx/pptx, odt/ods, jar, epub
        b"PK\x05\x06",                   // empty ZIP
        b"PK\x07\x08",                   // spanned ZIP
        b"\x1f\x8b",                     // gzip
        b"\x1f\x9d",                     // compress (.Z)
        b"\x28\xb5\x2f\xfd",             // zstd
        b"BZh",                          // bzip2
        b"\xfd7zXZ\x00",                 // xz
        b"7z\xbc\xaf\x27\x1c",           // 7z
        b"Rar!\x1a\x07",                 // rar
        b"\x04\x22\x4d\x18",             // lz4
        b"MSCF",                         // cab
        b"\xff\xd8\xff",                 // JPEG
        b"\x89PNG\r\n\x1a\n",            // PNG
        b"GIF87a",                       // GIF
        b"GIF89a",                       // GIF
        b"\x00\x00\x00\x0cjP  ",         // JPEG 2000
        b"\x1a\x45\xdf\xa3",             // Matroska, WebM
        b"ID3",                          // MP3 with a tag
        b"OggS",                         // Ogg
        b"fLaC",                         // FLAC
        b"FLV",                          // Flash video
        b"\x30\x26\xb2\x75\x8e\x66\xcf", // ASF: wma, wmv
    ];
    if MAGIC.iter().any(|m| data.starts_with(m)) {
        return true;
    }
    // ISO media (MP4, MOV, M4A, HEIC, AVIF, 3GP): a box type at offset 4.
    if data.len() >= 8 && matches!(&data[4..8], b"ftyp" | b"moov" | b"mdat" | b"wide") {
        return true;
    }
    // RIFF holds WAV (plain) as well as WebP and AVI (compressed).
    if data.len() >= 12 && data.starts_with(b"RIFF") && matches!(&data[8..12], b"WEBP" | b"AVI ") {
        return true;
    }
    // MPEG audio frame sync (MP3 without a tag, AAC in ADTS).
    data.len() >= 2 && data[0] == 0xff && (data[1] & 0xe0) == 0xe0
}

/// Window of the frames slimbox writes: 1 MiB (2^20). A reader holds the
/// window in memory for as long as it streams the object, so it is what one
/// download of a compressed object costs `slimbox serve` (issue 20: 40
/// parallel downloads of a 25 MB object). zstd would pick 2 MiB at level 3
/// and up to 8 MiB at 19; for attachments the larger window gains little.
/// Frames written before (any window) read as they are.
const WINDOW_LOG: u32 = 20;

/// The compressed form of `data` when it saves at least 5 %, else `None`.
/// The frame records the original's size, which reads rely on.
pub(crate) fn encode(data: &[u8], level: i32) -> Option<Vec<u8>> {
    use zstd::stream::raw::CParameter;
    let mut c = zstd::bulk::Compressor::new(level).ok()?;
    c.set_parameter(CParameter::WindowLog(WINDOW_LOG)).ok()?;
    let packed = c.compress(data).ok()?;
    let saved_enough = packed.len() * 100 <= data.len() * (100 - MIN_SAVING_PERCENT);
    saved_enough.then_some(packed)
}

/// The original's size as a frame header states it (`None`: not stated,
/// or not a zstd frame).
pub(crate) fn declared_size(frame: &[u8]) -> Option<u64> {
    zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
}

/// Decompresses `frame`, refusing one that does not state the original's
/// size or decompresses past it: memory stays bounded by that size.
pub(crate) fn decode(frame: &[u8]) -> Result<Vec<u8>, String> {
    let size = declared_size(frame).ok_or("not a zstd frame stating its content size")?;
    let mut out = Vec::with_capacity(size.min(RESERVE_MAX) as usize);
    let decoder = zstd::stream::read::Decoder::new(frame).map_err(|e| e.to_string())?;
    decoder
        .take(size.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("zstd data is damaged: {e}"))?;
    if out.len() as u64 != size {
        return Err(format!(
            "the frame says {size} bytes but decompresses to {}{}",
            out.len(),
            if out.len() as u64 > size {
                " or more"
            } else {
                ""
            }
        ));
    }
    Ok(out)
}

/// [`Store::stored_form`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredForm {
    /// The original's size in bytes.
    pub size: u64,
    /// The bytes the object takes in the store when it is compressed.
    pub compressed_size: Option<u64>,
}

impl Store {
    /// This handle, compressing new objects as `setting` says.
    pub fn with_compression(mut self, setting: Compression) -> Store {
        self.compress = std::sync::Arc::new(CompressState {
            setting,
            compressed: Mutex::new(HashSet::new()),
        });
        self
    }

    /// How this handle compresses new objects.
    pub fn compression(&self) -> Compression {
        self.compress.setting
    }

    /// The write behind [`PutOptions::compress_as`](super::PutOptions::compress_as):
    /// compressed when the store's setting is on, the declared
    /// `content_type` and the first bytes say it may shrink, and it shrinks
    /// by 5 % or more; otherwise plain. An object already stored plain is
    /// not stored a second time compressed. An object already there is not
    /// read here ([`Store::put`] does that when asked).
    pub(super) async fn put_compressible(
        &self,
        hash: &Sha256,
        data: Bytes,
        content_type: Option<&str>,
    ) -> Result<Put, StoreError> {
        let plain = |outcome| Put {
            outcome,
            compressed_size: None,
        };
        let Compression::Zstd { level } = self.compress.setting else {
            return Ok(plain(self.put_plain(hash, data).await?));
        };
        if !worth_trying(content_type, &data) || self.size_plain(hash).await?.is_some() {
            return Ok(plain(self.put_plain(hash, data).await?));
        }
        let for_pool = data.clone();
        let packed = tokio::task::spawn_blocking(move || encode(&for_pool, level))
            .await
            .unwrap_or(None);
        let Some(packed) = packed else {
            return Ok(plain(self.put_plain(hash, data).await?));
        };
        let stored = packed.len() as u64;
        let outcome = self.put_compressed(hash, packed).await?;
        Ok(Put {
            outcome,
            compressed_size: Some(stored),
        })
    }

    /// Create-only write of a compressed form. An existing one is not read
    /// here: [`Store::put`] reads it back when asked.
    async fn put_compressed(
        &self,
        hash: &Sha256,
        packed: Vec<u8>,
    ) -> Result<PutOutcome, StoreError> {
        let key = compressed_key(hash);
        let outcome = self.put_create_only(&key, packed.into()).await?;
        self.compress.remember(hash);
        Ok(outcome)
    }

    /// The file name (last key part) `hash` is stored under, as far as
    /// this handle knows: a local store flushes that file.
    pub(crate) fn stored_name(&self, hash: &Sha256) -> String {
        if self.compress.knows_compressed(hash) {
            format!("{}{SUFFIX}", to_hex(hash))
        } else {
            to_hex(hash)
        }
    }

    /// Notes, from a listing, that `hash` is stored compressed.
    pub(crate) fn note_compressed(&self, hash: &Sha256) {
        self.compress.remember(hash);
    }

    /// The object `hash` in whichever form it is stored, decompressed and
    /// checked against its SHA-256.
    pub(crate) async fn get_either(&self, hash: &Sha256) -> Result<Bytes, StoreError> {
        if self.compress.knows_compressed(hash) {
            return match self.get_compressed(hash).await {
                Err(StoreError::NotFound { .. }) => self.get_plain(hash).await,
                other => other,
            };
        }
        match self.get_plain(hash).await {
            Err(missing @ StoreError::NotFound { .. }) => match self.get_compressed(hash).await {
                // The plain key is the one links and people know.
                Err(StoreError::NotFound { .. }) => Err(missing),
                other => other,
            },
            other => other,
        }
    }

    /// Reads and decompresses the compressed form of `hash`, checking the
    /// result against the hash. A frame that does not decompress is
    /// reported as corrupt, with the hash of the bytes that are stored.
    async fn get_compressed(&self, hash: &Sha256) -> Result<Bytes, StoreError> {
        let key = compressed_key(hash);
        let result = self
            .inner
            .get(&key)
            .await
            .map_err(|e| self.read_err(&key, e))?;
        let frame = result.bytes().await.map_err(|e| self.read_err(&key, e))?;
        let job = tokio::task::spawn_blocking(move || match decode(&frame) {
            Ok(data) => Ok(Bytes::from(data)),
            Err(why) => Err((why, sha256(&frame))),
        });
        let decoded = job.await.map_err(|e| self.zstd_err(&key, e))?;
        let data = decoded.map_err(|(why, actual)| {
            tracing::warn!("object {key} cannot be decompressed: {why}");
            self.corrupt(&key, &actual)
        })?;
        self.compress.remember(hash);
        let (actual, data) = hash_off_thread(data).await;
        if actual != *hash {
            return Err(self.corrupt(&key, &actual));
        }
        Ok(data)
    }

    /// The original's size of the object `hash` in either form, or `None`
    /// when neither is stored. For a compressed object only the frame
    /// header is read: it states the original's size.
    pub(crate) async fn size_either(&self, hash: &Sha256) -> Result<Option<u64>, StoreError> {
        if !self.compress.knows_compressed(hash) {
            if let Some(size) = self.size_plain(hash).await? {
                return Ok(Some(size));
            }
        }
        let key = compressed_key(hash);
        let opts = GetOptions {
            range: Some(GetRange::Bounded(0..FRAME_HEADER_MAX)),
            ..GetOptions::default()
        };
        let slot = self.local_slot().await;
        let got = self.inner.get_opts(&key, opts).await;
        drop(slot);
        let head = match got {
            Ok(result) => result.bytes().await.map_err(|e| self.read_err(&key, e))?,
            Err(object_store::Error::NotFound { .. }) if self.compress.knows_compressed(hash) => {
                return self.size_plain(hash).await;
            }
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.backend("look up", &key, e)),
        };
        self.compress.remember(hash);
        // A header that states no size: the object is damaged, and its
        // stored size is all there is to say (verify reports the mismatch).
        match declared_size(&head) {
            Some(size) => Ok(Some(size)),
            None => Ok(self.inner.head(&key).await.ok().map(|m| m.size)),
        }
    }

    /// How the object `hash` is stored, or `None` when it is not: the
    /// original's size and, for a compressed object, the bytes it takes in
    /// the store (what `index rebuild` writes back for `stats`). The plain
    /// form wins when both are there, as it does for reads.
    pub async fn stored_form(&self, hash: &Sha256) -> Result<Option<StoredForm>, StoreError> {
        if let Some(size) = self.size_plain(hash).await? {
            return Ok(Some(StoredForm {
                size,
                compressed_size: None,
            }));
        }
        let key = compressed_key(hash);
        let stored = match self.inner.head(&key).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.backend("look up", &key, e)),
        };
        self.compress.remember(hash);
        // Gone between the two requests: not stored after all.
        let Some(size) = self.size_either(hash).await? else {
            return Ok(None);
        };
        Ok(Some(StoredForm {
            size,
            compressed_size: Some(stored),
        }))
    }

    /// Decompressing `key` failed (the decoder, or its job on the pool).
    pub(super) fn zstd_err(
        &self,
        key: &Path,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        self.backend(
            "decompress",
            key,
            object_store::Error::Generic {
                store: "zstd",
                source: Box::new(e),
            },
        )
    }
}

#[cfg(test)]
mod tests;
