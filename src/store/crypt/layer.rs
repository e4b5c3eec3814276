//! The encryption layer: an `ObjectStore` over the backend that shows the
//! store its plain layout and writes age files under keyed names (see the
//! parent module's header). Keys outside `sha256/` pass through as they are.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::format::{self, Unreadable, HEADER_PROBE};
use super::{Keys, KEYS, POINTERS};
use crate::store::key;

/// Pointers read at once when listing.
const POINTER_READS: usize = 16;

/// Bytes of a local file read at once.
const FILE_PIECE: usize = 256 * 1024;

/// What the layer reports inside `object_store::Error::Generic`; the store
/// turns it into its own error ([`crate::store::Store::crypt_fault`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    /// The object is not under this key's name, and the store was written
    /// with other keys (their recipients), or holds plain objects (empty).
    #[error("the store was written with another key")]
    WrongKey { found: Vec<String> },
    /// The object is there but cannot be decrypted.
    #[error("{why}")]
    Damaged { why: String },
}

fn fault(f: Fault) -> object_store::Error {
    object_store::Error::Generic {
        store: "age",
        source: Box::new(f),
    }
}

fn unreadable(u: Unreadable) -> object_store::Error {
    match u {
        Unreadable::Backend(e) => e,
        Unreadable::NotOurKey => fault(Fault::Damaged {
            why: "its age header has no stanza this key opens (written with another key, \
                  or its header was changed)"
                .to_string(),
        }),
        Unreadable::Damaged(why) => fault(Fault::Damaged { why }),
    }
}

/// See the module's header.
#[derive(Debug)]
pub(crate) struct CryptLayer {
    inner: Arc<dyn ObjectStore>,
    keys: Arc<Keys>,
    /// This key's marker is known to be in the store.
    marked: AtomicBool,
    /// A local store's folder: objects are encrypted straight into files.
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Display for CryptLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "age({})", self.inner)
    }
}

