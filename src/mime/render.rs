//! Writing the rewritten message: the marker, each planned part replaced by
//! its stub, and the note part (see `note`) inserted where a reader sees it.
//! Every byte outside those stays as it was.

use std::ops::Range;

use super::encoding::Eol;
use super::entries::StubText;
use super::note::{self, NoteFile, Placement};
use super::structure::Part;
use super::stub;
use super::{Entries, Original, Planned, Policy, StubFormat};

/// Builds the rewritten message: the mbox `From ` line if any, the marker,
/// then the message with each planned range replaced by its stub and, when
/// the policy asks for it and there is a multipart/mixed to hold it, the
/// note part inserted.
pub(super) fn render(
    original: &Original,
    planned: &[Planned],
    tree: &Part,
    policy: &Policy,
    eol: Eol,
) -> Vec<u8> {
    let Original {
        from_line,
        msg: raw,
    } = *original;
    let stubbed: Vec<&str> = planned.iter().map(|p| p.part.path.as_str()).collect();
    let placement = if policy.note {
        note::place(raw, tree, &stubbed)
    } else {
        Placement::Nowhere
    };
    // With no multipart/mixed to hold the note, each stub shows inline: its
    // text says what moved. The original header block is in the recipe,
    // so the stub's own disposition never reaches the original.
    let inline = matches!(placement, Placement::Inline);
    let stubs: Vec<(Range<usize>, Vec<u8>)> = planned
        .iter()
        .map(|pl| (pl.range.clone(), stub_of(raw, pl, tree, policy, inline)))
        .collect();
    let note = match placement {
        Placement::At { offset, boundary } => {
            note_at(raw, planned, &stubs, tree, eol, offset, &boundary)
        }
        Placement::Inline | Placement::Nowhere => None,
    };

    let bytes: u64 = planned.iter().map(|p| p.part.size).sum();
    let original_size = from_line.len() + raw.len();
    let mut out = Vec::with_capacity(original_size / 4 + 4096);
    out.extend_from_slice(from_line);
    out.extend_from_slice(&stub::marker(
        planned.len(),
        bytes,
        original_size,
        &stub::marker_date(policy.now),
        eol,
    ));
    let mut cursor = 0;
    // The note sits on a delimiter line, which no stub's range covers; a
    // note that would not (never seen) is left out rather than misplaced.
    let mut note = note.as_ref();
    for (range, stub) in &stubs {
        if note.is_some_and(|(at, _)| *at < cursor) {
            note = None;
        }
        if let Some((at, bytes)) = note.filter(|(at, _)| *at <= range.start) {
            out.extend_from_slice(&raw[cursor..*at]);
            out.extend_from_slice(bytes);
            cursor = *at;
            note = None;
        }
        out.extend_from_slice(&raw[cursor..range.start]);
        out.extend_from_slice(stub);
        cursor = range.end;
    }
    if let Some((at, bytes)) = note.filter(|(at, _)| *at >= cursor && *at <= raw.len()) {
        out.extend_from_slice(&raw[cursor..*at]);
        out.extend_from_slice(bytes);
        cursor = *at;
    }
    out.extend_from_slice(&raw[cursor..]);
    out
}

/// The stub that replaces planned part `pl` of `raw`.
fn stub_of(raw: &[u8], pl: &Planned, tree: &Part, policy: &Policy, inline: bool) -> Vec<u8> {
    let (kept, part_eol) = if pl.part.path.is_empty() {
        let hdr = &raw[..tree.body_start];
        (stub::non_mime_fields(hdr), Eol::of(hdr))
    } else {
        (Vec::new(), Eol::of(&raw[pl.range.start..]))
    };
    let sha_hex = hex::encode(pl.part.sha256);
    let altered = stub::thunderbird_date(policy.now);
    let text = StubText {
        filename: &pl.part.filename,
        content_type: &pl.part.content_type,
        size: pl.part.size,
        sha256_hex: &sha_hex,
        link: &pl.part.link,
        message_id: tree.info.message_id.as_deref(),
        altered_date: &altered,
        entries: entries_for(policy.entries, &pl.part.link),
        inline,
    };
    match (policy.stub_format, text.entries) {
        // Under the original's type no client shows the body as a page.
        (StubFormat::Html, Entries::Note) => {
            stub::render_html_stub(&text, &pl.recipe, &kept, part_eol)
        }
        _ => stub::render_stub(&text, &pl.recipe, &kept, part_eol),
    }
}

/// The entry style a stub with `link` gets: Thunderbird opens an external
/// attachment only from a `file:` link (its `AttachmentInfo.isAllowedURL`),
/// so any other link is written as a note.
pub(super) fn entries_for(wanted: Entries, link: &str) -> Entries {
    let is_file = link
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"));
    match wanted {
        Entries::Original if is_file => Entries::Original,
        _ => Entries::Note,
    }
}

/// The note part to insert at `offset` (a delimiter line of `raw`, of the
/// multipart with boundary `outer`), with the
/// delimiter line that opens it and the line break that ends it; `None`
/// when no boundary of its own can be found (it never happens in practice).
fn note_at(
    raw: &[u8],
    planned: &[Planned],
    stubs: &[(Range<usize>, Vec<u8>)],
    tree: &Part,
    eol: Eol,
    offset: usize,
    outer: &str,
) -> Option<(usize, Vec<u8>)> {
    let files: Vec<NoteFile> = planned
        .iter()
        .map(|pl| NoteFile {
            name: super::safe::safe_name(&pl.part.filename),
            size: pl.part.size,
            link: &pl.part.link,
        })
        .collect();
    let mut seed = Vec::with_capacity(planned.len() * 32);
    for pl in planned {
        seed.extend_from_slice(&pl.part.sha256);
    }
    let mut avoid: Vec<&[u8]> = vec![raw];
    avoid.extend(stubs.iter().map(|(_, s)| &s[..]));
    let part = note::note_part(&files, tree.info.message_id.as_deref(), eol, &seed, &avoid)?;
    let e = eol.bytes();
    let mut out = Vec::with_capacity(part.len() + outer.len() + 8);
    out.extend_from_slice(b"--");
    out.extend_from_slice(outer.as_bytes());
    out.extend_from_slice(e);
    out.extend_from_slice(&part);
    out.extend_from_slice(e);
    Some((offset, out))
}
