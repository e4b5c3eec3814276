//! What the big providers' rules need from IMAP: the server's APPEND size
//! limit (RFC 7889), a `UID MOVE` that learns where the messages went
//! (COPYUID, RFC 4315), and expunging exactly those in the folder they went
//! to. Gmail is why: an expunge there only drops a label, so an original
//! is moved to the Trash and expunged from there (see `crate::pipeline`).

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode, Status};

use super::command::Command;
use super::session::exact_set;
use super::{Folder, ImapError, Session};

impl Session {
    /// The largest message the server takes in one APPEND, when it says so
    /// for every mailbox (`APPENDLIMIT=n`, RFC 7889; Gmail announces
    /// 35651584). A bare `APPENDLIMIT` (a limit per mailbox, told by
    /// STATUS) gives `None`: such a server refuses an APPEND over it with
    /// `[TOOBIG]`, and slimbox leaves that message alone then.
    pub fn append_limit(&self) -> Option<u64> {
        append_limit_of(self.conn.caps.iter().map(String::as_str))
    }

    /// The selected folder's name as the server spells it, if one is selected.
    pub fn selected_raw_name(&self) -> Option<&str> {
        self.require_selected("").ok().map(|s| s.raw_name.as_str())
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

/// `APPENDLIMIT=n` among capabilities (upper-cased), as a number.
fn append_limit_of<'a>(caps: impl Iterator<Item = &'a str>) -> Option<u64> {
    caps.filter_map(|c| c.strip_prefix("APPENDLIMIT="))
        .find_map(|n| n.parse().ok())
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
    fn issue10_appendlimit_from_capabilities() {
        let caps = ["IMAP4REV1", "X-GM-EXT-1", "APPENDLIMIT=35651584"];
        assert_eq!(append_limit_of(caps.into_iter()), Some(35_651_584));
        // Per mailbox only, or not at all: no server-wide figure.
        assert_eq!(append_limit_of(["APPENDLIMIT"].into_iter()), None);
        assert_eq!(append_limit_of(["IMAP4REV1"].into_iter()), None);
        assert_eq!(append_limit_of(["APPENDLIMIT=x"].into_iter()), None);
    }

    #[test]
    fn issue10_copyuid_pairs_in_order() {
        use UidSetMember::*;
        let got = pair_uids(&[Uid(4), UidRange(7..=8)], &[UidRange(20..=22)]);
        assert_eq!(got, [(4, 20), (7, 21), (8, 22)]);
        assert!(pair_uids(&[Uid(4), Uid(5)], &[Uid(9)]).is_empty());
    }
}
