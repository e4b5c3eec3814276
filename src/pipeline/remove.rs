//! Step 8 of the safety order, the one removal path: take messages away by
//! UID only (UIDPLUS `UID EXPUNGE`, Gmail's Trash, MOVE, or `\Deleted`
//! alone), never a plain EXPUNGE, and say which ([`Removal`]). Also where
//! the trash folder is found. What the owner did meanwhile is `owner`'s.

use super::checkpoint::checkpoint;
use super::plan::JobPolicy;
use super::report::PipelineError;
use crate::imap::{DeleteOutcome, Folder, Session};

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

#[cfg(test)]
mod tests {
    use super::*;

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
