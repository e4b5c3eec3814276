//! Recovery, at the start of every run and after every reconnect: each
//! message the journal shows in flight is finished or rolled back, so it
//! ends untouched or converted, never lost and never twice. The decision is
//! a pure function ([`next_step`]) of the journal state and what is on the
//! server now, tested without a server; `recover_account` acts on it
//! through the same shared steps as the normal path (the proof, APPEND and
//! verify, one removal path).

use bytes::Bytes;

use super::append::{append_verified, fetch_one_meta, verify_fetched, Want};
use super::find::find_copy;
use super::flags::{copy_flags, merge_flags};
use super::labels::{carry, Carried};
use super::owner::server_may_drop;
use super::plan::JobPolicy;
use super::prepare::prove_from_store;
use super::remove::{remove_messages, trash_of};
use super::who_removed::{batches_not_run, who_removed, Remover};
use std::collections::HashSet;

use super::report::{AccountReport, PipelineError, Waiting};
use crate::imap::{Folder, ImapError, Session};
use crate::index::{Index, IndexError, JournalEntry, JournalKind, JournalState};
use crate::store::Store;

/// What the server shows for a journaled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The original is still in the folder (same UIDVALIDITY, same UID).
    pub original: bool,
    /// A copy byte-identical to the journal's rewritten message is there.
    pub copy: bool,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed on the server: forget the entry; the message is
    /// untouched and a later run may convert it again.
    Abandon,
    /// The verified copy is there and so is the original: remove the
    /// original, then record the message as done.
    RemoveOriginalAndFinish,
    /// The copy is there, the original gone: record it as done.
    Finish,
    /// Neither is there but the journal holds the rewritten message and the
    /// store holds the rest: APPEND it, verify, then finish.
    AppendAndFinish,
    /// Over quota, the original not yet removed, no copy: remove the
    /// original (proven reconstructible), then APPEND.
    RemoveOriginalThenAppend,
}

/// Decides the next step for a journaled message.
pub fn next_step(state: JournalState, seen: Observed) -> Step {
    use JournalState::*;
    match (state, seen.original, seen.copy) {
        (_, true, true) => Step::RemoveOriginalAndFinish,
        (_, false, true) => Step::Finish,
        // Prepared: the server was not changed (or the APPEND never landed).
        (Prepared, true, false) => Step::Abandon,
        // Prepared and the original gone without a copy: the user removed it
        // in between. Respect that; the objects stay in the store.
        (Prepared, false, false) => Step::Abandon,
        // The copy was made but is gone again while the original is still
        // there: nothing to finish; the original is intact.
        (Appended, true, false) => Step::Abandon,
        // The copy was made, the original removed, and now the copy is gone
        // too: put the rewritten message back rather than lose it.
        (Appended, false, false) => Step::AppendAndFinish,
        (OriginalRemoved, true, false) => Step::RemoveOriginalThenAppend,
        (OriginalRemoved, false, false) => Step::AppendAndFinish,
    }
}

