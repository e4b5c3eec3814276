//! Choosing on the server, before anything is downloaded: which folders, and
//! which messages in them, from their size, flags and BODYSTRUCTURE. Pure
//! functions over what the server told us, tested without a server.

use crate::imap::{Folder, MessageMeta};
use crate::mime::{counts_as_attachment, type_allowed, PROTECTED_TYPES as PROTECTED};

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

/// A glob with `*` and `?`, matched against a whole folder name (or, for
/// rules, an address).
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The folders the patterns name: `\Sent`-style SPECIAL-USE flags, exact
/// names, or globs. Each folder once, in server order. A special use no
/// folder is marked with is looked for by the usual English names only
/// (see [`choose_folders_with`] for a provider's names).
pub fn choose_folders<'f>(all: &'f [Folder], patterns: &[String]) -> Vec<&'f Folder> {
    let names = |s: &str| crate::config::Provider::Generic.folder_names(s);
    choose_folders_with(all, patterns, &names).folders
}

/// What [`choose_folders_with`] chose, and what the user should hear about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderChoice<'f> {
    /// Each folder once, in server order.
    pub folders: Vec<&'f Folder>,
    /// A folder found by its name for want of SPECIAL-USE, or a special
    /// use that found no folder at all.
    pub notes: Vec<String>,
}

/// [`choose_folders`], where `names` gives the folder names that stand for
/// a special use (`\Sent`) on a server that marks no folder with it, most
/// likely first (a provider's names, see
/// [`crate::config::Provider::folder_names`]). Microsoft's servers mark no
/// folder at all; their "Sent Items" is found by its name. Globs never pick
/// the folders that only show mail kept elsewhere ([`never_by_glob`]).
pub fn choose_folders_with<'f>(
    all: &'f [Folder],
    patterns: &[String],
    names: &dyn Fn(&str) -> Vec<&'static str>,
) -> FolderChoice<'f> {
    let mut by_name: Vec<&Folder> = Vec::new();
    let mut notes = Vec::new();
    for p in patterns.iter().filter(|p| p.starts_with('\\')) {
        if all.iter().any(|f| f.has_special_use(p)) {
            continue;
        }
        let usual = names(p);
        // The first usual name that is there: one folder per special use,
        // so a stray "Sent" beside Microsoft's "Sent Items" is not taken too.
        let found = usual
            .iter()
            .find_map(|n| all.iter().find(|f| f.name.eq_ignore_ascii_case(n)));
        match found {
            Some(f) => {
                notes.push(format!(
                    "no folder is marked {p} (SPECIAL-USE); using {:?}, found by its name",
                    f.name
                ));
                by_name.push(f);
            }
            None => notes.push(format!(
                "no folder is marked {p} (SPECIAL-USE){}; name the folder in policy.folders",
                if usual.is_empty() {
                    String::new()
                } else {
                    format!(" and none is called {}", usual.join(", "))
                }
            )),
        }
    }
    let folders = all
        .iter()
        .filter(|f| {
            by_name.iter().any(|b| std::ptr::eq(*b, *f))
                || patterns.iter().any(|p| pattern_picks(p, f))
        })
        .collect();
    FolderChoice { folders, notes }
}

/// Whether one `policy.folders` entry picks folder `f`.
fn pattern_picks(p: &str, f: &Folder) -> bool {
    if p.starts_with('\\') {
        f.has_special_use(p)
    } else if p.contains('*') || p.contains('?') {
        glob(p, &f.name) && !never_by_glob(f)
    } else {
        p == f.name || (p.eq_ignore_ascii_case("INBOX") && f.name.eq_ignore_ascii_case("INBOX"))
    }
}

