//! Building IMAP command lines: quoting of strings (or literals where quoting
//! is not allowed), UID sequence sets, flag validation. Pure; the session
//! module sends what is built here.

use std::fmt::Write as _;

use super::ImapError;

/// One part of a command as it goes on the wire.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// Text that continues the current command line.
    Text(String),
    /// A synchronizing literal `{n}`: the server's `+` is awaited before the
    /// bytes are sent.
    ///
    /// NOTE: we never use non-synchronizing literals (LITERAL+), although
    /// Dovecot offers them. When Dovecot rejects a command before its literal
    /// (APPEND with the flag `\Recent`, or over quota), it does not skip a
    /// LITERAL+ payload: it runs every line of the message as a command. A
    /// synchronizing literal is only sent after the server said `+`, so a
    /// rejection costs nothing and message text is never executed.
    Literal(&'a [u8]),
    /// A literal8 `~{n}` (RFC 3516), for message data containing NUL bytes.
    Literal8(&'a [u8]),
    /// End the line, wait for `+`, then send these bytes as the next line
    /// (a SASL response during AUTHENTICATE).
    Continuation(String),
    /// Last piece only: when the server answers the whole command with a
    /// `+` challenge instead of completing it, send these bytes as the next
    /// line (the SASL client's reply to an error challenge, RFC 7628 3.2.3)
    /// and read the completion. The challenge's text goes to
    /// `Done::challenge`.
    OnChallenge(String),
}

/// A command without its tag, plus a label for error messages and logs that
/// never contains secrets.
#[derive(Debug)]
pub(crate) struct Command<'a> {
    pub label: String,
    pub pieces: Vec<Piece<'a>>,
}

impl<'a> Command<'a> {
    /// Starts a command whose first words are `text`; `text` is also the label.
    pub fn new(text: &str) -> Self {
        Command {
            label: text.to_string(),
            pieces: vec![Piece::Text(text.to_string())],
        }
    }

    /// Appends raw protocol text (atoms, numbers, parentheses, spaces).
    pub fn raw(mut self, text: &str) -> Self {
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => t.push_str(text),
            _ => self.pieces.push(Piece::Text(text.to_string())),
        }
        self
    }

    /// Appends a string argument: quoted if it can be, a literal otherwise.
    pub fn string(self, s: &'a str) -> Self {
        match quote(s) {
            Some(q) => self.raw(&q),
            None => self.literal(s.as_bytes()),
        }
    }

    /// Appends a synchronizing literal.
    pub fn literal(mut self, bytes: &'a [u8]) -> Self {
        self.pieces.push(Piece::Literal(bytes));
        self
    }

    /// Appends a literal8 (needs the BINARY capability).
    pub fn literal8(mut self, bytes: &'a [u8]) -> Self {
        self.pieces.push(Piece::Literal8(bytes));
        self
    }

    /// Ends the line and sends `line` after the server's `+`.
    pub fn continuation(mut self, line: String) -> Self {
        self.pieces.push(Piece::Continuation(line));
        self
    }

    /// Answers a `+` challenge the server may send once the whole command
    /// is sent with `line` (see [`Piece::OnChallenge`]); must come last.
    pub fn on_challenge(mut self, line: String) -> Self {
        self.pieces.push(Piece::OnChallenge(line));
        self
    }
}

/// IMAP quoted string for `s`, or `None` when `s` must go as a literal: quoted
/// strings may hold only 7-bit text without CR, LF or NUL (RFC 3501 section 9).
pub fn quote(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| b == 0 || b == b'\r' || b == b'\n' || b >= 0x80)
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// Sorted, de-duplicated UIDs as a compact sequence set (`1:3,7,9:10`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut v: Vec<u32> = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

/// The UID set of a command that changes exactly these messages; UID 0 does
/// not exist and an empty set is not a command.
pub fn exact_set(uids: &[u32]) -> Result<String, ImapError> {
    if uids.is_empty() || uids.contains(&0) {
        return Err(ImapError::Usage(format!(
            "not a set of message UIDs: {uids:?}"
        )));
    }
    Ok(uid_set(uids))
}

/// True for a flag or keyword that can be sent as written: `\` + atom for
/// system flags, atom for keywords (RFC 3501 `flag`).
pub fn is_valid_flag(flag: &str) -> bool {
    let atom = flag.strip_prefix('\\').unwrap_or(flag);
    !atom.is_empty()
        && atom.bytes().all(|b| {
            (0x21..0x7f).contains(&b)
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quote("").as_deref(), Some("\"\""));
        assert_eq!(quote(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quote("line\r\nbreak"), None);
        assert_eq!(quote("caf\u{e9}"), None);
        assert_eq!(quote("nul\0"), None);
    }

    #[test]
    fn command_pieces() {
        let cmd = Command::new("LOGIN")
            .raw(" ")
            .string("alice")
            .raw(" ")
            .string("p\u{e4}ss");
        assert_eq!(cmd.label, "LOGIN");
        assert_eq!(cmd.pieces.len(), 2);
        assert!(matches!(&cmd.pieces[0], Piece::Text(t) if t == "LOGIN \"alice\" "));
        assert!(matches!(&cmd.pieces[1], Piece::Literal(b) if *b == "p\u{e4}ss".as_bytes()));
    }

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[3, 1, 2, 2, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[u32::MAX, u32::MAX - 1]), "4294967294:4294967295");
    }

    #[test]
    fn a_removal_names_exactly_its_uids() {
        assert_eq!(exact_set(&[7]).unwrap(), "7");
        assert_eq!(exact_set(&[9, 5, 6, 7]).unwrap(), "5:7,9");
        // No set would be "every message" or a syntax error: refused here.
        assert!(exact_set(&[]).is_err());
        assert!(exact_set(&[0, 3]).is_err());
    }

    #[test]
    fn flags() {
        for ok in ["\\Seen", "\\Flagged", "$Custom", "$Label1", "NonJunk"] {
            assert!(is_valid_flag(ok), "{ok}");
        }
        for bad in [
            "",
            "\\",
            "two words",
            "a(b",
            "\\Seen)",
            "x]",
            "caf\u{e9}",
            "a\"b",
        ] {
            assert!(!is_valid_flag(bad), "{bad}");
        }
    }
}
