//! Names and subjects made honest to show: the characters that change how
//! text around them is displayed without being seen themselves
//! (bidirectional overrides and isolates, invisible marks, other Unicode
//! format characters, controls) are written out as `[U+202E]`. So
//! `invoice<RLO>fdp.exe` shows as `invoice[U+202E]fdp.exe`, never as
//! `invoiceexe.pdf`. Pure; used by the pages and by [`super::safe_name`].

/// Whether `c` changes the display of text without showing itself: a
/// control character, a line or paragraph separator, or a character of
/// Unicode's general category Cf (format), listed here as of Unicode 15.
/// The zero-width joiner and non-joiner (U+200C, U+200D) are kept: scripts
/// such as Persian and the Indic ones need them, and they reorder nothing.
pub fn is_hidden(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B
            | 0x200E..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// `text` with each hidden character ([`is_hidden`]) written out as
/// `[U+XXXX]`, everything else as it is.
pub fn shown(text: &str) -> String {
    if !text.chars().any(is_hidden) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("[U+{:04X}]", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue20_a_right_to_left_override_is_shown_not_obeyed() {
        assert_eq!(shown("invoice\u{202E}fdp.exe"), "invoice[U+202E]fdp.exe");
        assert_eq!(
            shown("a\u{2066}b\u{2069}\u{200E}\u{200F}\u{061C}c"),
            "a[U+2066]b[U+2069][U+200E][U+200F][U+061C]c"
        );
        assert_eq!(
            shown("x\u{FEFF}\u{200B}\u{E0041}\u{1}\n"),
            "x[U+FEFF][U+200B][U+E0041][U+0001][U+000A]"
        );
    }

    #[test]
    fn ordinary_text_in_any_script_is_untouched() {
        for t in [
            "Größe.pdf",
            "تقرير.pdf",
            "می‌خواهم",
            "報告書.xlsx",
            "👩‍💻 notes",
            "",
        ] {
            assert_eq!(shown(t), t);
        }
    }
}
