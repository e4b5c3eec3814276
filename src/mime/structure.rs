//! The part tree of a raw message, found on its bytes: where each part's headers
//! and body start and end, and what its MIME headers say.
//!
//! Everything here works on byte offsets into the raw message, so detach and
//! reattach can splice without ever re-serialising. When the structure cannot be
//! found with certainty (no closing delimiter, a line that starts like a
//! delimiter but is not one, a boundary reused by a nested multipart) the scan
//! fails with a reason: the caller then leaves the whole message as it was.

use mail_parser::{MessageParser, MimeHeaders};

/// Deeper nesting than this is not real mail; refusing it bounds recursion.
const MAX_DEPTH: usize = 32;

/// How a part's body is transfer-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cte {
    /// 7bit, 8bit, binary or absent: the body bytes are the content.
    Identity,
    Base64,
    QuotedPrintable,
    /// An encoding we do not decode (x-uuencode and the like): never detached.
    Other(String),
}

/// What a part's MIME headers say, decoded (RFC 2047/2231 names included).
#[derive(Debug, Clone, Default)]
pub(crate) struct PartInfo {
    /// Lower-case `type/subtype`.
    pub content_type: String,
    pub boundary: Option<String>,
    pub disposition: Option<String>,
    pub filename: Option<String>,
    pub content_id: Option<String>,
    pub cte: Option<Cte>,
    pub message_id: Option<String>,
}

impl PartInfo {
    pub fn cte(&self) -> Cte {
        self.cte.clone().unwrap_or(Cte::Identity)
    }
    pub fn is_multipart(&self) -> bool {
        self.content_type.starts_with("multipart/")
    }
}

/// One part: `start..body_start` is its header block (with the blank line that
/// ends it), `body_start..end` its body. For a part inside a multipart, `end`
/// stops before the line break that belongs to the next delimiter.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub start: usize,
    pub body_start: usize,
    pub end: usize,
    pub info: PartInfo,
    /// Dotted part number as IMAP counts it ("1", "2.1"); "" for the message.
    pub path: String,
    pub children: Vec<Part>,
}

impl Part {
    /// Visits every part, depth first, the message itself included.
    pub fn walk<'p>(&'p self, out: &mut Vec<&'p Part>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }
}

/// Finds the part tree of `raw`. `Err` carries the reason the structure is not
/// certain.
pub(crate) fn scan(raw: &[u8]) -> Result<Part, String> {
    scan_part(
        raw,
        0,
        raw.len(),
        String::new(),
        "text/plain",
        &mut Vec::new(),
        0,
    )
}

fn scan_part(
    raw: &[u8],
    start: usize,
    end: usize,
    path: String,
    default_type: &str,
    ancestors: &mut Vec<String>,
    depth: usize,
) -> Result<Part, String> {
    if depth > MAX_DEPTH {
        return Err(format!("parts nested more than {MAX_DEPTH} deep"));
    }
    let body_start = header_end(raw, start, end);
    let info = parse_info(&raw[start..body_start], default_type);
    let mut part = Part {
        start,
        body_start,
        end,
        info,
        path,
        children: Vec::new(),
    };
    if !part.info.is_multipart() {
        return Ok(part);
    }
    let Some(boundary) = part.info.boundary.clone() else {
        return Err(format!(
            "{} at part {} has no boundary parameter",
            part.info.content_type,
            display_path(&part.path)
        ));
    };
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(format!(
            "multipart boundary of {} bytes at part {}",
            boundary.len(),
            display_path(&part.path)
        ));
    }
    if ancestors.iter().any(|a| a == &boundary) {
        return Err(format!(
            "part {} reuses its parent's boundary {boundary:?}",
            display_path(&part.path)
        ));
    }
    let child_default = if part.info.content_type == "multipart/digest" {
        "message/rfc822"
    } else {
        "text/plain"
    };
    let ranges = split_multipart(raw, body_start, end, &boundary).map_err(|e| {
        format!(
            "{e} (boundary {boundary:?} at part {})",
            display_path(&part.path)
        )
    })?;
    ancestors.push(boundary);
    for (i, (s, e)) in ranges.into_iter().enumerate() {
        let child_path = if part.path.is_empty() {
            format!("{}", i + 1)
        } else {
            format!("{}.{}", part.path, i + 1)
        };
        let child = scan_part(raw, s, e, child_path, child_default, ancestors, depth + 1);
        match child {
            Ok(c) => part.children.push(c),
            Err(e) => {
                ancestors.pop();
                return Err(e);
            }
        }
    }
    ancestors.pop();
    Ok(part)
}

