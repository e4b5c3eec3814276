//! Reading an account's converted messages, read-only: every folder is
//! EXAMINEd, the messages carrying the marker header found by a server
//! search and fetched with `BODY.PEEK[]`, so not even `\Seen` changes.

use super::findings::{error_text, Finding, MessageRef};
use super::record::{rebuilt, FoundAt};
use super::AccountRebuild;
use crate::dates::now_unix;
use crate::imap::{Folder, ImapError, Session};
use crate::index::Rebuilt;
use crate::mime::{self, MARKER_HEADER};

/// The converted messages of every folder, in the order they were
/// converted (so the index gives them their rows in the order the run
/// did). What cannot be read is a finding in `report`.
pub(super) async fn read_account(
    session: &mut Session,
    report: &mut AccountRebuild,
) -> Vec<Rebuilt> {
    let folders = match session.list_folders().await {
        Ok(f) => f,
        Err(e) => {
            report.findings.push(Finding::Server {
                folder: None,
                why: error_text(&e),
            });
            return Vec::new();
        }
    };
    // (time of conversion, folder's place, UID): a run converts folder by
    // folder, each in UID order, and its copies get rising UIDs.
    let mut found: Vec<(usize, Rebuilt)> = Vec::new();
    for (pos, folder) in folders.iter().enumerate() {
        report.folders += 1;
        let mut here = Vec::new();
        let read = read_folder(session, folder, &mut here, report).await;
        found.extend(here.into_iter().map(|r| (pos, r)));
        if let Err(e) = read {
            report.findings.push(Finding::Server {
                folder: Some(folder.name.clone()),
                why: error_text(&e),
            });
            // A NO leaves the session usable for the next folder; a lost
            // connection takes no more commands.
            if session.is_broken() {
                break;
            }
        }
    }
    found.sort_by_key(|(pos, r)| (r.processed_at, *pos, r.record.new_uid));
    found.into_iter().map(|(_, r)| r).collect()
}

/// The converted messages of one folder, added to `out` as they are read.
async fn read_folder(
    session: &mut Session,
    folder: &Folder,
    out: &mut Vec<Rebuilt>,
    report: &mut AccountRebuild,
) -> Result<(), ImapError> {
    let account = report.account.clone();
    let status = session.examine(folder).await?;
    // An empty value matches every message that has the field at all.
    let uids = session.search_header(MARKER_HEADER, "").await?;
    if uids.is_empty() {
        return Ok(());
    }
    let at = FoundAt {
        account: &account,
        folder: &folder.name,
        uidvalidity: status.uidvalidity,
    };
    let now = now_unix();
    for meta in session.fetch_meta(&uids).await? {
        let Some(raw) = session.fetch_message(meta.uid).await? else {
            continue; // expunged meanwhile
        };
        // The search also finds the header anywhere in the header block;
        // slimbox's marker is first.
        if !mime::is_processed(&raw) {
            continue;
        }
        match rebuilt(at, &meta, &raw, now) {
            Ok(r) => out.push(r),
            Err(e) => {
                let h = mail_parser::MessageParser::new().parse_headers(&raw[..]);
                report.findings.push(Finding::Unreadable {
                    message: MessageRef {
                        folder: folder.name.clone(),
                        uid: meta.uid,
                        message_id: h.as_ref().and_then(|m| m.message_id()).map(Into::into),
                        subject: h.as_ref().and_then(|m| m.subject()).map(Into::into),
                    },
                    why: e.to_string(),
                });
            }
        }
    }
    tracing::info!(
        "{account} {}: {} converted messages",
        folder.name,
        out.len()
    );
    Ok(())
}
