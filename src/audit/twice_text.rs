//! The problems about mail held twice in a folder and converted mail the
//! index lost, each worded with what is wrong (folder, UIDs, subject, date)
//! and the exact repair.

use super::copies::Seen;
use super::findings::{MessageRef, Problem, ProblemKind};
use crate::units::human_size;

/// Where the messages are: account and folder.
pub(super) struct Place<'a> {
    pub account: &'a str,
    pub folder: &'a str,
}

impl Place<'_> {
    fn who(&self, m: &Seen) -> MessageRef {
        MessageRef {
            account: self.account.to_string(),
            folder: self.folder.to_string(),
            message_id: m.message_id.clone(),
            uid: Some(m.uid),
        }
    }

    fn problem(&self, kind: ProblemKind, of: &[&Seen], detail: String, repair: String) -> Problem {
        Problem {
            kind,
            sha256: None,
            key: None,
            messages: of.iter().map(|m| self.who(m)).collect(),
            detail,
            repair,
        }
    }
}

/// How to remove messages by UID, exactly.
fn delete_how(uids: &str) -> String {
    format!(
        "in a mail client, or over IMAP in that folder `UID STORE {uids} +FLAGS (\\Deleted)` \
         then `UID EXPUNGE {uids}` (never a plain EXPUNGE, which also purges other messages \
         marked \\Deleted)"
    )
}

/// The flags `from` has and `to` lacks, and how to set them on `to`.
fn flags_note(from: &Seen, to: &Seen) -> String {
    let missing: Vec<&str> = from
        .flags
        .iter()
        .filter(|f| !to.flags.iter().any(|t| t.eq_ignore_ascii_case(f)))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return String::new();
    }
    let list = missing.join(" ");
    format!(
        " UID {} carries flags UID {} lacks ({list}): set them on UID {} first (`UID STORE {} \
         +FLAGS ({list})`).",
        from.uid, to.uid, to.uid, to.uid
    )
}

/// An original still there beside its converted copy, proven to be the
/// same message (the copy rebuilds to it from the store).
pub(super) fn original_beside_copy(at: &Place<'_>, original: &Seen, copy: &Seen) -> Problem {
    let detail = format!(
        "folder {} holds this message twice: UID {} is the original ({}, not converted) and \
         UID {} its converted copy ({}); {}. The copy, rebuilt from the store, matches the \
         original byte for byte (checked now)",
        at.folder,
        original.uid,
        human_size(original.size),
        copy.uid,
        human_size(copy.size),
        original.describe()
    );
    let repair = format!(
        "delete the original, UID {u} in {folder} (the larger of the two, {size}), before the \
         next `slimbox run`, which would otherwise convert it a second time: {how}. Nothing is \
         lost: its converted copy UID {c} rebuilds to it from the store, and `slimbox reattach` \
         puts it back whole.{note}",
        u = original.uid,
        folder = at.folder,
        size = human_size(original.size),
        how = delete_how(&original.uid.to_string()),
        c = copy.uid,
        note = flags_note(original, copy),
    );
    at.problem(ProblemKind::Duplicate, &[original, copy], detail, repair)
}

/// Converted copies of one message: byte-identical, or each rebuilding
/// from the store to the same original. The first (lowest UID) is kept.
pub(super) fn copies_twice(at: &Place<'_>, copies: &[Seen], identical: bool) -> Option<Problem> {
    let (keep, extra) = copies.split_first()?;
    if extra.is_empty() {
        return None;
    }
    let uids: Vec<String> = copies.iter().map(|c| c.uid.to_string()).collect();
    let extra_uids: Vec<String> = extra.iter().map(|c| c.uid.to_string()).collect();
    let how_same = if identical {
        "they are byte-identical"
    } else {
        "each rebuilds from the store to the same original (checked now)"
    };
    let detail = format!(
        "folder {} holds {} converted copies of one message, UIDs {}; {}; {how_same}",
        at.folder,
        copies.len(),
        uids.join(", "),
        keep.describe()
    );
    let notes: String = extra.iter().map(|e| flags_note(e, keep)).collect();
    let repair = format!(
        "keep UID {k} and delete the extra {what}, UID {extra} in {folder}: {how}. Nothing is \
         lost: UID {k} holds the same {same}, and the objects stay in the store.{notes}",
        k = keep.uid,
        what = if extra.len() == 1 { "copy" } else { "copies" },
        extra = extra_uids.join(", "),
        folder = at.folder,
        how = delete_how(&extra_uids.join(",")),
        same = if identical {
            "bytes"
        } else {
            "message and rebuilds to the same original"
        },
    );
    let of: Vec<&Seen> = copies.iter().collect();
    Some(at.problem(ProblemKind::Duplicate, &of, detail, repair))
}

/// Messages that look like one message held more than once, which cannot
/// be compared because a converted copy cannot be rebuilt.
pub(super) fn cannot_compare(at: &Place<'_>, messages: &[Seen], why: &str) -> Problem {
    let uids: Vec<String> = messages.iter().map(|m| m.uid.to_string()).collect();
    let shared = match &messages[0].message_id {
        Some(id) => format!("Message-ID <{id}>"),
        None => "INTERNALDATE and original size".to_string(),
    };
    let detail = format!(
        "folder {} may hold one message more than once: UIDs {} share {shared} ({}), but a \
         converted copy among them cannot be rebuilt from the store to compare them: {why}",
        at.folder,
        uids.join(", "),
        messages[0].describe()
    );
    let repair = "keep every one of them for now: one may be the only complete copy. Repair the \
                  store first (see the missing or corrupt objects reported above; an unconverted \
                  copy saved as a .eml file and stored with `slimbox eml detach FILE.eml --store \
                  URL --min-size 1` puts its attachments back), then run verify again: it then \
                  says which copy can go"
        .to_string();
    let of: Vec<&Seen> = messages.iter().collect();
    at.problem(ProblemKind::Duplicate, &of, detail, repair)
}

/// A converted message the index has no row for.
pub(super) fn not_indexed(at: &Place<'_>, copy: &Seen) -> Problem {
    let detail = format!(
        "the converted message UID {} in {} {} ({}) has no row in the index, so `slimbox \
         list`, `slimbox restore` and `slimbox reattach` do not know it",
        copy.uid,
        at.account,
        at.folder,
        copy.describe()
    );
    let repair = format!(
        "run `slimbox index rebuild --account {}`: it reads the converted messages on the server \
         (their X-Slimbox headers and stub recipes) and the store, and writes their rows back. \
         Meanwhile the message's attachments are safe as long as their objects are in the store \
         (this verify checked each one it links to: see any missing or corrupt objects above). \
         Do not delete the message: its stubs are what names its objects",
        at.account
    );
    at.problem(ProblemKind::NotIndexed, &[copy], detail, repair)
}
