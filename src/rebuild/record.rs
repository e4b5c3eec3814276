//! One converted message, as fetched from the server, turned back into the
//! index record the run wrote when it converted it. Pure: no I/O.

use crate::imap::MessageMeta;
use crate::index::{MessageRecord, PartRecord, Rebuilt};
use crate::mime::{self, ReattachError};

/// Where a converted message was found.
#[derive(Debug, Clone, Copy)]
pub(super) struct FoundAt<'a> {
    pub account: &'a str,
    pub folder: &'a str,
    pub uidvalidity: u32,
}

/// The index record of the converted message `raw`, found `at` with
/// `meta` (its UID, flags and INTERNALDATE on the server). `now` stands in
/// for the time of conversion when the marker does not say it.
///
/// Everything `list`, `restore` and `reattach` read is exact: the headers
/// are the original's (slimbox only puts its marker before them), each
/// stub's recipe holds the part's hash, size and original header block
/// (hence its file name and type), the marker the original's size and the
/// time of conversion. What the converted copy cannot know:
/// - `old_uid`, the original's UID (gone with the original), is 0, which
///   no IMAP message has; the copy's UID is `new_uid`, which is what
///   `list` shows and `reattach` looks for anyway;
/// - `flags` are the copy's flags now, not those the original had when
///   it was converted (the owner may have changed them since).
pub(super) fn rebuilt(
    at: FoundAt,
    meta: &MessageMeta,
    raw: &[u8],
    now: i64,
) -> Result<Rebuilt, ReattachError> {
    let converted = mime::read_converted(raw)?;
    let parts: Vec<PartRecord> = converted
        .parts
        .iter()
        .map(|p| PartRecord {
            sha256: hex::encode(p.sha256),
            size: p.size,
            filename: p.filename.clone(),
            content_type: p.content_type.clone(),
            part_path: p.path.clone(),
            raw_sha256: p.raw_sha256.map(hex::encode),
        })
        .collect();
    let size_after = raw.len() as u64;
    // slimbox always writes original-size; were it unreadable, the copy
    // plus the detached bytes is as near as can be told.
    let size_before = converted
        .marker
        .original_size
        .unwrap_or_else(|| size_after + parts.iter().map(|p| p.size).sum::<u64>());
    let h = Headers::of(raw);
    Ok(Rebuilt {
        record: MessageRecord {
            account: at.account.to_string(),
            folder: at.folder.to_string(),
            uidvalidity: at.uidvalidity,
            old_uid: 0,
            new_uid: Some(meta.uid),
            message_id: h.message_id,
            date: h.date,
            from: h.from,
            to: h.to,
            subject: h.subject,
            internal_date: meta.internal_date.clone(),
            flags: meta
                .flags
                .iter()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .cloned()
                .collect(),
            size_before,
            size_after,
            parts,
        },
        processed_at: converted.marker.date.unwrap_or(now),
    })
}

/// The header fields the index keeps, read as the run reads them from the
/// original (which has the very same fields).
#[derive(Debug, Default)]
struct Headers {
    message_id: Option<String>,
    date: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
}

