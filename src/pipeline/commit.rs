//! Steps 5 to 9 of the safety order, the server half, and the two pieces
//! every path that changes the server shares: [`append_verified`] (APPEND
//! a copy, learn its UID, journal it, verify it on the server) and
//! `remove_messages` (take messages away by UID: UIDPLUS, Gmail's Trash,
//! MOVE, or flag only, saying which). The normal path, the over-quota
//! path, recovery and reattach all go through them.

use std::collections::HashSet;
use std::time::Instant;

use super::checkpoint::checkpoint;
use super::owner::{settle_batch, Fate};
use super::plan::{copy_flags, FolderPlan, JobPolicy};
use super::prepare::Prepared;
use super::report::{Converted, Laps, PipelineError};
use crate::imap::{DeleteOutcome, Folder, ImapError, MessageMeta, Session};
use crate::index::{Index, JournalState, MessageRecord};
use crate::mime;

/// A copy to put on the server, and what it must look like there.
pub(super) struct Want<'a> {
    pub folder: &'a Folder,
    pub bytes: &'a [u8],
    /// The flags it must carry (see [`copy_flags`]).
    pub flags: Vec<String>,
    /// IMAP date-time; the server must keep its instant.
    pub internal_date: &'a str,
}

/// Steps 6 and 7: APPENDs `want` beside the message it replaces, learns its
/// UID (APPENDUID, else by searching for an identical copy), records it in
/// journal entry `jid` and verifies it on the server: byte-identical, same
/// flags, same INTERNALDATE instant.
///
/// With `original_kept` (the message it replaces is still on the server),
/// a refused APPEND abandons the journal entry and an unfaithful copy is
/// taken away again (through the one removal path, to `trash` on Gmail),
/// so the server is as before. Without it the journal
/// entry is kept whatever happens: it is then the only full record of the
/// message besides the store, and the next run finishes from it.
pub(super) async fn append_verified(
    session: &mut Session,
    index: &mut Index,
    jid: i64,
    want: &Want<'_>,
    original_kept: bool,
    trash: Option<&Folder>,
    fetched: &mut u64,
) -> Result<u32, PipelineError> {
    let folder = || want.folder.name.clone();
    // 6. APPEND the copy, with the original's flags and INTERNALDATE.
    let appended = match session
        .append(want.folder, &want.flags, want.internal_date, want.bytes)
        .await
    {
        Ok(a) => a,
        Err(source) => {
            // A NO or BAD means nothing was stored. A lost connection may
            // have stored the copy anyway: the journal entry stays, so the
            // next recovery finds the copy (by its marker) instead of
            // leaving a duplicate behind. Over quota the caller goes on
            // with this very entry (the original goes first): it stays.
            let over_quota = matches!(source, ImapError::OverQuota { .. });
            if original_kept && !source.is_transient() && !over_quota {
                index.journal_abandon(jid)?;
            }
            return Err(PipelineError::Append {
                folder: folder(),
                source,
            });
        }
    };
    let uid = match appended {
        Some((_, uid)) => Some(uid),
        None => find_copy(session, want.bytes).await?,
    };
    index.journal_set(jid, JournalState::Appended, uid)?;
    checkpoint("appended").await;
    let uid = uid.ok_or_else(|| PipelineError::CopyNotFound { folder: folder() })?;
    // 7. Verify the copy on the server before anything is removed.
    *fetched += want.bytes.len() as u64;
    if let Err(e) = verify_copy(session, uid, want).await {
        // A lost connection proves nothing either way: the journal says
        // Appended and recovery checks again. A copy that is wrong is
        // taken away again when the original is still there.
        if e.is_unfaithful_copy() && original_kept {
            let _ = remove_messages(session, &[uid], trash).await;
            index.journal_abandon(jid)?;
        }
        return Err(e);
    }
    checkpoint("verified").await;
    Ok(uid)
}

/// The copy at `uid` is byte-identical to `want`, with its flags and
/// INTERNALDATE instant.
async fn verify_copy(
    session: &mut Session,
    uid: u32,
    want: &Want<'_>,
) -> Result<(), PipelineError> {
    let m = fetch_one_meta(session, uid, want).await?;
    verify_fetched(session, m, want).await
}

/// [`verify_copy`] with the copy's metadata already fetched.
pub(super) async fn verify_fetched(
    session: &mut Session,
    mut m: MessageMeta,
    want: &Want<'_>,
) -> Result<(), PipelineError> {
    let (folder, uid) = (|| want.folder.name.clone(), m.uid);
    // NOTE: a server may drop the flags given with APPEND (mailutils imap4d
    // does); set them on the copy once more and read them back.
    if flag_set(&m.flags) != flag_set(&want.flags) {
        session.set_flags(uid, &want.flags).await?;
        m = fetch_one_meta(session, uid, want).await?;
    }
    let got = session.fetch_message(uid).await?;
    if got.as_deref() != Some(want.bytes) {
        return Err(PipelineError::CopyAltered {
            folder: folder(),
            uid,
        });
    }
    // NOTE: servers keep INTERNALDATE's instant, not its zone (Dovecot):
    // compare instants.
    let want_ts = crate::imap::datetime::parse_datetime(want.internal_date);
    if !want.internal_date.is_empty() && Some(m.internal_ts) != want_ts {
        return Err(PipelineError::CopyDate {
            folder: folder(),
            uid,
            got: m.internal_date,
            want: want.internal_date.to_string(),
        });
    }
    if flag_set(&m.flags) != flag_set(&want.flags) {
        return Err(PipelineError::CopyFlags {
            folder: folder(),
            uid,
            got: m.flags,
            want: want.flags.clone(),
        });
    }
    Ok(())
}

