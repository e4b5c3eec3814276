//! The server side of the audit (b.): every processed message still on a
//! server resolves to objects in the store; then d. for each folder (see
//! `duplicates`). Folders are opened read-only.

use std::collections::HashMap;

use super::copies::Known;
use super::duplicates::FolderCtx;
use super::findings::{MessageRef, Problem};
use super::objects::ObjectState;
use super::twice_text::Place;
use super::{Audit, ConnectError};
use crate::config::AccountConfig;
use crate::imap::{Folder, ImapError, Session};

impl Audit<'_> {
    /// b. for one account: every processed message in every folder. What
    /// cannot be checked is a problem; the audit goes on.
    pub(super) async fn account(
        &mut self,
        account: &AccountConfig,
        known: &Known,
        connect: &impl AsyncFn(&AccountConfig) -> Result<Session, ConnectError>,
    ) {
        let mut session = match connect(account).await {
            Ok(s) => s,
            Err(e) => {
                let why = error_text(e.as_ref());
                self.other.push(Problem::server(&account.name, None, &why));
                return;
            }
        };
        let folders = match session.list_folders().await {
            Ok(f) => f,
            Err(e) => {
                let why = error_text(&e);
                self.other.push(Problem::server(&account.name, None, &why));
                return;
            }
        };
        for folder in folders {
            let done = self
                .folder(&mut session, &account.name, &folder, known)
                .await;
            if let Err(e) = done {
                let why = error_text(&e);
                self.other
                    .push(Problem::server(&account.name, Some(&folder.name), &why));
                // A NO or BAD leaves the session usable for the next folder;
                // a failed connection takes no more commands.
                if session.is_broken() {
                    return;
                }
            }
        }
        // Nothing was changed on the server, so a failed goodbye loses nothing.
        let _ = session.logout().await;
    }

    async fn folder(
        &mut self,
        session: &mut Session,
        account: &str,
        folder: &Folder,
        known: &Known,
    ) -> Result<(), ImapError> {
        let status = session.examine(folder).await?;
        let uids = session.search_header("X-Slimbox", "").await?;
        // What each converted message's bytes hash to: copies that hash
        // alike are byte-identical, with no need to read them again.
        let mut digests = HashMap::new();
        for &uid in &uids {
            let Some(raw) = session.fetch_message(uid).await? else {
                continue; // expunged meanwhile
            };
            if !crate::mime::is_processed(&raw) {
                continue;
            }
            digests.insert(uid, crate::store::sha256(&raw));
            self.findings.messages_checked += 1;
            let who = MessageRef {
                account: account.to_string(),
                folder: folder.name.clone(),
                message_id: mail_parser::MessageParser::new()
                    .parse_headers(&raw[..])
                    .and_then(|m| m.message_id().map(str::to_string)),
                uid: Some(uid),
            };
            let needed = match crate::mime::objects_needed(&raw) {
                Ok(n) => n,
                Err(e) => {
                    self.other
                        .push(Problem::damaged_message(who, &e.to_string()));
                    continue;
                }
            };
            for h in needed {
                let state = self.check_unindexed(&h).await;
                if !matches!(state, ObjectState::Good) {
                    self.note(&h, state, vec![who.clone()]);
                }
            }
        }
        let ctx = FolderCtx {
            place: Place {
                account,
                folder: &folder.name,
            },
            uidvalidity: status.uidvalidity,
            known,
        };
        // Only what carries the marker where slimbox puts it counts as
        // converted (a message quoting the header elsewhere does not).
        let mut converted: Vec<u32> = digests.keys().copied().collect();
        converted.sort_unstable();
        self.held_twice(session, &ctx, &converted, &digests).await
    }
}

/// An error and its causes, each said once (an error often repeats its
/// source in its own text).
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}