pub(crate) fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "(message)"
    } else {
        path
    }
}

/// End of the header block starting at `start`: the offset just past the empty
/// line that ends it, or `end` when there is none (a part of headers only).
pub(crate) fn header_end(raw: &[u8], start: usize, end: usize) -> usize {
    let block = &raw[start..end];
    // A part whose first line is empty has no headers at all.
    if block.starts_with(b"\r\n") {
        return start + 2;
    }
    if block.starts_with(b"\n") {
        return start + 1;
    }
    for nl in memchr::memchr_iter(b'\n', block) {
        let rest = &block[nl + 1..];
        if rest.starts_with(b"\n") {
            return start + nl + 2;
        }
        if rest.starts_with(b"\r\n") {
            return start + nl + 3;
        }
    }
    end
}

/// Splits a multipart body into its parts' byte ranges, checking that every
/// line that begins with `--boundary` is a well-formed delimiter and that the
/// closing delimiter is there.
fn split_multipart(
    raw: &[u8],
    body_start: usize,
    end: usize,
    boundary: &str,
) -> Result<Vec<(usize, usize)>, String> {
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary.as_bytes());
    let body = &raw[body_start..end];
    // (offset of the delimiter, offset just past its line, is it the close)
    let mut delims: Vec<(usize, usize, bool)> = Vec::new();
    let mut closed = false;
    // Delimiters start with '-', which base64 never contains: a plain byte
    // search skips an encoded attachment at memory speed.
    for p in memchr::memchr_iter(b'-', body) {
        if p != 0 && body[p - 1] != b'\n' {
            continue; // not at the start of a line: plain text, not a delimiter
        }
        if !body[p..].starts_with(&delim) {
            continue;
        }
        if closed {
            return Err("a delimiter line after the closing delimiter".into());
        }
        let mut q = p + delim.len();
        let is_close = body[q..].starts_with(b"--");
        if is_close {
            q += 2;
        }
        while q < body.len() && (body[q] == b' ' || body[q] == b'\t') {
            q += 1;
        }
        let line_end = if q == body.len() {
            q
        } else if body[q] == b'\n' {
            q + 1
        } else if body[q..].starts_with(b"\r\n") {
            q + 2
        } else {
            return Err("a line starts with the boundary but is not a delimiter".into());
        };
        delims.push((p, line_end, is_close));
        closed = is_close;
    }
    if delims.is_empty() {
        return Err("no boundary delimiter found".into());
    }
    if !closed {
        return Err("the closing boundary delimiter is missing".into());
    }
    let mut ranges = Vec::with_capacity(delims.len() - 1);
    for w in delims.windows(2) {
        let (_, part_start, _) = w[0];
        let (next, _, _) = w[1];
        // The line break before a delimiter belongs to the delimiter.
        let mut part_end = next;
        if part_end > 0 && body[part_end - 1] == b'\n' {
            part_end -= 1;
            if part_end > 0 && body[part_end - 1] == b'\r' {
                part_end -= 1;
            }
        }
        let part_end = part_end.max(part_start);
        ranges.push((body_start + part_start, body_start + part_end));
    }
    Ok(ranges)
}

