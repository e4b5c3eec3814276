//! Decoding of MIME parameter values as they arrive inside BODYSTRUCTURE:
//! RFC 2231 extended values and continuations (`filename*`, `filename*0*`,
//! ...), RFC 2047 encoded words in plain values, charset conversion, and the
//! quoted-string escapes that imap-proto leaves in place. Pure functions.

use std::borrow::Cow;

/// Undoes IMAP quoted-string escaping (`\"` and `\\`).
///
/// NOTE: imap-proto 0.17 returns the bytes between the quotes of a
/// quoted string verbatim, escapes included, so `"a\"b"` arrives as `a\"b`.
/// We cannot tell a quoted string from a literal at that point; a literal
/// that itself contains `\"` or `\\` would be over-unescaped, but servers
/// (Dovecot included) send such short values quoted, and quoted-string syntax
/// allows no other use of a backslash.
pub fn unescape_quoted(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) => out.push(next),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Converts `bytes` in `charset` to a String, replacing what cannot be decoded.
pub fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    let cs = charset.trim();
    let is_utf8ish = cs.is_empty()
        || cs.eq_ignore_ascii_case("utf-8")
        || cs.eq_ignore_ascii_case("utf8")
        || cs.eq_ignore_ascii_case("us-ascii");
    if !is_utf8ish {
        if let Some(decoder) = mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes())
        {
            return decoder(bytes);
        }
    }
    // Unknown charsets: UTF-8 is the best guess and is lossless for ASCII.
    String::from_utf8_lossy(bytes).into_owned()
}

/// Looks up parameter `name` (case-insensitive) in a BODYSTRUCTURE parameter
/// list and decodes it: RFC 2231 continuations (`name*0`, `name*1*`, ...) win
/// over an RFC 2231 extended value (`name*`), which wins over a plain `name`
/// (itself RFC 2047-decoded, as many mailers send it that way).
///
/// NOTE: Dovecot hands RFC 2231 values over raw: `filename*0*`/`filename*1*`
/// sections are joined into a single `filename*` key holding
/// `utf-8''r%C3%A9sum%C3%A9.pdf`; other servers pass the sections as they are.
pub fn param_value(params: &[(String, String)], name: &str) -> Option<String> {
    let mut plain: Option<&str> = None;
    let mut extended: Option<&str> = None;
    // (index, is percent-encoded, raw value)
    let mut sections: Vec<(u32, bool, &str)> = Vec::new();

    for (key, value) in params {
        let key = key.trim();
        // `get` rather than slicing: a non-ASCII key must not panic us.
        let (Some(head), Some(rest)) = (key.get(..name.len()), key.get(name.len()..)) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(name) {
            continue;
        }
        if rest.is_empty() {
            plain.get_or_insert(value);
        } else if rest == "*" {
            extended.get_or_insert(value);
        } else if let Some(tail) = rest.strip_prefix('*') {
            let (digits, encoded) = match tail.strip_suffix('*') {
                Some(d) => (d, true),
                None => (tail, false),
            };
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(idx) = digits.parse::<u32>() {
                    sections.push((idx, encoded, value));
                }
            }
        }
    }

    if !sections.is_empty() {
        sections.sort_by_key(|s| s.0);
        let mut charset = String::new();
        let mut bytes = Vec::new();
        let mut expected = 0u32;
        for (idx, encoded, value) in sections {
            if idx != expected {
                // RFC 2231: sections are numbered from 0 without gaps; ignore
                // anything after a gap or a duplicate.
                break;
            }
            expected += 1;
            if encoded {
                let mut v = value;
                if idx == 0 {
                    if let Some((cs, _lang, data)) = split_extended(value) {
                        charset = cs.to_string();
                        v = data;
                    }
                }
                bytes.extend(percent_encoding::percent_decode_str(v));
            } else {
                bytes.extend_from_slice(value.as_bytes());
            }
        }
        if expected > 0 {
            return Some(decode_charset(&charset, &bytes));
        }
    }

    if let Some(value) = extended {
        return Some(decode_extended(value));
    }
    plain.map(decode_rfc2047)
}

/// `charset'language'percent-encoded` -> its three parts.
fn split_extended(value: &str) -> Option<(&str, &str, &str)> {
    let (charset, rest) = value.split_once('\'')?;
    let (lang, data) = rest.split_once('\'')?;
    Some((charset, lang, data))
}

