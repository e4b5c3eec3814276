//! Which parts detach takes: the attachment rule, the type filters, and
//! the pictures an HTML part shows (`cid:`), which stay.

use std::borrow::Cow;
use std::collections::HashSet;

use super::encoding::{decode_base64, decode_qp};
use super::structure::{Cte, Part};
use super::Policy;

/// Is this part one the policy wants detached (before decoding)?
pub(super) fn is_candidate(p: &Part, policy: &Policy, cids: &HashSet<String>) -> bool {
    let info = &p.info;
    if !p.children.is_empty() || info.is_multipart() {
        return false;
    }
    if ((p.end - p.body_start) as u64) < policy.min_size.max(1) {
        // Decoding never makes a body larger, so this part is too small.
        return false;
    }
    if matches!(info.cte(), Cte::Other(_)) {
        return false;
    }
    let is_message = matches!(
        info.content_type.as_str(),
        "message/rfc822" | "message/global"
    );
    let wanted = if p.path.is_empty() {
        // A whole single-part message: only when it is an attachment itself.
        !is_message && is_attachment(p)
    } else {
        is_message || is_attachment(p)
    };
    if !wanted {
        return false;
    }
    if let Some(cid) = &info.content_id {
        if cids.contains(cid) {
            return false;
        }
    }
    type_allowed(
        &info.content_type,
        &policy.include_types,
        &policy.exclude_types,
    )
}

pub(super) fn is_attachment(p: &Part) -> bool {
    let info = &p.info;
    counts_as_attachment(
        &info.content_type,
        info.disposition.as_deref(),
        info.filename.is_some(),
        p.path.is_empty(),
    )
}

/// Does a leaf part count as an attachment, from its headers alone? The one
/// rule for the engine and for the server-side pre-selection.
///
/// `content_type` and `disposition` are lower-case; `named`: it has a file
/// name, from Content-Disposition `filename` or Content-Type `name`;
/// `whole_message`: the part is the message itself (a single-part message).
/// A part marked `attachment` counts; so does a named part that is not text.
/// A named text part counts only without a Content-Disposition (how older
/// mailers send a text file: `text/plain; name="log.txt"`) and inside a
/// multipart: the message's own text (no name, `inline`, or the whole
/// message) never does.
pub fn counts_as_attachment(
    content_type: &str,
    disposition: Option<&str>,
    named: bool,
    whole_message: bool,
) -> bool {
    let main = content_type.split('/').next().unwrap_or("");
    if disposition == Some("attachment") {
        return true;
    }
    if !named || main == "multipart" || main == "message" {
        return false;
    }
    main != "text" || (disposition.is_none() && !whole_message)
}

/// Does content type `t` (lower-case) match `pattern` (`*`, `image/*`,
/// `application/pdf`)?
pub fn type_matches(t: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    pattern == "*"
        || pattern == t
        || pattern
            .strip_suffix("/*")
            .is_some_and(|main| t.split('/').next() == Some(main))
}

/// Do the include and exclude filters let content type `t` through?
pub fn type_allowed(t: &str, include: &[String], exclude: &[String]) -> bool {
    (include.is_empty() || include.iter().any(|p| type_matches(t, p)))
        && !exclude.iter().any(|p| type_matches(t, p))
}

/// Checks a content-type pattern before it is used: `*`, `type/*` or
/// `type/subtype`, the forms [`type_matches`] understands. Anything else
/// would silently match nothing; the error says what to write instead.
pub fn check_type_pattern(t: &str) -> Result<(), String> {
    let p = t.trim();
    if p == "*" {
        return Ok(());
    }
    let bad = || {
        format!(
            "{t:?} is not a content-type pattern; write \"type/subtype\" \
             (\"application/pdf\"), \"type/*\" (\"image/*\") or \"*\""
        )
    };
    let (main, sub) = p.split_once('/').ok_or_else(bad)?;
    // RFC 6838 restricted-name characters.
    let token_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    if token_ok(main) && (sub == "*" || token_ok(sub)) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Content-IDs that an HTML part refers to with `cid:`: those parts are the
/// message's own pictures and stay.
pub(super) fn referenced_cids(raw: &[u8], parts: &[&Part]) -> HashSet<String> {
    let mut out = HashSet::new();
    for p in parts {
        if p.info.content_type != "text/html" || !p.children.is_empty() {
            continue;
        }
        let body = &raw[p.body_start..p.end];
        let html: Cow<[u8]> = match p.info.cte() {
            Cte::Base64 => match decode_base64(body) {
                Ok(d) => Cow::Owned(d.content),
                Err(_) => continue,
            },
            Cte::QuotedPrintable => Cow::Owned(decode_qp(body)),
            _ => Cow::Borrowed(body),
        };
        let lower = html.to_ascii_lowercase();
        for i in memchr::memmem::find_iter(&lower, b"cid:") {
            let rest = &html[i + 4..];
            let end = rest
                .iter()
                .position(|b| b"\"'<>() \t\r\n".contains(b))
                .unwrap_or(rest.len());
            let id = String::from_utf8_lossy(&rest[..end]).to_string();
            let decoded = percent_encoding::percent_decode_str(&id)
                .decode_utf8_lossy()
                .to_string();
            out.insert(id);
            out.insert(decoded);
        }
    }
    out
}