impl CryptLayer {
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        keys: Arc<Keys>,
        local_root: Option<std::path::PathBuf>,
    ) -> CryptLayer {
        CryptLayer {
            inner,
            keys,
            marked: AtomicBool::new(false),
            local_root,
        }
    }

    /// Encrypts `parts` into `name`, create-only: into a file for a local
    /// store (the ciphertext never whole in memory), else into one buffer
    /// written in one request.
    async fn put_encrypted(
        &self,
        name: &Path,
        parts: Vec<Bytes>,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let keys = Arc::clone(&self.keys);
        let local = self
            .local_root
            .as_ref()
            .filter(|_| opts.mode == PutMode::Create);
        let Some(root) = local else {
            let file = tokio::task::spawn_blocking(move || format::encrypt(&keys, &parts))
                .await
                .map_err(|e| generic(e.to_string()))?
                .map_err(|e| generic(e.to_string()))?;
            return self.inner.put_opts(name, file.into(), opts).await;
        };
        let target = root.join(name.as_ref());
        let stored =
            tokio::task::spawn_blocking(move || format::encrypt_to_file(&keys, &parts, &target))
                .await
                .map_err(|e| generic(e.to_string()))?
                .map_err(|e| generic(format!("cannot write the file: {e}")))?;
        if !stored {
            return Err(object_store::Error::AlreadyExists {
                path: name.to_string(),
                source: "the file exists".into(),
            });
        }
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    /// A create-only write that finds the name taken is fine.
    async fn put_small(&self, at: &Path, data: Vec<u8>) -> Result<()> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.inner.put_opts(at, data.into(), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Before the object `plain` (of `size` plain bytes) is stored: its
    /// pointer, and once per handle this key's marker.
    async fn note_written(&self, plain: &Path, size: usize) -> Result<()> {
        if !self.marked.load(Ordering::Relaxed) {
            let recipient = format!("{}\n", self.keys.recipient()).into_bytes();
            self.put_small(&self.keys.marker_name(), recipient).await?;
            self.marked.store(true, Ordering::Relaxed);
        }
        let Some(at) = self.keys.pointer_name(plain) else {
            return Ok(());
        };
        let text = Bytes::from(format!("{plain}\n{size}\n"));
        let file = format::encrypt(&self.keys, &[text]).map_err(|e| generic(e.to_string()))?;
        self.put_small(&at, file).await
    }

    /// `plain` is not under this key's name: a missing object, or the
    /// wrong key (the store's markers are for other keys), or a plain
    /// store opened with encryption on.
    async fn missing(&self, plain: &Path, e: object_store::Error) -> object_store::Error {
        if self.marked.load(Ordering::Relaxed) {
            return e;
        }
        let markers: Vec<ObjectMeta> =
            match self.inner.list(Some(&Path::from(KEYS))).try_collect().await {
                Ok(m) => m,
                Err(_) => return e,
            };
        let ours = self.keys.marker_name();
        if markers.iter().any(|m| m.location == ours) {
            self.marked.store(true, Ordering::Relaxed);
            return e;
        }
        if markers.is_empty() {
            // No key ever wrote here: plain objects, if this one is there.
            return match self.inner.head(plain).await {
                Ok(_) => fault(Fault::WrongKey { found: Vec::new() }),
                Err(_) => e,
            };
        }
        let mut found = Vec::new();
        for m in markers.iter().take(4) {
            if let Ok(r) = self.inner.get(&m.location).await {
                if let Ok(b) = r.bytes().await {
                    found.push(String::from_utf8_lossy(&b).trim().to_string());
                }
            }
        }
        fault(Fault::WrongKey { found })
    }

    /// The metadata of `plain` (stored at `name`), its size the plaintext's.
    async fn head_of(&self, plain: &Path, name: &Path) -> Result<GetResult> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(0..HEADER_PROBE)),
            ..GetOptions::default()
        };
        let got = match self.inner.get_opts(name, opts).await {
            Err(e @ object_store::Error::NotFound { .. }) => {
                return Err(self.missing(plain, e).await)
            }
            other => other?,
        };
        let mut meta = got.meta.clone();
        let attributes = got.attributes.clone();
        let head = got.bytes().await?;
        let size = format::header_len(&head)
            .and_then(|h| format::plaintext_size(meta.size, h))
            .ok_or_else(|| {
                fault(Fault::Damaged {
                    why: "it does not start with an age header".to_string(),
                })
            })?;
        meta.location = plain.clone();
        meta.size = size;
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
            meta,
            range: 0..size,
            attributes,
        })
    }

    /// `plain`'s bytes (stored at `name`), decrypted as they come.
    async fn get_of(
        &self,
        plain: &Path,
        name: &Path,
        range: Option<GetRange>,
    ) -> Result<GetResult> {
        let got = match self.inner.get(name).await {
            Err(e @ object_store::Error::NotFound { .. }) => {
                return Err(self.missing(plain, e).await)
            }
            other => other?,
        };
        let GetResult {
            payload,
            mut meta,
            attributes,
            ..
        } = got;
        let mut chunks = match payload {
            GetResultPayload::File(file, _) => file_pieces(file),
            GetResultPayload::Stream(s) => s,
        };
        // The header first, to know the size before a byte is decrypted.
        let mut peeked: Vec<Bytes> = Vec::new();
        let mut seen = Vec::new();
        let header = loop {
            if let Some(h) = format::header_len(&seen) {
                break h;
            }
            match chunks.try_next().await? {
                Some(c) if seen.len() < 64 * 1024 => {
                    seen.extend_from_slice(&c);
                    peeked.push(c);
                }
                _ => {
                    return Err(fault(Fault::Damaged {
                        why: "it does not start with an age header".to_string(),
                    }))
                }
            }
        };
        let size = format::plaintext_size(meta.size, header).ok_or_else(|| {
            fault(Fault::Damaged {
                why: "it is too short for an age file".to_string(),
            })
        })?;
        let all = futures::stream::iter(peeked.into_iter().map(Ok))
            .chain(chunks)
            .boxed();
        let plain_stream = format::decrypt_stream(&self.keys, all)
            .await
            .map_err(unreadable)?;
        let (want, whole) = match range {
            None => (0..size, true),
            Some(r) => (r.as_range(size).map_err(|e| generic(e.to_string()))?, false),
        };
        meta.location = plain.clone();
        meta.size = size;
        Ok(GetResult {
            payload: GetResultPayload::Stream(own_task(cut(plain_stream, want.clone(), whole))),
            meta,
            range: want,
            attributes,
        })
    }

    /// Every pointer under `dir` whose name starts with `starts`, read:
    /// the plain objects they name.
    fn pointers(&self, dir: Path, starts: String) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let keys = Arc::clone(&self.keys);
        self.inner
            .list(Some(&dir))
            .try_filter(move |m| {
                let keep = m
                    .location
                    .filename()
                    .is_some_and(|n| n.starts_with(&starts));
                futures::future::ready(keep)
            })
            .map_ok(move |m| read_pointer(Arc::clone(&inner), Arc::clone(&keys), m))
            .try_buffer_unordered(POINTER_READS)
            .try_filter_map(|found| futures::future::ready(Ok(found)))
            .boxed()
    }
}

