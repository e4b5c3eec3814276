//! Reading messages from the selected folder of a [`Session`]: metadata
//! with the body structure, flags, a few header fields, or the whole
//! message byte for byte, by UID and in bounded batches. The answers are
//! read by `attrs`.

use std::collections::BTreeMap;

use async_imap::imap_proto::{AttributeValue, Response};

use super::attrs::{body_from_attrs, header_from_attrs, meta_from_attrs};
use super::command::{uid_set, Command};
use super::{HeaderMeta, ImapError, MessageMeta, Session};

/// UIDs per UID FETCH of metadata: keeps command lines and responses bounded.
const FETCH_BATCH: usize = 200;

/// Reads one FETCH answer as (UID, value); `None` when it is not one.
pub(super) type ParseFetch<T> = fn(&[AttributeValue<'_>]) -> Result<Option<(u32, T)>, ImapError>;

impl Session {
    /// UID, size, flags, internal date and body structure of `uids` (in
    /// batches of 200). UIDs that no longer exist are simply absent. Sorted by UID.
    pub async fn fetch_meta(&mut self, uids: &[u32]) -> Result<Vec<MessageMeta>, ImapError> {
        let items = "(UID RFC822.SIZE FLAGS INTERNALDATE BODYSTRUCTURE)";
        self.fetch_each(uids, items, |attrs| {
            Ok(meta_from_attrs(attrs)?.map(|m| (m.uid, m)))
        })
        .await
    }

    /// Size, flags, INTERNALDATE and the header fields `fields` of `uids`
    /// (`BODY.PEEK[HEADER.FIELDS (...)]`, in batches of 200): enough to tell
    /// messages apart without downloading them. UIDs that no longer exist
    /// are simply absent. Sorted by UID.
    pub async fn fetch_headers(
        &mut self,
        uids: &[u32],
        fields: &[&str],
    ) -> Result<Vec<HeaderMeta>, ImapError> {
        self.require_selected("UID FETCH")?;
        if fields.is_empty() || fields.iter().any(|f| !is_field_name(f)) {
            return Err(ImapError::Invalid(format!(
                "{fields:?} is not a list of header field names"
            )));
        }
        let items = format!(
            "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS ({})])",
            fields.join(" ")
        );
        self.fetch_each(uids, &items, |attrs| {
            Ok(header_from_attrs(attrs)?.map(|h| (h.uid, h)))
        })
        .await
    }

    /// `UID FETCH uids items` in batches of 200, each answer read by
    /// `parse` (`None` for one that is not an answer to this command).
    /// UIDs that no longer exist are simply absent. Sorted by UID.
    pub(super) async fn fetch_each<T: Send>(
        &mut self,
        uids: &[u32],
        items: &str,
        parse: ParseFetch<T>,
    ) -> Result<Vec<T>, ImapError> {
        self.require_selected("UID FETCH")?;
        let mut wanted: Vec<u32> = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found: BTreeMap<u32, T> = BTreeMap::new();
        for chunk in wanted.chunks(FETCH_BATCH) {
            let set = uid_set(chunk);
            let cmd = Command::new("UID FETCH").raw(&format!(" {set} {items}"));
            let mut bad: Option<ImapError> = None;
            let done = self
                .conn
                .run(cmd, |resp| {
                    let Response::Fetch(_, attrs) = resp else {
                        return;
                    };
                    match parse(attrs) {
                        Ok(Some((uid, t))) if chunk.binary_search(&uid).is_ok() => {
                            found.insert(uid, t);
                        }
                        // Unsolicited updates (flags of other messages, or
                        // without UID): not ours to report.
                        Ok(_) => {}
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    }
                })
                .await?;
            if let Some(e) = bad {
                return Err(e);
            }
            // NOTE: Dovecot answers NO [EXPUNGEISSUED] when some of the UIDs
            // were expunged by another session meanwhile; the rest still came.
            if !done.is_expunge_issued() {
                done.check("UID FETCH")?;
            }
        }
        Ok(found.into_values().collect())
    }

    /// The whole message `uid` byte for byte (`BODY.PEEK[]`, so \Seen is not
    /// set); `None` if that UID does not exist (any more). Dovecot turns NUL
    /// bytes into 0x80 here (see the NOTE inside).
    pub async fn fetch_message(&mut self, uid: u32) -> Result<Option<bytes::Bytes>, ImapError> {
        Ok(self.fetch_body(uid, false).await?.map(|(body, _)| body))
    }

    /// [`Session::fetch_message`] with the message's flags as they are at
    /// that moment (never `\Recent`), read in the same command.
    pub async fn fetch_original(
        &mut self,
        uid: u32,
    ) -> Result<Option<(bytes::Bytes, Vec<String>)>, ImapError> {
        self.fetch_body(uid, true).await
    }

    async fn fetch_body(
        &mut self,
        uid: u32,
        with_flags: bool,
    ) -> Result<Option<(bytes::Bytes, Vec<String>)>, ImapError> {
        self.require_selected("UID FETCH")?;
        // NOTE: never FETCH BINARY[]: imap-proto cannot parse the answer and
        // the session is lost. BODY.PEEK[] returns the stored bytes unchanged,
        // with one exception: Dovecot 2.3 sends a stored NUL byte as 0x80
        // (same length), so a message containing NUL cannot come back exact.
        // Such messages are rare and can only be stored through literal8.
        // NOTE: Dovecot also serves bare-LF messages (as some importers store
        // them) with CRLF line ends, and counts RFC822.SIZE the same way; a
        // message appended with CRLF comes back exactly.
        let items = if with_flags {
            "(FLAGS BODY.PEEK[])"
        } else {
            "BODY.PEEK[]"
        };
        let cmd = Command::new("UID FETCH").raw(&format!(" {uid} {items}"));
        let mut flags = Vec::new();
        let done = self
            .conn
            .run_keep(cmd, |resp| {
                let Response::Fetch(_, attrs) = resp else {
                    return None;
                };
                let answer = body_from_attrs(attrs, uid)?;
                if let Some(got) = answer.flags {
                    flags = got;
                }
                answer.body
            })
            .await?;
        let body = self.conn.take_kept();
        if done.is_expunge_issued() {
            return Ok(None);
        }
        done.check("UID FETCH")?;
        Ok(body.map(|b| (b, flags)))
    }
}

/// A header field name as RFC 5322 allows it (printable ASCII, no colon).
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':')
}
