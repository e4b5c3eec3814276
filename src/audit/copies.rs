//! The messages of one folder as the check for mail held twice sees them
//! (from their headers only), what the index and the journal know of an
//! account's converted copies, and the grouping of a folder's messages
//! into sets that may be one message held more than once. Pure: the
//! server and the store are asked in `duplicates`.

use std::collections::BTreeMap;

use crate::imap::HeaderMeta;
use crate::index::{IndexedCopy, JournalEntry};
use crate::mime::MARKER_HEADER;

/// The header fields the check fetches.
pub(super) const FIELDS: &[&str] = &[MARKER_HEADER, "Message-ID", "Subject", "Date"];

/// One message of a folder, from [`FIELDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub uid: u32,
    pub size: u64,
    pub flags: Vec<String>,
    pub internal_ts: i64,
    pub internal_date: String,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// The Date header as written.
    pub date: Option<String>,
    /// For a converted message, the size of its original (from the
    /// marker); `None` for a message slimbox has not converted.
    pub original_size: Option<u64>,
}

impl Seen {
    pub fn from_header(h: HeaderMeta) -> Seen {
        let parsed = mail_parser::MessageParser::new().parse_headers(&h.header[..]);
        let text =
            |f: &dyn Fn(&mail_parser::Message<'_>) -> Option<String>| parsed.as_ref().and_then(f);
        let marker = text(&|m| m.header_raw(MARKER_HEADER).map(str::to_string));
        Seen {
            uid: h.uid,
            size: h.size,
            flags: h.flags,
            internal_ts: h.internal_ts,
            internal_date: h.internal_date,
            message_id: text(&|m| m.message_id().map(str::to_string)),
            subject: text(&|m| m.subject().map(str::to_string)),
            date: text(&|m| m.header_raw("Date").map(|d| d.trim().to_string())),
            // A marker slimbox did not write (no original-size) is still a
            // marker: such a message is never converted again, so it can
            // only be told apart by its Message-ID.
            original_size: marker.map(|m| original_size(&m).unwrap_or(0)),
        }
    }

    pub fn is_converted(&self) -> bool {
        self.original_size.is_some()
    }

    /// Flagged `\Deleted`: on its way out (a server that could only flag
    /// it), so it neither counts as a second copy nor needs one.
    pub fn is_deleted(&self) -> bool {
        self.flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case("\\Deleted"))
    }

    /// What two copies of one message share: the Message-ID, or without
    /// one the INTERNALDATE (which slimbox keeps); and the original's size.
    fn key(&self) -> (Option<&str>, i64, u64) {
        let size = self.original_size.unwrap_or(self.size);
        match &self.message_id {
            Some(id) => (Some(id.as_str()), 0, size),
            None => (None, self.internal_ts, size),
        }
    }

    /// Subject and date, for people.
    pub fn describe(&self) -> String {
        format!(
            "subject {:?}, date {}",
            self.subject.as_deref().unwrap_or("(none)"),
            self.date.as_deref().unwrap_or(&self.internal_date)
        )
    }
}

/// `original-size=N` from a marker's value.
fn original_size(marker: &str) -> Option<u64> {
    marker
        .split(';')
        .find_map(|p| p.trim().strip_prefix("original-size="))
        .and_then(|n| n.trim().parse().ok())
}

/// Sets of messages of one folder that may be one message held more than
/// once: same key, at least one converted, at least two in all. Messages
/// flagged `\Deleted` and those in flight are left out. Sorted by UID.
pub(super) fn groups(messages: Vec<Seen>, busy: &dyn Fn(u32) -> bool) -> Vec<Vec<Seen>> {
    let mut by_key: BTreeMap<(Option<String>, i64, u64), Vec<Seen>> = BTreeMap::new();
    for m in messages {
        if m.is_deleted() || busy(m.uid) {
            continue;
        }
        let (id, ts, size) = m.key();
        let key = (id.map(str::to_string), ts, size);
        by_key.entry(key).or_default().push(m);
    }
    let mut out: Vec<Vec<Seen>> = by_key
        .into_values()
        .filter(|g| g.len() > 1 && g.iter().any(Seen::is_converted))
        .map(|mut g| {
            g.sort_by_key(|m| m.uid);
            g
        })
        .collect();
    out.sort_by_key(|g| g[0].uid);
    out
}

/// A message an interrupted run left half-way, as the journal places it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InFlight {
    pub folder: String,
    pub uidvalidity: u32,
    pub original_uid: u32,
    pub copy_uid: Option<u32>,
    pub message_id: Option<String>,
}

/// What the index and the journal know of one account's converted copies.
pub(super) struct Known {
    pub copies: Vec<IndexedCopy>,
    pub in_flight: Vec<InFlight>,
}

impl Known {
    pub fn new(copies: Vec<IndexedCopy>, journal: &[JournalEntry]) -> Known {
        let in_flight = journal
            .iter()
            .map(|e| InFlight {
                folder: e.record.folder.clone(),
                uidvalidity: e.record.uidvalidity,
                original_uid: e.record.old_uid,
                copy_uid: e.new_uid.or(e.record.new_uid),
                message_id: e.record.message_id.clone(),
            })
            .collect();
        Known { copies, in_flight }
    }

    /// Whether an interrupted run left UID `uid` of `folder` half-way (as
    /// the original or as the copy): the next run finishes it.
    pub fn is_in_flight(&self, folder: &str, uidvalidity: u32, uid: u32) -> bool {
        self.in_flight.iter().any(|j| {
            j.folder == folder
                && j.uidvalidity == uidvalidity
                && (j.original_uid == uid || j.copy_uid == Some(uid))
        })
    }

