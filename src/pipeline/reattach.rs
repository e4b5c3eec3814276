//! Putting a whole message back: the stub replaced by the rebuilt original,
//! in the same safety order as detach (rebuild and verify from the store →
//! journal → APPEND with the stub's flags and the original INTERNALDATE →
//! verify on the server → remove the stub by UID → commit to the index).

use super::execute::{
    checkpoint, copy_flags, find_copy, prove_rebuild, verify_copy, PipelineError,
};
use crate::imap::{Folder, ImapError, Session};
use crate::index::{Index, JournalKind, JournalState, MessageRecord};
use crate::mime;
use crate::store::Store;

/// A processed message to put back, as the index knows it.
#[derive(Debug, Clone)]
pub struct ReattachTarget {
    /// Its row in the index's `messages`.
    pub message: i64,
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
    /// The stub's UID when last seen.
    pub uid: Option<u32>,
    pub message_id: Option<String>,
}

/// Puts one message back whole; returns the UID of the original.
pub async fn reattach_message(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    target: &ReattachTarget,
    trash: Option<&Folder>,
) -> Result<u32, PipelineError> {
    let folders = session.list_folders().await?;
    let folder = folders
        .iter()
        .find(|f| f.name == target.folder)
        .ok_or_else(|| {
            PipelineError::Verify(format!("folder {} is gone from the server", target.folder))
        })?;
    let status = session.select(folder).await?;
    let stub_uid = find_stub(session, target, status.uidvalidity).await?;
    let stub = session
        .fetch_message(stub_uid)
        .await?
        .ok_or_else(|| PipelineError::Verify(format!("the stub at UID {stub_uid} vanished")))?;
    let meta = session
        .fetch_meta(&[stub_uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| PipelineError::Verify(format!("the stub at UID {stub_uid} vanished")))?;
    // 1. The original rebuilt from the store, every object hash-checked.
    let original = prove_rebuild(&stub, store).await?;
    let record = MessageRecord {
        account: target.account.clone(),
        folder: target.folder.clone(),
        uidvalidity: status.uidvalidity,
        old_uid: stub_uid,
        new_uid: None,
        message_id: target.message_id.clone(),
        date: None,
        from: None,
        to: None,
        subject: None,
        internal_date: meta.internal_date.clone(),
        flags: copy_flags(&meta),
        size_before: stub.len() as u64,
        size_after: original.len() as u64,
        parts: Vec::new(),
    };
    // 2. Intent on disk.
    let jid = index.journal_begin_kind(
        &record,
        &original,
        JournalKind::Reattach {
            message: target.message,
        },
    )?;
    checkpoint("reattach-prepared").await;
    // 3. APPEND the original beside the stub.
    let appended = match session
        .append(folder, &record.flags, &meta.internal_date, &original)
        .await
    {
        Ok(a) => a,
        Err(ImapError::OverQuota { text }) => {
            index.journal_abandon(jid)?;
            return Err(PipelineError::Verify(format!(
                "the mailbox is over quota ({text}): the whole message does not fit; nothing was changed — free some space and try again"
            )));
        }
        Err(e) => {
            if !e.is_transient() {
                index.journal_abandon(jid)?;
            }
            return Err(e.into());
        }
    };
    let uid = match appended {
        Some((_, uid)) => Some(uid),
        None => find_copy(session, &original).await?,
    };
    index.journal_set(jid, JournalState::Appended, uid)?;
    let uid = uid.ok_or_else(|| {
        PipelineError::Verify("the rebuilt message cannot be found after APPEND".into())
    })?;
    // 4. Verify it on the server.
    if let Err(e) = verify_copy(session, uid, &original, &meta).await {
        if !e.is_transient() {
            let _ = session.delete_uid(uid, None).await;
            index.journal_abandon(jid)?;
        }
        return Err(e);
    }
    // 5. Remove the stub, by UID only.
    session.delete_uid(stub_uid, trash).await?;
    // 6. Commit.
    index.journal_finish_reattach(jid, target.message, Some(uid))?;
    Ok(uid)
}

/// Finds the stub: at its recorded UID when the folder is unchanged, else by
/// its Message-ID among processed messages.
async fn find_stub(
    session: &mut Session,
    target: &ReattachTarget,
    uidvalidity: u32,
) -> Result<u32, PipelineError> {
    let wanted = |raw: &[u8]| {
        mime::is_processed(raw)
            && mail_parser::MessageParser::new()
                .parse_headers(raw)
                .and_then(|m| m.message_id().map(str::to_string))
                == target.message_id
    };
    if let (Some(uid), true) = (target.uid, uidvalidity == target.uidvalidity) {
        if let Some(raw) = session.fetch_message(uid).await? {
            if wanted(&raw) {
                return Ok(uid);
            }
        }
    }
    if let Some(id) = &target.message_id {
        for uid in session.search_header("Message-ID", id).await? {
            if let Some(raw) = session.fetch_message(uid).await? {
                if wanted(&raw) {
                    return Ok(uid);
                }
            }
        }
    }
    Err(PipelineError::Verify(format!(
        "the processed message {} is no longer in {}",
        target.message_id.as_deref().unwrap_or("(no Message-ID)"),
        target.folder
    )))
}