/// Gmail's views of mail kept in other folders: All Mail, Important and
/// Starred (by SPECIAL-USE `\All`, `\Important`, `\Flagged`, or by their
/// English names). Every message there is also in a real folder, where a
/// glob finds it already; converting it in a view as well would work on it
/// twice, and on Gmail a copy put into All Mail would lose the original's
/// labels. Only an exact name or the special use itself picks them.
pub fn never_by_glob(f: &Folder) -> bool {
    const VIEWS: [&str; 3] = ["\\All", "\\Important", "\\Flagged"];
    const NAMES: [&str; 6] = [
        "[Gmail]/All Mail",
        "[Gmail]/Important",
        "[Gmail]/Starred",
        "[Google Mail]/All Mail",
        "[Google Mail]/Important",
        "[Google Mail]/Starred",
    ];
    VIEWS.iter().any(|v| f.has_special_use(v))
        || NAMES.iter().any(|n| f.name.eq_ignore_ascii_case(n))
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
    fn folders_by_special_use_name_and_glob() {
        let f = |name: &str, su: &[&str]| Folder {
            name: name.into(),
            raw_name: name.into(),
            special_use: su.iter().map(|s| s.to_string()).collect(),
            delimiter: Some("/".into()),
        };
        let all = vec![
            f("INBOX", &[]),
            f("Sent", &["\\Sent"]),
            f("Archive", &["\\Archive"]),
            f("Archive/2023", &[]),
            f("Projects", &[]),
        ];
        let names = |ps: &[&str]| {
            let ps: Vec<String> = ps.iter().map(|s| s.to_string()).collect();
            choose_folders(&all, &ps)
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&["\\Sent", "\\Archive"]), ["Sent", "Archive"]);
        assert_eq!(names(&["Archive/*"]), ["Archive/2023"]);
        assert_eq!(names(&["Proj?cts", "inbox"]), ["INBOX", "Projects"]);
        assert!(glob("*", "anything"));
        assert!(!glob("a*b", "ac"));
    }

    fn folder(name: &str, su: &[&str]) -> Folder {
        Folder {
            name: name.into(),
            raw_name: name.into(),
            special_use: su.iter().map(|s| s.to_string()).collect(),
            delimiter: Some("/".into()),
        }
    }

    fn chosen(
        all: &[Folder],
        ps: &[&str],
        provider: crate::config::Provider,
    ) -> (Vec<String>, Vec<String>) {
        let ps: Vec<String> = ps.iter().map(|s| s.to_string()).collect();
        let names = |s: &str| provider.folder_names(s);
        let c = choose_folders_with(all, &ps, &names);
        (c.folders.iter().map(|f| f.name.clone()).collect(), c.notes)
    }

    #[test]
    fn issue10_sent_items_is_found_by_name_without_special_use() {
        use crate::config::Provider;
        // Microsoft: no SPECIAL-USE anywhere.
        let all = vec![
            folder("INBOX", &[]),
            folder("Archive", &[]),
            folder("Deleted Items", &[]),
            folder("Sent", &[]),
            folder("Sent Items", &[]),
        ];
        let (names, notes) = chosen(&all, &["\\Sent", "\\Archive"], Provider::Microsoft365);
        // The provider's own name wins over the common one; server order.
        assert_eq!(names, ["Archive", "Sent Items"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("\\Sent") && n.contains("\"Sent Items\"")),
            "{notes:?}"
        );
        // Without the preset the common English names still find them.
        let (names, _) = chosen(&all, &["\\Sent"], Provider::Generic);
        assert_eq!(names, ["Sent"]);
        let all = vec![folder("INBOX", &[]), folder("sent messages", &[])];
        assert_eq!(
            chosen(&all, &["\\Sent"], Provider::Generic).0,
            ["sent messages"]
        );
        // Nothing by either: said so.
        let (names, notes) = chosen(&all, &["\\Archive"], Provider::Generic);
        assert!(names.is_empty());
        assert!(
            notes[0].contains("\\Archive") && notes[0].contains("policy.folders"),
            "{notes:?}"
        );
    }

    #[test]
    fn issue10_special_use_wins_over_names() {
        use crate::config::Provider;
        let all = vec![folder("Sent Items", &[]), folder("Gesendet", &["\\Sent"])];
        let (names, notes) = chosen(&all, &["\\Sent"], Provider::Microsoft365);
        assert_eq!(names, ["Gesendet"]);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn issue10_globs_never_pick_all_mail_important_or_starred() {
        use crate::config::Provider;
        let all = vec![
            folder("INBOX", &[]),
            folder("[Gmail]/All Mail", &["\\All"]),
            folder("[Gmail]/Important", &["\\Important"]),
            folder("[Gmail]/Starred", &["\\Flagged"]),
            folder("[Gmail]/Sent Mail", &["\\Sent"]),
            folder("[Gmail]/Trash", &["\\Trash"]),
            // Localised: found by its special use alone.
            folder("[Gmail]/Alle Nachrichten", &["\\All"]),
            // No special use, Gmail's English name.
            folder("[Google Mail]/Starred", &[]),
            folder("Work", &[]),
        ];
        let (names, _) = chosen(&all, &["*"], Provider::Gmail);
        assert_eq!(
            names,
            ["INBOX", "[Gmail]/Sent Mail", "[Gmail]/Trash", "Work"]
        );
        let (names, _) = chosen(&all, &["[Gmail]/*"], Provider::Generic);
        assert_eq!(names, ["[Gmail]/Sent Mail", "[Gmail]/Trash"]);
        // Named outright, or by the special use itself, they are picked.
        let (names, _) = chosen(&all, &["[Gmail]/All Mail", "\\Flagged"], Provider::Gmail);
        assert_eq!(names, ["[Gmail]/All Mail", "[Gmail]/Starred"]);
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
