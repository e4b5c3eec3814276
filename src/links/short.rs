//! The short link forms (issue 19): every link whole on one line of a
//! plain-text reader, at most [`LINK_MAX`] characters with a typical
//! `base_url`.
//!
//! - a file: `BASE/f/<key>/<name>`, `<key>` being the first 8 bytes of the
//!   SHA-256 (11 base64url characters), the first 12 bytes of the HMAC (16
//!   more) and, for a link that expires, `.` and the expiry in base 36;
//! - a page: `BASE/m/<account>?sig=<16 characters>[.<expiry in base 36>]`.
//!
//! A 96-bit tag is as unforgeable as the full one for this use (a forger
//! gets one online guess per request, 2^-96 each; NIST SP 800-107 allows
//! HMAC tags down to 64 bits with the number of tries bounded). 96 rather
//! than 128 bits keeps 6 more characters for the name, so that a typical
//! expiring link fits an 80-column terminal. The hash prefix is only
//! an address: the server finds the objects starting with it and takes the
//! one whose full hash the tag verifies, so objects sharing 64 bits (which
//! anyone can make on purpose in about 2^32 tries) are still told apart.
//!
//! Names longer than the line allows are cut in the link (the stem, not
//! the extension): the download then carries the cut name. The mail's own
//! text still shows the whole name; the stub keeps it for `reattach`.

use std::borrow::Cow;

use subtle::ConstantTimeEq;

use super::{check_expiry_at, decode_name, FileLink, Refused, Secret, SEGMENT};
use percent_encoding::utf8_percent_encode;

/// The longest link the writers aim for: what an 80-column reader shows on
/// one line after a short label, and short enough not to be wrapped by
/// mail software that folds at 100.
pub const LINK_MAX: usize = 100;

/// A name in a link is never cut shorter than this (encoded), whatever the
/// `base_url`: with a `base_url` over 30 characters links may pass
/// [`LINK_MAX`] rather than lose the name.
const NAME_MIN: usize = 20;

/// Bytes of the SHA-256 a short file link carries, and of the HMAC tag.
pub(super) const PREFIX_LEN: usize = 8;
const TAG_LEN: usize = 12;
/// Their base64url lengths.
const PREFIX_B64: usize = 11;
const TAG_B64: usize = 16;
/// A base-36 u64 has at most 13 digits.
const EXP36_MAX: usize = 13;

/// A short file link's path, parsed but not yet checked: checking needs
/// the full hash, which only the store can give for the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortFile {
    prefix: [u8; PREFIX_LEN],
    tag: [u8; TAG_LEN],
    exp: Option<u64>,
    name: String,
}

impl ShortFile {
    /// The first 8 bytes of the SHA-256 the link names.
    pub fn prefix(&self) -> &[u8; PREFIX_LEN] {
        &self.prefix
    }
}

impl Secret {
    /// The key segment of a short file link for `name` (as the link
    /// carries it, decoded).
    pub(super) fn short_file_key(&self, sha256: &str, name: &str, exp: Option<u64>) -> String {
        let mut prefix = [0u8; PREFIX_LEN];
        // Only hex reaches here from the writers; a bad hash gives a
        // prefix of zeros, which no server will ever match to it.
        let _ = hex::decode_to_slice(sha256.get(..2 * PREFIX_LEN).unwrap_or(""), &mut prefix);
        let tag = self.tag(&file_message(sha256, name, exp));
        let mut key = b64(&prefix);
        key.push_str(&b64(&tag));
        if let Some(e) = exp {
            key.push('.');
            key.push_str(&base36(e));
        }
        key
    }

    /// The `sig` of a short page link: the tag, then `.` and the expiry.
    pub(super) fn short_page_sig(&self, account: &str, exp: Option<u64>) -> String {
        let mut sig = b64(&self.tag(&page_message(account, exp)));
        if let Some(e) = exp {
            sig.push('.');
            sig.push_str(&base36(e));
        }
        sig
    }

    /// Checks a short page link's `sig`; the account as decoded.
    pub(super) fn check_short_page(
        &self,
        account: &str,
        sig: &str,
        now: u64,
    ) -> Result<(), Refused> {
        let (tag, exp) = split_tag(sig).ok_or(Refused::BadSignature)?;
        let exp = check_expiry_at(exp, now)?;
        self.tag_matches(&page_message(account, exp), &tag)
            .then_some(())
            .ok_or(Refused::BadSignature)
    }

    /// Which of `candidates` (the stored objects whose SHA-256 starts with
    /// the link's prefix) the link was signed for. Every candidate is
    /// checked, and one (made-up) check is made when there are none, so
    /// that "no such object" costs what "bad signature" costs; both are
    /// [`Refused::BadSignature`].
    pub fn check_short_file(
        &self,
        link: &ShortFile,
        candidates: &[[u8; 32]],
    ) -> Result<FileLink, Refused> {
        let mut found = None;
        let mut checked = 0;
        for hash in candidates.iter().filter(|h| h[..PREFIX_LEN] == link.prefix) {
            let hex = hex::encode(hash);
            checked += 1;
            if self.tag_matches(&file_message(&hex, &link.name, link.exp), &link.tag) {
                found = Some(hex);
            }
        }
        if checked == 0 {
            let nothing = file_message(&"0".repeat(64), &link.name, link.exp);
            let _ = self.tag_matches(&nothing, &link.tag);
        }
        let sha256 = found.ok_or(Refused::BadSignature)?;
        Ok(FileLink {
            sha256,
            name: link.name.clone(),
        })
    }

    fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let full = ring::hmac::sign(self.key(), message);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        tag
    }

    /// Constant time, as ring's own check of a whole tag.
    fn tag_matches(&self, message: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        self.tag(message).ct_eq(tag).into()
    }
}

/// A short file link's key and name segment parsed: refused before any
/// store lookup when its shape is wrong, its name unservable, or its
/// (claimed) expiry past.
pub fn parse_short_file(key: &str, raw_name: &str, now: u64) -> Result<ShortFile, Refused> {
    if key.len() < PREFIX_B64 + TAG_B64 || !key.is_ascii() {
        return Err(Refused::BadHash);
    }
    let (prefix, rest) = key.split_at(PREFIX_B64);
    let prefix: [u8; PREFIX_LEN] = unb64(prefix).ok_or(Refused::BadHash)?;
    let (tag, exp) = split_tag(rest).ok_or(Refused::BadHash)?;
    let name = decode_name(raw_name)?;
    let exp = check_expiry_at(exp, now)?;
    Ok(ShortFile {
        prefix,
        tag,
        exp,
        name,
    })
}

/// Whether a file link's first segment is the long form's hash (64
/// lowercase hex digits); a short key never is (it is 27 to 41 characters).
pub fn is_long_form(first: &str) -> bool {
    first.len() == 64
        && first
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<16-char tag>[.<base36 expiry>]` split; `None` when malformed.
fn split_tag(s: &str) -> Option<([u8; TAG_LEN], Option<u64>)> {
    let (tag, exp) = match s.split_once('.') {
        Some((t, e)) => (t, Some(parse_base36(e)?)),
        None => (s, None),
    };
    (tag.len() == TAG_B64).then_some(())?;
    Some((unb64(tag)?, exp))
}

/// A URL path for the access log: a short file link's tag (which, with
/// the rest of the path, opens the file) is left out. Long links keep
/// theirs in the query, which is never logged.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    let Some(rest) = path.strip_prefix("/f/") else {
        return Cow::Borrowed(path);
    };
    let key = rest.split('/').next().unwrap_or("");
    if is_long_form(key) || key.len() < PREFIX_B64 + TAG_B64 || !key.is_ascii() {
        return Cow::Borrowed(path);
    }
    let after = &rest[PREFIX_B64 + TAG_B64..];
    Cow::Owned(format!("/f/{}-{after}", &key[..PREFIX_B64]))
}

/// The signed string of a short file link: its own kind, so it never
/// passes for a long link's or a page's; the full hash, so a link is good
/// for one object even when others share its prefix.
fn file_message(sha256: &str, name: &str, exp: Option<u64>) -> Vec<u8> {
    let exp = exp.map(|e| e.to_string()).unwrap_or_default();
    format!("slimbox-file2\n{sha256}\n{name}\n{exp}").into_bytes()
}

fn page_message(account: &str, exp: Option<u64>) -> Vec<u8> {
    let exp = exp.map(|e| e.to_string()).unwrap_or_default();
    format!("slimbox-page2\n{account}\n{exp}").into_bytes()
}

fn b64(bytes: &[u8]) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// Strict base64url (its unused low bits must be zero, so each value has
/// one spelling) of exactly `N` bytes.
fn unb64<const N: usize>(s: &str) -> Option<[u8; N]> {
    let v = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()?;
    v.try_into().ok()
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Only the spelling [`base36`] writes: lowercase, no sign, no leading
/// zero, so a link has one form.
fn parse_base36(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= EXP36_MAX
        && (s == "0" || !s.starts_with('0'))
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    canonical.then_some(())?;
    u64::from_str_radix(s, 36).ok()
}

/// Characters `c` takes in a link once percent-encoded.
fn encoded_len(s: &str) -> usize {
    utf8_percent_encode(s, SEGMENT).map(str::len).sum()
}

/// The name a link carries when the rest of it takes `used` characters:
/// the whole name when it fits in [`LINK_MAX`], else its stem cut and
/// marked `~`, the extension kept (so the download still opens with the
/// right program). Never shorter than [`NAME_MIN`] encoded characters.
pub(super) fn fit_name(name: &str, used: usize) -> Cow<'_, str> {
    let budget = LINK_MAX.saturating_sub(used).max(NAME_MIN);
    if encoded_len(name) <= budget {
        return Cow::Borrowed(name);
    }
    let ext = name
        .rsplit_once('.')
        .filter(|(stem, ext)| {
            !stem.is_empty()
                && (1..=8).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .map_or("", |(stem, _)| &name[stem.len()..]);
    let stem = &name[..name.len() - ext.len()];
    let room = budget.saturating_sub(ext.len() + 1);
    let mut cut = 0;
    let mut taken = 0;
    for (i, c) in stem.char_indices() {
        let len = encoded_len(&stem[i..i + c.len_utf8()]);
        if taken + len > room {
            break;
        }
        taken += len;
        cut = i + c.len_utf8();
    }
    Cow::Owned(format!("{}~{ext}", stem[..cut].trim_end()))
}

/// [`base36`] for the links' tests.
#[cfg(test)]
pub(super) fn tests_base36(n: u64) -> String {
    base36(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_round_trips_in_one_spelling() {
        for n in [0, 1, 35, 36, 1_800_000_000, u64::MAX] {
            assert_eq!(parse_base36(&base36(n)), Some(n), "{n}");
        }
        assert_eq!(base36(1_800_000_000).len(), 6);
        for bad in ["", "0a", "A", "+a", "-1", "a b", "zzzzzzzzzzzzzz"] {
            assert_eq!(parse_base36(bad), None, "{bad}");
        }
    }
}
