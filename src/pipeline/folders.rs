//! Choosing folders on the server, before anything is downloaded: which of
//! the account's folders `policy.folders` names, by SPECIAL-USE (with a
//! provider's usual names where the server marks none), exact name or glob,
//! and which folders a glob never picks. Pure functions over what LIST
//! told us, tested without a server.

use crate::imap::Folder;

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
}
