//! The stub part's header block: how its entry looks in a client's
//! attachment list, in the style `[links] entries` chooses (see
//! [`super::Entries`]), with the link and the recipe every style carries;
//! and [`StubText`], the facts a stub shows.

use base64_simd::STANDARD as B64;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::encoding::{text_body, Eol};
use super::recipe::Recipe;
use super::safe::{safe_name, safe_type};
use super::Entries;

/// Header of every stub carrying its link, whatever the entry style: how
/// `read_converted` finds it (older stubs carry only
/// `X-Mozilla-External-Attachment-URL`).
pub const LINK_HEADER: &str = "X-Slimbox-Link";

/// Everything the stub shows.
pub(crate) struct StubText<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    pub sha256_hex: &'a str,
    pub link: &'a str,
    pub message_id: Option<&'a str>,
    /// Date for Thunderbird's X-Mozilla-Altered, `Mon Nov 23 12:00:00 2026`.
    pub altered_date: &'a str,
    /// How the stub's attachment entry looks, already fitted to the link
    /// (`render::entries_for`).
    pub entries: Entries,
    /// Shown inline (the message has no note): the stub is its text.
    pub inline: bool,
}

/// The stub part: `kept_headers` (raw fields carried over, for a top-level
/// part), our headers, a blank line, then `body` (7bit when it can be, else
/// quoted-printable).
///
/// [`Entries::Note`]: type `mime`, named `<name>.detached.<ext>`, so every
/// client opens it as the text it is. [`Entries::Original`]: the original's
/// type and name with Thunderbird's `X-Mozilla-External-Attachment-URL` and
/// `X-Mozilla-Altered` (its own detached format), so Thunderbird opens the
/// file from its `file://` link. Either way the part is `inline` when
/// `t.inline`, and carries [`LINK_HEADER`] and the recipe.
pub(super) fn stub_part(
    t: &StubText,
    mime: &str,
    ext: &str,
    body: &str,
    recipe: &Recipe,
    kept_headers: &[u8],
    eol: Eol,
) -> Vec<u8> {
    let e = std::str::from_utf8(eol.bytes()).unwrap_or("\r\n");
    let name = safe_name(t.filename);
    let (ctype, entry_name) = match t.entries {
        Entries::Note => (
            format!("{mime}; charset=utf-8"),
            format!("{name}.detached.{ext}"),
        ),
        Entries::Original => {
            let ctype = safe_type(t.content_type);
            // The body is the stub's text: say its charset should a client
            // show a text type as text.
            let charset = if ctype.starts_with("text/") {
                "; charset=utf-8"
            } else {
                ""
            };
            (format!("{ctype}{charset}"), name.clone())
        }
    };
    let (cte, encoded) = text_body(body, eol);
    let disposition = if t.inline { "inline" } else { "attachment" };
    let mut h = format!(
        "Content-Type: {ctype};{e} name={}{e}\
         Content-Disposition: {disposition};{e} {}{e}\
         Content-Transfer-Encoding: {cte}{e}\
         Content-Description: {}{e}",
        param_2047(&entry_name),
        param_2231("filename", &entry_name),
        word_2047(&format!("{name} (detached by slimbox)")),
    );
    if t.entries == Entries::Original {
        h.push_str(&format!(
            "X-Mozilla-External-Attachment-URL: {link}{e}\
             X-Mozilla-Altered: AttachmentDetached; date=\"{date}\"{e}",
            link = t.link,
            date = t.altered_date,
        ));
    }
    h.push_str(&format!("{LINK_HEADER}: {}{e}", t.link));
    let mut out = Vec::with_capacity(kept_headers.len() + h.len() + encoded.len() + 1024);
    out.extend_from_slice(kept_headers);
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&recipe.to_header(eol));
    out.extend_from_slice(eol.bytes());
    out.extend_from_slice(&encoded);
    out
}

/// A quoted parameter value, RFC 2047-encoded when it is not plain ASCII
/// (what most clients read in `name=`).
fn param_2047(v: &str) -> String {
    if is_plain(v) {
        format!("\"{v}\"")
    } else {
        format!("\"{}\"", word_2047(v))
    }
}

/// `name="v"` or, for anything not plain ASCII, RFC 2231 `name*=utf-8''...`.
fn param_2231(name: &str, v: &str) -> String {
    if is_plain(v) {
        format!("{name}=\"{v}\"")
    } else {
        const ATTR: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        format!("{name}*=utf-8''{}", utf8_percent_encode(v, ATTR))
    }
}

fn is_plain(v: &str) -> bool {
    v.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

/// RFC 2047 encoded words (B encoding), split so no word passes 75 characters.
fn word_2047(v: &str) -> String {
    if is_plain(v) {
        return v.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in v.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?utf-8?B?{}?=", B64.encode_to_string(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", B64.encode_to_string(&chunk)));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_names_are_encoded() {
        assert_eq!(
            param_2231("filename", "é.pdf"),
            "filename*=utf-8''%C3%A9.pdf"
        );
        assert!(param_2047("é.pdf").starts_with("\"=?utf-8?B?"));
    }
}
