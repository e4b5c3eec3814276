//! Steps 6 and 7 of the safety order, the one path every change to the
//! server shares (the normal path, over quota, recovery, reattach): APPEND
//! a copy beside the message it replaces, learn its UID (APPENDUID, else
//! [`super::find::find_copy`]), journal it, and verify it on the server:
//! byte-identical, same flags, same INTERNALDATE instant. What belongs here:
//! putting a copy in and proving it faithful; not what happens to the
//! original (`remove`, `commit`).

use super::checkpoint::checkpoint;
use super::find::find_copy;
use super::flags::flag_set;
use super::remove::remove_messages;
use super::report::PipelineError;
use crate::imap::{Folder, ImapError, MessageMeta, Session};
use crate::index::{Index, JournalState};

/// A copy to put on the server, and what it must look like there.
pub(super) struct Want<'a> {
    pub folder: &'a Folder,
    pub bytes: &'a [u8],
    /// The flags it must carry (see [`super::flags::copy_flags`]).
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
