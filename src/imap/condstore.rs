//! What the mailbox's owner did meanwhile: the flags of messages as they
//! are now (with their MODSEQ where the server has CONDSTORE, RFC 7162),
//! and a removal that only goes ahead for the messages nobody changed since
//! they were looked at (`UID STORE ... (UNCHANGEDSINCE modseq)`).

use super::attrs::{flag_state, FlagState};
use super::command::{exact_set, uid_set, Command};
use super::{ImapError, Session};

impl Session {
    /// The server keeps a modification sequence per message (CONDSTORE).
    pub fn has_condstore(&self) -> bool {
        self.conn.has("CONDSTORE")
    }

    /// The flags (and MODSEQ with CONDSTORE) of those of `uids` still in the
    /// selected folder; a UID that is gone (moved or expunged meanwhile) is
    /// absent. Sorted by UID.
    pub async fn fetch_flags(&mut self, uids: &[u32]) -> Result<Vec<FlagState>, ImapError> {
        let items = match self.has_condstore() {
            true => "(UID FLAGS MODSEQ)",
            false => "(UID FLAGS)",
        };
        match self.fetch_each(uids, items, flag_state).await {
            // NOTE: mailutils imap4d answers BAD to a UID FETCH that names an
            // expunged UID (Dovecot leaves it out): ask for each alone, a BAD
            // then meaning that one is gone.
            Err(ImapError::Bad { .. }) => {
                let mut found = Vec::new();
                for &uid in uids {
                    match self.fetch_each(&[uid], items, flag_state).await {
                        Ok(mut got) => found.append(&mut got),
                        Err(ImapError::Bad { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                found.sort_by_key(|f| f.uid);
                Ok(found)
            }
            r => r,
        }
    }

    /// With UIDPLUS and CONDSTORE: flags `\Deleted` on those of `uids` whose
    /// MODSEQ is still at most `since`, then expunges exactly those by UID.
    /// Returns the UIDs left in place because they were changed after
    /// `since` (the server's `[MODIFIED]` set): nothing was done to them.
    pub async fn expunge_unchanged_since(
        &mut self,
        uids: &[u32],
        since: u64,
    ) -> Result<Vec<u32>, ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("deleting a message")?;
        if selected.read_only || !self.conn.has("UIDPLUS") || !self.has_condstore() {
            return Err(ImapError::Usage(format!(
                "a conditional removal of UID {set} needs a folder opened read-write on a server \
                 with UIDPLUS and CONDSTORE"
            )));
        }
        let store = format!(" {set} (UNCHANGEDSINCE {since}) +FLAGS.SILENT (\\Deleted)");
        let done = self
            .conn
            .run(Command::new("UID STORE").raw(&store), |_| {})
            .await?
            .check("UID STORE UNCHANGEDSINCE")?;
        let modified = modified_set(&done.text);
        let kept: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| !modified.contains(u))
            .collect();
        if !kept.is_empty() {
            let cmd = Command::new("UID EXPUNGE").raw(&format!(" {}", uid_set(&kept)));
            self.conn.run(cmd, |_| {}).await?.check("UID EXPUNGE")?;
        }
        Ok(uids
            .iter()
            .copied()
            .filter(|u| modified.contains(u))
            .collect())
    }
}

/// The UIDs of a `[MODIFIED set]` response code (RFC 7162 3.1.3), which
/// imap-proto does not know and leaves at the start of the text.
fn modified_set(text: &str) -> Vec<u32> {
    let upper = text.trim_start().to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix("[MODIFIED ") else {
        return Vec::new();
    };
    let set = rest.split(']').next().unwrap_or("");
    let mut uids = Vec::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            // A set from the server names UIDs we sent; bound it anyway.
            let (lo, hi) = (a.min(b), a.max(b));
            uids.extend((lo..=hi).take(100_000));
        }
    }
    uids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue9_the_modified_code_names_the_uids_left_alone() {
        assert_eq!(
            modified_set("[MODIFIED 1:2] Conditional store failed"),
            [1, 2]
        );
        assert_eq!(modified_set("[MODIFIED 7,9:10] x"), [7, 9, 10]);
        assert_eq!(modified_set("[modified 4:3]"), [3, 4]);
        assert!(modified_set("Store completed").is_empty());
        assert!(modified_set("[MODIFIED x] huh").is_empty());
    }
}
