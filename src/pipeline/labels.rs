//! Step 8 on Gmail (issue 25): the copy carries every label of the
//! original before the original goes. On Gmail a message is one object
//! with many labels; its converted copy is APPENDed to one folder (one
//! label), so without this every other label its owner gave it would be
//! lost with the original. Just before the removal the original's labels
//! are read afresh (a label another client added since the fetch counts
//! too), the missing ones added to the copy (`+X-GM-LABELS`: nothing is
//! ever taken away), and the copy read back, as flags are verified. A
//! server that refuses the labels leaves the original where it is.

use super::report::PipelineError;
use crate::imap::{ImapError, Session};

/// How carrying the labels went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Carried {
    /// The copy has every label of the original.
    Done,
    /// The server refused them, or the copy still lacks some: the
    /// original must stay.
    Refused(String),
}

/// The labels of `original` that `copy` lacks, in the original's order.
/// System labels (`\Inbox`) compare without case, as IMAP's system flags
/// do; the owner's own labels exactly.
pub(super) fn missing(original: &[String], copy: &[String]) -> Vec<String> {
    let same = |a: &str, b: &str| {
        if a.starts_with('\\') {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    original
        .iter()
        .filter(|l| !copy.iter().any(|c| same(l, c)))
        .cloned()
        .collect()
}

/// Gives the copy at `copy_uid` every label the original at `orig_uid`
/// has now, both in the selected folder, and checks it took them.
pub(super) async fn carry(
    session: &mut Session,
    orig_uid: u32,
    copy_uid: u32,
) -> Result<Carried, PipelineError> {
    let now = match session.fetch_labels(&[orig_uid, copy_uid]).await {
        Ok(now) => now,
        // NOTE: only a server that announces X-GM-EXT-1 without being
        // Gmail (the test harness's Gmail layout on Dovecot) answers BAD
        // to X-GM-LABELS: it has no labels to carry.
        Err(ImapError::Bad { .. }) => return Ok(Carried::Done),
        Err(e) => return Err(e.into()),
    };
    let of = |uid: u32, now: &[(u32, Vec<String>)]| {
        now.iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let original = of(orig_uid, &now);
    let need = missing(&original, &of(copy_uid, &now));
    if need.is_empty() {
        return Ok(Carried::Done);
    }
    match session.add_labels(copy_uid, &need).await {
        Ok(()) => {}
        Err(e @ (ImapError::No { .. } | ImapError::Bad { .. })) => {
            return Ok(Carried::Refused(format!(
                "Gmail refused its labels on the converted copy ({e}); the original stays as it is"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let back = session.fetch_labels(&[copy_uid]).await?;
    let still = missing(&original, &of(copy_uid, &back));
    Ok(match still.is_empty() {
        true => Carried::Done,
        false => Carried::Refused(format!(
            "the converted copy lacks the labels {} after Gmail took them; the original stays \
             as it is",
            still.join(", ")
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn issue25_the_labels_the_copy_lacks() {
        let orig = v(&["\\Inbox", "Work", "Family", "\\Important"]);
        assert_eq!(
            missing(&orig, &v(&["Work"])),
            v(&["\\Inbox", "Family", "\\Important"])
        );
        assert!(missing(
            &orig,
            &v(&["\\INBOX", "Work", "Family", "\\important", "Extra"])
        )
        .is_empty());
        // The owner's own labels compare exactly.
        assert_eq!(missing(&v(&["work"]), &v(&["Work"])), v(&["work"]));
        assert!(missing(&[], &v(&["Work"])).is_empty());
    }
}
