//! Signed links: the URLs that stubs and help desks hand out, and the check
//! `slimbox serve` makes before it answers one.
//!
//! What belongs here: the link formats, the secret they are signed with, and
//! the pure sign/check functions. Nothing here reads the store or serves
//! HTTP; the server (`serve`) and the writers of stubs (`pipeline`, `cli`)
//! call in.
//!
//! Two kinds of link, both HMAC-SHA256 under one secret, each in two forms.
//! Every writer makes the short form (issue 19, see `short`), at most 100
//! characters with a `base_url` of 30 or fewer:
//! - a file: `BASE/f/<key>/<name>`, `<key>` the hash's first 8 bytes and a
//!   96-bit tag (27 characters), then `.<expiry in base 36>` if it expires;
//! - a mailbox's self-service page: `BASE/m/<account>?sig=<16>[.<exp36>]`.
//!
//! The long forms written before it are still accepted, never written:
//! - a file: `BASE/f/<sha256>/<name>?sig=S[&exp=E]`, the signature covering
//!   the hash, the file name (as decoded, UTF-8) and the expiry;
//! - a page: `BASE/m/<account>?sig=S[&exp=E]`, covering the account name
//!   and the expiry.
//!
//! A file link's first segment tells the forms apart (64 lowercase hex
//! digits: long), a page link's `sig` (43 characters, or an `exp`: long).
//! Each signed string starts with its kind and form, so a page signature
//! can never be replayed as a file signature, nor one form as the other.
//! Expiries are Unix times in seconds; a link without one never expires.

mod error;
mod secret;
mod short;
mod token;

pub use error::LinkError;
pub use secret::Secret;
pub use short::{is_long_form, loggable_path, parse_short_file, ShortFile, LINK_MAX};
pub use token::TokenRefused;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes kept as they are in a path segment; everything else is
/// percent-encoded, so a name can never add a segment or a query.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `exp` of a link made now that stays good for `age` (`[links]
/// expires`, `--expires`); `None`: it never expires.
pub fn expires_after(age: Option<std::time::Duration>) -> Option<u64> {
    age.map(|a| crate::dates::now_unix().max(0) as u64 + a.as_secs())
}

/// Why a link was refused. The server answers every one of them the same way
/// (403 or 404, no detail); the reason is for its log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The signature is missing, malformed or does not match.
    BadSignature,
    /// The link's expiry has passed.
    Expired,
    /// The hash is not 64 lowercase hex digits, or a short link's key is
    /// malformed.
    BadHash,
    /// The name is empty, not UTF-8 or holds a path separator or control
    /// character.
    BadName,
}

/// What a file link names, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLink {
    pub sha256: String,
    pub name: String,
}

impl Secret {
    /// A link to one detached file under `base` (e.g.
    /// `https://files.example.com`), in the short form. A name that would
    /// take the link past [`LINK_MAX`] is cut (see `short::fit_name`): the
    /// link is signed for, and downloads as, the name it carries.
    pub fn file_link(&self, base: &str, sha256: &str, name: &str, exp: Option<u64>) -> String {
        self.file_link_named(base, sha256, name, exp).0
    }

    /// [`Secret::file_link`], and the name the link carries (`name`, or
    /// `name` cut to fit).
    pub fn file_link_named(
        &self,
        base: &str,
        sha256: &str,
        name: &str,
        exp: Option<u64>,
    ) -> (String, String) {
        let base = base.trim_end_matches('/');
        let sha256 = sha256.to_ascii_lowercase();
        // The key's length does not depend on the name: sign an empty one
        // just to measure it.
        let key_len = self.short_file_key(&sha256, "", exp).len();
        let name = short::fit_name(name, base.len() + "/f/".len() + key_len + 1).into_owned();
        let key = self.short_file_key(&sha256, &name, exp);
        let link = format!("{base}/f/{key}/{}", utf8_percent_encode(&name, SEGMENT));
        (link, name)
    }

    /// A link to one mailbox's self-service page, in the short form.
    pub fn page_link(&self, base: &str, account: &str, exp: Option<u64>) -> String {
        let sig = self.short_page_sig(account, exp);
        let acct = utf8_percent_encode(account, SEGMENT);
        format!("{}/m/{acct}?sig={sig}", base.trim_end_matches('/'))
    }

    /// A file link in the long form that links had before issue 19. Nothing
    /// writes it any more; the server still accepts it (tests use this).
    pub fn legacy_file_link(
        &self,
        base: &str,
        sha256: &str,
        name: &str,
        exp: Option<u64>,
    ) -> String {
        let sig = self.sign(&file_message(sha256, name, exp));
        let name = utf8_percent_encode(name, SEGMENT);
        let mut url = format!("{}/f/{sha256}/{name}?sig={sig}", base.trim_end_matches('/'));
        if let Some(e) = exp {
            url.push_str(&format!("&exp={e}"));
        }
        url
    }

