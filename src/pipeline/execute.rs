//! Plan and execute against a live server. All ordering decisions that
//! matter for safety are here, in [`convert`] and [`recover_account`].

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::ahead;
use super::recover::{next_step, Observed, Step};
use super::select::{choose_folders, judge, SelectPolicy, Verdict};
use crate::imap::{DeleteOutcome, Folder, ImapError, MailboxStatus, MessageMeta, Session};
use crate::index::{
    Index, IndexError, JournalEntry, JournalKind, JournalState, MessageRecord, PartRecord,
};
use crate::mime::{self, Policy};
use crate::store::{Store, StoreError};

/// Errors that stop the job for an account. Errors of one message are
/// reported in its folder's report and the job goes on.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{0}")]
    Verify(String),
    #[error("folder {folder} was recreated on the server (UIDVALIDITY {was} is now {now}); its journal entries are kept: run slimbox verify")]
    UidValidity { folder: String, was: u32, now: u32 },
}

impl PipelineError {
    /// A dropped connection or a busy store: the next run will finish.
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Imap(e) => e.is_transient(),
            PipelineError::Store(e) => e.is_transient(),
            PipelineError::Index(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// What the job does, from the config.
#[derive(Debug, Clone)]
pub struct JobPolicy {
    pub select: SelectPolicy,
    pub older_than: Option<Duration>,
    pub folders: Vec<String>,
    pub link_template: String,
    /// Folder for the no-UIDPLUS fallback (MOVE); default the \Trash one.
    pub trash: Option<String>,
}

/// Progress reports from the job, for a progress bar or logs.
pub trait Observer {
    fn planned(&self, _messages: u64, _bytes: u64) {}
    fn message_done(&self, _bytes: u64) {}
    fn note(&self, _text: &str) {}
}

/// One planned message.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub uid: u32,
    pub size: u64,
    pub parts: usize,
    pub attachment_bytes: u64,
    #[serde(skip)]
    pub meta: MessageMeta,
}

/// What one folder holds for the job.
#[derive(Debug, Clone, Serialize)]
pub struct FolderPlan {
    pub folder: String,
    #[serde(skip)]
    pub handle: Folder,
    pub uidvalidity: u32,
    pub candidates: Vec<Candidate>,
    /// Messages the server search returned that are left alone, and why.
    pub skipped: Vec<(u32, String)>,
}

/// The plan for one account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountPlan {
    pub account: String,
    pub folders: Vec<FolderPlan>,
}

/// What happened in one folder.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub folder: String,
    pub candidates: usize,
    pub converted: usize,
    pub skipped: usize,
    pub failed: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Message bytes downloaded (candidates, plus the copies read back to
    /// verify them).
    pub bytes_fetched: u64,
    pub notes: Vec<String>,
}

/// What happened in one account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountReport {
    pub account: String,
    pub recovered: usize,
    pub folders: Vec<FolderReport>,
    pub error: Option<String>,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Test hook: with `SLIMBOX_TEST_PAUSE_AT=<step>` the process says so on