/// A local file read in [`FILE_PIECE`]s on the blocking pool (object_store's
/// own stream of a file reads 8 KiB per hop).
fn file_pieces(file: std::fs::File) -> BoxStream<'static, Result<Bytes>> {
    use std::io::Read;
    futures::stream::try_unfold(Some(file), |file| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        let job = tokio::task::spawn_blocking(move || {
            let mut buf = Vec::with_capacity(FILE_PIECE);
            (&mut file)
                .take(FILE_PIECE as u64)
                .read_to_end(&mut buf)
                .map(|_| (file, buf))
        });
        let (file, buf) = job
            .await
            .map_err(|e| generic(e.to_string()))?
            .map_err(|e| generic(format!("cannot read the file: {e}")))?;
        if buf.is_empty() {
            return Ok(None);
        }
        Ok(Some((Bytes::from(buf), Some(file))))
    })
    .boxed()
}

/// The plain object a pointer names; `None` for one this key cannot read
/// (another key's, or damaged: logged).
async fn read_pointer(
    inner: Arc<dyn ObjectStore>,
    keys: Arc<Keys>,
    m: ObjectMeta,
) -> Result<Option<ObjectMeta>> {
    let file = match inner.get(&m.location).await {
        Ok(r) => r.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let text = match format::decrypt_small(&keys, &file) {
        Ok(t) => t,
        Err(Unreadable::Backend(e)) => return Err(e),
        Err(why) => {
            tracing::warn!(
                "pointer {} cannot be read with this key: {why:?}",
                m.location
            );
            return Ok(None);
        }
    };
    let text = String::from_utf8_lossy(&text);
    let mut lines = text.lines();
    let (Some(path), Some(size)) = (lines.next(), lines.next()) else {
        return Ok(None);
    };
    let (Ok(location), Ok(size)) = (Path::parse(path), size.parse::<u64>()) else {
        return Ok(None);
    };
    // Written before its object: an interrupted write leaves a pointer
    // alone, which names nothing.
    let Some(name) = keys.object_name(&location) else {
        return Ok(None);
    };
    match inner.head(&name).await {
        Ok(_) => {}
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(Some(ObjectMeta {
        location,
        last_modified: m.last_modified,
        size,
        e_tag: None,
        version: None,
    }))
}

/// `s` driven by a task of its own, a piece or two ahead: the decryption
/// of objects read side by side (restore reads a few at once, from one
/// task) then runs on every worker thread, not on the reader's alone. The
/// task ends when the reader drops the stream.
fn own_task(mut s: BoxStream<'static, Result<Bytes>>) -> BoxStream<'static, Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        while let Some(item) = s.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) }).boxed()
}

