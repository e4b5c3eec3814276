//! Step 8 in a mailbox in use: the owner's changes win. Between a copy's
//! APPEND and its original's removal the mailbox's owner may have flagged,
//! read, moved or deleted the original (or the copy: both are visible for
//! a moment). Just before the originals of a batch go, their flags and the
//! copies' are read afresh (with MODSEQ where the server has CONDSTORE):
//! - both there: the copy gets the flags both sides say ([`merge_flags`]),
//!   then the original goes; with CONDSTORE only if nobody changed it since
//!   it was looked at (`UNCHANGEDSINCE`), else it is looked at again;
//! - the original gone (moved or deleted by its owner): the copy is taken
//!   away instead, the objects stay in the store and the index records why;
//! - the copy gone: the original stays as it is;
//! - on Gmail, the original gone right after slimbox APPENDed its copy:
//!   the copy stays and the message counts as converted (see
//!   [`server_may_drop`] for why).
//!
//! The decision is the pure [`settle_on`]; [`settle_batch`] acts on it,
//! taking the [`Verified`] copies that `commit` hands over.

use std::collections::HashMap;
use std::time::Instant;

use super::checkpoint::checkpoint;
use super::flags::{flag_set, merge_flags};
use super::labels::{carry, Carried};
use super::remove::{remove_messages, remove_unchanged, Removal};
use super::report::{Laps, PipelineError};
use crate::imap::{FlagState, Folder, Session};
use crate::index::{Index, MessageRecord};

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

/// How often a batch's originals are looked at again because their owner
/// changed them between the look and the removal (CONDSTORE tells). The
/// last round removes without the condition, just after a fresh look.
const ROUNDS: usize = 4;

/// What to do with one verified copy and its original, from what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Settle {
    /// Both there: set these flags on the copy first (`None`: it has them
    /// already), then remove the original.
    Replace { copy_flags: Option<Vec<String>> },
    /// The owner moved or deleted the original: take the copy away.
    TakeCopyAway,
    /// The owner moved or deleted the copy: the original stays.
    KeepOriginal,
    /// Both are gone: nothing left to do on the server.
    BothGone,
    /// The original vanished where the server itself drops a message when
    /// another with its Message-ID is appended: the verified copy stays, as
    /// it is (its flags), and replaces the original.
    KeepCopy { flags: Vec<String> },
}

/// Whether a server may itself have removed an original because slimbox
/// APPENDed its copy. NOTE: Gmail (`X-GM-EXT-1`) has been seen to drop a
/// message when another with the same Message-ID is APPENDed to the same
/// folder, and the copy always carries the original's Message-ID. Nothing
/// on the server tells that apart from an owner who deleted the original in
/// the same seconds, so the choice follows what each mistake costs: taking
/// the copy away when Gmail dropped the original would leave the message
/// nowhere on the server (only in slimbox's store), while keeping it when
/// the owner deleted the original only keeps one message the owner could
/// delete again; on Gmail, a "deleted" message sits in the Trash anyway.
/// By the time this is asked the copy is verified and the original proven
/// rebuildable from the store (steps 4 and 7), so keeping the copy loses
/// nothing. A message without a Message-ID cannot have been dropped so.
pub(super) fn server_may_drop(gmail: bool, message_id: Option<&str>) -> bool {
    gmail && message_id.is_some_and(|id| !id.trim().is_empty())
}

/// [`settle`], where `dropped` says the server itself may have removed the
/// original because of the copy's APPEND ([`server_may_drop`]).
pub(super) fn settle_on(
    dropped: bool,
    base: &[String],
    original: Option<&[String]>,
    copy: Option<&[String]>,
) -> Settle {
    match (original, copy) {
        (None, Some(copy)) if dropped => Settle::KeepCopy {
            flags: copy.to_vec(),
        },
        _ => settle(base, original, copy),
    }
}

/// Decides for one message. `base` is what the copy was given at APPEND;
/// `original` and `copy` the flags they have now (`None`: gone).
pub(super) fn settle(
    base: &[String],
    original: Option<&[String]>,
    copy: Option<&[String]>,
) -> Settle {
    match (original, copy) {
        (Some(orig), Some(copy)) => {
            let merged = merge_flags(base, orig, copy);
            let copy_flags = (flag_set(&merged) != flag_set(copy)).then_some(merged);
            Settle::Replace { copy_flags }
        }
        (None, Some(_)) => Settle::TakeCopyAway,
        (Some(_), None) => Settle::KeepOriginal,
        (None, None) => Settle::BothGone,
    }
}

/// How one message of a batch ended on the server.
#[derive(Debug)]
pub(super) enum Fate {
    /// The original was removed; the copy carries these flags.
    Replaced { flags: Vec<String> },
    /// The original was gone: the copy was taken away, how.
    OwnerTookOriginal(Removal),
    /// The copy was gone: the original stays.
    OwnerTookCopy,
    /// Both were gone.
    BothGone,
    /// The original vanished right after its copy's APPEND on a server
    /// that drops duplicates (Gmail): the copy replaced it, with these flags.
    ServerDropped { flags: Vec<String> },
    /// Gmail refused the original's labels on the copy: the copy was taken
    /// away, the original stays as it is, and later runs leave it alone.
    LabelsRefused(String),
    /// The original is still there after every round (its owner kept
    /// changing it): both stay, the journal keeps the message and the next
    /// run's recovery removes the original.
    StillThere,
}

