//! Removing messages with a [`Session`], exactly those named and no
//! other: `UID EXPUNGE` with UIDPLUS, else `UID MOVE` to the trash, else
//! only the `\Deleted` flag; and a `UID MOVE` that learns where the
//! messages went (COPYUID, RFC 4315) to expunge exactly those in the folder
//! they went to. Gmail is why: an expunge there only drops a label, so an
//! original is moved to the Trash and expunged from there (see
//! `crate::pipeline`).

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode, Status};

use super::command::{exact_set, Command};
use super::{DeleteOutcome, Folder, ImapError, Session};

impl Session {
    /// Removes message `uid` from the selected (read-write) folder, touching
    /// no other message: [`Session::delete_uids`] for one UID.
    pub async fn delete_uid(
        &mut self,
        uid: u32,
        trash: Option<&Folder>,
    ) -> Result<DeleteOutcome, ImapError> {
        self.delete_uids(&[uid], trash).await
    }

    /// Removes messages `uids` from the selected (read-write) folder,
    /// touching no other message, in one round of commands:
    /// - with UIDPLUS: `UID STORE +FLAGS.SILENT (\Deleted)` then `UID EXPUNGE`
    ///   of exactly those UIDs (never a plain EXPUNGE, which would also purge
    ///   every other message the user marked \Deleted) -> [`DeleteOutcome::Expunged`];
    /// - else with MOVE and a `trash` folder: `UID MOVE uids trash`
    ///   -> [`DeleteOutcome::MovedToTrash`] (not flagged \Deleted first, so the
    ///   copies in the trash are not themselves purged by the next expunge there);
    /// - else: only flagged \Deleted -> [`DeleteOutcome::FlaggedOnly`].
    ///
    /// A UID that does not exist (any more) counts as deleted.
    pub async fn delete_uids(
        &mut self,
        uids: &[u32],
        trash: Option<&Folder>,
    ) -> Result<DeleteOutcome, ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("deleting a message")?.clone();
        if selected.read_only {
            return Err(ImapError::Usage(format!(
                "cannot delete UID {set} from {:?}: it was opened read-only (EXAMINE); use select",
                selected.name
            )));
        }
        if self.conn.has("UIDPLUS") {
            self.flag_deleted(&set).await?;
            let cmd = Command::new("UID EXPUNGE").raw(&format!(" {set}"));
            // Untagged EXPUNGE responses carry sequence numbers; the UIDs are
            // what we asked for, so there is nothing to read from them.
            self.conn.run(cmd, |_| {}).await?.check("UID EXPUNGE")?;
            return Ok(DeleteOutcome::Expunged);
        }
        if let Some(trash) = trash {
            if self.conn.has("MOVE") && trash.raw_name != selected.raw_name {
                self.move_set(&set, trash).await?;
                return Ok(DeleteOutcome::MovedToTrash(trash.name.clone()));
            }
        }
        self.flag_deleted(&set).await?;
        Ok(DeleteOutcome::FlaggedOnly)
    }

    /// Moves `uids` to `target` with one `UID MOVE` (RFC 6851).
    // NOTE: Gmail keeps an expunged message in "All Mail" (expunging only
    // removes a label); moving it to [Gmail]/Trash is what removes it from
    // every label. Callers use this when the server says X-GM-EXT-1.
    pub async fn move_uids(&mut self, uids: &[u32], target: &Folder) -> Result<(), ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("moving a message")?;
        if selected.read_only {
            return Err(ImapError::Usage(format!(
                "cannot move UID {set}: the folder was opened read-only (EXAMINE)"
            )));
        }
        if !self.conn.has("MOVE") {
            return Err(ImapError::Usage(format!(
                "cannot move UID {set}: the server has no MOVE"
            )));
        }
        self.move_set(&set, target).await
    }

    async fn move_set(&mut self, set: &str, target: &Folder) -> Result<(), ImapError> {
        let label = format!("UID MOVE to {:?}", target.name);
        let mut cmd = Command::new("UID MOVE")
            .raw(&format!(" {set} "))
            .string(&target.raw_name);
        cmd.label = label.clone();
        self.conn.run(cmd, |_| {}).await?.check(&label)?;
        Ok(())
    }

    async fn flag_deleted(&mut self, set: &str) -> Result<(), ImapError> {
        let cmd = Command::new("UID STORE").raw(&format!(" {set} +FLAGS.SILENT (\\Deleted)"));
        self.conn.run(cmd, |_| {}).await?.check("UID STORE")?;
        Ok(())
    }

    /// Moves `uids` from the selected folder to `target` with one `UID
    /// MOVE`, and returns (old UID, UID in `target`) for each message the
    /// server's COPYUID named; empty when it named none (no UIDPLUS).
    pub async fn move_uids_learning(
        &mut self,
        uids: &[u32],
        target: &Folder,
    ) -> Result<Vec<(u32, u32)>, ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("moving a message")?;
        if selected.read_only || !self.conn.has("MOVE") {
            return Err(ImapError::Usage(format!(
                "cannot move UID {set}: the folder was opened read-only or the server has no MOVE"
            )));
        }
        let label = format!("UID MOVE to {:?}", target.name);
        let mut cmd = Command::new("UID MOVE")
            .raw(&format!(" {set} "))
            .string(&target.raw_name);
        cmd.label = label.clone();
        let mut moved = Vec::new();
        // RFC 6851 section 4.3: the COPYUID of a MOVE comes in an untagged
        // OK before the EXPUNGEs.
        self.conn
            .run(cmd, |resp| {
                if let Response::Data {
                    status: Status::Ok,
                    outcome,
                } = resp
                {
                    if let Some(ResponseCode::CopyUid(_, from, to)) = &outcome.code {
                        moved = pair_uids(from, to);
                    }
                }
            })
            .await?
            .check(&label)?;
        Ok(moved)
    }

    /// Expunges exactly `uids` in `folder` (not the selected one), then
    /// selects the folder that was selected again, as it was. Needs UIDPLUS:
    /// without it nothing is expunged and `false` comes back.
    pub async fn expunge_in(&mut self, folder: &Folder, uids: &[u32]) -> Result<bool, ImapError> {
        let back = self
            .require_selected("expunging in another folder")?
            .clone();
        if !self.conn.has("UIDPLUS") || uids.is_empty() {
            return Ok(false);
        }
        self.select(folder).await?;
        let expunged = self.delete_uids(uids, None).await;
        // Back where the caller was, whatever the expunge said.
        self.reopen(&back).await?;
        expunged?;
        Ok(true)
    }
}

/// COPYUID's two UID sets as pairs, in order (RFC 4315: the n-th UID of
/// one is the n-th of the other). Sets of different lengths pair nothing:
/// better to expunge nothing than the wrong message.
fn pair_uids(from: &[UidSetMember], to: &[UidSetMember]) -> Vec<(u32, u32)> {
    let expand = |set: &[UidSetMember]| -> Vec<u32> {
        set.iter()
            .flat_map(|m| match m {
                UidSetMember::Uid(u) => *u..=*u,
                UidSetMember::UidRange(r) => r.clone(),
            })
            .collect()
    };
    let (from, to) = (expand(from), expand(to));
    if from.len() != to.len() {
        return Vec::new();
    }
    from.into_iter().zip(to).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue10_copyuid_pairs_in_order() {
        use UidSetMember::*;
        let got = pair_uids(&[Uid(4), UidRange(7..=8)], &[UidRange(20..=22)]);
        assert_eq!(got, [(4, 20), (7, 21), (8, 22)]);
        assert!(pair_uids(&[Uid(4), Uid(5)], &[Uid(9)]).is_empty());
    }
}