/// The part `want` of a plaintext stream. A whole read goes on to the
/// stream's end, so that a file longer than its stated size is an error.
fn cut(
    plain: BoxStream<'static, std::result::Result<Bytes, Unreadable>>,
    want: std::ops::Range<u64>,
    whole: bool,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::try_unfold((plain, 0u64), move |(mut s, mut pos)| {
        let want = want.clone();
        async move {
            while pos < want.end || whole {
                let Some(b) = s.try_next().await.map_err(unreadable)? else {
                    return Ok(None);
                };
                let from = pos;
                pos += b.len() as u64;
                if pos > want.end {
                    if whole {
                        return Err(fault(Fault::Damaged {
                            why: "it decrypts to more bytes than its size says".to_string(),
                        }));
                    }
                } else if pos <= want.start {
                    continue;
                }
                let a = want.start.saturating_sub(from) as usize;
                let z = (want.end.min(pos) - from) as usize;
                return Ok(Some((b.slice(a..z), (s, pos))));
            }
            Ok(None)
        }
    })
    .boxed()
}

fn generic(why: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "age",
        source: why.into(),
    }
}

#[async_trait]
impl ObjectStore for CryptLayer {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let Some(name) = self.keys.object_name(location) else {
            return self.inner.put_opts(location, payload, opts).await;
        };
        let parts: Vec<Bytes> = payload.into_iter().collect();
        let size: usize = parts.iter().map(Bytes::len).sum();
        // The pointer first: an object is never there without one (an
        // interrupted write may leave a pointer without its object, which
        // listings skip).
        self.note_written(location, size).await?;
        self.put_encrypted(&name, parts, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        if self.keys.object_name(location).is_some() {
            // The store writes encrypted objects whole (see `goes_multipart`).
            return Err(object_store::Error::NotImplemented);
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let Some(name) = self.keys.object_name(location) else {
            return self.inner.get_opts(location, options).await;
        };
        if options.head {
            return self.head_of(location, &name).await;
        }
        self.get_of(location, &name, options.range).await
    }

    async fn delete(&self, location: &Path) -> Result<()> {
        let Some(name) = self.keys.object_name(location) else {
            return self.inner.delete(location).await;
        };
        self.inner.delete(&name).await?;
        if let Some(p) = self.keys.pointer_name(location) {
            match self.inner.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let objects = Path::from(key::PREFIX);
        let Some(prefix) = prefix.filter(|p| p.prefix_matches(&objects)).cloned() else {
            return self.inner.list(prefix);
        };
        self.pointers(Path::from(POINTERS), String::new())
            .try_filter(move |m| futures::future::ready(m.location.prefix_matches(&prefix)))
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let after = offset.clone();
        // A short link's lookup: `sha256/<2>/<at least 16 hex>`.
        let short = (offset.parts().count() == 3)
            .then(|| offset.filename())
            .flatten()
            .and_then(|n| hex::decode(n.get(..16)?).ok());
        let Some(first8) = short.filter(|_| self.keys.object_name(offset).is_some()) else {
            return self
                .list(prefix)
                .try_filter(move |m| futures::future::ready(m.location > after))
                .boxed();
        };
        let tag = self.keys.prefix_tag(&first8);
        let dir = Path::from_iter([POINTERS, &tag[..2]]);
        let found = self.pointers(dir, tag);
        // Sorted, as the backends that list in order would give them.
        futures::stream::once(async move {
            let mut all: Vec<ObjectMeta> = found.try_collect().await?;
            all.retain(|m| m.location > after);
            all.sort_by(|a, b| a.location.cmp(&b.location));
            Ok::<_, object_store::Error>(futures::stream::iter(all.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let objects = Path::from(key::PREFIX);
        if prefix.is_some_and(|p| p.prefix_matches(&objects)) {
            return Err(object_store::Error::NotImplemented);
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        match (self.keys.object_name(from), self.keys.object_name(to)) {
            (None, None) => self.inner.copy(from, to).await,
            _ => Err(object_store::Error::NotImplemented),
        }
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> Result<()> {
        match (self.keys.object_name(from), self.keys.object_name(to)) {
            (None, None) => self.inner.copy_if_not_exists(from, to).await,
            _ => Err(object_store::Error::NotImplemented),
        }
    }
}