/// Decodes a single RFC 2231 extended value (`utf-8''r%C3%A9sum%C3%A9.pdf`).
pub fn decode_extended(value: &str) -> String {
    match split_extended(value) {
        Some((charset, _lang, data)) => {
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(data).collect();
            decode_charset(charset, &bytes)
        }
        // Malformed (no charset/language prefix): best effort as UTF-8.
        None => {
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`, `=?iso-8859-1?Q?...?=`)
/// in `s`; whitespace between two adjacent encoded words is dropped, anything
/// that is not a well-formed encoded word is kept as it is.
pub fn decode_rfc2047(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    // Whitespace seen after an encoded word, held back in case another follows.
    let mut pending_ws: Option<&str> = None;
    loop {
        let Some(start) = rest.find("=?") else {
            if let Some(ws) = pending_ws.take() {
                out.push_str(ws);
            }
            out.push_str(rest);
            break;
        };
        let before = &rest[..start];
        match parse_encoded_word(&rest[start..]) {
            Some((decoded, consumed)) => {
                let only_ws = before.chars().all(|c| c.is_ascii_whitespace());
                match pending_ws.take() {
                    Some(_) if only_ws => {}
                    Some(ws) => {
                        out.push_str(ws);
                        out.push_str(before);
                    }
                    None => out.push_str(before),
                }
                out.push_str(&decoded);
                rest = &rest[start + consumed..];
                let ws_len = rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
                pending_ws = Some(&rest[..ws_len]);
                rest = &rest[ws_len..];
            }
            None => {
                if let Some(ws) = pending_ws.take() {
                    out.push_str(ws);
                }
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
            }
        }
    }
    out
}

/// Parses one encoded word at the start of `s`: (decoded text, bytes consumed).
fn parse_encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let charset = &body[..q1];
    let after_cs = &body[q1 + 1..];
    let enc = after_cs.chars().next()?;
    if after_cs.get(1..2) != Some("?") {
        return None;
    }
    let text_and_rest = &after_cs[2..];
    let end = text_and_rest.find("?=")?;
    let text = &text_and_rest[..end];
    if charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 section 5: charset may carry a language, `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        'B' | 'b' => base64_simd::forgiving_decode_to_vec(text.as_bytes()).ok()?,
        'Q' | 'q' => decode_q(text),
        _ => return None,
    };
    let consumed = 2 + q1 + 1 + 2 + end + 2;
    Some((decode_charset(charset, &bytes), consumed))
}

fn decode_q(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => {
                out.push(b' ');
                i += 1;
            }
            b'=' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rfc2231_extended() {
        let params = p(&[("filename*", "utf-8''r%C3%A9sum%C3%A9.pdf")]);
        assert_eq!(
            param_value(&params, "filename").as_deref(),
            Some("r\u{e9}sum\u{e9}.pdf")
        );
        let params = p(&[("NAME*", "iso-8859-1'fr'caf%E9.txt")]);
        assert_eq!(
            param_value(&params, "name").as_deref(),
            Some("caf\u{e9}.txt")
        );
    }

    #[test]
    fn rfc2231_continuations() {
        // Out of order on purpose, mixed encoded and plain sections.
        let params = p(&[
            ("filename*1*", "m%C3%A9"),
            ("filename*0*", "utf-8''r%C3%A9su"),
            ("filename*2", ".pdf"),
            ("filename", "fallback.pdf"),
        ]);
        assert_eq!(
            param_value(&params, "filename").as_deref(),
            Some("r\u{e9}sum\u{e9}.pdf")
        );
        // Unencoded continuations (RFC 2231 section 3 example).
        let params = p(&[
            ("URL*0", "ftp://"),
            ("URL*1", "cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"),
        ]);
        assert_eq!(
            param_value(&params, "url").as_deref(),
            Some("ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
        );
        // A gap ends the value.
        let params = p(&[("name*0", "a"), ("name*2", "c")]);
        assert_eq!(param_value(&params, "name").as_deref(), Some("a"));
    }

    #[test]
    fn plain_and_rfc2047() {
        let params = p(&[("name", "plain.txt")]);
        assert_eq!(param_value(&params, "name").as_deref(), Some("plain.txt"));
        assert_eq!(param_value(&params, "filename"), None);
        // "filenamex" must not match "filename".
        let params = p(&[("filenamex", "no")]);
        assert_eq!(param_value(&params, "filename"), None);

        let params = p(&[("name", "=?utf-8?B?csOpc3Vtw6kucGRm?=")]);
        assert_eq!(
            param_value(&params, "name").as_deref(),
            Some("r\u{e9}sum\u{e9}.pdf")
        );
        assert_eq!(
            decode_rfc2047("=?ISO-8859-1?Q?caf=E9_au_lait?=.txt"),
            "caf\u{e9} au lait.txt"
        );
        assert_eq!(decode_rfc2047("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode_rfc2047("x =?utf-8?q?a?= y"), "x a y");
        assert_eq!(decode_rfc2047("=?bogus"), "=?bogus");
        assert_eq!(decode_rfc2047("a=?utf-8?x?zz?=b"), "a=?utf-8?x?zz?=b");
        assert_eq!(decode_rfc2047("=?utf-8*en?Q?hi?="), "hi");
        assert_eq!(decode_rfc2047("=?utf-8?B?w6k?="), "\u{e9}"); // no padding
    }

    #[test]
    fn quoted_unescape() {
        assert_eq!(unescape_quoted(r#"a\"b\\c"#), r#"a"b\c"#);
        assert!(matches!(unescape_quoted("plain"), Cow::Borrowed(_)));
    }
}
