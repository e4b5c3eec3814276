//! Steps 2 to 4 of the safety order, the local half of a conversion:
//! detach, store every object, and prove the exact original rebuilds from
//! what the store returns. Nothing here touches the server, so it may run
//! while the message before is committed.

use bytes::Bytes;

use super::plan::{FolderPlan, JobPolicy};
use super::report::{Laps, PipelineError};
use super::select::SelectPolicy;
use crate::imap::MessageMeta;
use crate::index::{MessageRecord, PartRecord};
use crate::mime::{self, Policy};
use crate::readable::{Entry, Readable};
use crate::store::{PutOptions, Store, Syncing};

/// A message made ready for the server: its objects are in the store (being
/// flushed to disk) and the original is proven rebuildable from them.
pub(super) struct Prepared {
    pub rewritten: Bytes,
    pub record: MessageRecord,
    pub synced: Syncing,
    /// Objects written compressed: (SHA-256 hex, stored bytes), for the
    /// index once they are on disk.
    pub compressed: Vec<(String, u64)>,
    pub lap: Laps,
}

/// Detach, store and prove one message. `Ok(Err(why))` means it is left as
/// it was (nothing to detach, or detach cannot be sure of its structure).
#[allow(clippy::too_many_arguments)]
pub(super) async fn prepare(
    store: &Store,
    account: &str,
    fp: &FolderPlan,
    meta: &MessageMeta,
    raw: Bytes,
    policy: &JobPolicy,
    select: &SelectPolicy,
    mut lap: Laps,
) -> Result<Result<Prepared, String>, PipelineError> {
    let mp = engine_policy(policy, select);
    let readable = readable_at(store, account, meta, policy);
    // The detach engine's own proof re-encodes every attachment; the proof
    // from the store (step 4) does the same from what was kept, so the
    // first try leaves the engine's out. Only when the store's proof fails
    // does the engine run with its own (it then keeps bodies it cannot
    // regenerate whole) before the store's proof runs again.
    let mut first_try = true;
    let (rewritten, parts, entries, (synced, compressed)) = loop {
        // 2. Detach.
        let d =
            match detach_off_thread(raw.clone(), mp.clone(), readable.clone(), !first_try).await? {
                Ok(d) => d,
                Err(why) => return Ok(Err(why)),
            };
        lap.mark("detach");
        // A copy the server would refuse as too large (APPENDLIMIT) is not
        // worth storing: the message stays as it is.
        let limit = fp.append_limit;
        if let Some(why) = super::select::copy_over_append_limit(d.rewritten.len() as u64, limit) {
            return Ok(Err(why));
        }
        // 3. Store.
        let synced = store_objects(store, d.objects, &d.parts).await?;
        lap.mark("store");
        // 4. Every object read back and checked against its SHA-256, and
        // the exact original rebuilt from them.
        match prove_from_store(
            d.rewritten.clone(),
            raw.clone(),
            store,
            &fp.folder,
            meta.uid,
        )
        .await
        {
            Ok(()) => break (d.rewritten, d.parts, d.entries, synced),
            Err(PipelineError::NotRebuildable { reason, .. }) if first_try => {
                tracing::debug!(
                    "UID {}: {reason}; detaching again with the engine's own proof",
                    meta.uid
                );
                first_try = false;
            }
            Err(e) => return Err(e),
        }
    };
    lap.mark("prove");
    // The readable copies exist before the original can be removed.
    if let (Some((r, _)), Some(entries)) = (&readable, &entries) {
        r.create(store, entries).await?;
        lap.mark("readable");
    }
    let record = record_for(account, fp, meta, &raw, &rewritten, &parts);
    Ok(Ok(Prepared {
        rewritten,
        record,
        synced,
        compressed,
        lap,
    }))
}

/// The detach engine's policy for one message: the values of the rule that
/// applies to it (`super::rules`), and its links.
fn engine_policy(policy: &JobPolicy, select: &SelectPolicy) -> Policy {
    Policy {
        min_size: select.min_size.max(1),
        include_types: select.include_types.clone(),
        exclude_types: select.exclude_types.clone(),
        detach_signed: select.detach_signed,
        link_template: policy.link_template.clone(),
        links: policy.links.clone(),
        stub_format: policy.stub_format,
        note: policy.note,
        entries: policy.entries,
        now: crate::dates::now_unix(),
    }
}

