//! What slimbox writes into a message: the stub part's text that replaces a
//! detached attachment (its header block is `entries`', its recipe
//! `recipe`'s), the links it carries, and the marker header that says a
//! message was processed.
//!
//! Everything that comes from the message (file names, types) is made safe
//! (`safe`) before it reaches a header or the stub text: no line breaks, no
//! control characters, RFC 2047/2231 encoding for anything not plain ASCII, and
//! no generated line that starts with `--` (so no stub can ever look like a
//! boundary delimiter of the message around it).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::encoding::Eol;
use super::entries::{self, StubText};
use super::recipe::Recipe;
use super::safe::{safe_name, safe_type};
use super::structure::raw_fields;

/// Header that marks a processed message; its presence means "never again".
pub const MARKER_HEADER: &str = "X-Slimbox";

/// The marker header line, prepended to a processed message.
pub(crate) fn marker(
    parts: usize,
    bytes: u64,
    original_size: usize,
    date: &str,
    eol: Eol,
) -> Vec<u8> {
    let mut m = format!(
        "{MARKER_HEADER}: v=1; parts={parts}; bytes={bytes}; original-size={original_size}; date=\"{date}\""
    )
    .into_bytes();
    m.extend_from_slice(eol.bytes());
    m
}

/// Length of the mbox separator line (`From alice@example.com Mon Jan  1
/// 00:00:00 2024`, line break included) that `raw` starts with, or 0. Such a
/// line is not a header field: the marker goes after it, so the message stays
/// a valid mbox entry. `From : x` (a header with space before its colon, old
/// syntax) is not one.
pub(crate) fn mbox_from_len(raw: &[u8]) -> usize {
    let is_from_line = raw.starts_with(b"From ")
        && raw
            .get(5)
            .is_some_and(|b| !b.is_ascii_whitespace() && *b != b':');
    if !is_from_line {
        return 0;
    }
    memchr::memchr(b'\n', raw).map_or(0, |nl| nl + 1)
}

/// Where the marker header is in `raw` (after an mbox `From ` line, if any),
/// if `raw` carries one there.
pub(crate) fn marker_span(raw: &[u8]) -> Option<std::ops::Range<usize>> {
    let at = mbox_from_len(raw);
    marker_len(&raw[at..]).map(|len| at..at + len)
}

/// Length of the marker header at the start of `raw`, if `raw` starts with one.
pub(crate) fn marker_len(raw: &[u8]) -> Option<usize> {
    let name = MARKER_HEADER.as_bytes();
    if raw.len() <= name.len() || !raw[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    if raw[name.len()] != b':' {
        return None;
    }
    // The field runs to the first line break not followed by white space.
    let mut i = 0;
    loop {
        let nl = memchr::memchr(b'\n', &raw[i..])?;
        i += nl + 1;
        if i >= raw.len() || (raw[i] != b' ' && raw[i] != b'\t') {
            return Some(i);
        }
    }
}

/// Does this header block already carry the marker anywhere?
pub(crate) fn has_marker(header_block: &[u8]) -> bool {
    raw_fields(header_block)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case(MARKER_HEADER.as_bytes()))
}

const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// Fills a link template: `{sha256}`, `{sha256_2}` (first two hex digits),
/// `{name}` (percent-encoded file name) and `{size}`.
pub fn render_link(template: &str, sha256_hex: &str, name: &str, size: u64) -> String {
    let link = template
        .replace("{sha256}", sha256_hex)
        .replace("{sha256_2}", &sha256_hex[..2.min(sha256_hex.len())])
        .replace("{name}", &utf8_percent_encode(name, PATH_SAFE).to_string())
        .replace("{size}", &size.to_string());
    // A link goes into a header: nothing that could break a line.
    link.chars().filter(|c| !c.is_control()).collect()
}

/// The placeholders [`render_link`] fills in.
pub const LINK_PLACEHOLDERS: [&str; 4] = ["sha256", "sha256_2", "name", "size"];