    /// Whether converted message `m` of `folder` has its row in the index:
    /// by UID, by Message-ID (in any folder: the owner may have moved it),
    /// or, where the server gave no UID, by size in the same folder. A
    /// copy in flight counts too: the next run writes its row.
    pub fn has_row(&self, folder: &str, uidvalidity: u32, m: &Seen) -> bool {
        let same_id = |id: &Option<String>| id.is_some() && *id == m.message_id;
        self.copies.iter().any(|c| {
            (c.folder == folder && c.uidvalidity == uidvalidity && c.uid == Some(m.uid))
                || same_id(&c.message_id)
                || (c.folder == folder && c.uid.is_none() && c.size == m.size)
        }) || self.is_in_flight(folder, uidvalidity, m.uid)
            || self
                .in_flight
                .iter()
                .any(|j| j.folder == folder && same_id(&j.message_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(uid: u32, id: Option<&str>, size: u64, original: Option<u64>) -> Seen {
        Seen {
            uid,
            size,
            flags: Vec::new(),
            internal_ts: 1_706_778_000,
            internal_date: "01-Feb-2024 10:00:00 +0100".into(),
            message_id: id.map(str::to_string),
            subject: Some("Files".into()),
            date: None,
            original_size: original,
        }
    }

    #[test]
    fn marker_and_headers_are_read() {
        let h = HeaderMeta {
            uid: 4,
            size: 900,
            flags: vec!["\\Seen".into()],
            internal_date: "01-Feb-2024 10:00:00 +0100".into(),
            internal_ts: 1_706_778_000,
            header: b"X-Slimbox: v=1; parts=1; bytes=5; original-size=4242; date=\"x\"\r\n\
                      Message-ID: <a@b>\r\nSubject: Hi\r\nDate: Thu, 1 Feb 2024 10:00:00 +0100\r\n\r\n"
                .to_vec(),
        };
        let s = Seen::from_header(h);
        assert_eq!(s.original_size, Some(4242));
        assert_eq!(s.message_id.as_deref(), Some("a@b"));
        assert_eq!(s.subject.as_deref(), Some("Hi"));
        assert_eq!(s.date.as_deref(), Some("Thu, 1 Feb 2024 10:00:00 +0100"));
        assert!(s.is_converted() && !s.is_deleted());
        let plain = Seen::from_header(HeaderMeta {
            header: Vec::new(),
            ..HeaderMeta {
                uid: 5,
                size: 1,
                flags: vec!["\\Deleted".into()],
                internal_date: String::new(),
                internal_ts: 0,
                header: Vec::new(),
            }
        });
        assert!(!plain.is_converted() && plain.is_deleted());
        assert_eq!(plain.message_id, None);
    }

    #[test]
    fn groups_pair_an_original_with_its_copy_and_copies_by_message_id() {
        let msgs = vec![
            seen(1, Some("a"), 5000, None),      // original of 2
            seen(2, Some("a"), 300, Some(5000)), // its copy
            seen(3, Some("b"), 300, Some(7000)), // two copies of b
            seen(4, Some("b"), 310, Some(7000)),
            seen(5, Some("c"), 300, Some(7000)), // alone
            seen(6, Some("c"), 6999, None),      // not c's original: other size
            seen(7, None, 9000, None),           // no Message-ID: by date and size
            seen(8, None, 200, Some(9000)),
            seen(9, Some("d"), 100, None), // two originals, no copy
            seen(10, Some("d"), 100, None),
        ];
        let g = groups(msgs, &|_| false);
        let uids: Vec<Vec<u32>> = g
            .iter()
            .map(|g| g.iter().map(|m| m.uid).collect())
            .collect();
        assert_eq!(uids, vec![vec![1, 2], vec![3, 4], vec![7, 8]]);
    }

    #[test]
    fn deleted_and_in_flight_messages_are_left_out() {
        let mut deleted = seen(1, Some("a"), 5000, None);
        deleted.flags.push("\\Deleted".into());
        let msgs = vec![deleted, seen(2, Some("a"), 300, Some(5000))];
        assert!(groups(msgs, &|_| false).is_empty());
        let msgs = vec![
            seen(1, Some("a"), 5000, None),
            seen(2, Some("a"), 300, Some(5000)),
        ];
        assert!(groups(msgs, &|uid| uid == 1).is_empty());
    }

    #[test]
    fn a_copy_has_its_row_by_uid_message_id_or_size() {
        let copy = |folder: &str, uid: Option<u32>, id: Option<&str>, size: u64| IndexedCopy {
            folder: folder.into(),
            uidvalidity: 7,
            uid,
            message_id: id.map(str::to_string),
            size,
        };
        let known = Known {
            copies: vec![
                copy("Sent", Some(2), None, 300),
                copy("Archive", Some(9), Some("moved"), 300),
                copy("Sent", None, None, 444),
            ],
            in_flight: vec![InFlight {
                folder: "Sent".into(),
                uidvalidity: 7,
                original_uid: 20,
                copy_uid: Some(21),
                message_id: None,
            }],
        };
        assert!(known.has_row("Sent", 7, &seen(2, None, 300, Some(1))));
        assert!(!known.has_row("Sent", 8, &seen(2, None, 300, Some(1))));
        assert!(known.has_row("Sent", 7, &seen(3, Some("moved"), 1, Some(1))));
        assert!(known.has_row("Sent", 7, &seen(4, None, 444, Some(1))));
        assert!(known.has_row("Sent", 7, &seen(21, None, 1, Some(1))));
        assert!(!known.has_row("Sent", 7, &seen(5, Some("lost"), 1, Some(1))));
        assert!(known.is_in_flight("Sent", 7, 20) && !known.is_in_flight("Sent", 7, 5));
    }
}