/// With readable copies, the stubs link to them: where this message's go
/// (their names are chosen there, on disk, once detach knows the files).
fn readable_at(
    store: &Store,
    account: &str,
    meta: &MessageMeta,
    policy: &JobPolicy,
) -> Option<(Readable, std::path::PathBuf)> {
    let r = Readable::for_store(store).filter(|_| policy.readable_copies)?;
    let (year, month) = crate::readable::year_month(&meta.internal_date, meta.internal_ts);
    let dir = r.month_dir(account, year, month);
    Some((r, dir))
}

/// The readable copies' entries for the files detach found (their names
/// chosen in `dir`), and the links the stubs get to them.
fn readable_links(
    r: &Readable,
    dir: &std::path::Path,
    parts: &[mime::DetachedPart],
) -> Result<(Vec<Entry>, mime::Links), crate::readable::ReadableError> {
    let files: Vec<(mime::Sha256, String)> = parts
        .iter()
        .map(|p| (p.sha256, mime::safe_name(&p.filename)))
        .collect();
    let entries = r.allocate(dir, &files)?;
    let map = entries
        .iter()
        .map(|e| ((e.sha256, e.stub_name.clone()), e.url.clone()))
        .collect();
    Ok((entries, mime::Links::Given(std::sync::Arc::new(map))))
}

/// Step 3: every object stored, create-only (compressed when the store
/// compresses and the part's declared type may shrink). Each object's
/// memory goes to the store and is freed: the proof reads them back. The
/// flush to disk runs meanwhile and is waited for before the journal entry
/// (step 5). Also returns the objects written compressed, with their
/// stored sizes.
async fn store_objects(
    store: &Store,
    objects: Vec<(mime::Sha256, Bytes)>,
    parts: &[mime::DetachedPart],
) -> Result<(Syncing, Vec<(String, u64)>), PipelineError> {
    let mut hashes = Vec::with_capacity(objects.len());
    let mut compressed = Vec::new();
    for (sha256, data) in objects {
        // The type the message declares for the part (or whose raw body
        // this object is).
        let content_type = parts
            .iter()
            .find(|p| p.sha256 == sha256 || p.raw_sha256 == Some(sha256))
            .map(|p| p.content_type.as_str());
        // detach hashed each object from these very bytes; the proof's
        // read-back checks them against the hash once more.
        let put = store
            .put(
                &sha256,
                data,
                PutOptions::new()
                    .compress_as(content_type)
                    .checked_by_caller()
                    .unsynced(),
            )
            .await?;
        if let Some(size) = put.compressed_size {
            compressed.push((hex::encode(sha256), size));
        }
        hashes.push(sha256);
    }
    Ok((store.sync_later(hashes), compressed))
}

/// What detach made of a message, owning its data.
struct Rewritten {
    rewritten: Bytes,
    parts: Vec<mime::DetachedPart>,
    objects: Vec<(mime::Sha256, Bytes)>,
    /// The readable copies the stubs link to, when there are any.
    entries: Option<Vec<Entry>>,
}

/// Runs the detach engine on tokio's blocking pool (it is pure CPU work,
/// and the runtime's thread meanwhile keeps the next message coming in),
/// with its own proof of the round trip or without (see
/// [`mime::detach_unproven`]); with `readable`, the stubs link to readable
/// copies whose names are chosen there once the files are known (which
/// reads the directory: the blocking pool is the place for that too).
/// `Ok(Err(why))`: the message is left as it was.
async fn detach_off_thread(
    raw: Bytes,
    policy: Policy,
    readable: Option<(Readable, std::path::PathBuf)>,
    proven: bool,
) -> Result<Result<Rewritten, String>, PipelineError> {
    let job = tokio::task::spawn_blocking(move || {
        let mut entries = None;
        let d = mime::detach_linked(&raw, &policy, proven, |parts| match &readable {
            None => Ok(None),
            Some((r, dir)) => {
                let (e, links) = readable_links(r, dir, parts)?;
                entries = Some(e);
                Ok(Some(links))
            }
        })?;
        Ok(match d.rewritten {
            Some(rewritten) => Ok(Rewritten {
                rewritten: Bytes::from(rewritten),
                parts: d.parts,
                objects: d
                    .objects
                    .into_iter()
                    .map(|o| (o.sha256, Bytes::from(o.data.into_owned())))
                    .collect(),
                entries,
            }),
            None => Err(d
                .untouched_reason
                .unwrap_or_else(|| "left as it was".into())),
        })
    });
    match job.await {
        Ok(r) => r.map_err(|e: crate::readable::ReadableError| e.into()),
        // The engine is built never to panic; if it did anyway, the message
        // stays as it was.
        Err(e) => Ok(Err(format!(
            "the detach engine failed on this message ({e}); left as it was"
        ))),
    }
}