/// Checks a link template before it is used: it must tell attachments apart
/// (so `{sha256}` is required), and a misspelt placeholder would end up
/// verbatim in every stub. The error says what to write instead.
pub fn check_link_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!(
                "{t:?} has a `{{` without a closing `}}`; placeholders are {{sha256}}, \
                 {{sha256_2}}, {{name}} and {{size}}"
            ));
        };
        let name = &after[..close];
        if !LINK_PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "{t:?} has the unknown placeholder {{{name}}}; the placeholders are \
                 {{sha256}}, {{sha256_2}}, {{name}} and {{size}}"
            ));
        }
        rest = &after[close + 1..];
    }
    if !t.contains("{sha256}") {
        return Err(format!(
            "{t:?} does not contain {{sha256}}, so every stub would carry the same link; \
             add it, e.g. \"https://files.example.com/sha256/{{sha256_2}}/{{sha256}}\""
        ));
    }
    Ok(())
}

/// Renders a stub part: `kept_headers` (raw fields carried over, for a
/// top-level part) then our headers, a blank line and the text.
pub(crate) fn render_stub(t: &StubText, recipe: &Recipe, kept_headers: &[u8], eol: Eol) -> Vec<u8> {
    let name = safe_name(t.filename);
    let ctype = safe_type(t.content_type);
    let size_h = bytesize::ByteSize(t.size).display().iec().to_string();
    // The link whole on a line of its own: readers that wrap long lines
    // or copy a line keep it intact.
    let text = format!(
        "{name} was moved out of this message by slimbox to save mailbox\n\
         space. Nothing was lost: the file is kept in the slimbox store and\n\
         opens from this link:\n\
         \n\
         {link}\n\
         \n\
         File:     {name}\n\
         Type:     {ctype}\n\
         Size:     {size_h} ({size} bytes)\n\
         SHA-256:  {sha}\n\
         \n\
         Get the file back:\n\
         \x20 slimbox restore {sha} --to FOLDER\n\
         Put the original message back into the mailbox:\n\
         {restore_msg}\n",
        size = t.size,
        sha = t.sha256_hex,
        link = t.link,
        restore_msg = restore_command(t.message_id),
    );
    entries::stub_part(t, "text/plain", "txt", &text, recipe, kept_headers, eol)
}

/// The stub as a small HTML page (`stub_format = "html"`): the same facts,
/// the link as a button. Everything from the message is HTML-escaped; the
/// recipe and Thunderbird's headers are the text stub's.
pub(crate) fn render_html_stub(
    t: &StubText,
    recipe: &Recipe,
    kept_headers: &[u8],
    eol: Eol,
) -> Vec<u8> {
    let name = html_escape(&safe_name(t.filename));
    let ctype = html_escape(&safe_type(t.content_type));
    let size_h = bytesize::ByteSize(t.size).display().iec().to_string();
    let link = html_escape(t.link);
    // Short lines, none starting with "--": the page sits inside a MIME
    // body whose boundaries must stay unambiguous.
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n\
         <title>{name} (detached by slimbox)</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:40em\">\n\
         <p><b>{name}</b> was moved out of this message by slimbox to save\n\
         mailbox space. Nothing was lost: the file is kept in the slimbox store\n\
         and opens from this link:</p>\n\
         <p><a href=\"{link}\" style=\"display:inline-block;padding:0.6em 1.2em;\n\
         background:#1a73e8;color:#fff;border-radius:4px;text-decoration:none\">\n\
         Open {name}</a></p>\n\
         <p style=\"word-break:break-all\">{link}</p>\n\
         <p>{ctype}, {size_h} ({size} bytes)</p>\n\
         <p style=\"font-size:small;color:#555\">SHA-256: {sha}<br>\n\
         Get the file back: <code>slimbox restore {sha} --to FOLDER</code><br>\n\
         Put the original message back: <code>{restore}</code></p>\n\
         </body></html>\n",
        size = t.size,
        sha = t.sha256_hex,
        restore = html_escape(restore_command(t.message_id).trim()),
    );
    entries::stub_part(t, "text/html", "html", &html, recipe, kept_headers, eol)
}

/// How the stub and the note tell their reader to put the original
/// message back (`message_id`: the message's, if it has one).
pub(super) fn restore_command(message_id: Option<&str>) -> String {
    match message_id.map(safe_name_for_text) {
        Some(id) => format!("  slimbox reattach --message-id '{id}'"),
        None => "  slimbox eml reattach MESSAGE.eml --store STORE".to_string(),
    }
}

fn safe_name_for_text(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_control() && *c != '\'')
        .take(200)
        .collect()
}

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in attributes.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The non-MIME fields of a top-level header block (From, To, Subject, ...),
/// raw, to carry over into a stub that replaces a whole single-part message.
pub(crate) fn non_mime_fields(header_block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_block.len());
    for f in raw_fields(header_block) {
        if f.name.len() < 8 || !f.name[..8].eq_ignore_ascii_case(b"content-") {
            out.extend_from_slice(&header_block[f.range]);
        }
    }
    out
}

