//! A message's IMAP flags as slimbox compares and carries them: the flags a
//! copy must carry, flag sets compared without `\Recent` and without case
//! for system flags, and the three-way merge when the owner changed both
//! copies of a message. Pure functions, tested here.

use std::collections::HashSet;

/// The flags a copy must carry: the original's, minus `\Recent` (which
/// only the server may set).
pub(super) fn copy_flags(flags: &[String]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect()
}

/// The flags to compare: without `\Recent`, system flags in one case.
pub(super) fn flag_set(flags: &[String]) -> HashSet<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| flag_key(f))
        .collect()
}

/// System flags compare without case (`\Seen`, `\SEEN`), keywords as they are.
fn flag_key(f: &str) -> String {
    if f.starts_with('\\') {
        f.to_ascii_lowercase()
    } else {
        f.to_string()
    }
}

/// The flags a message carries when two copies of it were each changed by
/// the mailbox's owner since `base` (the flags slimbox recorded): a flag
/// either side added is kept, one either side removed is gone. So nothing
/// the owner did to the original or to its copy meanwhile is undone.
pub(super) fn merge_flags(base: &[String], ours: &[String], theirs: &[String]) -> Vec<String> {
    let (base, ours_set, theirs_set) = (flag_set(base), flag_set(ours), flag_set(theirs));
    let keep = |f: &String| {
        let k = flag_key(f);
        match base.contains(&k) {
            true => ours_set.contains(&k) && theirs_set.contains(&k),
            false => ours_set.contains(&k) || theirs_set.contains(&k),
        }
    };
    let mut seen = HashSet::new();
    copy_flags(ours)
        .into_iter()
        .chain(copy_flags(theirs))
        .filter(|f| keep(f) && seen.insert(flag_key(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_compare_without_recent_and_case_of_system_flags() {
        let a = vec!["\\Seen".to_string(), "$Label".into(), "\\Recent".into()];
        let b = vec!["\\SEEN".to_string(), "$Label".into()];
        assert_eq!(flag_set(&a), flag_set(&b));
    }

    #[test]
    fn issue8_merged_flags_keep_what_the_owner_did_to_either_copy() {
        let v = |s: &[&str]| s.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let base = v(&["\\Seen", "$Work"]);
        // Flagged on the original, $Work taken off the copy, \Seen kept.
        let merged = merge_flags(
            &base,
            &v(&["\\Seen", "$Work", "\\Flagged"]),
            &v(&["\\SEEN"]),
        );
        assert_eq!(flag_set(&merged), flag_set(&v(&["\\Seen", "\\Flagged"])));
        // Nobody changed anything: the same flags.
        assert_eq!(flag_set(&merge_flags(&base, &base, &base)), flag_set(&base));
        // Marked unread on one side only: unread.
        let merged = merge_flags(&base, &v(&["$Work"]), &base);
        assert_eq!(flag_set(&merged), flag_set(&v(&["$Work"])));
        // \Recent is never carried over.
        assert!(merge_flags(&[], &v(&["\\Recent"]), &[]).is_empty());
    }
}