/// Every object a rewritten message needs, read from the store (each
/// checked against its SHA-256 on the way).
async fn fetch_objects(
    rewritten: &[u8],
    store: &Store,
    folder: &str,
    uid: u32,
) -> Result<Vec<(mime::Sha256, Bytes)>, PipelineError> {
    let needed = mime::objects_needed(rewritten).map_err(|e| PipelineError::NotRebuildable {
        folder: folder.to_string(),
        uid,
        reason: e.to_string(),
    })?;
    Ok(store.get_each(&needed).await?)
}

/// Rebuilds the original of a rewritten message (`uid` in `folder`) from
/// the store.
pub(super) async fn prove_rebuild(
    rewritten: &[u8],
    store: &Store,
    folder: &str,
    uid: u32,
) -> Result<Vec<u8>, PipelineError> {
    let objects = fetch_objects(rewritten, store, folder, uid).await?;
    let lookup = |h: &mime::Sha256| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
    mime::reattach(rewritten, &lookup).map_err(|e| PipelineError::NotRebuildable {
        folder: folder.to_string(),
        uid,
        reason: e.to_string(),
    })
}

/// The original is rebuilt byte for byte from what the store holds,
/// compared as it is rebuilt (no second copy of the message in memory; on
/// the blocking pool, as it is CPU work).
pub(super) async fn prove_from_store(
    rewritten: Bytes,
    raw: Bytes,
    store: &Store,
    folder: &str,
    uid: u32,
) -> Result<(), PipelineError> {
    let objects = fetch_objects(&rewritten, store, folder, uid).await?;
    let failed = |reason: String| PipelineError::NotRebuildable {
        folder: folder.to_string(),
        uid,
        reason,
    };
    let same = tokio::task::spawn_blocking(move || {
        let lookup = |h: &mime::Sha256| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
        // store.get has checked every object's SHA-256 already.
        mime::reattach_equals(&rewritten, &lookup, &raw, true)
    })
    .await
    .map_err(|e| failed(format!("the proof could not run: {e}")))?
    .map_err(|e| failed(e.to_string()))?;
    if !same {
        return Err(failed("the rebuilt bytes differ".into()));
    }
    Ok(())
}

/// The index record of a message, from its headers. (`crate::rebuild`
/// tests that it reads the same record back from the converted copy.)
pub(crate) fn record_for(
    account: &str,
    fp: &FolderPlan,
    meta: &MessageMeta,
    raw: &[u8],
    rewritten: &[u8],
    parts: &[mime::DetachedPart],
) -> MessageRecord {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw);
    let addr = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    MessageRecord {
        account: account.to_string(),
        folder: fp.folder.clone(),
        uidvalidity: fp.uidvalidity,
        old_uid: meta.uid,
        new_uid: None,
        message_id: parsed
            .as_ref()
            .and_then(|m| m.message_id())
            .map(str::to_string),
        date: parsed
            .as_ref()
            .and_then(|m| m.date())
            .map(|d| d.to_timestamp()),
        from: parsed.as_ref().and_then(|m| addr(m.from())),
        to: parsed.as_ref().and_then(|m| addr(m.to())),
        subject: parsed
            .as_ref()
            .and_then(|m| m.subject())
            .map(str::to_string),
        internal_date: meta.internal_date.clone(),
        flags: super::flags::copy_flags(&meta.flags),
        size_before: raw.len() as u64,
        size_after: rewritten.len() as u64,
        parts: parts
            .iter()
            .map(|p| PartRecord {
                sha256: hex::encode(p.sha256),
                size: p.size,
                filename: p.filename.clone(),
                content_type: p.content_type.clone(),
                part_path: p.path.clone(),
                raw_sha256: p.raw_sha256.map(hex::encode),
            })
            .collect(),
    }
}