/// `Mon Nov 23 12:00:00 2026`, the form Thunderbird writes in X-Mozilla-Altered.
pub(crate) fn thunderbird_date(unix: i64) -> String {
    utc_strftime(unix, "%a %b %d %H:%M:%S %Y")
}

/// `Mon, 23 Nov 2026 12:00:00 +0000`, the RFC 5322 date of the marker header.
pub(crate) fn marker_date(unix: i64) -> String {
    utc_strftime(unix, "%a, %-d %b %Y %H:%M:%S %z")
}

/// `unix` seconds in UTC through a strftime `format`. The engine is pure, so it
/// is handed the time; jiff does the calendar. A time jiff cannot represent is
/// clamped to its range (years -9999 to 9999) rather than failing.
fn utc_strftime(unix: i64, format: &str) -> String {
    let ts = jiff::Timestamp::from_second(unix).unwrap_or(if unix < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    let utc = ts.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    // The formats above use only fields every date has; an error cannot
    // happen, and an empty date would still be a valid header value.
    jiff::fmt::strtime::format(format, &utc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue8_link_templates_are_checked() {
        for good in [
            "file:///store/sha256/{sha256_2}/{sha256}",
            "https://x/{sha256}/{name}?size={size}",
            "{sha256}",
        ] {
            assert_eq!(check_link_template(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("https://x/{name}", "does not contain {sha256}"),
            ("https://x/", "does not contain {sha256}"),
            ("https://x/{sha}/{sha256}", "unknown placeholder {sha}"),
            ("https://x/{sha256", "without a closing"),
        ] {
            let msg = check_link_template(bad).expect_err(bad);
            assert!(msg.contains(says) && msg.contains(bad), "{bad}: {msg}");
        }
    }

    /// Every placeholder the check accepts is one render_link fills in.
    #[test]
    fn issue8_checked_placeholders_are_all_rendered() {
        for p in LINK_PLACEHOLDERS {
            let template = format!("x/{{{p}}}/{{sha256}}");
            assert_eq!(check_link_template(&template), Ok(()));
            let link = render_link(&template, "abcd", "n", 7);
            assert!(!link.contains('{'), "{p} left in {link}");
        }
    }

    #[test]
    fn marker_is_found_and_measured() {
        let m = marker(2, 10, 100, "x", Eol::Lf);
        let mut msg = m.clone();
        msg.extend_from_slice(b"From: a\n\nbody");
        assert_eq!(marker_len(&msg), Some(m.len()));
        assert_eq!(marker_len(b"From: a\n\n"), None);
    }

    #[test]
    fn issue8_marker_is_found_after_an_mbox_from_line() {
        let from = b"From alice@example.com Mon Jan  1 00:00:00 2024\r\n";
        let m = marker(1, 10, 100, "x", Eol::CrLf);
        let mut msg = from.to_vec();
        msg.extend_from_slice(&m);
        msg.extend_from_slice(b"From: a\r\n\r\nbody");
        assert_eq!(mbox_from_len(&msg), from.len());
        assert_eq!(marker_span(&msg), Some(from.len()..from.len() + m.len()));
        // Header fields are not mbox lines, not even with old-style space
        // before the colon.
        for not_mbox in [
            &b"From: a\n\n"[..],
            b"From : a\n\n",
            b"From  x\n",
            b"From x",
        ] {
            assert_eq!(mbox_from_len(not_mbox), 0);
        }
        assert_eq!(marker_span(b"From x\nFrom: a\n\n"), None);
    }

    #[test]
    fn thunderbird_date_format() {
        assert_eq!(thunderbird_date(0), "Thu Jan 01 00:00:00 1970");
        assert_eq!(thunderbird_date(1_795_435_200), "Mon Nov 23 12:00:00 2026");
    }

    #[test]
    fn issue8_marker_date_is_rfc5322_as_before() {
        // The same text mail-parser's to_rfc822 wrote before jiff took over.
        assert_eq!(marker_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            marker_date(1_795_435_200),
            "Mon, 23 Nov 2026 12:00:00 +0000"
        );
        assert_eq!(marker_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
        assert!(!thunderbird_date(i64::MAX).is_empty());
        assert!(!marker_date(i64::MIN).is_empty());
    }
}