pub(super) async fn fetch_one_meta(
    session: &mut Session,
    uid: u32,
    want: &Want<'_>,
) -> Result<MessageMeta, PipelineError> {
    session
        .fetch_meta(&[uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| PipelineError::CopyVanished {
            folder: want.folder.name.clone(),
            uid,
        })
}

/// How `remove_messages` took messages away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Flagged `\Deleted` and expunged by UID (UIDPLUS).
    Expunged,
    /// Gmail: moved to its Trash folder, since an expunge there only drops
    /// a label and "All Mail" would keep the message.
    GmailTrash(String),
    /// Gmail: moved to its Trash folder and expunged there by UID (COPYUID
    /// said which), which is what deletes a message on Gmail for good.
    GmailTrashExpunged(String),
    /// No UIDPLUS: moved to this trash folder (MOVE).
    MovedToTrash(String),
    /// Neither UIDPLUS nor MOVE: only flagged `\Deleted`, left for the
    /// user's client to expunge.
    FlaggedOnly,
}

impl Removal {
    /// What the user should hear about the removal of `what` (say "the
    /// original") at `uid`; nothing for a plain expunge.
    pub fn note(&self, uid: u32, what: &str) -> Option<String> {
        match self {
            // Gone for good, as with a plain expunge.
            Removal::Expunged | Removal::GmailTrashExpunged(_) => None,
            Removal::GmailTrash(t) => Some(format!(
                "UID {uid}: {what} was moved to {t} so Gmail's All Mail does not keep it \
                 (Gmail deletes it from there after 30 days)"
            )),
            Removal::MovedToTrash(t) => Some(format!(
                "UID {uid}: the server has no UIDPLUS; {what} was moved to {t}"
            )),
            Removal::FlaggedOnly => Some(format!(
                "UID {uid}: the server has neither UIDPLUS nor MOVE; {what} is flagged \\Deleted and left for you to expunge"
            )),
        }
    }
}

/// Step 8, the one removal path: takes exactly `uids` away from the
/// selected folder in one round of commands, touching no other message
/// (never a plain EXPUNGE). On Gmail (X-GM-EXT-1) by a move to `trash`
/// and an expunge there of exactly the messages moved.
pub(super) async fn remove_messages(
    session: &mut Session,
    uids: &[u32],
    trash: Option<&Folder>,
) -> Result<Removal, PipelineError> {
    if session.has_capability("X-GM-EXT-1") && session.has_capability("MOVE") {
        if let Some(t) = trash.filter(|t| session.selected_raw_name() != Some(&t.raw_name)) {
            return gmail_remove(session, uids, t).await;
        }
    }
    Ok(match session.delete_uids(uids, trash).await? {
        DeleteOutcome::Expunged => Removal::Expunged,
        DeleteOutcome::MovedToTrash(t) => Removal::MovedToTrash(t),
        DeleteOutcome::FlaggedOnly => Removal::FlaggedOnly,
    })
}

/// Gmail's removal. NOTE: on Gmail a folder is a label: an expunge from
/// it drops the label and the message stays in "All Mail", taking as much
/// room as before. Only the Trash deletes: a message moved there goes for
/// good when it is expunged there (else after 30 days). The UIDs the
/// messages got in the Trash come from the MOVE's COPYUID, so exactly
/// those are expunged there and nothing the owner put in the Trash; without
/// COPYUID they are left for Gmail to delete.
async fn gmail_remove(
    session: &mut Session,
    uids: &[u32],
    trash: &Folder,
) -> Result<Removal, PipelineError> {
    let moved = session.move_uids_learning(uids, trash).await?;
    checkpoint("trashed").await;
    let in_trash: Vec<u32> = moved
        .iter()
        .filter(|(from, _)| uids.contains(from))
        .map(|&(_, to)| to)
        .collect();
    Ok(match session.expunge_in(trash, &in_trash).await? {
        true => Removal::GmailTrashExpunged(trash.name.clone()),
        false => Removal::GmailTrash(trash.name.clone()),
    })
}

/// [`remove_messages`], but where the server can make it conditional
/// (UIDPLUS and CONDSTORE, not Gmail's move to Trash) and `since` is
/// given, only the messages nobody changed after MODSEQ `since` go.
/// Returns how, and the UIDs left in place because they changed.
pub(super) async fn remove_unchanged(
    session: &mut Session,
    uids: &[u32],
    since: Option<u64>,
    trash: Option<&Folder>,
) -> Result<(Removal, Vec<u32>), PipelineError> {
    let gmail = session.has_capability("X-GM-EXT-1") && session.has_capability("MOVE");
    let conditional = session.has_capability("UIDPLUS") && session.has_condstore() && !gmail;
    match since {
        Some(since) if conditional => {
            let changed = session.expunge_unchanged_since(uids, since).await?;
            Ok((Removal::Expunged, changed))
        }
        _ => Ok((remove_messages(session, uids, trash).await?, Vec::new())),
    }
}

