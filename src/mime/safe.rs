//! File names and types from a message made safe to show and to put into
//! a header or the stub text.

/// A file name made safe to show and to put into a header: no control,
/// bidirectional-override or other format characters, no path separators, at most 64
/// characters (keeping the extension), never empty.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' => '_',
            // Controls, bidirectional overrides and other invisible format
            // characters, line and paragraph separators (the list is
            // `display`'s, shared with the pages).
            c if super::display::is_hidden(c) => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim().trim_matches('.').trim();
    let cleaned = if cleaned.is_empty() {
        "attachment"
    } else {
        cleaned
    };
    const MAX: usize = 64;
    if cleaned.chars().count() <= MAX {
        return cleaned.to_string();
    }
    let ext: String = match cleaned.rfind('.') {
        Some(dot) if cleaned.len() - dot <= 10 => cleaned[dot..].to_string(),
        _ => String::new(),
    };
    let keep = MAX - ext.chars().count();
    let stem: String = cleaned.chars().take(keep).collect();
    format!("{stem}{ext}")
}

/// `text/plain`-like token made safe for a header and the stub text.
pub(super) fn safe_type(t: &str) -> String {
    let s: String = t
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(*c))
        .take(100)
        .collect();
    if s.is_empty() {
        "application/octet-stream".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("a\r\nBcc: x@y"), "a__Bcc: x@y");
        assert_eq!(safe_name(""), "attachment");
        assert_eq!(safe_name("evil\u{202E}fdp.exe"), "evil_fdp.exe");
        let long = format!("{}.pdf", "x".repeat(300));
        let s = safe_name(&long);
        assert_eq!(s.chars().count(), 64);
        assert!(s.ends_with(".pdf"));
    }
}
