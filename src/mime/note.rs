//! The note: one part slimbox inserts into a message it changed, where the
//! reader reads the message, saying which files moved out and where each
//! one opens from.
//!
//! It is a `multipart/alternative` (plain text and HTML, both inline)
//! carrying [`NOTE_HEADER`], inserted into the message's multipart/mixed:
//! right after the message's text, or first when the message had only
//! attachments. It is written as a delimiter line, the part and a line
//! break, just before a delimiter line of that multipart, so reattach removes
//! exactly those bytes and nothing else (`removal_range`). A message with no
//! multipart/mixed gets no note: its stubs show inline instead.

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::encoding::{text_body, Eol};
use super::select::is_attachment;
use super::structure::{raw_fields, Part};
use super::stub::{html_escape, restore_command};

/// Header of the note part; a part carrying it is slimbox's, removed on
/// reattach.
pub const NOTE_HEADER: &str = "X-Slimbox-Note";

/// Does this header block belong to a note part?
pub(crate) fn is_note(header_block: &[u8]) -> bool {
    raw_fields(header_block)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case(NOTE_HEADER.as_bytes()))
}

/// One part of a rewritten message as [`walk`] finds it.
pub(super) enum Seen<'t> {
    /// A part of the original message: `path` is its part number there
    /// (the note shifts the numbers of the parts after it by one), and
    /// `in_digest` says it is a child of a multipart/digest.
    Part {
        part: &'t Part,
        path: String,
        in_digest: bool,
    },
    /// A note part, which the original did not have.
    Note(&'t Part),
}

/// Every part of the rewritten message `body` (scanned as `tree`), depth
/// first, telling the note apart from the original's parts; the note's own
/// parts are not visited.
pub(super) fn walk<'t>(body: &[u8], tree: &'t Part) -> Vec<Seen<'t>> {
    fn visit<'t>(body: &[u8], p: &'t Part, path: String, in_digest: bool, out: &mut Vec<Seen<'t>>) {
        let digest = p.info.content_type == "multipart/digest";
        out.push(Seen::Part {
            part: p,
            path: path.clone(),
            in_digest,
        });
        let mut n = 0;
        for c in &p.children {
            if is_note(body.get(c.start..c.body_start).unwrap_or_default()) {
                out.push(Seen::Note(c));
                continue;
            }
            n += 1;
            let child_path = if path.is_empty() {
                n.to_string()
            } else {
                format!("{path}.{n}")
            };
            visit(body, c, child_path, digest, out);
        }
    }
    let mut out = Vec::new();
    visit(body, tree, String::new(), false, &mut out);
    out
}

/// Where the note goes in a message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// No note (it is turned off, or nothing was stubbed).
    Nowhere,
    /// No multipart/mixed to hold a note: the stubs show inline instead.
    Inline,
    /// Just before the delimiter line at `offset` of the multipart whose
    /// boundary is `boundary`.
    At { offset: usize, boundary: String },
}

/// Where the note goes in `msg` (the message after any mbox `From ` line,
/// scanned as `tree`), whose parts `stubbed` (in message order) become
/// stubs. In the top-level multipart when it is multipart/mixed, else in
/// the multipart/mixed nearest the first stub; in it, right after the first
/// part when that is the message's text (not stubbed), else first.
pub(super) fn place(msg: &[u8], tree: &Part, stubbed: &[&str]) -> Placement {
    let Some(first) = stubbed.first() else {
        return Placement::Nowhere;
    };
    let Some(mixed) = mixed_for(tree, first) else {
        return Placement::Inline;
    };
    let (Some(boundary), Some(child)) = (mixed.info.boundary.as_deref(), mixed.children.first())
    else {
        return Placement::Inline;
    };
    let after_text = is_text(child) && !stubbed.contains(&child.path.as_str());
    let offset = if after_text {
        line_after(msg, child)
    } else {
        line_before(msg, mixed.body_start, child.start)
    };
    // The offset must be at a delimiter line of that multipart: the
    // insertion then reads back as one part of it.
    let at_line_start = offset > 0 && msg.get(offset - 1) == Some(&b'\n');
    let rest = msg.get(offset..).unwrap_or_default();
    if at_line_start && rest.starts_with(b"--") && rest[2..].starts_with(boundary.as_bytes()) {
        Placement::At {
            offset,
            boundary: boundary.to_string(),
        }
    } else {
        Placement::Inline
    }
}

/// The multipart/mixed the note goes into: the message itself when it is
/// one, else the deepest one on the way to part `path`.
fn mixed_for<'t>(tree: &'t Part, path: &str) -> Option<&'t Part> {
    let is_mixed = |p: &Part| p.info.content_type == "multipart/mixed";
    if is_mixed(tree) {
        return Some(tree);
    }
    if path.is_empty() {
        return None;
    }
    let mut node = tree;
    let mut best = None;
    for n in path.split('.') {
        let i: usize = n.parse().ok()?;
        node = node.children.get(i.checked_sub(1)?)?;
        if is_mixed(node) {
            best = Some(node);
        }
    }
    best
}

/// Is this part the message's own text (what a client shows as its body)?
fn is_text(p: &Part) -> bool {
    let t = p.info.content_type.as_str();
    matches!(t, "multipart/alternative" | "multipart/related")
        || (t.starts_with("text/") && !is_attachment(p))
}

/// The start of the delimiter line that follows part `p` (its line break
/// belongs to that line).
fn line_after(msg: &[u8], p: &Part) -> usize {
    let rest = msg.get(p.end..).unwrap_or_default();
    if rest.starts_with(b"\r\n") {
        p.end + 2
    } else if rest.starts_with(b"\n") {
        p.end + 1
    } else {
        p.end
    }
}