/// One batch being settled.
struct Settling<'a> {
    batch: &'a [Verified],
    fates: Vec<Option<Fate>>,
    /// The flags each copy carries (as given at APPEND, then as set here).
    flags: Vec<Vec<String>>,
    /// Its original was in a removal the server did not refuse.
    tried: Vec<bool>,
    removal: Option<Removal>,
    /// The server is Gmail's (X-GM-EXT-1): see [`server_may_drop`].
    gmail: bool,
}

/// Removes the originals of `batch` as their owner would have it (see the
/// module doc): one fate per message, in order, and how the originals
/// were removed (`None` if none was). Every removal is checked by looking
/// again: a client that set a message's flags outright between slimbox's
/// `\Deleted` and its expunge would otherwise keep the original there.
pub(super) async fn settle_batch(
    session: &mut Session,
    index: &mut Index,
    batch: &[Verified],
    trash: Option<&Folder>,
) -> Result<(Vec<Fate>, Option<Removal>), PipelineError> {
    let mut st = Settling {
        batch,
        fates: batch.iter().map(|_| None).collect(),
        flags: batch.iter().map(|v| v.record.flags.clone()).collect(),
        tried: vec![false; batch.len()],
        removal: None,
        gmail: session.has_capability("X-GM-EXT-1"),
    };
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    for round in 1..=ROUNDS + 1 {
        if pending.is_empty() {
            break;
        }
        let now = look(session, batch, &pending).await?;
        let replace = st.decide(session, index, &pending, &now, trash).await?;
        if replace.is_empty() || round > ROUNDS {
            break;
        }
        let uids: Vec<u32> = replace.iter().map(|&i| batch[i].record.old_uid).collect();
        // The condition: no original changed since this round's look.
        let since = (round < ROUNDS)
            .then(|| uids.iter().filter_map(|u| now.get(u)?.modseq).max())
            .flatten();
        // Journalled first (issue 25): recovery then knows these were
        // slimbox's to remove, and that the others were not.
        let jids: Vec<i64> = replace.iter().map(|&i| batch[i].jid).collect();
        let number = index.journal_removing(&jids)?;
        tracing::info!(
            "journal: removal batch {number} of {} original(s)",
            jids.len()
        );
        checkpoint("removing").await;
        let (how, changed) = remove_unchanged(session, &uids, since, trash).await?;
        st.removal = Some(how);
        for &i in &replace {
            st.tried[i] = !changed.contains(&batch[i].record.old_uid);
        }
        // Looked at again next round: gone as asked, or changed meanwhile.
        pending = replace;
    }
    let Settling { fates, removal, .. } = st;
    Ok((
        fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::StillThere))
            .collect(),
        removal,
    ))
}

impl Settling<'_> {
    /// One round's decisions for the `pending` messages from what is there
    /// `now`: fates for those settled, and the ones whose originals are to
    /// be removed (their copies' flags set first).
    async fn decide(
        &mut self,
        session: &mut Session,
        index: &mut Index,
        pending: &[usize],
        now: &HashMap<u32, FlagState>,
        trash: Option<&Folder>,
    ) -> Result<Vec<usize>, PipelineError> {
        let mut replace = Vec::new();
        for &i in pending {
            let v = &self.batch[i];
            // A verified copy always has its UID; 0 is never on a server.
            let copy_uid = v.record.new_uid.unwrap_or(0);
            let orig = now.get(&v.record.old_uid);
            if self.tried[i] && self.removed(orig) {
                self.fates[i] = Some(Fate::Replaced {
                    flags: self.flags[i].clone(),
                });
                continue;
            }
            let orig = orig.map(|s| &s.flags[..]);
            let copy = now.get(&copy_uid).map(|s| &s.flags[..]);
            let dropped = server_may_drop(self.gmail, v.record.message_id.as_deref());
            self.fates[i] = match settle_on(dropped, &self.flags[i], orig, copy) {
                Settle::Replace { copy_flags } => {
                    if let Some(f) = copy_flags {
                        session.set_flags(copy_uid, &f).await?;
                        self.flags[i] = f;
                    }
                    let refused = self.labels(session, index, v, copy_uid, trash).await?;
                    if refused.is_none() {
                        replace.push(i);
                    }
                    refused
                }
                Settle::TakeCopyAway => {
                    // Forgotten first: a crash in between must not make
                    // recovery put the copy back.
                    index.journal_abandon(v.jid)?;
                    let how = remove_messages(session, &[copy_uid], trash).await?;
                    Some(Fate::OwnerTookOriginal(how))
                }
                Settle::KeepOriginal => Some(Fate::OwnerTookCopy),
                Settle::BothGone => Some(Fate::BothGone),
                Settle::KeepCopy { flags } => Some(Fate::ServerDropped { flags }),
            };
        }
        Ok(replace)
    }

    /// On Gmail, the copy gets the original's labels first (issue 25,
    /// `super::labels`). Refused: the copy is taken away (forgotten first,
    /// as for an owner's delete) and the original stays; its fate says why.
    async fn labels(
        &self,
        session: &mut Session,
        index: &mut Index,
        v: &Verified,
        copy_uid: u32,
        trash: Option<&Folder>,
    ) -> Result<Option<Fate>, PipelineError> {
        if !self.gmail {
            return Ok(None);
        }
        match carry(session, v.record.old_uid, copy_uid).await? {
            Carried::Done => Ok(None),
            Carried::Refused(why) => {
                index.journal_abandon(v.jid)?;
                remove_messages(session, &[copy_uid], trash).await?;
                Ok(Some(Fate::LabelsRefused(why)))
            }
        }
    }

    /// After a removal was asked for: the original is gone, or (where the
    /// server can only flag it) it carries `\Deleted`.
    fn removed(&self, orig: Option<&FlagState>) -> bool {
        match (orig, &self.removal) {
            (None, _) => true,
            (Some(s), Some(Removal::FlaggedOnly)) => {
                s.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"))
            }
            (Some(_), _) => false,
        }
    }
}

