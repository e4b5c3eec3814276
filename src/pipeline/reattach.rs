//! Putting whole messages back: each stub replaced by the rebuilt
//! original, through the same safety order and shared steps as detach: the
//! original rebuilt from the store, every object hash-checked (4) →
//! journal (5) → APPEND with the stub's flags and the original
//! INTERNALDATE, learn its UID (6) → verify on the server (7) → remove the
//! stub by UID through the one removal path (8) → commit to the index (9).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use super::append::{append_verified, Want};
use super::checkpoint::checkpoint;
use super::connect::Connector;
use super::plan::JobPolicy;
use super::prepare::prove_rebuild;
use super::recover;
use super::remove::{remove_messages, trash_of};
use super::report::PipelineError;
use crate::imap::{Folder, ImapError, MessageMeta, Session};
use crate::index::{Index, JournalKind, MessageRecord, PartRow};
use crate::mime;
use crate::store::Store;

/// A processed message to put back, as the index knows it.
#[derive(Debug, Clone, Serialize)]
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

impl ReattachTarget {
    /// One target per message of `rows` (a message has a row per part),
    /// grouped by account.
    pub fn by_account(rows: Vec<PartRow>) -> BTreeMap<String, Vec<ReattachTarget>> {
        let mut targets: BTreeMap<String, Vec<ReattachTarget>> = BTreeMap::new();
        for r in rows {
            let list = targets.entry(r.account.clone()).or_default();
            if list.iter().all(|t| t.message != r.message) {
                list.push(ReattachTarget {
                    message: r.message,
                    account: r.account,
                    folder: r.folder,
                    uidvalidity: r.uidvalidity,
                    uid: r.uid,
                    message_id: r.message_id,
                });
            }
        }
        targets
    }
}

/// How putting one message back went.
#[derive(Debug, Clone, Serialize)]
pub struct ReattachOutcome {
    pub target: ReattachTarget,
    /// The UID of the whole message, when it is back.
    pub uid: Option<u32>,
    /// What the user should know about the stub's removal (flagged only,
    /// moved to Trash).
    pub note: Option<String>,
    pub error: Option<String>,
}

/// Puts `targets` (all of one account) back: recovery first, then each
/// message in turn. An error of one message is in its outcome; `Err` only
/// when the account cannot be worked on at all.
pub async fn reattach_account<C: Connector>(
    connector: &C,
    store: &Store,
    index: &mut Index,
    account: &str,
    policy: &JobPolicy,
    targets: Vec<ReattachTarget>,
) -> Result<Vec<ReattachOutcome>, PipelineError> {
    let mut session = connector.connect().await?;
    recover::recover_account(&mut session, store, index, account, policy).await?;
    let folders = session.list_folders().await?;
    let trash = trash_of(&folders, policy);
    let mut outcomes = Vec::new();
    for target in targets {
        let r = reattach_message(
            &mut session,
            store,
            index,
            &target,
            &folders,
            trash.as_ref(),
        )
        .await;
        let (uid, note, error) = match r {
            Ok((uid, note)) => (Some(uid), note, None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        outcomes.push(ReattachOutcome {
            target,
            uid,
            note,
            error,
        });
    }
    let _ = session.logout().await;
    Ok(outcomes)
}

/// Puts one message back whole; returns the UID of the original and a
/// note on how the stub went.
async fn reattach_message(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    target: &ReattachTarget,
    folders: &[Folder],
    trash: Option<&Folder>,
) -> Result<(u32, Option<String>), PipelineError> {
    let folder = folders
        .iter()
        .find(|f| f.name == target.folder)
        .ok_or_else(|| PipelineError::FolderGone {
            folder: target.folder.clone(),
        })?;
    let status = session.select(folder).await?;
    let (stub_uid, stub) = find_stub(session, target, status.uidvalidity).await?;
    let vanished = || PipelineError::StubGone {
        folder: target.folder.clone(),
        message_id: show_id(target),
    };
    let meta = session
        .fetch_meta(&[stub_uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(vanished)?;
    // 4. The original rebuilt from the store, every object hash-checked.
    let original = prove_rebuild(&stub, store, &folder.name, stub_uid).await?;
    let record = record_for(
        target,
        status.uidvalidity,
        &meta,
        stub.len(),
        original.len(),
    );
    // 5. Intent on disk.
    let kind = JournalKind::Reattach {
        message: target.message,
    };
    let jid = index.journal_begin_kind(&record, &original, kind)?;
    checkpoint("reattach-prepared").await;
    // 6. and 7. APPEND the original beside the stub and verify it.
    let want = Want {
        folder,
        bytes: &original,
        flags: record.flags.clone(),
        internal_date: &meta.internal_date,
    };
    let mut fetched = 0;
    let uid = match append_verified(session, index, jid, &want, true, trash, &mut fetched).await {
        Ok(uid) => uid,
        Err(PipelineError::Append {
            folder,
            source: ImapError::OverQuota { text },
        }) => {
            // Nothing changed on the server: the stub stays as it was.
            index.journal_abandon(jid)?;
            return Err(PipelineError::NoRoom { folder, text });
        }
        Err(e) => return Err(e),
    };
    // 8. Remove the stub, by UID only, through the one removal path.
    let removal = remove_messages(session, &[stub_uid], trash).await?;
    // 9. Commit.
    index.journal_finish_reattach(jid, target.message, Some(uid))?;
    Ok((uid, removal.note(stub_uid, "the stub")))
}

/// The journal's record of a reattach: the stub is the "original" that goes.
fn record_for(
    target: &ReattachTarget,
    uidvalidity: u32,
    stub: &MessageMeta,
    stub_len: usize,
    original_len: usize,
) -> MessageRecord {
    MessageRecord {
        account: target.account.clone(),
        folder: target.folder.clone(),
        uidvalidity,
        old_uid: stub.uid,
        new_uid: None,
        message_id: target.message_id.clone(),
        date: None,
        from: None,
        to: None,
        subject: None,
        internal_date: stub.internal_date.clone(),
        flags: super::flags::copy_flags(&stub.flags),
        size_before: stub_len as u64,
        size_after: original_len as u64,
        parts: Vec::new(),
    }
}

fn show_id(target: &ReattachTarget) -> String {
    target
        .message_id
        .as_deref()
        .map_or_else(|| "(no Message-ID)".to_string(), |id| format!("<{id}>"))
}

/// Finds the stub, its UID and bytes: at its recorded UID when the folder
/// is unchanged, else by its Message-ID among processed messages.
async fn find_stub(
    session: &mut Session,
    target: &ReattachTarget,
    uidvalidity: u32,
) -> Result<(u32, Bytes), PipelineError> {
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
                return Ok((uid, raw));
            }
        }
    }
    if let Some(id) = &target.message_id {
        for uid in session.search_header("Message-ID", id).await? {
            if let Some(raw) = session.fetch_message(uid).await? {
                if wanted(&raw) {
                    return Ok((uid, raw));
                }
            }
        }
    }
    Err(PipelineError::StubGone {
        folder: target.folder.clone(),
        message_id: show_id(target),
    })
}
