//! Choosing messages on the server, before anything is downloaded: the
//! verdict on one message from its size, flags and BODYSTRUCTURE, and
//! whether its copy could ever go in under the server's APPENDLIMIT. Pure
//! functions over what the server told us, tested without a server.
//! Which folders are looked at is `folders`' (re-exported here, where
//! callers have always found it).

use crate::imap::MessageMeta;
use crate::mime::{counts_as_attachment, type_allowed, PROTECTED_TYPES as PROTECTED};

pub use super::folders::{choose_folders, choose_folders_with, never_by_glob, FolderChoice};

/// What the selection needs from the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectPolicy {
    pub min_size: u64,
    pub include_types: Vec<String>,
    pub exclude_types: Vec<String>,
    pub detach_signed: bool,
}

/// The verdict on one message from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Worth downloading: parts that look detachable, and their encoded size.
    Candidate { parts: usize, bytes: u64 },
    /// Left alone, and why.
    Skip(SkipReason),
}

/// Why a message is left alone without being downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The user marked it `\Deleted`; that may change, so it is looked at again.
    Deleted,
    /// Signed or encrypted mail (the protected content type); lasting.
    Signed(String),
    /// No part reaches the minimum size.
    NothingLargeEnough,
    /// Even the smaller copy would be larger than the server takes in one
    /// APPEND (RFC 7889 APPENDLIMIT): it could never be put in.
    OverAppendLimit { copy_at_least: u64, limit: u64 },
    /// In a folder only rules name, and no rule matches it.
    NoRule,
    /// The rule that applies (named) wants older mail.
    TooRecent(String),
}

impl SkipReason {
    /// The reason holds for good (the message cannot change), so the
    /// index may remember it and later runs need not look again.
    pub fn lasts(&self) -> bool {
        matches!(self, SkipReason::Signed(_))
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Deleted => write!(f, "marked \\Deleted by the user"),
            SkipReason::Signed(t) => write!(f, "signed or encrypted ({t})"),
            SkipReason::NothingLargeEnough => write!(f, "no attachment large enough"),
            SkipReason::OverAppendLimit {
                copy_at_least,
                limit,
            } => write!(f, "{}", over_append_limit_text(*copy_at_least, *limit)),
            SkipReason::NoRule => write!(
                f,
                "no [[rule]] matches it, and policy.folders does not include its folder"
            ),
            SkipReason::TooRecent(rule) => write!(f, "newer than {rule}'s older_than"),
        }
    }
}

/// Judges one message from its RFC822.SIZE, FLAGS and BODYSTRUCTURE.
pub fn judge(meta: &MessageMeta, policy: &SelectPolicy) -> Verdict {
    if meta
        .flags
        .iter()
        .any(|f| f.eq_ignore_ascii_case("\\Deleted"))
    {
        return Verdict::Skip(SkipReason::Deleted);
    }
    let protected = std::iter::once(meta.top_type.as_str())
        .chain(meta.leaves.iter().map(|l| l.content_type.as_str()))
        .find(|t| PROTECTED.contains(t));
    if let (Some(t), false) = (protected, policy.detach_signed) {
        return Verdict::Skip(SkipReason::Signed(t.to_string()));
    }
    let single = !meta.top_type.starts_with("multipart/");
    let min = policy.min_size.max(1);
    let mut parts = 0;
    let mut bytes = 0;
    for l in &meta.leaves {
        // The decoded size is at most the encoded size (3/4 of it for
        // base64): a part below the minimum even then cannot qualify.
        let upper = if l.encoding == "base64" {
            l.size / 4 * 3 + 3
        } else {
            l.size
        };
        if upper < min {
            continue;
        }
        let is_message = matches!(l.content_type.as_str(), "message/rfc822" | "message/global");
        // The engine's own rule, so what is downloaded is what it detaches.
        let attachment = counts_as_attachment(
            &l.content_type,
            l.disposition.as_deref(),
            l.filename.is_some(),
            single,
        );
        let wanted = if single {
            !is_message && attachment
        } else {
            is_message || attachment
        };
        let type_ok = type_allowed(
            &l.content_type,
            &policy.include_types,
            &policy.exclude_types,
        );
        if wanted && type_ok {
            parts += 1;
            bytes += l.size;
        }
    }
    if parts == 0 {
        Verdict::Skip(SkipReason::NothingLargeEnough)
    } else {
        Verdict::Candidate { parts, bytes }
    }
}