/// The flags now of the pending messages' originals and copies, by UID.
async fn look(
    session: &mut Session,
    batch: &[Verified],
    pending: &[usize],
) -> Result<HashMap<u32, FlagState>, PipelineError> {
    let uids: Vec<u32> = pending
        .iter()
        .flat_map(|&i| [Some(batch[i].record.old_uid), batch[i].record.new_uid])
        .flatten()
        .collect();
    let now = session.fetch_flags(&uids).await?;
    Ok(now.into_iter().map(|s| (s.uid, s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn issue9_flags_the_owner_set_on_the_original_reach_the_copy() {
        let base = v(&["\\Seen"]);
        let got = settle(&base, Some(&v(&["\\Seen", "\\Flagged"])), Some(&base));
        let Settle::Replace {
            copy_flags: Some(f),
        } = got
        else {
            panic!("{got:?}")
        };
        assert_eq!(flag_set(&f), flag_set(&v(&["\\Seen", "\\Flagged"])));
        // Marked unread on the original: unread on the copy.
        let got = settle(&base, Some(&[]), Some(&base));
        assert_eq!(
            got,
            Settle::Replace {
                copy_flags: Some(vec![])
            }
        );
    }

    #[test]
    fn issue9_nothing_changed_means_nothing_to_set() {
        let base = v(&["\\Seen", "$Work"]);
        let got = settle(&base, Some(&v(&["$Work", "\\SEEN"])), Some(&base));
        assert_eq!(got, Settle::Replace { copy_flags: None });
    }

    #[test]
    fn issue9_what_the_owner_did_to_the_copy_is_kept_too() {
        let base = v(&["\\Seen"]);
        let got = settle(&base, Some(&base), Some(&v(&["\\Seen", "$Todo"])));
        assert_eq!(got, Settle::Replace { copy_flags: None });
    }

    #[test]
    fn issue9_a_moved_or_deleted_message_is_never_brought_back() {
        let base = v(&["\\Seen"]);
        assert_eq!(settle(&base, None, Some(&base)), Settle::TakeCopyAway);
        assert_eq!(settle(&base, Some(&base), None), Settle::KeepOriginal);
        assert_eq!(settle(&base, None, None), Settle::BothGone);
    }

    #[test]
    fn issue10_an_original_gmail_dropped_after_the_append_leaves_the_copy() {
        let base = v(&["\\Seen"]);
        let copy = v(&["\\Seen", "$Later"]);
        // Gmail, with a Message-ID: the copy stays, with its flags now.
        let dropped = server_may_drop(true, Some("<a@example.com>"));
        assert!(dropped);
        assert_eq!(
            settle_on(dropped, &base, None, Some(&copy)),
            Settle::KeepCopy {
                flags: copy.clone()
            }
        );
        // Anywhere else, or without a Message-ID to match on, it was the
        // owner: the copy goes, as before.
        for dropped in [
            server_may_drop(false, Some("<a@example.com>")),
            server_may_drop(true, None),
            server_may_drop(true, Some(" ")),
        ] {
            assert!(!dropped);
            assert_eq!(
                settle_on(dropped, &base, None, Some(&copy)),
                Settle::TakeCopyAway
            );
        }
        // Everything else is decided as without the rule.
        assert_eq!(
            settle_on(true, &base, Some(&base), None),
            Settle::KeepOriginal
        );
        assert_eq!(settle_on(true, &base, None, None), Settle::BothGone);
        assert_eq!(
            settle_on(true, &base, Some(&base), Some(&base)),
            Settle::Replace { copy_flags: None }
        );
    }
}