/// The trash folder among `all` (the account's folders as LIST gave
/// them): the configured one, else the one with SPECIAL-USE `\Trash` (its
/// name is localised on Gmail), else on a server that marks none the first
/// of the provider's usual names that is there (Microsoft's "Deleted Items").
pub(super) fn trash_of(all: &[Folder], policy: &JobPolicy) -> Option<Folder> {
    let by_name = || {
        let names = policy.provider.folder_names("\\Trash");
        names
            .into_iter()
            .find_map(|n| all.iter().find(|f| f.name.eq_ignore_ascii_case(n)))
    };
    match &policy.trash {
        Some(name) => all.iter().find(|f| &f.name == name),
        None => all
            .iter()
            .find(|f| f.has_special_use("\\Trash"))
            .or_else(by_name),
    }
    .cloned()
}

/// A message whose copy is verified on the server, its original still
/// there (journal state Appended).
pub(super) struct Verified {
    pub jid: i64,
    pub record: MessageRecord,
    pub lap: Laps,
    /// When the copy was verified: a batch waits at most
    /// [`super::execute::BATCH_WAIT`] from its oldest member.
    pub at: Instant,
}

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

pub(super) fn flag_set(flags: &[String]) -> HashSet<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| flag_key(f))
        .collect()
}

/// System flags compare without case (`\Seen`, `\SEEN`), keywords as they are.
fn flag_key(f: &str) -> String {
    if f.starts_with('\\') {
        f.to_ascii_lowercase()
    } else {
        f.to_string()
    }
}

/// The flags a message carries when two copies of it were each changed by
/// the mailbox's owner since `base` (the flags slimbox recorded): a flag
/// either side added is kept, one either side removed is gone. So nothing
/// the owner did to the original or to its copy meanwhile is undone.
pub(super) fn merge_flags(base: &[String], ours: &[String], theirs: &[String]) -> Vec<String> {
    let (base, ours_set, theirs_set) = (flag_set(base), flag_set(ours), flag_set(theirs));
    let keep = |f: &String| {
        let k = flag_key(f);
        match base.contains(&k) {
            true => ours_set.contains(&k) && theirs_set.contains(&k),
            false => ours_set.contains(&k) || theirs_set.contains(&k),
        }
    };
    let mut seen = HashSet::new();
    copy_flags(ours)
        .into_iter()
        .chain(copy_flags(theirs))
        .filter(|f| keep(f) && seen.insert(flag_key(f)))
        .collect()
}

/// The search value that finds a copy by its marker header.
fn marker_value(rewritten: &[u8]) -> Option<String> {
    // After an mbox `From ` line, if the message has one.
    let line = mime::marker_line(rewritten)?;
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
    if let Some(uid) = search_copy(session, bytes).await? {
        return Ok(Some(uid));
    }
    // NOTE: mailutils imap4d may not show a message this very session just
    // APPENDed (when another session selected the folder meanwhile) until
    // the folder is selected again.
    session.refresh().await?;
    search_copy(session, bytes).await
}

async fn search_copy(session: &mut Session, bytes: &[u8]) -> Result<Option<u32>, PipelineError> {
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

    #[test]
    fn issue8_merged_flags_keep_what_the_owner_did_to_either_copy() {
        let v = |s: &[&str]| s.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let base = v(&["\\Seen", "$Work"]);
        // Flagged on the original, $Work taken off the copy, \Seen kept.
        let merged = merge_flags(
            &base,
            &v(&["\\Seen", "$Work", "\\Flagged"]),
            &v(&["\\SEEN"]),
        );
        assert_eq!(flag_set(&merged), flag_set(&v(&["\\Seen", "\\Flagged"])));
        // Nobody changed anything: the same flags.
        assert_eq!(flag_set(&merge_flags(&base, &base, &base)), flag_set(&base));
        // Marked unread on one side only: unread.
        let merged = merge_flags(&base, &v(&["$Work"]), &base);
        assert_eq!(flag_set(&merged), flag_set(&v(&["$Work"])));
        // \Recent is never carried over.
        assert!(merge_flags(&[], &v(&["\\Recent"]), &[]).is_empty());
    }

    #[test]
    fn only_a_plain_expunge_goes_unreported() {
        assert_eq!(Removal::Expunged.note(3, "the stub"), None);
        let n = Removal::FlaggedOnly.note(3, "the stub").unwrap();
        assert!(n.contains("UID 3") && n.contains("the stub") && n.contains("expunge"));
        let n = Removal::GmailTrash("[Gmail]/Trash".into())
            .note(4, "the original")
            .unwrap();
        assert!(n.contains("[Gmail]/Trash"), "{n}");
    }
}
