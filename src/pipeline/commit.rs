//! Steps 5 to 9 of the safety order for the normal path, the server half:
//! journal the intent, put the copy in and verify it ([`append_verified`]),
//! then remove the originals a batch at a time as their owner would have
//! it ([`settle_batch`]) and commit each to the index. Over quota the
//! original goes first ([`over_quota`]). The shared steps themselves live
//! in `append` (6, 7) and `remove` (8).

use std::time::Instant;

use super::append::{append_verified, Want};
use super::checkpoint::checkpoint;
use super::owner::{settle_batch, Fate, Verified};
use super::plan::FolderPlan;
use super::prepare::Prepared;
use super::remove::{remove_messages, Removal};
use super::report::{Converted, PipelineError};
use crate::imap::{Folder, ImapError, MessageMeta, Session};
use crate::index::{Index, JournalState, MessageRecord};

/// What [`commit`] got to.
pub(super) enum Committed {
    /// Finished (over quota the original went first).
    Done(Converted),
    /// The copy is verified; the original waits for its batch.
    Verified(Box<Verified>),
    /// The server refused the copy as too large (`[TOOBIG]`): nothing
    /// changed, the message is left as it is, and why.
    LeftAlone(String),
}

/// Steps 5 to 7 for a message [`super::prepare::prepare`] made ready (and
/// 8 and 9 over quota; otherwise they follow in a batch).
pub(super) async fn commit(
    session: &mut Session,
    index: &mut Index,
    fp: &FolderPlan,
    meta: &MessageMeta,
    prepared: Prepared,
    trash: Option<&Folder>,
    fetched: &mut u64,
) -> Result<Committed, PipelineError> {
    let Prepared {
        rewritten,
        mut record,
        synced,
        compressed,
        mut lap,
    } = prepared;
    // The objects on disk before anything depends on them.
    synced.wait().await?;
    // Only `stats` reads this: the objects are in the store either way.
    index.note_compressed(&compressed)?;
    lap.mark("sync");
    // 5. Intent on disk before the server changes.
    let jid = index.journal_begin(&record, &rewritten)?;
    lap.mark("journal");
    checkpoint("prepared").await;
    let want = Want {
        folder: &fp.handle,
        bytes: &rewritten,
        // As read when the message was fetched (`record_for`).
        flags: record.flags.clone(),
        internal_date: &meta.internal_date,
    };
    match append_verified(session, index, jid, &want, true, trash, fetched).await {
        Ok(uid) => {
            lap.mark("verify");
            record.new_uid = Some(uid);
            let at = Instant::now();
            Ok(Committed::Verified(Box::new(Verified {
                jid,
                record,
                lap,
                at,
            })))
        }
        Err(PipelineError::Append {
            source: ImapError::OverQuota { text },
            ..
        }) => {
            tracing::warn!("APPEND refused over quota ({text}); removing the original first");
            over_quota(session, index, jid, &want, meta.uid, trash, fetched, record).await
        }
        // A limit the server did not announce (or announces per folder):
        // append_verified has abandoned the entry, the original is as it was.
        Err(PipelineError::Append {
            source: e @ ImapError::TooBig { .. },
            ..
        }) => Ok(Committed::LeftAlone(e.to_string())),
        Err(e) => Err(e),
    }
}

/// At the hard quota even the smaller copy is refused. The original is
/// proven rebuildable from the store (step 4), so it may go first; the
/// journal holds the copy until it is in.
#[allow(clippy::too_many_arguments)]
async fn over_quota(
    session: &mut Session,
    index: &mut Index,
    jid: i64,
    want: &Want<'_>,
    uid: u32,
    trash: Option<&Folder>,
    fetched: &mut u64,
    mut record: MessageRecord,
) -> Result<Committed, PipelineError> {
    index.journal_set(jid, JournalState::OriginalRemoved, None)?;
    checkpoint("quota-marked").await;
    // 8. (early) Remove the original, by UID only.
    let note = remove_messages(session, &[uid], trash)
        .await?
        .note(uid, "the original");
    checkpoint("quota-removed").await;
    // 6. and 7. again.
    let new_uid = match append_verified(session, index, jid, want, false, trash, fetched).await {
        Ok(u) => u,
        Err(PipelineError::Append { folder, source }) => {
            return Err(PipelineError::OverQuotaAppend {
                folder,
                uid,
                source,
            })
        }
        Err(e) => return Err(e),
    };
    // 9. Commit to the index.
    record.new_uid = Some(new_uid);
    index.journal_finish(jid, &record)?;
    Ok(Committed::Done(Converted::Done {
        before: record.size_before,
        after: record.size_after,
        note,
    }))
}