/// stderr and waits (for `SLIMBOX_TEST_PAUSE_FILE` to appear, at most a
/// minute) so a test can SIGKILL it, or cut its connection, at that exact
/// point of the safety order.
pub(super) async fn checkpoint(step: &str) {
    if std::env::var("SLIMBOX_TEST_PAUSE_AT").ok().as_deref() != Some(step) {
        return;
    }
    eprintln!("slimbox-test: paused at {step}");
    let file = std::env::var("SLIMBOX_TEST_PAUSE_FILE").ok();
    for _ in 0..600 {
        if file
            .as_deref()
            .is_some_and(|f| std::path::Path::new(f).exists())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chooses folders and candidates for one account; changes nothing on the
/// server (EXAMINE, PEEK only).
pub async fn plan(
    session: &mut Session,
    index: &Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<AccountPlan, PipelineError> {
    let all = session.list_folders().await?;
    let chosen: Vec<Folder> = choose_folders(&all, &policy.folders)
        .into_iter()
        .cloned()
        .collect();
    let before = policy.older_than.map(|d| now_unix() - d.as_secs() as i64);
    let mut folders = Vec::new();
    for f in chosen {
        let status = session.examine(&f).await?;
        let uids = session
            .search_candidates(policy.select.min_size.max(1), before)
            .await?;
        let skipped_before = index.skipped_uids(account, &f.name, status.uidvalidity)?;
        let uids: Vec<u32> = uids
            .into_iter()
            .filter(|u| !skipped_before.contains(u))
            .collect();
        let metas = if uids.is_empty() {
            Vec::new()
        } else {
            session.fetch_meta(&uids).await?
        };
        let mut candidates = Vec::new();
        let mut skipped = Vec::new();
        for m in metas {
            match judge(&m, &policy.select) {
                Verdict::Candidate { parts, bytes } => candidates.push(Candidate {
                    uid: m.uid,
                    size: m.size,
                    parts,
                    attachment_bytes: bytes,
                    meta: m,
                }),
                Verdict::Skip(why) => skipped.push((m.uid, why)),
            }
        }
        folders.push(FolderPlan {
            folder: f.name.clone(),
            handle: f,
            uidvalidity: status.uidvalidity,
            candidates,
            skipped,
        });
    }
    Ok(AccountPlan {
        account: account.to_string(),
        folders,
    })
}

/// Converts every planned message. The plan must have been made by [`plan`]
/// in this session; each folder is re-selected read-write.
///
/// With `ahead`, a second session of the same account, three things run at
/// once: messages are downloaded on it ([`super::ahead`]), the next ones
/// are detached, stored and proven ([`prepare_all`]), and the prepared ones
/// are committed on the server through `session` ([`commit_all`]). Each
/// message goes through the whole safety order all the same: no server
/// step of a message starts before its own local steps are done. Without
/// `ahead` (or once it fails) each message is fetched, prepared and
/// committed in turn on `session`.
pub async fn execute(
    session: &mut Session,
    ahead: Option<Session>,
    store: &Store,
    index: &mut Index,
    plan: &AccountPlan,
    policy: &JobPolicy,
    observer: &dyn Observer,
) -> Result<Vec<FolderReport>, PipelineError> {
    let budget = ahead::Budget::for_plan(plan);
    let (fetched_tx, fetched_rx) = tokio::sync::mpsc::unbounded_channel();
    let (prepared_tx, prepared_rx) = tokio::sync::mpsc::channel(PREPARED_AHEAD);
    let (fetcher, preparer) = match ahead {
        Some(s) => (
            Some(ahead::fetch_ahead(
                s,
                ahead::folders_of(plan),
                &budget,
                fetched_tx,
            )),
            Some(prepare_all(
                ahead::Ahead::new(Some(fetched_rx)),
                store,
                plan,
                policy,
                prepared_tx,
            )),
        ),
        None => {
            // No sender: commit_all fetches everything itself.
            drop(prepared_tx);
            (None, None)
        }
    };
    let committer = commit_all(session, prepared_rx, store, index, plan, policy, observer);
    let (_, _, reports) = tokio::join!(
        async {
            if let Some(f) = fetcher {
                f.await
            }
        },
        async {
            if let Some(p) = preparer {
                p.await
            }
        },
        committer
    );
    reports
}

/// How many prepared messages may wait for the server. They are small (the
/// raw message is dropped once prepared); the bound keeps the objects that
/// are stored ahead of their journal entries to a few messages' worth.
const PREPARED_AHEAD: usize = 4;

/// One candidate as [`prepare_all`] hands it over.
struct Item {
    uid: u32,
    /// Bytes downloaded for it.
    fetched: u64,
    outcome: Result<Result<Prepared, String>, PipelineError>,
}

/// The local half for every candidate in plan order, on messages fetched
/// ahead. Stops (and [`commit_all`] fetches the rest itself) when a message
/// was not fetched ahead or the receiver is gone.
async fn prepare_all(
    mut ahead: ahead::Ahead,
    store: &Store,
    plan: &AccountPlan,
    policy: &JobPolicy,
    tx: tokio::sync::mpsc::Sender<Item>,
) {
    for (folder_no, fp) in plan.folders.iter().enumerate() {
        for c in &fp.candidates {
            let mut lap = Laps::new(c.uid);
            // Holds its share of the memory budget until prepared.
            let Some(fetched) = ahead.take(folder_no, c.uid).await else {
                return;
            };
            lap.mark("fetch");
            let item = match fetched.body.as_ref().ok().cloned().flatten() {
                Some(raw) => Item {
                    uid: c.uid,
                    fetched: raw.len() as u64,
                    outcome: prepare(store, &plan.account, fp, &c.meta, raw, policy, lap).await,
                },
                None => Item {
                    uid: c.uid,
                    fetched: 0,
                    outcome: Ok(Err(GONE.to_string())),
                },
            };
            drop(fetched);
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}

/// The server half for every candidate in plan order: takes each prepared
/// message from [`prepare_all`] (or fetches and prepares it here when it
/// was not), commits it, and removes verified originals in batches.
async fn commit_all(
    session: &mut Session,
    prepared: tokio::sync::mpsc::Receiver<Item>,
    store: &Store,
    index: &mut Index,
    plan: &AccountPlan,
    policy: &JobPolicy,
    observer: &dyn Observer,
) -> Result<Vec<FolderReport>, PipelineError> {
    let mut prepared = Some(prepared);
    let trash = find_trash(session, policy).await?;
    let mut reports = Vec::new();
    for fp in &plan.folders {
        let mut report = FolderReport {
            folder: fp.folder.clone(),
            candidates: fp.candidates.len(),
            skipped: fp.skipped.len(),
            ..FolderReport::default()
        };
        for (uid, why) in &fp.skipped {
            // Remember messages that can never qualify (signed, \Deleted is
            // not permanent, so only record the lasting reasons).
            if why.starts_with("signed") {
                index.record_skip(&plan.account, &fp.folder, fp.uidvalidity, *uid, why)?;
            }
        }
        if fp.candidates.is_empty() {
            reports.push(report);
            continue;
        }
        let status = session.select(&fp.handle).await?;
        if status.uidvalidity != fp.uidvalidity {
            return Err(PipelineError::UidValidity {
                folder: fp.folder.clone(),
                was: fp.uidvalidity,
                now: status.uidvalidity,
            });
        }
        let mut verified: Vec<(&Candidate, Verified)> = Vec::new();
        let mut verify_bytes = 0u64;
        let run = async {
            for c in &fp.candidates {
                let item = match prepared.as_mut() {
                    Some(rx) => rx.recv().await.filter(|item| item.uid == c.uid),
                    None => None,
                };
                let (len, outcome) = match item {
                    Some(item) => (item.fetched, item.outcome),
                    None => {
                        // From here on every message is fetched on this
                        // connection (dropping the receiver stops the other).
                        prepared = None;
                        let mut lap = Laps::new(c.uid);
                        match session.fetch_message(c.uid).await {
                            Ok(Some(raw)) => {
                                lap.mark("fetch");
                                let len = raw.len() as u64;
                                let r =
                                    prepare(store, &plan.account, fp, &c.meta, raw, policy, lap)
                                        .await;
                                (len, r)
                            }
                            Ok(None) => (0, Ok(Err(GONE.to_string()))),
                            Err(e) => (0, Err(e.into())),
                        }
                    }
                };
                report.bytes_fetched += len;
                let r = match outcome {
                    Ok(Ok(p)) => {
                        let committed = commit(
                            session,
                            index,
                            &plan.account,
                            fp,
                            &c.meta,
                            p,
                            trash.as_ref(),
                            &mut verify_bytes,
                        )
                        .await;
                        match committed {
                            Ok(Committed::Verified(v)) => {
                                verified.push((c, *v));
                                None
                            }
                            Ok(Committed::Done(r)) => Some(Ok(r)),
                            Err(e) => Some(Err(e)),
                        }
                    }
                    Ok(Err(why)) => Some(Ok(Converted::Untouched(why))),
                    Err(e) => Some(Err(e)),
                };
                if let Some(r) = r {
                    tally(&mut report, index, observer, &plan.account, fp, c, r)?;
                }
                if verified.len() >= REMOVE_BATCH {
                    finish_verified(
                        session,
                        index,
                        observer,
                        &plan.account,
                        fp,
                        &mut report,
                        &mut verified,
                        trash.as_ref(),
                    )
                    .await?;
                }
            }
            Ok::<(), PipelineError>(())
        }
        .await;
        // Whatever ended the loop, originals whose copies are verified go
        // now rather than wait for the next run (after a lost connection
        // this fails too, and the journal keeps them).
        let flushed = finish_verified(
            session,
            index,
            observer,
            &plan.account,
            fp,
            &mut report,
            &mut verified,
            trash.as_ref(),
        )
        .await;
        run?;
        flushed?;
        report.bytes_fetched += verify_bytes;
        reports.push(report);
    }
    Ok(reports)
}

/// Removes the originals of `verified` and counts them in `report`.
#[allow(clippy::too_many_arguments)]
async fn finish_verified(
    session: &mut Session,
    index: &mut Index,
    observer: &dyn Observer,
    account: &str,
    fp: &FolderPlan,
    report: &mut FolderReport,
    verified: &mut Vec<(&Candidate, Verified)>,
    trash: Option<&Folder>,
) -> Result<(), PipelineError> {
    let (cs, batch): (Vec<_>, Vec<_>) = verified.drain(..).unzip();
    let results = finish_batch(session, index, batch, trash).await;
    for (c, r) in cs.into_iter().zip(results) {
        tally(report, index, observer, account, fp, c, r)?;
    }
    Ok(())
}

const GONE: &str = "gone from the server before it was fetched";

/// Counts one message's outcome in its folder's report. A transient error
/// (the connection is gone) stops the job: the journal lets the next run
/// finish what was in flight.
fn tally(
    report: &mut FolderReport,
    index: &mut Index,
    observer: &dyn Observer,
    account: &str,
    fp: &FolderPlan,
    c: &Candidate,
    r: Result<Converted, PipelineError>,
) -> Result<(), PipelineError> {
    observer.message_done(c.size);
    match r {
        Ok(Converted::Done {
            before,
            after,
            note,
        }) => {
            report.converted += 1;
            report.bytes_before += before;
            report.bytes_after += after;
            if let Some(n) = note {
                observer.note(&n);
                report.notes.push(n);
            }
        }
        Ok(Converted::Untouched(why)) => {
            report.skipped += 1;
            index.record_skip(account, &fp.folder, fp.uidvalidity, c.uid, &why)?;
        }
        Err(e) if e.is_transient() => {
            report.failed += 1;
            return Err(e);
        }
        Err(e) => {
            report.failed += 1;
            let n = format!("UID {}: {e}", c.uid);
            observer.note(&n);
            report.notes.push(n);
        }
    }
    Ok(())
}

pub(super) async fn find_trash(
    session: &mut Session,
    policy: &JobPolicy,
) -> Result<Option<Folder>, PipelineError> {
    let all = session.list_folders().await?;
    Ok(match &policy.trash {
        Some(name) => all.into_iter().find(|f| &f.name == name),
        None => all.into_iter().find(|f| {
            f.special_use
                .iter()
                .any(|s| s.eq_ignore_ascii_case("\\Trash"))
        }),
    })
}

enum Converted {
    Done {
        before: u64,
        after: u64,
        note: Option<String>,
    },
    Untouched(String),
}

/// The flags a copy must carry: the original's, minus \Recent (which only
/// the server may set).
pub(super) fn copy_flags(meta: &MessageMeta) -> Vec<String> {
    meta.flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect()
}

fn flag_set(flags: &[String]) -> HashSet<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| {
            if f.starts_with('\\') {
                f.to_ascii_lowercase()
            } else {
                f.clone()
            }
        })
        .collect()
}

/// The index record of a message, from its headers.
fn record_for(
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
        flags: copy_flags(meta),
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

/// Where one message's time went, for `-vv` logs.
struct Laps {
    uid: u32,
    last: std::time::Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Laps {
    fn new(uid: u32) -> Self {
        Laps {
            uid,
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((step, now - self.last));
        self.last = now;
    }

    fn log(&self) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let laps: Vec<String> = self
                .laps
                .iter()
                .map(|(s, d)| format!("{s} {:.1} ms", d.as_secs_f64() * 1e3))
                .collect();
            tracing::debug!("UID {}: {}", self.uid, laps.join(", "));
        }
    }
}

/// What detach made of a message, owning its data.
struct Rewritten {
    rewritten: Bytes,
    parts: Vec<mime::DetachedPart>,
    objects: Vec<(mime::Sha256, Bytes)>,
}

/// Runs the detach engine on tokio's blocking pool (it is pure CPU work,
/// and the runtime's thread meanwhile keeps the next message coming in),
/// with its own proof of the round trip or without (see
/// [`mime::detach_unproven`]). `Err` is why the message is left as it was.
async fn detach_off_thread(raw: Bytes, policy: Policy, proven: bool) -> Result<Rewritten, String> {
    let job = tokio::task::spawn_blocking(move || {
        let d = if proven {
            mime::detach(&raw, &policy)
        } else {
            mime::detach_unproven(&raw, &policy)
        };
        match d.rewritten {
            Some(rewritten) => Ok(Rewritten {
                rewritten: Bytes::from(rewritten),
                parts: d.parts,
                objects: d
                    .objects
                    .into_iter()
                    .map(|o| (o.sha256, Bytes::from(o.data.into_owned())))
                    .collect(),
            }),
            None => Err(d
                .untouched_reason
                .unwrap_or_else(|| "left as it was".into())),
        }
    });
    match job.await {
        Ok(r) => r,
        // The engine is built never to panic; if it did anyway, the message
        // stays as it was.
        Err(e) => Err(format!(
            "the detach engine failed on this message ({e}); left as it was"
        )),
    }
}

/// A message made ready for the server: its objects are in the store (being
/// flushed to disk) and the original is proven rebuildable from them.
struct Prepared {
    rewritten: Bytes,
    record: MessageRecord,
    synced: crate::store::Syncing,
    lap: Laps,
}

/// The local half of a conversion, steps 1 and 2 of the safety order:
/// detach, store every object, read each back and prove the exact original
/// rebuilds from them. Touches nothing on the server, so it may run while
/// the message before is committed. `Err(why)` in `Ok` means left as it was.
async fn prepare(
    store: &Store,
    account: &str,
    fp: &FolderPlan,
    meta: &MessageMeta,
    raw: Bytes,
    policy: &JobPolicy,
    mut lap: Laps,
) -> Result<Result<Prepared, String>, PipelineError> {
    let mp = Policy {
        min_size: policy.select.min_size.max(1),
        include_types: policy.select.include_types.clone(),
        exclude_types: policy.select.exclude_types.clone(),
        detach_signed: policy.select.detach_signed,
        link_template: policy.link_template.clone(),
        now: now_unix(),
    };
    // The detach engine's own proof re-encodes every attachment; the proof
    // from the store below does the same from what was kept, so the first
    // try leaves the engine's out. Only when the store's proof fails does
    // the engine run with its own (it then keeps bodies it cannot
    // regenerate whole) before the store's proof runs again.
    let mut first_try = true;
    let (rewritten, parts, synced) = loop {
        let Rewritten {
            rewritten,
            parts,
            objects,
        } = match detach_off_thread(raw.clone(), mp.clone(), !first_try).await {
            Ok(r) => r,
            Err(why) => return Ok(Err(why)),
        };
        lap.mark("detach");
        // 1. Every object stored, create-only. Each object's memory goes to
        // the store and is freed: the proof below reads them back. The
        // flush to disk runs meanwhile and is waited for before the
        // journal entry.
        let mut hashes = Vec::with_capacity(objects.len());
        for (sha256, data) in objects {
            // detach hashed each object from these very bytes; the proof's
            // read-back checks them against the hash once more.
            store.put_hashed_unsynced(&sha256, data).await?;
            hashes.push(sha256);
        }
        let synced = store.sync_later(hashes);
        lap.mark("store");
        // 2. Every object read back and checked against its SHA-256, and
        // the exact original rebuilt from them.
        match prove_from_store(rewritten.clone(), raw.clone(), store).await {
            Ok(()) => break (rewritten, parts, synced),
            Err(PipelineError::Verify(why)) if first_try => {
                tracing::debug!(
                    "UID {}: {why}; detaching again with the engine's own proof",
                    meta.uid
                );
                first_try = false;
            }
            Err(e) => return Err(e),
        }
    };
    lap.mark("prove");
    let record = record_for(account, fp, meta, &raw, &rewritten, &parts);
    Ok(Ok(Prepared {
        rewritten,
        record,
        synced,
        lap,
    }))
}

/// The server half of a conversion, steps 3 to 7 of the safety order, for
/// a message [`prepare`] made ready.
#[allow(clippy::too_many_arguments)]
async fn commit(
    session: &mut Session,
    index: &mut Index,
    account: &str,
    fp: &FolderPlan,
    meta: &MessageMeta,
    prepared: Prepared,
    trash: Option<&Folder>,
    fetched: &mut u64,
) -> Result<Committed, PipelineError> {
    let Prepared {
        rewritten: rewritten_bytes,
        mut record,
        synced,
        mut lap,
    } = prepared;
    let rewritten = &rewritten_bytes[..];
    // The objects on disk before anything depends on them.
    synced.wait().await?;
    lap.mark("sync");
    // 3. Intent on disk before the server changes.
    let jid = index.journal_begin(&record, rewritten)?;
    lap.mark("journal");
    checkpoint("prepared").await;
    let flags = copy_flags(meta);
    let note;
    // 4. APPEND the rewritten message beside the original.
    let new_uid = match session
        .append(&fp.handle, &flags, &meta.internal_date, rewritten)
        .await
    {
        Ok(appended) => {
            let uid = match appended {
                Some((_, uid)) => Some(uid),
                None => find_copy(session, rewritten).await?,
            };
            index.journal_set(jid, JournalState::Appended, uid)?;
            lap.mark("append");
            checkpoint("appended").await;
            let uid = uid.ok_or_else(|| {
                PipelineError::Verify(
                    "the server did not say where the copy went, and it cannot be found".into(),
                )
            })?;
            // 5. Verify the copy on the server before the original goes.
            *fetched += rewritten.len() as u64;
            if let Err(e) = verify_copy(session, uid, rewritten, meta).await {
                // A lost connection proves nothing either way: the journal
                // says Appended and the next run checks again. A copy that
                // is wrong is taken away again; the original stays.
                if !e.is_transient() {
                    let _ = session.delete_uid(uid, None).await;
                    index.journal_abandon(jid)?;
                    // This server cannot hold a faithful copy: do not try
                    // again on every run (each try would leave one more
                    // rejected copy where nothing can expunge it).
                    index.record_skip(
                        account,
                        &fp.folder,
                        fp.uidvalidity,
                        meta.uid,
                        &e.to_string(),
                    )?;
                }
                return Err(e);
            }
            lap.mark("verify");
            checkpoint("verified").await;
            // 6. and 7. (removing the original, by UID only, and the index)
            // follow in a batch: see [`finish_batch`].
            record.new_uid = Some(uid);
            return Ok(Committed::Verified(Box::new(Verified { jid, record, lap })));
        }
        Err(ImapError::OverQuota { text }) => {
            // At the hard quota even the smaller copy is refused. The
            // original is proven reconstructible from the store, so it may
            // go first; the journal holds the copy until it is in.
            tracing::warn!("APPEND refused over quota ({text}); removing the original first");
            index.journal_set(jid, JournalState::OriginalRemoved, None)?;
            checkpoint("quota-marked").await;
            note = remove_original(session, meta.uid, trash).await?;
            checkpoint("quota-removed").await;
            let appended = session
                .append(&fp.handle, &flags, &meta.internal_date, rewritten)
                .await
                .map_err(|e| {
                    PipelineError::Verify(format!(
                        "over quota: the original was removed and the APPEND of the smaller copy failed ({e}); the copy is kept in the journal and the next run puts it back"
                    ))
                })?;
            let uid = match appended {
                Some((_, uid)) => Some(uid),
                None => find_copy(session, rewritten).await?,
            };
            index.journal_set(jid, JournalState::Appended, uid)?;
            let uid = uid.ok_or_else(|| {
                PipelineError::Verify("the copy cannot be found after APPEND".into())
            })?;
            verify_copy(session, uid, rewritten, meta).await?;
            uid
        }
        Err(e) => {
            // A NO or BAD means nothing was stored. A lost connection may
            // have stored the copy anyway: keep the journal entry, so the
            // next run finds the copy (by its marker) instead of leaving a
            // duplicate behind.
            if !e.is_transient() {
                index.journal_abandon(jid)?;
            }
            return Err(e.into());
        }
    };
    // 7. Commit to the index.
    record.new_uid = Some(new_uid);
    index.journal_finish(jid, &record)?;
    lap.mark("commit");
    lap.log();
    Ok(Committed::Done(Converted::Done {
        before: record.size_before,
        after: record.size_after,
        note,
    }))
}

/// A message whose copy is verified on the server, its original still
/// there (journal state Appended).
struct Verified {
    jid: i64,
    record: MessageRecord,
    lap: Laps,
}

/// What [`commit`] got to.
enum Committed {
    Done(Converted),
    Verified(Box<Verified>),
}

/// How many verified messages wait for their originals to be removed
/// together. Each removal is a round of commands the server fsyncs, so
/// one per message doubled the server's share of the time; a batch keeps
/// both copies of a message for at most this many messages' time (a crash
/// meanwhile leaves them to the journal, as at any other step).
const REMOVE_BATCH: usize = 16;

/// Steps 6 and 7 for a batch of verified messages: removes their originals
/// (by UID only) in one round, then commits each to the index.
async fn finish_batch(
    session: &mut Session,
    index: &mut Index,
    batch: Vec<Verified>,
    trash: Option<&Folder>,
) -> Vec<Result<Converted, PipelineError>> {
    if batch.is_empty() {
        return Vec::new();
    }
    let uids: Vec<u32> = batch.iter().map(|v| v.record.old_uid).collect();
    let removed = remove_originals(session, &uids, trash).await;
    let notes = match removed {
        Ok(notes) => notes,
        Err(e) => {
            // The journal keeps each entry at Appended: the next run checks
            // the copy once more and removes the original then. The first
            // message carries the error itself (a lost connection stops
            // the job there).
            let text = e.to_string();
            let mut out = vec![Err(e)];
            out.extend(batch.iter().skip(1).map(|_| {
                Err(PipelineError::Verify(format!(
                    "the original could not be removed ({text}); the next run tries again"
                )))
            }));
            return out;
        }
    };
    checkpoint("removed").await;
    batch
        .into_iter()
        .zip(notes)
        .map(|(mut v, note)| {
            v.lap.mark("remove");
            index.journal_finish(v.jid, &v.record)?;
            v.lap.mark("commit");
            v.lap.log();
            Ok(Converted::Done {
                before: v.record.size_before,
                after: v.record.size_after,
                note,
            })
        })
        .collect()
}

/// Removes the original after its copy is verified: by UID only; on Gmail
/// by moving it to the Trash, since an expunge there only drops a label and
/// "All Mail" would keep the original.
pub(super) async fn remove_original(
    session: &mut Session,
    uid: u32,
    trash: Option<&Folder>,
) -> Result<Option<String>, PipelineError> {
    Ok(remove_originals(session, &[uid], trash)
        .await?
        .pop()
        .flatten())
}

/// [`remove_original`] for several originals at once (one round of
/// commands); a note for each UID, in order.
pub(super) async fn remove_originals(
    session: &mut Session,
    uids: &[u32],
    trash: Option<&Folder>,
) -> Result<Vec<Option<String>>, PipelineError> {
    if session.has_capability("X-GM-EXT-1") && session.has_capability("MOVE") {
        if let Some(t) = trash {
            session.move_uids(uids, t).await?;
            return Ok(uids
                .iter()
                .map(|uid| {
                    Some(format!(
                        "UID {uid}: moved to {} so Gmail's All Mail does not keep it",
                        t.name
                    ))
                })
                .collect());
        }
    }
    let outcome = session.delete_uids(uids, trash).await?;
    Ok(uids
        .iter()
        .map(|&uid| delete_note(outcome.clone(), uid))
        .collect())
}

pub(super) fn delete_note(outcome: DeleteOutcome, uid: u32) -> Option<String> {
    match outcome {
        DeleteOutcome::Expunged => None,
        DeleteOutcome::MovedToTrash(t) => Some(format!(
            "UID {uid}: the server has no UIDPLUS; the original was moved to {t}"
        )),
        DeleteOutcome::FlaggedOnly => Some(format!(
            "UID {uid}: the server has neither UIDPLUS nor MOVE; the original is flagged \\Deleted and left for you to expunge"
        )),
    }
}

/// Every object a rewritten message needs, read from the store (each
/// checked against its SHA-256 on the way).
async fn fetch_objects(
    rewritten: &[u8],
    store: &Store,
) -> Result<Vec<(mime::Sha256, Bytes)>, PipelineError> {
    let needed =
        mime::objects_needed(rewritten).map_err(|e| PipelineError::Verify(e.to_string()))?;
    let mut objects: Vec<(mime::Sha256, Bytes)> = Vec::with_capacity(needed.len());
    for h in needed {
        if objects.iter().all(|(k, _)| k != &h) {
            objects.push((h, store.get(&h).await?));
        }
    }
    Ok(objects)
}

/// Rebuilds the original of a rewritten message from the store.
pub(super) async fn prove_rebuild(
    rewritten: &[u8],
    store: &Store,
) -> Result<Vec<u8>, PipelineError> {
    let objects = fetch_objects(rewritten, store).await?;
    let lookup = |h: &mime::Sha256| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
    mime::reattach(rewritten, &lookup).map_err(|e| PipelineError::Verify(e.to_string()))
}

/// The original is rebuilt byte for byte from what the store holds,
/// compared as it is rebuilt (no second copy of the message in memory; on
/// the blocking pool, as it is CPU work).
pub(super) async fn prove_from_store(
    rewritten: Bytes,
    raw: Bytes,
    store: &Store,
) -> Result<(), PipelineError> {
    let objects = fetch_objects(&rewritten, store).await?;
    let same = tokio::task::spawn_blocking(move || {
        let lookup = |h: &mime::Sha256| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
        // store.get has checked every object's SHA-256 already.
        mime::reattach_equals(&rewritten, &lookup, &raw, true)
    })
    .await
    .map_err(|e| PipelineError::Verify(format!("the proof could not run ({e})")))?
    .map_err(|e| PipelineError::Verify(e.to_string()))?;
    if !same {
        return Err(PipelineError::Verify(
            "the original could not be rebuilt byte for byte from the store; left untouched".into(),
        ));
    }
    Ok(())
}

/// The search value that finds a copy by its marker header.
fn marker_value(rewritten: &[u8]) -> Option<String> {
    let line_end = memchr::memchr(b'\n', rewritten)?;
    let line = std::str::from_utf8(&rewritten[..line_end]).ok()?;
    let value = line.split_once(':')?.1.trim();
    // The tail (original size and date) is what makes it unique.
    let tail = value.find("original-size=").map_or(value, |i| &value[i..]);
    Some(tail.trim_end_matches('\r').to_string())
}

/// Finds the UID of a byte-identical copy of `bytes` in the selected folder:
/// a rewritten message by its marker header, a rebuilt original by its
/// Message-ID.
pub(super) async fn find_copy(
    session: &mut Session,
    bytes: &[u8],
) -> Result<Option<u32>, PipelineError> {
    let uids = if mime::is_processed(bytes) {
        match marker_value(bytes) {
            Some(value) => session.search_header(mime::MARKER_HEADER, &value).await?,
            None => return Ok(None),
        }
    } else {
        let id = mail_parser::MessageParser::new()
            .parse_headers(bytes)
            .and_then(|m| m.message_id().map(str::to_string));
        match id {
            Some(id) => session.search_header("Message-ID", &id).await?,
            None => return Ok(None),
        }
    };
    for uid in uids {
        if session.fetch_message(uid).await?.as_deref() == Some(bytes) {
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

/// Closes a journal entry of either kind into the index.
fn finish_entry(
    index: &mut Index,
    entry: &JournalEntry,
    record: &MessageRecord,
) -> Result<(), PipelineError> {
    match entry.kind {
        JournalKind::Detach => {
            index.journal_finish(entry.id, record)?;
        }
        JournalKind::Reattach { message } => {
            index.journal_finish_reattach(entry.id, message, record.new_uid)?;
        }
    }
    Ok(())
}

/// The copy at `uid` is byte-identical, with the original's flags and
/// INTERNALDATE instant.
pub(super) async fn verify_copy(
    session: &mut Session,
    uid: u32,
    rewritten: &[u8],
    meta: &MessageMeta,
) -> Result<(), PipelineError> {
    let vanished = || PipelineError::Verify(format!("the copy at UID {uid} vanished"));
    let mut m = session
        .fetch_meta(&[uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(vanished)?;
    // NOTE: a server may drop the flags given with APPEND (mailutils imap4d
    // does); set them on the copy once more and read them back.
    if flag_set(&m.flags) != flag_set(&meta.flags) {
        session.set_flags(uid, &copy_flags(meta)).await?;
        m = session
            .fetch_meta(&[uid])
            .await?
            .into_iter()
            .next()
            .ok_or_else(vanished)?;
    }
    let got = session.fetch_message(uid).await?;
    if got.as_deref() != Some(rewritten) {
        return Err(PipelineError::Verify(format!(
            "the copy at UID {uid} is not byte-identical to what was appended; the original is kept"
        )));
    }
    // NOTE: servers keep INTERNALDATE's instant, not its zone (Dovecot):
    // compare instants.
    if m.internal_ts != meta.internal_ts {
        return Err(PipelineError::Verify(format!(
            "the copy at UID {uid} has INTERNALDATE {} instead of {}; the original is kept",
            m.internal_date, meta.internal_date
        )));
    }
    if flag_set(&m.flags) != flag_set(&meta.flags) {
        return Err(PipelineError::Verify(format!(
            "the copy at UID {uid} has flags {:?} instead of {:?}; the original is kept",
            m.flags, meta.flags
        )));
    }
    Ok(())
}

/// Finishes or rolls back everything the journal shows in flight for this
/// account. Returns how many entries were settled.
pub async fn recover_account(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<usize, PipelineError> {
    let pending = index.journal_pending(account)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let all = session.list_folders().await?;
    let trash = find_trash(session, policy).await?;
    let mut settled = 0;
    for entry in pending {
        let Some(folder) = all.iter().find(|f| f.name == entry.record.folder) else {
            tracing::warn!(
                "journal: folder {} is gone; entry kept",
                entry.record.folder
            );
            continue;
        };
        let status: MailboxStatus = session.select(folder).await?;
        if status.uidvalidity != entry.record.uidvalidity {
            tracing::warn!(
                "journal: folder {} has a new UIDVALIDITY; entry for UID {} kept",
                folder.name,
                entry.record.old_uid
            );
            continue;
        }
        recover_one(session, store, index, folder, &entry, trash.as_ref()).await?;
        settled += 1;
    }
    Ok(settled)
}

/// Before recovery removes an original, the proof once more: the store
/// still holds what rebuilds it byte for byte (the store may have changed
/// since the run that was interrupted). A reattach entry's "original" is a
/// stub, whose verified full copy is already on the server.
async fn prove_before_removal(
    session: &mut Session,
    store: &Store,
    entry: &JournalEntry,
) -> Result<(), PipelineError> {
    if entry.kind != JournalKind::Detach {
        return Ok(());
    }
    let raw = session
        .fetch_message(entry.record.old_uid)
        .await?
        .ok_or_else(|| PipelineError::Verify("the original vanished during recovery".into()))?;
    prove_from_store(Bytes::copy_from_slice(&entry.rewritten), raw, store).await
}

async fn recover_one(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    folder: &Folder,
    entry: &JournalEntry,
    trash: Option<&Folder>,
) -> Result<(), PipelineError> {
    // NOTE: mailutils imap4d answers BAD to a UID FETCH of a UID in a gap
    // (one that was expunged) where Dovecot answers OK with no data: both
    // mean the original is gone. Misjudging can at worst lead to a second
    // APPEND of the copy, never to a loss.
    let original = match session.fetch_meta(&[entry.record.old_uid]).await {
        Ok(orig) => orig.first().is_some_and(|m| m.uid == entry.record.old_uid),
        Err(ImapError::Bad { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    let mut copy_uid = None;
    if let Some(uid) = entry.new_uid {
        if session.fetch_message(uid).await?.as_deref() == Some(&entry.rewritten[..]) {
            copy_uid = Some(uid);
        }
    }
    if copy_uid.is_none() {
        copy_uid = find_copy(session, &entry.rewritten).await?;
    }
    let step = next_step(
        entry.state,
        Observed {
            original,
            copy: copy_uid.is_some(),
        },
    );
    tracing::info!(
        "journal: {} UID {} ({:?}, original {original}, copy {:?}) -> {step:?}",
        folder.name,
        entry.record.old_uid,
        entry.state,
        copy_uid
    );
    let mut record = entry.record.clone();
    if matches!(
        step,
        Step::RemoveOriginalAndFinish | Step::RemoveOriginalThenAppend
    ) {
        if let Err(e) = prove_before_removal(session, store, entry).await {
            if e.is_transient() {
                return Err(e);
            }
            // The store can no longer rebuild this original (an object was
            // lost or damaged since): roll back. The original stays, the
            // copy that points at the missing objects goes, and the next
            // run converts the message afresh.
            tracing::warn!(
                "journal: {} UID {}: {e}; keeping the original and taking the copy away",
                folder.name,
                entry.record.old_uid
            );
            if let Some(uid) = copy_uid {
                session.delete_uid(uid, None).await?;
            }
            index.journal_abandon(entry.id)?;
            return Ok(());
        }
    }
    match step {
        Step::Abandon => index.journal_abandon(entry.id)?,
        Step::Finish | Step::RemoveOriginalAndFinish => {
            if step == Step::RemoveOriginalAndFinish {
                remove_original(session, entry.record.old_uid, trash).await?;
            }
            record.new_uid = copy_uid;
            finish_entry(index, entry, &record)?;
        }
        Step::AppendAndFinish | Step::RemoveOriginalThenAppend => {
            if step == Step::RemoveOriginalThenAppend {
                index.journal_set(entry.id, JournalState::OriginalRemoved, None)?;
                remove_original(session, entry.record.old_uid, trash).await?;
            }
            let flags = entry.record.flags.clone();
            let appended = session
                .append(
                    folder,
                    &flags,
                    &entry.record.internal_date,
                    &entry.rewritten,
                )
                .await?;
            let uid = match appended {
                Some((_, uid)) => Some(uid),
                None => find_copy(session, &entry.rewritten).await?,
            };
            index.journal_set(entry.id, JournalState::Appended, uid)?;
            record.new_uid = uid;
            finish_entry(index, entry, &record)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_value_is_the_unique_tail() {
        let rw = b"X-Slimbox: v=1; parts=1; bytes=5; original-size=99; date=\"Mon, 1 Jan 2024\"\r\nFrom: a\r\n";
        assert_eq!(
            marker_value(rw).unwrap(),
            "original-size=99; date=\"Mon, 1 Jan 2024\""
        );
    }

    #[test]
    fn flags_compare_without_recent_and_case_of_system_flags() {
        let a = vec!["\\Seen".to_string(), "$Label".into(), "\\Recent".into()];
        let b = vec!["\\SEEN".to_string(), "$Label".into()];
        assert_eq!(flag_set(&a), flag_set(&b));
    }
}
