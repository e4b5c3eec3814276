//! Turning imap-proto's BODYSTRUCTURE tree into slimbox's flat list of leaf
//! parts with IMAP section paths, decoded file names and lower-cased types.

use async_imap::imap_proto::{
    BodyContentCommon, BodyContentSinglePart, BodyParams, BodyStructure, ContentEncoding,
};

use super::mime_params::{param_value, unescape_quoted};
use super::BodyPart;

/// Lower-case `type/subtype` of a node.
fn content_type(common: &BodyContentCommon<'_>) -> String {
    format!(
        "{}/{}",
        unescape_quoted(&common.ty.ty).to_ascii_lowercase(),
        unescape_quoted(&common.ty.subtype).to_ascii_lowercase()
    )
}

/// The whole message's lower-case `type/subtype`.
pub(crate) fn top_type(root: &BodyStructure<'_>) -> String {
    content_type(common_of(root))
}

fn common_of<'s, 'a>(node: &'s BodyStructure<'a>) -> &'s BodyContentCommon<'a> {
    match node {
        BodyStructure::Basic { common, .. }
        | BodyStructure::Text { common, .. }
        | BodyStructure::Message { common, .. }
        | BodyStructure::Multipart { common, .. } => common,
    }
}

/// Leaf parts in document order. Multipart containers are walked but not
/// listed; message/rfc822 parts are leaves (their insides are not listed).
pub(crate) fn leaves(root: &BodyStructure<'_>) -> Vec<BodyPart> {
    let mut out = Vec::new();
    match root {
        BodyStructure::Multipart { bodies, .. } => walk_children(bodies, "", &mut out),
        // RFC 3501 section 6.4.5: a non-multipart message has a single part "1".
        _ => push_leaf(root, "1".to_string(), &mut out),
    }
    out
}

