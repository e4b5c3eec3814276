//! Modified UTF-7 (RFC 3501 section 5.1.3), the encoding IMAP4rev1 servers use
//! for mailbox names on the wire. Pure functions, no I/O.
//!
//! Printable US-ASCII except `&` stands for itself, `&` is written `&-`, and
//! every other run of characters is UTF-16BE, base64-encoded with `,` instead
//! of `/` and without padding, between `&` and `-`.

/// Why a server's mailbox name could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utf7Error(pub String);

impl std::fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

/// Encodes a UTF-8 mailbox name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush_shifted(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush_shifted(&mut out, &mut pending);
    out
}

fn flush_shifted(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = chunk.get(1).copied().map_or(0, u32::from);
        let b2 = chunk.get(2).copied().map_or(0, u32::from);
        let n = (b0 << 16) | (b1 << 8) | b2;
        // 1 byte -> 2 chars, 2 bytes -> 3 chars, 3 bytes -> 4 chars; no padding.
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out.push('-');
    pending.clear();
}

/// Decodes a mailbox name as sent by the server into UTF-8.
pub fn decode(raw: &str) -> Result<String, Utf7Error> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'&' {
            if !(0x20..=0x7e).contains(&c) {
                return Err(Utf7Error(format!(
                    "mailbox name {raw:?} has a raw non-ASCII or control byte at {i}"
                )));
            }
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let end = bytes[i + 1..]
            .iter()
            .position(|&b| b == b'-')
            .map(|p| i + 1 + p)
            .ok_or_else(|| Utf7Error(format!("mailbox name {raw:?} has an unterminated &...")))?;
        let run = &bytes[i + 1..end];
        if run.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_run(raw, run)?);
        }
        i = end + 1;
    }
    Ok(out)
}

fn decode_run(raw: &str, run: &[u8]) -> Result<String, Utf7Error> {
    let bad = || Utf7Error(format!("mailbox name {raw:?} has bad modified base64"));
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut bytes = Vec::with_capacity(run.len() * 3 / 4);
    for &c in run {
        let v = b64_value(c).ok_or_else(bad)?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    // Leftover bits must be zero padding of fewer than 6 bits.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 || bytes.len() % 2 != 0 {
        return Err(bad());
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    let s = String::from_utf16(&units).map_err(|_| bad())?;
    // RFC 3501: printable ASCII must not be encoded in a shifted run.
    if s.chars().any(|c| (' '..='~').contains(&c)) {
        return Err(bad());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_vector() {
        let utf8 = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(utf8), wire);
        assert_eq!(decode(wire).unwrap(), utf8);
    }

    #[test]
    fn ampersand() {
        assert_eq!(encode("&"), "&-");
        assert_eq!(decode("&-").unwrap(), "&");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").unwrap(), "Tom & Jerry");
    }

    #[test]
    fn plain_ascii_and_inbox() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(decode("Sent Items").unwrap(), "Sent Items");
    }

    #[test]
    fn round_trips() {
        for s in [
            "Entw\u{fc}rfe",
            "\u{e9}",
            "\u{1f600} emoji",
            "a\u{e9}b\u{e8}c",
            "\u{444}\u{43e}\u{43b}\u{434}\u{435}\u{440}",
        ] {
            let enc = encode(s);
            assert!(enc.is_ascii(), "{enc}");
            assert_eq!(decode(&enc).unwrap(), s, "via {enc}");
        }
        assert_eq!(encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("&U,BTFw").is_err()); // unterminated
        assert!(decode("&AGE-").is_err()); // encodes printable "a"
        assert!(decode("&!!-").is_err());
        assert!(decode("caf\u{e9}").is_err()); // raw 8-bit
    }
}