impl Headers {
    fn of(raw: &[u8]) -> Headers {
        let Some(m) = mail_parser::MessageParser::new().parse_headers(raw) else {
            return Headers::default();
        };
        let addr = |a: Option<&mail_parser::Address>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string)
        };
        Headers {
            message_id: m.message_id().map(str::to_string),
            date: m.date().map(|d| d.to_timestamp()),
            from: addr(m.from()),
            to: addr(m.to()),
            subject: m.subject().map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::Folder;
    use crate::mime::Policy;
    use crate::pipeline::FolderPlan;

    const CONVERTED_AT: i64 = 1_795_435_200;

    fn b64(data: &[u8]) -> String {
        let s = base64_simd::STANDARD.encode_to_string(data);
        s.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Mail as clients send it: a text and an HTML body, a named PDF, an
    /// unnamed picture, a forwarded message, a non-ASCII subject and name.
    fn corpus_like() -> Vec<u8> {
        format!(
            "Return-Path: <ada@example.com>\r\nDate: Thu, 01 Feb 2024 10:00:00 +0100\r\nFrom: =?utf-8?q?Ada_L=C3=B6velace?= <Ada@Example.com>\r\nTo: Bob <bob@example.com>, carol@example.com\r\nSubject: =?utf-8?q?Bericht_f=C3=BCr_Q1?=\r\nMessage-ID: <q1.report@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\nThis is a multi-part message in MIME format.\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See attached.</p>\r\n--alt--\r\n--outer\r\nContent-Type: application/pdf; name=\"=?utf-8?q?Bericht_f=C3=BCr_Q1.pdf?=\"\r\nContent-Disposition: attachment; filename*=utf-8''Bericht%20f%C3%BCr%20Q1.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--outer\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n{jpg}\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.com\r\nSubject: earlier\r\n\r\n{fwd}\r\n--outer--\r\n",
            pdf = b64(&noise(40_000, 1)),
            jpg = b64(&noise(30_000, 2)),
            fwd = "old text line\r\n".repeat(2000),
        )
        .into_bytes()
    }

    fn meta(uid: u32, flags: &[&str], raw: &[u8]) -> MessageMeta {
        MessageMeta {
            uid,
            size: raw.len() as u64,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            internal_date: "01-Feb-2024 10:00:05 +0100".into(),
            internal_ts: 1_706_778_005,
            top_type: "multipart/mixed".into(),
            leaves: Vec::new(),
        }
    }

    #[test]
    fn issue9_a_converted_message_gives_back_the_record_the_run_wrote() {
        let raw = corpus_like();
        let policy = Policy {
            min_size: 10_000,
            now: CONVERTED_AT,
            ..Policy::default()
        };
        let d = mime::detach(&raw, &policy);
        let rewritten = d.rewritten.clone().expect("converted");
        assert_eq!(d.parts.len(), 3, "{:?}", d.notes);
        // What the run writes: record_for at step 4, the copy's UID at 6.
        let fp = FolderPlan {
            folder: "Sent".into(),
            handle: Folder::from_name("Sent"),
            uidvalidity: 77,
            candidates: Vec::new(),
            skipped: Vec::new(),
            lasting_skips: Vec::new(),
            append_limit: None,
        };
        let original = meta(5, &["\\Seen", "\\Recent", "$Work"], &raw);
        let mut expected =
            crate::pipeline::record_for("me", &fp, &original, &raw, &rewritten, &d.parts);
        expected.new_uid = Some(12);
        // The copy went in with the original's flags (without \Recent) and
        // INTERNALDATE.
        let copy = meta(12, &["\\Seen", "$Work"], &rewritten);
        let at = FoundAt {
            account: "me",
            folder: "Sent",
            uidvalidity: 77,
        };
        let got = rebuilt(at, &copy, &rewritten, 0).expect("read back");
        assert_eq!(got.processed_at, CONVERTED_AT);
        // The one field the copy cannot know.
        assert_eq!(got.record.old_uid, 0);
        expected.old_uid = 0;
        assert_eq!(got.record, expected);
        assert_eq!(got.record.subject.as_deref(), Some("Bericht für Q1"));
        assert_eq!(got.record.parts[0].filename, "Bericht für Q1.pdf");
    }

    #[test]
    fn issue9_a_whole_message_attachment_keeps_its_headers() {
        let raw = format!(
            "From: scanner@example.com\r\nTo: bob@example.com\r\nSubject: scan\r\nDate: Fri, 02 Feb 2024 09:00:00 +0000\r\nMessage-ID: <scan@example.com>\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(&noise(20_000, 3))
        )
        .into_bytes();
        let policy = Policy {
            min_size: 10_000,
            now: CONVERTED_AT,
            ..Policy::default()
        };
        let d = mime::detach(&raw, &policy);
        let rewritten = d.rewritten.clone().expect("converted");
        let at = FoundAt {
            account: "me",
            folder: "INBOX",
            uidvalidity: 1,
        };
        let got = rebuilt(at, &meta(3, &[], &rewritten), &rewritten, 0).unwrap();
        let r = &got.record;
        assert_eq!(r.message_id.as_deref(), Some("scan@example.com"));
        assert_eq!(r.from.as_deref(), Some("scanner@example.com"));
        assert_eq!(r.date, Some(1_706_864_400));
        assert_eq!(r.size_before, raw.len() as u64);
        assert_eq!(r.size_after, rewritten.len() as u64);
        assert_eq!(r.parts.len(), 1);
        assert_eq!(
            (r.parts[0].part_path.as_str(), r.parts[0].filename.as_str()),
            ("", "scan.pdf")
        );
    }

    #[test]
    fn issue9_a_changed_stub_is_reported_not_guessed() {
        let raw = corpus_like();
        let policy = Policy {
            min_size: 10_000,
            now: CONVERTED_AT,
            ..Policy::default()
        };
        let rewritten = mime::detach(&raw, &policy).rewritten.expect("converted");
        // Someone edited the message: the recipe no longer decodes.
        let text = String::from_utf8(rewritten).unwrap();
        let broken = text.replacen("X-Slimbox-Recipe: ", "X-Slimbox-Recipe: !!", 1);
        let at = FoundAt {
            account: "me",
            folder: "Sent",
            uidvalidity: 1,
        };
        let r = rebuilt(at, &meta(1, &[], broken.as_bytes()), broken.as_bytes(), 0);
        assert!(matches!(r, Err(ReattachError::BadRecipe { .. })), "{r:?}");
    }
}