/// Reads the MIME headers of one header block with mail-parser, which decodes
/// RFC 2047 words and RFC 2231 parameters.
pub(super) fn parse_info(header_block: &[u8], default_type: &str) -> PartInfo {
    let mut info = PartInfo {
        content_type: default_type.to_string(),
        ..PartInfo::default()
    };
    if header_block.is_empty() {
        return info;
    }
    let Some(msg) = MessageParser::new().parse_headers(header_block) else {
        return info;
    };
    if let Some(ct) = msg.content_type() {
        let main = ct.ctype().trim().to_ascii_lowercase();
        let sub = ct.subtype().unwrap_or("").trim().to_ascii_lowercase();
        if !main.is_empty() {
            info.content_type = if sub.is_empty() {
                main
            } else {
                format!("{main}/{sub}")
            };
        }
        info.boundary = ct.attribute("boundary").map(str::to_string);
    }
    if let Some(cd) = msg.content_disposition() {
        info.disposition = Some(cd.ctype().trim().to_ascii_lowercase());
    }
    info.filename = msg
        .attachment_name()
        .map(str::to_string)
        .filter(|n| !n.trim().is_empty());
    info.content_id = msg.content_id().map(|s| {
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    });
    info.message_id = msg.message_id().map(str::to_string);
    info.cte =
        msg.content_transfer_encoding()
            .map(|c| match c.trim().to_ascii_lowercase().as_str() {
                "7bit" | "8bit" | "binary" | "" => Cte::Identity,
                "base64" => Cte::Base64,
                "quoted-printable" => Cte::QuotedPrintable,
                other => Cte::Other(other.to_string()),
            });
    info
}

/// One raw header field: its trimmed name, its value with folding, and the
/// byte range of the whole field (line breaks included) in the block.
pub(crate) struct RawField<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    pub range: std::ops::Range<usize>,
}

/// The raw header fields of a header block, in order. Used for our own
/// headers, which mail-parser would decode.
pub(crate) fn raw_fields(block: &[u8]) -> Vec<RawField<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < block.len() {
        // One field: up to a line break not followed by white space.
        let mut j = i;
        loop {
            match memchr::memchr(b'\n', &block[j..]) {
                Some(nl) => {
                    j += nl + 1;
                    if j < block.len() && (block[j] == b' ' || block[j] == b'\t') {
                        continue;
                    }
                    break;
                }
                None => {
                    j = block.len();
                    break;
                }
            }
        }
        let field = &block[i..j];
        if let Some(colon) = memchr::memchr(b':', field) {
            out.push(RawField {
                name: trim_bytes(&field[..colon]),
                value: &field[colon + 1..],
                range: i..j,
            });
        }
        i = j;
    }
    out
}

pub(crate) fn trim_bytes(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |p| p + 1);
    &b[s..e.max(s)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parts_and_keeps_delimiter_line_breaks_out() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\ntwo\r\n--b--\r\nepi";
        let p = scan(m).unwrap();
        assert_eq!(p.children.len(), 2);
        let c0 = &p.children[0];
        assert_eq!(&m[c0.body_start..c0.end], b"one");
        let c1 = &p.children[1];
        assert_eq!(
            &m[c1.start..c1.body_start],
            b"Content-Type: text/html\r\n\r\n"
        );
        assert_eq!(&m[c1.body_start..c1.end], b"two");
        assert_eq!(c1.info.content_type, "text/html");
        assert_eq!(c1.path, "2");
    }

    #[test]
    fn lf_only_messages_split_too() {
        let m = b"Content-Type: multipart/mixed; boundary=\"x y\"\n\n--x y\n\nbody\n--x y--\n";
        let p = scan(m).unwrap();
        assert_eq!(&m[p.children[0].body_start..p.children[0].end], b"body");
    }

    #[test]
    fn unterminated_multipart_is_refused() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n";
        assert!(scan(m).unwrap_err().contains("closing"));
    }

    #[test]
    fn boundary_prefix_lines_are_ambiguous() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bx\r\n--b--\r\n";
        assert!(scan(m).unwrap_err().contains("not a delimiter"));
    }

    #[test]
    fn nested_reuse_of_boundary_is_refused() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n";
        assert!(scan(m).is_err());
    }

    #[test]
    fn raw_fields_unfold() {
        let f = raw_fields(b"A: 1\r\nB: 2\r\n 3\r\n\r\n");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].name, b"B");
        assert_eq!(f[1].value, b" 2\r\n 3\r\n");
        assert_eq!(f[1].range, 6..16);
    }
}