    /// A page link in the long form (see [`Secret::legacy_file_link`]).
    pub fn legacy_page_link(&self, base: &str, account: &str, exp: Option<u64>) -> String {
        let sig = self.sign(&page_message(account, exp));
        let acct = utf8_percent_encode(account, SEGMENT);
        let mut url = format!("{}/m/{acct}?sig={sig}", base.trim_end_matches('/'));
        if let Some(e) = exp {
            url.push_str(&format!("&exp={e}"));
        }
        url
    }

    /// Checks a long-form file link's parts as they arrive: the hash and
    /// the name as path segments (still percent-encoded), `sig` and `exp`
    /// from the query. (A short link is checked with [`parse_short_file`],
    /// a store lookup of its prefix, then [`Secret::check_short_file`].)
    pub fn check_file(
        &self,
        sha256: &str,
        raw_name: &str,
        sig: Option<&str>,
        exp: Option<&str>,
        now: u64,
    ) -> Result<FileLink, Refused> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Refused::BadHash);
        }
        let name = decode_name(raw_name)?;
        let exp = check_expiry(exp, now)?;
        self.check_sig(&file_message(sha256, &name, exp), sig)?;
        Ok(FileLink {
            sha256: sha256.to_string(),
            name,
        })
    }

    /// Checks a page link for `account` (its path segment, still encoded),
    /// in either form: `sig` (and `exp`) as they came in the query. Returns
    /// the account name it is good for.
    pub fn check_page(
        &self,
        raw_account: &str,
        sig: Option<&str>,
        exp: Option<&str>,
        now: u64,
    ) -> Result<String, Refused> {
        let account = decode_name(raw_account)?;
        match sig {
            // A short `sig` carries its expiry; an `exp` beside it is a
            // long link's (or tampering), checked as such.
            Some(short) if exp.is_none() && short.len() != LONG_SIG_LEN => {
                self.check_short_page(&account, short, now)?
            }
            _ => {
                let exp = check_expiry(exp, now)?;
                self.check_sig(&page_message(&account, exp), sig)?;
            }
        }
        Ok(account)
    }

    /// Checks a whole file link's path and query (`/f/…`, as a request
    /// names it, in either form) when the objects its prefix can name are
    /// already known: what the server does, in one call, for tests and
    /// tools. `candidates` matters only for a short link.
    pub fn check_file_target(
        &self,
        target: &str,
        candidates: &[[u8; 32]],
        now: u64,
    ) -> Result<FileLink, Refused> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (first, raw_name) = path
            .strip_prefix("/f/")
            .and_then(|rest| rest.split_once('/'))
            .ok_or(Refused::BadHash)?;
        if !is_long_form(first) {
            let link = parse_short_file(first, raw_name, now)?;
            return self.check_short_file(&link, candidates);
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        self.check_file(first, raw_name, get("sig"), get("exp"), now)
    }

    fn check_sig(&self, message: &[u8], sig: Option<&str>) -> Result<(), Refused> {
        let tag = sig
            .and_then(|s| base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok())
            .ok_or(Refused::BadSignature)?;
        self.verify(message, &tag)
            .then_some(())
            .ok_or(Refused::BadSignature)
    }
}

/// The signed string of a file link. Fields are separated by a newline, which
/// no hash, name or number can hold (names with one are refused).
fn file_message(sha256: &str, name: &str, exp: Option<u64>) -> Vec<u8> {
    let exp = exp.map(|e| e.to_string()).unwrap_or_default();
    format!("slimbox-file\n{sha256}\n{name}\n{exp}").into_bytes()
}

fn page_message(account: &str, exp: Option<u64>) -> Vec<u8> {
    let exp = exp.map(|e| e.to_string()).unwrap_or_default();
    format!("slimbox-page\n{account}\n{exp}").into_bytes()
}

/// A path segment decoded; refused when it could name anything but one file.
fn decode_name(raw: &str) -> Result<String, Refused> {
    let name = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Refused::BadName)?;
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(Refused::BadName);
    }
    Ok(name.into_owned())
}

/// A long signature's length: 32 bytes in unpadded base64url.
const LONG_SIG_LEN: usize = 43;

/// An expiry compared with `now`; a link without one never expires.
fn check_expiry_at(exp: Option<u64>, now: u64) -> Result<Option<u64>, Refused> {
    match exp {
        Some(e) if e <= now => Err(Refused::Expired),
        other => Ok(other),
    }
}

/// `exp` parsed and compared with `now`; a link without one never expires.
fn check_expiry(exp: Option<&str>, now: u64) -> Result<Option<u64>, Refused> {
    let Some(raw) = exp else { return Ok(None) };
    // Only plain digits: "+5" or " 5" would parse but sign differently.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::BadSignature);
    }
    let e: u64 = raw.parse().map_err(|_| Refused::BadSignature)?;
    check_expiry_at(Some(e), now)
}

#[cfg(test)]
mod tests;