fn walk_children(bodies: &[BodyStructure<'_>], prefix: &str, out: &mut Vec<BodyPart>) {
    for (i, child) in bodies.iter().enumerate() {
        let path = if prefix.is_empty() {
            format!("{}", i + 1)
        } else {
            format!("{prefix}.{}", i + 1)
        };
        match child {
            BodyStructure::Multipart { bodies, .. } => walk_children(bodies, &path, out),
            _ => push_leaf(child, path, out),
        }
    }
}

fn push_leaf(node: &BodyStructure<'_>, path: String, out: &mut Vec<BodyPart>) {
    let (common, single): (&BodyContentCommon<'_>, &BodyContentSinglePart<'_>) = match node {
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Text { common, other, .. }
        | BodyStructure::Message { common, other, .. } => (common, other),
        // Callers never pass containers here.
        BodyStructure::Multipart { .. } => return,
    };
    let disposition = common
        .disposition
        .as_ref()
        .map(|d| unescape_quoted(&d.ty).to_ascii_lowercase());
    let disp_params = common
        .disposition
        .as_ref()
        .map(|d| owned_params(&d.params))
        .unwrap_or_default();
    let type_params = owned_params(&common.ty.params);
    // Content-Disposition filename first, Content-Type name as the fallback.
    let filename =
        param_value(&disp_params, "filename").or_else(|| param_value(&type_params, "name"));
    out.push(BodyPart {
        path,
        content_type: content_type(common),
        encoding: encoding_name(&single.transfer_encoding),
        size: u64::from(single.octets),
        disposition,
        filename,
        content_id: single
            .id
            .as_ref()
            .map(|id| unescape_quoted(id).into_owned()),
    });
}

fn owned_params(params: &BodyParams<'_>) -> Vec<(String, String)> {
    params
        .as_ref()
        .map(|v| v.iter().map(|(k, v)| (unescape(k), unescape(v))).collect())
        .unwrap_or_default()
}

fn unescape(s: &str) -> String {
    unescape_quoted(s).into_owned()
}

fn encoding_name(enc: &ContentEncoding<'_>) -> String {
    match enc {
        ContentEncoding::SevenBit => "7bit".into(),
        ContentEncoding::EightBit => "8bit".into(),
        ContentEncoding::Binary => "binary".into(),
        ContentEncoding::Base64 => "base64".into(),
        ContentEncoding::QuotedPrintable => "quoted-printable".into(),
        ContentEncoding::Other(s) => unescape_quoted(s).to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::{AttributeValue, Response};

    /// Parses a real FETCH line (as Dovecot 2.3 sent it) with imap-proto.
    fn with_structure(line: &[u8], f: impl FnOnce(&BodyStructure<'_>)) {
        let (_, resp) = Response::parse(line).expect("parses");
        let Response::Fetch(_, attrs) = resp else {
            panic!("not a FETCH: {resp:?}");
        };
        let bs = attrs
            .iter()
            .find_map(|a| match a {
                AttributeValue::BodyStructure(bs) => Some(bs),
                _ => None,
            })
            .expect("has BODYSTRUCTURE");
        f(bs);
    }

    #[test]
    fn dovecot_multipart_with_rfc2231_pdf() {
        let line = b"* 1 FETCH (UID 1 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name*\" \"utf-8''r%C3%A9sum%C3%A9.pdf\") \"<abc@x>\" NIL \"base64\" 12 NIL (\"attachment\" (\"filename*\" \"utf-8''r%C3%A9sum%C3%A9.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL))\r\n";
        with_structure(line, |bs| {
            assert_eq!(top_type(bs), "multipart/mixed");
            let l = leaves(bs);
            assert_eq!(l.len(), 2);
            assert_eq!(l[0].path, "1");
            assert_eq!(l[0].content_type, "text/plain");
            assert_eq!(l[0].encoding, "7bit");
            assert_eq!(l[0].filename, None);
            assert_eq!(l[1].path, "2");
            assert_eq!(l[1].content_type, "application/pdf");
            assert_eq!(l[1].encoding, "base64");
            assert_eq!(l[1].size, 12);
            assert_eq!(l[1].disposition.as_deref(), Some("attachment"));
            assert_eq!(l[1].filename.as_deref(), Some("r\u{e9}sum\u{e9}.pdf"));
            assert_eq!(l[1].content_id.as_deref(), Some("<abc@x>"));
        });
    }

    #[test]
    fn nested_and_message_rfc822_and_single_part() {
        let line = br#"* 2 FETCH (BODYSTRUCTURE ((("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1 NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "QUOTED-PRINTABLE" 10 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "b2") NIL NIL NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 100 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 4 1 NIL NIL NIL NIL) 5 NIL ("inline" NIL) NIL NIL)("IMAGE" "PNG" ("NAME" "=?utf-8?Q?b=C3=A9b=C3=A9.png?=") "<img1>" NIL "BASE64" 400 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL) UID 2)
"#;
        let line = String::from_utf8_lossy(line).replace('\n', "\r\n");
        with_structure(line.as_bytes(), |bs| {
            let l = leaves(bs);
            let paths: Vec<_> = l.iter().map(|p| p.path.as_str()).collect();
            assert_eq!(paths, ["1.1", "1.2", "2", "3"]);
            assert_eq!(l[1].encoding, "quoted-printable");
            assert_eq!(l[2].content_type, "message/rfc822");
            assert_eq!(l[2].disposition.as_deref(), Some("inline"));
            assert_eq!(l[3].content_type, "image/png");
            assert_eq!(l[3].filename.as_deref(), Some("b\u{e9}b\u{e9}.png"));
        });

        let single = b"* 3 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 42 2 NIL NIL NIL NIL))\r\n";
        with_structure(single, |bs| {
            assert_eq!(top_type(bs), "text/plain");
            let l = leaves(bs);
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].path, "1");
            assert_eq!(l[0].encoding, "8bit");
            assert_eq!(l[0].size, 42);
        });
    }

    #[test]
    fn split_rfc2231_and_escaped_quotes() {
        let line = b"* 4 FETCH (BODYSTRUCTURE (\"application\" \"octet-stream\" (\"name\" \"a\\\"b.bin\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename*0*\" \"utf-8''%E2%82%AC\" \"filename*1\" \"-report.bin\")) NIL NIL))\r\n";
        with_structure(line, |bs| {
            let l = leaves(bs);
            assert_eq!(l[0].filename.as_deref(), Some("\u{20ac}-report.bin"));
        });
        let line = b"* 5 FETCH (BODYSTRUCTURE (\"application\" \"octet-stream\" (\"name\" \"a\\\"b.bin\") NIL NIL \"base64\" 8 NIL NIL NIL NIL))\r\n";
        with_structure(line, |bs| {
            assert_eq!(leaves(bs)[0].filename.as_deref(), Some("a\"b.bin"));
        });
    }

    #[test]
    fn issue8_text_parts_named_only_in_content_type_have_a_filename() {
        let line = b"* 6 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" \"log.txt\") NIL NIL \"7bit\" 900 30 NIL NIL NIL NIL)(\"text\" \"csv\" (\"name\" \"data.csv\") NIL NIL \"base64\" 800 10 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL))\r\n";
        with_structure(line, |bs| {
            let l = leaves(bs);
            assert_eq!(l.len(), 3);
            assert_eq!(l[0].filename, None);
            assert_eq!(l[1].content_type, "text/plain");
            assert_eq!(l[1].disposition, None);
            assert_eq!(l[1].filename.as_deref(), Some("log.txt"));
            assert_eq!(l[2].content_type, "text/csv");
            assert_eq!(l[2].disposition, None);
            assert_eq!(l[2].filename.as_deref(), Some("data.csv"));
        });
    }
}