/// Finishes or rolls back everything the journal shows in flight for this
/// account. Returns how many entries were settled.
///
/// An entry that cannot be settled (its copy comes back altered, say) does
/// not keep the others waiting; but the first such error is returned once
/// all were tried, so the account is not planned this run: a message still
/// in the journal must not be converted a second time beside it.
pub(super) async fn recover_account(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<usize, PipelineError> {
    let settled = recover_entries(session, store, index, account, policy).await?;
    Ok(settled.finished.len() + settled.rolled_back)
}

/// What recovery did with the entries it settled.
#[derive(Debug, Default)]
pub(super) struct Settled {
    /// Conversions it finished: (folder, size before, size after).
    pub finished: Vec<(String, u64, u64)>,
    /// Entries it rolled back (the message is as it was) or closed
    /// otherwise (a reattach).
    pub rolled_back: usize,
}

/// [`recover_account`], saying which entries were finished.
pub(super) async fn recover_entries(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    account: &str,
    policy: &JobPolicy,
) -> Result<Settled, PipelineError> {
    let mut settled = Settled::default();
    let pending = index.journal_pending(account)?;
    if pending.is_empty() {
        return Ok(settled);
    }
    let all = session.list_folders().await?;
    let trash = trash_of(&all, policy);
    // Before anything changes on the server: which removal batches never
    // ran (issue 25, `who_removed`).
    let batches = index.journal_removal_batches(account)?;
    let not_run = batches_not_run(session, &all, &pending, &batches).await?;
    let gmail = session.has_capability("X-GM-EXT-1");
    let mut failed = None;
    for entry in pending {
        let Some(folder) = all.iter().find(|f| f.name == entry.record.folder) else {
            tracing::warn!(
                "journal: folder {} is gone; entry kept",
                entry.record.folder
            );
            continue;
        };
        let status = session.select(folder).await?;
        if status.uidvalidity != entry.record.uidvalidity {
            tracing::warn!(
                "journal: folder {} has a new UIDVALIDITY; entry for UID {} kept",
                folder.name,
                entry.record.old_uid
            );
            continue;
        }
        let mut r = Recovery {
            session: &mut *session,
            store,
            index: &mut *index,
            folder,
            entry: &entry,
            trash: trash.as_ref(),
            finished: false,
            owner_removed: {
                let batch = batches.get(&entry.id).copied();
                let ran = !batch.is_some_and(|b| not_run.contains(&b));
                let dropped = server_may_drop(gmail, entry.record.message_id.as_deref());
                who_removed(batch, !ran, dropped) == Remover::Owner
            },
        };
        match r.settle().await {
            Ok(()) if r.finished => {
                let rec = &entry.record;
                let done = (rec.folder.clone(), rec.size_before, rec.size_after);
                settled.finished.push(done);
            }
            Ok(()) => settled.rolled_back += 1,
            Err(e) if e.is_transient() => return Err(e),
            // Its original is gone and the server has no room for the copy
            // yet: it waits in the journal, and the rest of the run (which
            // frees space) may go on; the run tries it again at its end.
            Err(e) if e.is_waiting_for_room() => tracing::info!("journal: {e}"),
            Err(e) => {
                tracing::warn!("journal: {e}");
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(settled),
    }
}

/// At the end of a pass: the copies that waited for room (over quota,
/// their originals removed) are tried again now that the run freed what it
/// could, round after round while each round puts at least one in. Those
/// that go in count as converted in `report`.
pub(super) async fn append_waiting(
    session: &mut Session,
    store: &Store,
    index: &mut Index,
    policy: &JobPolicy,
    report: &mut AccountReport,
) -> Result<(), PipelineError> {
    let account = report.account.clone();
    loop {
        let waiting: Vec<JournalEntry> = index
            .journal_pending(&account)?
            .into_iter()
            .filter(|e| e.state == JournalState::OriginalRemoved)
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        match recover_account(session, store, index, &account, policy).await {
            Err(e) if e.is_transient() => return Err(e),
            // Logged by recovery; what is left is listed at the end.
            _ => {}
        }
        let still: HashSet<i64> = index
            .journal_pending(&account)?
            .iter()
            .map(|e| e.id)
            .collect();
        let went_in: Vec<&JournalEntry> =
            waiting.iter().filter(|e| !still.contains(&e.id)).collect();
        for e in &went_in {
            let r = &e.record;
            report.put_in_late(&r.folder, r.size_before, r.size_after);
        }
        if went_in.is_empty() {
            return Ok(());
        }
    }
}

/// What the journal still holds for `account`, each with what to do.
pub(super) fn still_waiting(index: &Index, account: &str) -> Result<Vec<Waiting>, IndexError> {
    let over_quota = "over quota: the original was removed and the server has no room for its \
        smaller copy yet; both are safe in slimbox's journal and store. Free some space on the \
        server (empty the Trash, delete large mail) and run `slimbox run` again: it puts the \
        copy in first";
    let other = "in flight (see the log above); the next `slimbox run` finishes it or puts \
        the original back as it was";
    Ok(index
        .journal_pending(account)?
        .into_iter()
        .map(|e| Waiting {
            folder: e.record.folder,
            subject: e.record.subject,
            date: e
                .record
                .date
                .map(|d| crate::dates::utc_datetime(d).to_string()),
            message_id: e.record.message_id,
            why: match e.state {
                JournalState::OriginalRemoved => over_quota,
                _ => other,
            }
            .to_string(),
        })
        .collect())
}

/// One journal entry being settled.
struct Recovery<'a> {
    session: &'a mut Session,
    store: &'a Store,
    index: &'a mut Index,
    folder: &'a Folder,
    entry: &'a JournalEntry,
    trash: Option<&'a Folder>,
    /// The conversion was finished (not rolled back).
    finished: bool,
    /// Were the original gone, its owner took it away while slimbox was
    /// down ([`who_removed`]).
    owner_removed: bool,
}

impl<'a> Recovery<'a> {
    async fn settle(&mut self) -> Result<(), PipelineError> {
        // What is there now, with the original's flags as they are now
        // (its owner may have changed them since the crash).
        let (original, copy) = self.observe().await?;
        let state = self.entry.state;
        let step = next_step(
            state,
            Observed {
                original: original.is_some(),
                copy: copy.is_some(),
            },
        );
        tracing::info!(
            "journal: {} UID {} ({state:?}, original {:?}, copy {copy:?}) -> {step:?}",
            self.folder.name,
            self.entry.record.old_uid,
            original.is_some(),
        );
        if matches!(
            step,
            Step::RemoveOriginalAndFinish | Step::RemoveOriginalThenAppend
        ) && !self.original_still_rebuilds().await?
        {
            return self.roll_back(copy).await;
        }
        let original = original.unwrap_or_default();
        match (step, copy) {
            (Step::Abandon, _) => Ok(self.index.journal_abandon(self.entry.id)?),
            (Step::Finish, Some(uid)) if self.owners_delete(state) => {
                self.take_copy_away(uid).await
            }
            (Step::Finish, Some(uid)) => self.finish(uid),
            (Step::RemoveOriginalAndFinish, Some(uid)) => {
                self.verify_then_remove(uid, &original).await
            }
            (Step::AppendAndFinish, _) => {
                // The original is gone: the flags the journal kept.
                let flags = self.entry.record.flags.clone();
                let uid = self
                    .append(flags, false)
                    .await
                    .map_err(|e| self.waiting(e))?;
                self.finish(uid)
            }
            (Step::RemoveOriginalThenAppend, _) => {
                self.append_beside_original(copy_flags(&original)).await
            }
            // next_step only finishes with a copy it was told is there.
            (Step::Finish | Step::RemoveOriginalAndFinish, None) => Ok(()),
        }
    }

    /// The original's flags if it is still on the server, and the UID of a
    /// byte-identical copy if there is one.
    async fn observe(&mut self) -> Result<(Option<Vec<String>>, Option<u32>), PipelineError> {
        let old_uid = self.entry.record.old_uid;
        // NOTE: mailutils imap4d answers BAD to a UID FETCH of a UID in a gap
        // (one that was expunged) where Dovecot answers OK with no data: both
        // mean the original is gone. Misjudging can at worst lead to a second
        // APPEND of the copy, never to a loss.
        let original = match self.session.fetch_meta(&[old_uid]).await {
            Ok(orig) => orig.into_iter().find(|m| m.uid == old_uid).map(|m| m.flags),
            Err(ImapError::Bad { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let rewritten = &self.entry.rewritten[..];
        if let Some(uid) = self.entry.new_uid {
            if self.session.fetch_message(uid).await?.as_deref() == Some(rewritten) {
                return Ok((original, Some(uid)));
            }
        }
        Ok((original, find_copy(self.session, rewritten).await?))
    }

    /// Step 4 once more before recovery removes an original: the store
    /// still rebuilds it byte for byte (it may have changed since the run
    /// that was interrupted). A reattach entry's "original" is a stub,
    /// whose full copy is what is being put on the server.
    async fn original_still_rebuilds(&mut self) -> Result<bool, PipelineError> {
        if self.entry.kind != JournalKind::Detach {
            return Ok(true);
        }
        let (folder, uid) = (self.folder.name.clone(), self.entry.record.old_uid);
        let raw = self
            .session
            .fetch_message(uid)
            .await?
            .ok_or(PipelineError::OriginalVanished { folder, uid })?;
        let rewritten = Bytes::copy_from_slice(&self.entry.rewritten);
        match prove_from_store(rewritten, raw, self.store, &self.folder.name, uid).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => {
                tracing::warn!("journal: {e}; keeping the original and taking the copy away");
                Ok(false)
            }
        }
    }

    /// The store can no longer rebuild this original (an object was lost
    /// or damaged since): the original stays, the copy that points at the
    /// missing objects goes, and the next run converts the message afresh.
    async fn roll_back(&mut self, copy: Option<u32>) -> Result<(), PipelineError> {
        if let Some(uid) = copy {
            remove_messages(self.session, &[uid], self.trash).await?;
        }
        Ok(self.index.journal_abandon(self.entry.id)?)
    }

    /// The copy as it must be on the server, carrying `flags`.
    fn want(&self, flags: Vec<String>) -> Want<'a> {
        Want {
            folder: self.folder,
            bytes: &self.entry.rewritten,
            flags,
            internal_date: &self.entry.record.internal_date,
        }
    }

    /// Steps 6 and 7 through the shared step.
    async fn append(
        &mut self,
        flags: Vec<String>,
        original_kept: bool,
    ) -> Result<u32, PipelineError> {
        let want = self.want(flags);
        let mut fetched = 0;
        append_verified(
            self.session,
            self.index,
            self.entry.id,
            &want,
            original_kept,
            self.trash,
            &mut fetched,
        )
        .await
    }

    /// Both are there: the copy is verified (flags and date too, not only
    /// its bytes) before the original goes. Either may have been changed by
    /// the mailbox's owner since the crash: the copy gets the flags both
    /// sides say ([`merge_flags`]), so nothing the owner did is undone. A
    /// copy that is not faithful is taken away instead and the original
    /// stays.
    async fn verify_then_remove(
        &mut self,
        uid: u32,
        original_flags: &[String],
    ) -> Result<(), PipelineError> {
        let mut want = self.want(Vec::new());
        let checked = match fetch_one_meta(self.session, uid, &want).await {
            Ok(copy_now) => {
                want.flags = merge_flags(&self.entry.record.flags, original_flags, &copy_now.flags);
                verify_fetched(self.session, copy_now, &want).await
            }
            Err(e) => Err(e),
        };
        match checked {
            Ok(()) => {
                // On Gmail the copy carries the original's labels first
                // (issue 25); refused, the copy goes and the original stays.
                if self.session.has_capability("X-GM-EXT-1") {
                    let old = self.entry.record.old_uid;
                    if let Carried::Refused(why) = carry(self.session, old, uid).await? {
                        tracing::warn!("journal: {} UID {old}: {why}", self.folder.name);
                        self.index.journal_abandon(self.entry.id)?;
                        remove_messages(self.session, &[uid], self.trash).await?;
                        let r = &self.entry.record;
                        self.index.record_skip(
                            &r.account,
                            &r.folder,
                            r.uidvalidity,
                            r.old_uid,
                            &why,
                        )?;
                        return Ok(());
                    }
                }
                self.remove_original().await?;
                self.finish(uid)
            }
            Err(e) if e.is_unfaithful_copy() => {
                tracing::warn!("journal: {e}");
                remove_messages(self.session, &[uid], self.trash).await?;
                Ok(self.index.journal_abandon(self.entry.id)?)
            }
            Err(e) => Err(e),
        }
    }

    /// Over quota the run had marked the original for removal before its
    /// copy was in, but the original is still there: the copy goes in
    /// beside it first, with the original's flags as they are now, and only
    /// if the server is still over quota does the original (proven
    /// rebuildable above) go first.
    async fn append_beside_original(&mut self, flags: Vec<String>) -> Result<(), PipelineError> {
        let uid = match self.append(flags.clone(), true).await {
            Ok(uid) => {
                self.remove_original().await?;
                uid
            }
            Err(PipelineError::Append {
                source: ImapError::OverQuota { .. },
                ..
            }) => {
                self.index
                    .journal_set(self.entry.id, JournalState::OriginalRemoved, None)?;
                self.remove_original().await?;
                self.append(flags, false)
                    .await
                    .map_err(|e| self.waiting(e))?
            }
            Err(e) => return Err(e),
        };
        self.finish(uid)
    }

    /// A refused APPEND of a copy whose original is gone, as the error
    /// that says the copy waits for room.
    fn waiting(&self, e: PipelineError) -> PipelineError {
        match e {
            PipelineError::Append {
                folder,
                source: source @ ImapError::OverQuota { .. },
            } => PipelineError::OverQuotaAppend {
                folder,
                uid: self.entry.record.old_uid,
                source,
            },
            e => e,
        }
    }

    /// Whether the original recovery finds gone beside its copy was
    /// deleted by its owner (issue 25): only a conversion slimbox had not
    /// yet removed the original of (over quota it removes it first).
    fn owners_delete(&self, state: JournalState) -> bool {
        self.owner_removed
            && self.entry.kind == JournalKind::Detach
            && state != JournalState::OriginalRemoved
    }

    /// The owner deleted the original while slimbox was down: it stays
    /// deleted. The copy is taken away (forgotten first, so a crash in
    /// between cannot bring it back), the objects stay in the store, and
    /// the index remembers why, as for a delete during a run.
    async fn take_copy_away(&mut self, uid: u32) -> Result<(), PipelineError> {
        let r = &self.entry.record;
        tracing::warn!(
            "journal: {} UID {}: deleted by its owner while slimbox was interrupted; taking its \
             converted copy (UID {uid}) away again",
            self.folder.name,
            r.old_uid
        );
        self.index.journal_abandon(self.entry.id)?;
        remove_messages(self.session, &[uid], self.trash).await?;
        let why = "moved or deleted by its owner while slimbox was interrupted; its converted \
                   copy was taken away again";
        self.index
            .record_skip(&r.account, &r.folder, r.uidvalidity, r.old_uid, why)?;
        Ok(())
    }

    async fn remove_original(&mut self) -> Result<(), PipelineError> {
        let uid = self.entry.record.old_uid;
        // A batch of one, journalled first (issue 25).
        self.index.journal_removing(&[self.entry.id])?;
        let removal = remove_messages(self.session, &[uid], self.trash).await?;
        if let Some(note) = removal.note(uid, "the original") {
            tracing::warn!("journal: {} {note}", self.folder.name);
        }
        Ok(())
    }

    /// Step 9: closes the entry into the index, the copy at `uid`.
    fn finish(&mut self, uid: u32) -> Result<(), PipelineError> {
        match self.entry.kind {
            JournalKind::Detach => {
                let mut record = self.entry.record.clone();
                record.new_uid = Some(uid);
                self.index.journal_finish(self.entry.id, &record)?;
                self.finished = true;
            }
            JournalKind::Reattach { message } => {
                self.index
                    .journal_finish_reattach(self.entry.id, message, Some(uid))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JournalState::*;

    fn seen(original: bool, copy: bool) -> Observed {
        Observed { original, copy }
    }

    #[test]
    fn every_state_and_observation_has_a_safe_step() {
        // A copy on the server always wins: the original goes, never the copy.
        for s in [Prepared, Appended, OriginalRemoved] {
            assert_eq!(
                next_step(s, seen(true, true)),
                Step::RemoveOriginalAndFinish
            );
            assert_eq!(next_step(s, seen(false, true)), Step::Finish);
        }
        assert_eq!(next_step(Prepared, seen(true, false)), Step::Abandon);
        assert_eq!(next_step(Appended, seen(true, false)), Step::Abandon);
        assert_eq!(
            next_step(Appended, seen(false, false)),
            Step::AppendAndFinish
        );
        assert_eq!(
            next_step(OriginalRemoved, seen(false, false)),
            Step::AppendAndFinish
        );
        assert_eq!(
            next_step(OriginalRemoved, seen(true, false)),
            Step::RemoveOriginalThenAppend
        );
    }

    #[test]
    fn no_step_ever_leaves_neither_copy_when_slimbox_removed_the_original() {
        // When slimbox itself removed the original (Appended after the
        // removal, OriginalRemoved), "neither" must lead to an APPEND.
        for s in [Appended, OriginalRemoved] {
            assert_eq!(next_step(s, seen(false, false)), Step::AppendAndFinish);
        }
    }
}
