//! The pure parts of answering a file link: which bytes a `Range` asks for,
//! whether `If-None-Match` matches, and the `Content-Type` and
//! `Content-Disposition` a file name gets.

use std::ops::Range;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a `Range` header asks of an object of `total` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The whole object (no header, one we do not honour, or several ranges).
    Whole,
    /// One satisfiable range: 206.
    Part(Range<u64>),
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

/// Parses a `Range` header (RFC 9110 §14.1.2). Only one range is served;
/// several, or syntax we do not read, get the whole object (allowed: a
/// server may ignore Range).
pub(super) fn wanted(header: Option<&str>, total: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.trim().is_empty() {
        // `-N`: the last N bytes.
        return match number(last) {
            Some(n) if n > 0 && total > 0 => Wanted::Part(total.saturating_sub(n)..total),
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        };
    }
    let Some(start) = number(first) else {
        return Wanted::Whole;
    };
    let end = if last.trim().is_empty() {
        total
    } else {
        match number(last) {
            Some(l) if l >= start => l.saturating_add(1).min(total),
            _ => return Wanted::Whole,
        }
    };
    if start >= total {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(start..end)
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2).
pub(super) fn none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(h) = header else { return false };
    h.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The content type by the file name's extension.
pub(super) fn content_type(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// Types a browser shows without running anything in them: opened in the
/// tab. Everything else (HTML, SVG, scripts, office files, unknown) is a
/// download, so a file someone mailed can never run as a page of this site.
fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "application/pdf"
            | "text/plain"
    ) || content_type.starts_with("audio/")
        || content_type.starts_with("video/")
}

/// RFC 5987 attr-char: what `filename*` may hold unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` per RFC 6266: an ASCII `filename` for old clients
/// (non-ASCII, quotes, backslashes and controls replaced by `_`), then the
/// exact name as `filename*` in UTF-8.
pub(super) fn disposition(name: &str, content_type: &str) -> String {
    let kind = if shown_inline(content_type) {
        "inline"
    } else {
        "attachment"
    };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part(0..10));
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part(90..100));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90..100));
        assert_eq!(wanted(Some("bytes=-1000"), 100), Wanted::Part(0..100));
        assert_eq!(wanted(Some("bytes=50-1000"), 100), Wanted::Part(50..100));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=9-3"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-3"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=+1-3"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=x"), 100), Wanted::Whole);
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let e = "\"ab\"";
        assert!(none_match(Some("\"ab\""), e));
        assert!(none_match(Some("W/\"ab\""), e));
        assert!(none_match(Some("\"x\", \"ab\""), e));
        assert!(none_match(Some("*"), e));
        assert!(!none_match(Some("\"abc\""), e));
        assert!(!none_match(None, e));
    }

    #[test]
    fn disposition_has_an_ascii_fallback_and_the_exact_utf8_name() {
        assert_eq!(
            disposition("Größe \"neu\".docx", "application/octet-stream"),
            "attachment; filename=\"Gr__e _neu_.docx\"; \
             filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%22neu%22.docx"
        );
        assert!(disposition("a.pdf", "application/pdf").starts_with("inline;"));
        assert!(disposition("a.html", "text/html").starts_with("attachment;"));
        assert!(disposition("a.svg", "image/svg+xml").starts_with("attachment;"));
    }

    #[test]
    fn content_type_follows_the_extension() {
        assert_eq!(content_type("report.PDF"), "application/pdf");
        assert_eq!(content_type("photo.jpg"), "image/jpeg");
        assert_eq!(content_type("no-extension"), "application/octet-stream");
    }
}
