//! File names that are safe to create: what a message calls an attachment
//! is chosen by its sender, so it may try to climb out of the folder, hide
//! its extension or name a device.

/// Names Windows reserves for devices, with or without an extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The longest name made, in bytes: below every common file system's limit
/// of 255, with room for a ` (2)` suffix.
const MAX: usize = 200;

/// A file name that is safe to create in any folder on any system: one path
/// component, no control characters, no characters Windows forbids, no
/// bidirectional overrides (which can disguise an extension), not `.` or
/// `..`, not a device name, at most 200 bytes (keeping the extension).
pub fn safe_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c if c.is_control() => '_',
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => '_',
            c => c,
        })
        .collect();
    s = s.trim_matches(|c: char| c == ' ' || c == '.').to_string();
    if s.is_empty() {
        s = "attachment".into();
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s = format!("_{s}");
    }
    if s.len() > MAX {
        let ext = match s.rfind('.') {
            Some(i) if s.len() - i <= 16 => s[i..].to_string(),
            _ => String::new(),
        };
        let mut stem_end = MAX - ext.len();
        while !s.is_char_boundary(stem_end) {
            stem_end -= 1;
        }
        s = format!("{}{ext}", &s[..stem_end]);
    }
    s
}

/// `name (2).ext`, `name (3).ext`, ...: the `n`th file that wanted `name`.
pub fn numbered(name: &str, n: usize) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// Hands out names for one folder: each safe, and none used twice (compared
/// without case, as Windows and macOS do).
#[derive(Debug, Default)]
pub struct NameSet {
    used: std::collections::HashSet<String>,
}

impl NameSet {
    /// The safe form of `wanted`, numbered if an earlier file took it.
    pub fn claim(&mut self, wanted: &str) -> String {
        let base = safe_file_name(wanted);
        let mut name = base.clone();
        let mut n = 1;
        while self.used.contains(&name.to_lowercase()) {
            n += 1;
            name = numbered(&base, n);
        }
        self.used.insert(name.to_lowercase());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_safe_component() {
        for (input, want) in [
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..\\win.ini", "_win.ini"),
            ("a\r\nb.txt", "a__b.txt"),
            ("..", "attachment"),
            ("", "attachment"),
            ("CON.txt", "_CON.txt"),
            ("nul", "_nul"),
            ("what?.pdf", "what_.pdf"),
        ] {
            assert_eq!(safe_file_name(input), want, "{input:?}");
        }
        let long = format!("{}.pdf", "é".repeat(300));
        let s = safe_file_name(&long);
        assert!(s.len() <= 200 && s.ends_with(".pdf"));
        assert_eq!(numbered("a.pdf", 2), "a (2).pdf");
        assert_eq!(numbered("noext", 3), "noext (3)");
    }

    #[test]
    fn issue8_bidi_overrides_cannot_disguise_an_extension() {
        // "invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf".
        assert_eq!(safe_file_name("invoice\u{202E}fdp.exe"), "invoice_fdp.exe");
        assert_eq!(safe_file_name("COM1 .log"), "_COM1 .log");
        assert_eq!(safe_file_name(" .hidden. "), "hidden");
    }

    #[test]
    fn issue8_long_names_without_extension_are_cut_on_a_char_boundary() {
        let s = safe_file_name(&"日".repeat(100));
        assert!(s.len() <= MAX && s.chars().all(|c| c == '日'), "{s}");
        // An "extension" longer than 16 bytes is not kept as one.
        let s = safe_file_name(&format!("{}.{}", "a".repeat(300), "b".repeat(40)));
        assert_eq!(s, "a".repeat(MAX));
    }

    #[test]
    fn issue8_name_set_numbers_repeats_without_case() {
        let mut names = NameSet::default();
        assert_eq!(names.claim("Report.pdf"), "Report.pdf");
        assert_eq!(names.claim("report.PDF"), "report (2).PDF");
        assert_eq!(names.claim("report.pdf"), "report (3).pdf");
        assert_eq!(names.claim("../x"), "_x");
        assert_eq!(names.claim("/x"), "_x (2)");
    }
}
