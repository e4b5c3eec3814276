//! Reading a converted message back: what its marker header and the recipes
//! of its stubs say was detached, described exactly as detach described it
//! when it wrote them (the same part numbers, hashes, sizes, file names and
//! types). This is how a lost index is rebuilt from the mailbox
//! (`crate::rebuild`); nothing here needs the store.

use super::note::{self, Seen};
use super::recipe::{find_recipe, Recipe};
use super::structure::{self, raw_fields, Part};
use super::stub;
use super::{default_name, display_path, parse_hash, DetachedPart, ReattachError};

/// Headers of a stub that carry the attachment's link, in the order they
/// are read: slimbox's own (every stub since the note), then Thunderbird's
/// (which stubs of earlier versions carry alone).
const LINK_HEADERS: [&[u8]; 2] = [
    super::entries::LINK_HEADER.as_bytes(),
    b"X-Mozilla-External-Attachment-URL",
];

/// What the marker header (`X-Slimbox: v=1; parts=..; bytes=..;
/// original-size=..; date=".."`) says. A field that is missing or does not
/// read as a number or a date is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marker {
    /// How many parts were detached.
    pub parts: Option<u64>,
    /// Their decoded sizes added up.
    pub bytes: Option<u64>,
    /// The original message's size in bytes, exactly.
    pub original_size: Option<u64>,
    /// When the message was converted, Unix seconds.
    pub date: Option<i64>,
}

/// A converted message, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub marker: Marker,
    /// The detached parts in the order of the message, as detach listed them.
    pub parts: Vec<DetachedPart>,
}

/// Reads what `rewritten` (a message slimbox converted, as it is on the
/// server) carries about what was detached from it.
pub fn read_converted(rewritten: &[u8]) -> Result<Converted, ReattachError> {
    let span = stub::marker_span(rewritten).ok_or(ReattachError::NotProcessed)?;
    let marker = parse_marker(&rewritten[span.clone()]);
    let body = &rewritten[span.end..];
    let tree = structure::scan(body).map_err(ReattachError::Structure)?;
    let mut parts = Vec::new();
    collect(body, &tree, &mut parts)?;
    Ok(Converted { marker, parts })
}

/// The stubs of the rewritten message `body` (scanned as `tree`), depth
/// first: the order detach found their originals in, each with its part
/// number in the original.
fn collect(body: &[u8], tree: &Part, out: &mut Vec<DetachedPart>) -> Result<(), ReattachError> {
    for seen in note::walk(body, tree) {
        // The note lists the files; the stubs are what describe them.
        let Seen::Part {
            part: p,
            path,
            in_digest,
        } = seen
        else {
            continue;
        };
        if !p.children.is_empty() {
            continue;
        }
        let header = &body[p.start..p.body_start];
        if let Some(value) = find_recipe(header) {
            // As `structure::scan` reads children: in a digest they default
            // to message/rfc822.
            let default_type = if in_digest {
                "message/rfc822"
            } else {
                "text/plain"
            };
            out.push(part_of(header, value, &path, default_type)?);
        }
    }
    Ok(())
}

/// One stub (its header block `header`, its recipe header's `value`) as the
/// part detach took out.
fn part_of(
    header: &[u8],
    value: &[u8],
    path: &str,
    default_type: &str,
) -> Result<DetachedPart, ReattachError> {
    let bad = |reason: String| ReattachError::BadRecipe {
        path: display_path(path).to_string(),
        reason,
    };
    let recipe = Recipe::from_header_value(value).map_err(bad)?;
    // The original part's own header block says its name and type, read
    // exactly as detach read it.
    let original = recipe.header_block().map_err(bad)?;
    let info = structure::parse_info(&original, default_type);
    let filename = info
        .filename
        .clone()
        .unwrap_or_else(|| default_name(&info.content_type, path));
    let raw_sha256 = match recipe.raw.as_deref() {
        Some(h) => Some(parse_hash(Some(h), path)?),
        None => None,
    };
    Ok(DetachedPart {
        path: path.to_string(),
        sha256: parse_hash(Some(&recipe.sha256), path)?,
        size: recipe.size,
        filename,
        content_type: info.content_type,
        raw_sha256,
        link: link_of(header),
    })
}