/// The start of the delimiter line that ends just before `part_start`, no
/// earlier than `from`.
fn line_before(msg: &[u8], from: usize, part_start: usize) -> usize {
    let end = part_start.saturating_sub(1).max(from);
    msg.get(from..end)
        .and_then(|b| memchr::memrchr(b'\n', b))
        .map_or(from, |nl| from + nl + 1)
}

/// What reattach removes for the note part `p` of `body` (a child of a
/// multipart, as [`walk`] finds it): its delimiter line, the part, and the
/// line break before the next delimiter. `None` when no line break ends
/// the line before it.
pub(super) fn removal_range(body: &[u8], p: &Part) -> Option<Range<usize>> {
    if p.start == 0 || body.get(p.start - 1) != Some(&b'\n') {
        return None;
    }
    let start = memchr::memrchr(b'\n', &body[..p.start - 1]).map_or(0, |nl| nl + 1);
    Some(start..line_after(body, p))
}

/// One moved file as the note lists it.
pub(super) struct NoteFile<'a> {
    /// Already [`super::safe_name`]d.
    pub name: String,
    pub size: u64,
    pub link: &'a str,
}

/// The note part (header block and body, no delimiter line around it),
/// lines ending with `eol`. Its boundary is derived from `seed` and found
/// in none of `avoid` nor in its own text; `None` if no such boundary is
/// found in a few tries (with 64 random-looking bits, never in practice).
pub(super) fn note_part(
    files: &[NoteFile],
    message_id: Option<&str>,
    eol: Eol,
    seed: &[u8],
    avoid: &[&[u8]],
) -> Option<Vec<u8>> {
    let plain = plain_text(files, message_id);
    let html = html_text(files, message_id);
    let boundary = (0u8..8).map(|n| boundary(seed, n)).find(|b| {
        let b = b.as_bytes();
        let found = |hay: &[u8]| memchr::memmem::find(hay, b).is_some();
        !avoid.iter().any(|h| found(h)) && !found(plain.as_bytes()) && !found(html.as_bytes())
    })?;
    let e = std::str::from_utf8(eol.bytes()).unwrap_or("\r\n");
    let mut out = format!(
        "Content-Type: multipart/alternative; boundary=\"{boundary}\"{e}\
         Content-Disposition: inline{e}\
         {NOTE_HEADER}: v=1{e}{e}"
    )
    .into_bytes();
    for (mime, text) in [("text/plain", &plain), ("text/html", &html)] {
        let (cte, body) = text_body(text, eol);
        out.extend_from_slice(
            format!(
                "--{boundary}{e}Content-Type: {mime}; charset=utf-8{e}\
                 Content-Disposition: inline{e}\
                 Content-Transfer-Encoding: {cte}{e}{e}"
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        out.extend_from_slice(eol.bytes());
    }
    out.extend_from_slice(format!("--{boundary}--").as_bytes());
    Some(out)
}

/// `slimbox-note-` and 16 hex digits from `seed` and try `n`.
fn boundary(seed: &[u8], n: u8) -> String {
    let mut h = Sha256::new();
    h.update(seed);
    h.update([n]);
    let digest = h.finalize();
    format!("slimbox-note-{}", hex::encode(&digest[..8]))
}

fn human(size: u64) -> String {
    bytesize::ByteSize(size).display().iec().to_string()
}

/// "slimbox moved 2 attachments ..." and what the reader can do.
fn lead(files: &[NoteFile]) -> (String, &'static str) {
    match files.len() {
        1 => (
            "slimbox moved 1 attachment out of this message".to_string(),
            "the file opens from its link below",
        ),
        n => (
            format!("slimbox moved {n} attachments out of this message"),
            "each file opens from its link below",
        ),
    }
}

/// The note as plain text: each file's name and size, then its link whole
/// on a line of its own (so a reader that wraps or copies lines keeps it).
fn plain_text(files: &[NoteFile], message_id: Option<&str>) -> String {
    let (moved, opens) = lead(files);
    let mut t = format!("{moved} to save mailbox space.\nNothing was lost: {opens}.\n");
    for f in files {
        t.push_str(&format!("\n{} ({})\n{}\n", f.name, human(f.size), f.link));
    }
    t.push_str(&format!(
        "\nTo put the original message back into the mailbox:\n{}\n",
        restore_command(message_id)
    ));
    t
}

/// The note as HTML: each file's name as its link. Everything from the
/// message is escaped; lines are short and none starts with `--`.
fn html_text(files: &[NoteFile], message_id: Option<&str>) -> String {
    let (moved, opens) = lead(files);
    let mut t = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family:sans-serif\">\n\
         <p>{moved} to save mailbox space.\n\
         Nothing was lost: {opens}.</p>\n<ul>\n"
    );
    for f in files {
        t.push_str(&format!(
            "<li><a href=\"{}\">{}</a> ({})",
            html_escape(f.link),
            html_escape(&f.name),
            human(f.size)
        ));
        // Mail clients refuse to open a file:// link from a message
        // (Thunderbird: a security error; browsers from a webmail page): its
        // path is shown too, for the reader to copy.
        if !is_web_link(f.link) {
            t.push_str(&format!("<br>\n<code>{}</code>", html_escape(f.link)));
        }
        t.push_str("</li>\n");
    }
    t.push_str(&format!(
        "</ul>\n<p style=\"font-size:small;color:#555\">To put the original message\n\
         back into the mailbox: <code>{}</code></p>\n</body></html>\n",
        html_escape(restore_command(message_id).trim())
    ));
    t
}

/// An http(s) link, which every client opens in a browser.
fn is_web_link(link: &str) -> bool {
    let l = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

#[cfg(test)]
pub(super) mod tests;