/// The APPENDLIMIT verdict at planning, from the message's size and the
/// encoded size of the parts to be detached: the copy is at least the rest
/// (each part leaves a stub behind), so a rest over the server's limit
/// means the copy could never go in. `None`: it may fit; the exact size is
/// checked once the copy is made ([`copy_over_append_limit`]).
pub fn append_limit_verdict(size: u64, detached: u64, limit: Option<u64>) -> Option<SkipReason> {
    let limit = limit?;
    let copy_at_least = size.saturating_sub(detached);
    (copy_at_least > limit).then_some(SkipReason::OverAppendLimit {
        copy_at_least,
        limit,
    })
}

/// Why a copy of `copy_len` bytes is left alone under APPENDLIMIT `limit`,
/// or `None` when it fits.
pub fn copy_over_append_limit(copy_len: u64, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    (copy_len > limit).then(|| over_append_limit_text(copy_len, limit))
}

fn over_append_limit_text(copy: u64, limit: u64) -> String {
    format!(
        "its copy ({}) would be larger than the server accepts in one APPEND \
         (APPENDLIMIT {}); left as it is",
        crate::units::human_size(copy),
        crate::units::human_size(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::BodyPart;

    fn leaf(
        path: &str,
        t: &str,
        enc: &str,
        size: u64,
        disp: Option<&str>,
        name: Option<&str>,
    ) -> BodyPart {
        BodyPart {
            path: path.into(),
            content_type: t.into(),
            encoding: enc.into(),
            size,
            disposition: disp.map(str::to_string),
            filename: name.map(str::to_string),
            content_id: None,
        }
    }

    fn meta(top: &str, leaves: Vec<BodyPart>, flags: &[&str]) -> MessageMeta {
        MessageMeta {
            uid: 1,
            size: leaves.iter().map(|l| l.size).sum::<u64>() + 500,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: "01-Feb-2024 10:00:00 +0100".into(),
            internal_ts: 1_706_778_000,
            top_type: top.into(),
            leaves,
        }
    }

    fn policy(min: u64) -> SelectPolicy {
        SelectPolicy {
            min_size: min,
            include_types: vec![],
            exclude_types: vec![],
            detach_signed: false,
        }
    }

    #[test]
    fn large_base64_attachment_is_a_candidate() {
        let m = meta(
            "multipart/mixed",
            vec![
                leaf("1", "text/plain", "7bit", 100, None, None),
                leaf(
                    "2",
                    "application/pdf",
                    "base64",
                    2_000_000,
                    Some("attachment"),
                    Some("a.pdf"),
                ),
            ],
            &["\\Seen"],
        );
        assert_eq!(
            judge(&m, &policy(1_000_000)),
            Verdict::Candidate {
                parts: 1,
                bytes: 2_000_000
            }
        );
        // 1.4 MB of base64 decodes to ~1.05 MB: still a candidate at 1 MB...
        let m2 = meta(
            "multipart/mixed",
            vec![leaf(
                "2",
                "image/png",
                "base64",
                1_400_000,
                None,
                Some("p.png"),
            )],
            &[],
        );
        assert!(matches!(
            judge(&m2, &policy(1_000_000)),
            Verdict::Candidate { .. }
        ));
        // ...but 1.2 MB of base64 cannot reach 1 MB decoded.
        let m3 = meta(
            "multipart/mixed",
            vec![leaf(
                "2",
                "image/png",
                "base64",
                1_200_000,
                None,
                Some("p.png"),
            )],
            &[],
        );
        assert!(matches!(judge(&m3, &policy(1_000_000)), Verdict::Skip(_)));
    }

    #[test]
    fn signed_deleted_and_text_only_mail_is_skipped() {
        let pdf = leaf(
            "1.2",
            "application/pdf",
            "base64",
            5_000_000,
            Some("attachment"),
            Some("a.pdf"),
        );
        assert!(
            matches!(judge(&meta("multipart/signed", vec![pdf.clone()], &[]), &policy(1000)), Verdict::Skip(r) if r.to_string().contains("signed"))
        );
        assert!(
            matches!(judge(&meta("multipart/mixed", vec![pdf.clone()], &["\\Deleted"]), &policy(1000)), Verdict::Skip(r) if r.to_string().contains("Deleted"))
        );
        let text = leaf("1", "text/plain", "quoted-printable", 5_000_000, None, None);
        assert!(matches!(
            judge(&meta("text/plain", vec![text], &[]), &policy(1000)),
            Verdict::Skip(_)
        ));
        let mut p = policy(1000);
        p.detach_signed = true;
        assert!(matches!(
            judge(&meta("multipart/signed", vec![pdf], &[]), &p),
            Verdict::Candidate { .. }
        ));
    }

    #[test]
    fn issue8_text_files_named_in_content_type_are_candidates() {
        let body = leaf("1", "text/plain", "7bit", 2_000_000, None, None);
        let log = leaf("2", "text/plain", "7bit", 2_000_000, None, Some("log.txt"));
        let csv = leaf("3", "text/csv", "base64", 3_000_000, None, Some("data.csv"));
        assert_eq!(
            judge(
                &meta("multipart/mixed", vec![body.clone(), log, csv], &[]),
                &policy(1000)
            ),
            Verdict::Candidate {
                parts: 2,
                bytes: 5_000_000
            }
        );
        // The text itself never counts: no name, shown inline, or the whole
        // of a single-part message.
        let html = leaf("2", "text/html", "7bit", 2_000_000, None, None);
        let inline = leaf(
            "3",
            "text/plain",
            "7bit",
            2_000_000,
            Some("inline"),
            Some("a.txt"),
        );
        assert!(matches!(
            judge(
                &meta("multipart/mixed", vec![body, html, inline], &[]),
                &policy(1000)
            ),
            Verdict::Skip(_)
        ));
        let whole = leaf("1", "text/plain", "7bit", 2_000_000, None, Some("log.txt"));
        assert!(matches!(
            judge(&meta("text/plain", vec![whole], &[]), &policy(1000)),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn forwarded_messages_and_type_filters() {
        let fwd = leaf("2", "message/rfc822", "7bit", 3_000_000, None, None);
        assert!(matches!(
            judge(&meta("multipart/mixed", vec![fwd], &[]), &policy(1000)),
            Verdict::Candidate { .. }
        ));
        let img = leaf(
            "2",
            "image/jpeg",
            "base64",
            3_000_000,
            Some("attachment"),
            Some("x.jpg"),
        );
        let mut p = policy(1000);
        p.exclude_types = vec!["image/*".into()];
        assert!(matches!(
            judge(&meta("multipart/mixed", vec![img.clone()], &[]), &p),
            Verdict::Skip(_)
        ));
        p.exclude_types.clear();
        p.include_types = vec!["application/pdf".into()];
        assert!(matches!(
            judge(&meta("multipart/mixed", vec![img], &[]), &p),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn issue10_append_limit_leaves_alone_what_cannot_go_in() {
        // No limit announced: nothing to decide.
        assert_eq!(append_limit_verdict(50_000_000, 1_000, None), None);
        assert_eq!(copy_over_append_limit(50_000_000, None), None);
        // 40 MB with 30 MB of attachments: the copy may fit under 35 MB.
        let gmail = Some(35_651_584);
        assert_eq!(append_limit_verdict(40_000_000, 30_000_000, gmail), None);
        // 40 MB of text with a 2 MB attachment: it cannot.
        let v = append_limit_verdict(40_000_000, 2_000_000, gmail).expect("skip");
        assert_eq!(
            v,
            SkipReason::OverAppendLimit {
                copy_at_least: 38_000_000,
                limit: 35_651_584
            }
        );
        assert!(!v.lasts(), "the limit may change");
        assert!(v.to_string().contains("APPENDLIMIT"), "{v}");
        // The exact check on the copy made: the limit itself still fits.
        assert_eq!(copy_over_append_limit(35_651_584, gmail), None);
        let why = copy_over_append_limit(35_651_585, gmail).expect("too big");
        assert!(
            why.contains("APPENDLIMIT") && why.contains("left as it is"),
            "{why}"
        );
    }
}