/// Steps 8 and 9 for a batch of verified messages: removes their originals
/// (by UID only) in one round, as their owner would have it meanwhile
/// ([`settle_batch`]), then commits each to the index.
pub(super) async fn finish_batch(
    session: &mut Session,
    index: &mut Index,
    folder: &str,
    batch: Vec<Verified>,
    trash: Option<&Folder>,
) -> Vec<Result<Converted, PipelineError>> {
    if batch.is_empty() {
        return Vec::new();
    }
    // 8. Remove the originals, by UID only.
    let (fates, removal) = match settle_batch(session, index, &batch, trash).await {
        Ok(r) => r,
        Err(e) => {
            // The journal keeps each entry at Appended: recovery checks the
            // copy once more and removes the original then. The first
            // message carries the error itself (a lost connection makes
            // the job reconnect and recover).
            let reason = e.to_string();
            let mut out = vec![Err(e)];
            out.extend(batch.iter().skip(1).map(|v| {
                Err(PipelineError::NotRemoved {
                    folder: folder.to_string(),
                    uid: v.record.old_uid,
                    reason: reason.clone(),
                })
            }));
            return out;
        }
    };
    checkpoint("removed").await;
    batch
        .into_iter()
        .zip(fates)
        .map(|(v, fate)| finish_one(index, v, fate, removal.as_ref()))
        .collect()
}

/// Step 9 for one message of a batch, as its fate says.
fn finish_one(
    index: &mut Index,
    mut v: Verified,
    fate: Fate,
    removal: Option<&Removal>,
) -> Result<Converted, PipelineError> {
    match fate {
        Fate::Replaced { flags } => {
            v.lap.mark("remove");
            // 9. Commit to the index, with the flags the copy carries now.
            v.record.flags = flags;
            index.journal_finish(v.jid, &v.record)?;
            v.lap.mark("commit");
            v.lap.log();
            let note = removal.and_then(|r| r.note(v.record.old_uid, "the original"));
            Ok(Converted::Done {
                before: v.record.size_before,
                after: v.record.size_after,
                note,
            })
        }
        Fate::ServerDropped { flags } => {
            // 9. The copy replaced the original (see owner::server_may_drop).
            v.record.flags = flags;
            index.journal_finish(v.jid, &v.record)?;
            let note = format!(
                "UID {}: the original vanished right after its copy went in (Gmail drops a \
                 message when another with the same Message-ID is appended); the verified \
                 copy stays and the original can be rebuilt from the store",
                v.record.old_uid
            );
            Ok(Converted::Done {
                before: v.record.size_before,
                after: v.record.size_after,
                note: Some(note),
            })
        }
        // The journal entry was closed when the copy went; the index
        // remembers why (the tally records it).
        Fate::LabelsRefused(why) => Ok(Converted::SkippedForGood(why)),
        Fate::StillThere => Err(PipelineError::NotRemoved {
            folder: v.record.folder.clone(),
            uid: v.record.old_uid,
            reason: "its owner kept changing it while slimbox removed it".to_string(),
        }),
        other => owner_changed(index, &v, other),
    }
}

/// The owner moved or deleted the original, or the copy, meanwhile:
/// nothing was converted (the objects stay in the store). The journal
/// entry is closed, and where the original's UID is gone for good the
/// index remembers why.
fn owner_changed(index: &mut Index, v: &Verified, fate: Fate) -> Result<Converted, PipelineError> {
    let r = &v.record;
    let (why, original_gone) = match fate {
        Fate::OwnerTookOriginal(how) => {
            let why = "moved or deleted by its owner during the run; its converted copy was \
                       taken away again";
            let why = match how.note(r.new_uid.unwrap_or(0), "the copy") {
                Some(note) => format!("{why} ({note})"),
                None => why.to_string(),
            };
            (why, true)
        }
        Fate::OwnerTookCopy => (
            "its converted copy was moved or deleted by its owner during the run; the original \
             stays"
                .to_string(),
            false,
        ),
        _ => (
            "moved or deleted by its owner during the run".to_string(),
            true,
        ),
    };
    index.journal_abandon(v.jid)?;
    if original_gone {
        index.record_skip(&r.account, &r.folder, r.uidvalidity, r.old_uid, &why)?;
    }
    Ok(Converted::OwnerChanged(why))
}