/// The link the stub carries, or "" if it has none.
fn link_of(header: &[u8]) -> String {
    let fields = raw_fields(header);
    LINK_HEADERS
        .iter()
        .find_map(|name| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
        .map(|f| String::from_utf8_lossy(structure::trim_bytes(f.value)).into_owned())
        .unwrap_or_default()
}

/// Reads the fields of the marker header `field` (name, value and line
/// break).
fn parse_marker(field: &[u8]) -> Marker {
    let text = String::from_utf8_lossy(field);
    let value = text.split_once(':').map_or("", |(_, v)| v);
    let mut m = Marker::default();
    // The date is quoted and holds no `;`, so the fields split on it.
    for item in value.split(';') {
        let Some((key, v)) = item.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match key.trim() {
            "parts" => m.parts = v.parse().ok(),
            "bytes" => m.bytes = v.parse().ok(),
            "original-size" => m.original_size = v.parse().ok(),
            "date" => {
                m.date = mail_parser::DateTime::parse_rfc822(v).map(|d| d.to_timestamp());
            }
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::tests::policy;
    use super::super::{detach, Detached};
    use super::*;

    fn b64(data: &[u8], eol: &str) -> String {
        let s = base64_simd::STANDARD.encode_to_string(data);
        s.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(eol)
    }

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
            .collect()
    }

    /// Detaches `raw` and checks that reading the result back gives what
    /// detach reported, and the marker's facts.
    fn reads_back(raw: &[u8]) -> Detached<'_> {
        let d = detach(raw, &policy(1000));
        let rw = d.rewritten.as_ref().expect("rewritten");
        let c = read_converted(rw).expect("read back");
        assert_eq!(c.parts, d.parts);
        assert_eq!(c.marker.original_size, Some(raw.len() as u64));
        assert_eq!(c.marker.parts, Some(d.parts.len() as u64));
        let bytes: u64 = d.parts.iter().map(|p| p.size).sum();
        assert_eq!(c.marker.bytes, Some(bytes));
        assert_eq!(c.marker.date, Some(1_795_435_200));
        d
    }

    #[test]
    fn issue9_named_unnamed_qp_and_nested_parts_read_back_as_detached() {
        for e in ["\r\n", "\n"] {
            let raw = format!(
                "From: a@example.com{e}Subject: mixed{e}Message-ID: <x@example.com>{e}MIME-Version: 1.0{e}Content-Type: multipart/mixed; boundary=\"o\"{e}{e}--o{e}Content-Type: text/plain{e}{e}hi{e}--o{e}Content-Type: application/pdf; name=\"r\u{e9}sum\u{e9}.pdf\"{e}Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf{e}Content-Transfer-Encoding: base64{e}{e}{a}{e}--o{e}Content-Type: multipart/mixed; boundary=\"i\"{e}{e}--i{e}Content-Type: image/png{e}Content-Disposition: attachment{e}Content-Transfer-Encoding: base64{e}{e}{b}{e}--i{e}Content-Type: text/csv; name=\"t.csv\"{e}Content-Transfer-Encoding: quoted-printable{e}{e}{q}{e}--i--{e}--o--{e}",
                a = b64(&data(3000, 1), e),
                b = b64(&data(2000, 2), e),
                q = "a=3Db,c\n".repeat(300).replace('\n', e),
            );
            let d = reads_back(raw.as_bytes());
            let names: Vec<&str> = d.parts.iter().map(|p| p.filename.as_str()).collect();
            assert_eq!(names, ["résumé.pdf", "attachment-3.1.png", "t.csv"]);
            assert!(d.parts[2].raw_sha256.is_some(), "QP keeps its body");
        }
    }

    #[test]
    fn issue9_a_whole_message_attachment_reads_back() {
        let raw = format!(
            "From alice@example.com Mon Jan  1 00:00:00 2024\r\nFrom: a@example.com\r\nSubject: scan\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"scan.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(&data(4000, 3), "\r\n")
        );
        let d = reads_back(raw.as_bytes());
        assert_eq!(d.parts[0].path, "");
    }

    #[test]
    fn issue9_a_digest_child_without_a_type_reads_back_as_a_message() {
        let inner = format!(
            "From: b@example.com\r\nSubject: inner\r\n\r\n{}\r\n",
            "x".repeat(3000)
        );
        let raw = format!(
            "From: a@example.com\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\n--d\r\n\r\n{inner}\r\n--d--\r\n"
        );
        let d = reads_back(raw.as_bytes());
        assert_eq!(d.parts[0].content_type, "message/rfc822");
        assert_eq!(d.parts[0].filename, "forwarded-message.eml");
    }

    #[test]
    fn issue9_a_message_slimbox_did_not_write_is_refused() {
        assert!(matches!(
            read_converted(b"From: a\r\n\r\nbody"),
            Err(ReattachError::NotProcessed)
        ));
        let m = parse_marker(b"X-Slimbox: v=1; parts=x; date=\"not a date\"\r\n");
        assert_eq!(m, Marker::default());
    }
}
