//! Unit tests of the engine on hand-made messages; the corpus and property
//! tests live in tests/.

use super::*;

pub(crate) fn policy(min: u64) -> Policy {
    Policy {
        min_size: min,
        link_template: "file:///store/sha256/{sha256_2}/{sha256}".into(),
        now: 1_795_435_200,
        ..Policy::default()
    }
}

fn b64_lines(data: &[u8], width: usize, eol: &str) -> String {
    let s = base64_simd::STANDARD.encode_to_string(data);
    s.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(eol)
}

fn mixed(att: &str, eol: &str) -> Vec<u8> {
    format!(
        "From: a@example.com{e}To: b@example.com{e}Subject: report{e}Message-ID: <m1@example.com>{e}MIME-Version: 1.0{e}Content-Type: multipart/mixed; boundary=\"XYZ\"{e}{e}preamble{e}--XYZ{e}Content-Type: text/plain{e}{e}Hello{e}--XYZ{e}Content-Type: application/pdf; name=\"report.pdf\"{e}Content-Disposition: attachment; filename=\"report.pdf\"{e}Content-Transfer-Encoding: base64{e}{e}{att}{e}--XYZ--{e}epilogue{e}",
        e = eol
    )
    .into_bytes()
}

fn objects_of<'a>(d: &'a Detached) -> impl Fn(&Sha256) -> Option<&'a [u8]> {
    move |h| {
        d.objects
            .iter()
            .find(|o| &o.sha256 == h)
            .map(|o| &o.data[..])
    }
}

fn round_trip(raw: &[u8], min: u64) -> Detached<'_> {
    let d = detach(raw, &policy(min));
    if let Some(rw) = &d.rewritten {
        let back = reattach(rw, &objects_of(&d)).expect("reattach");
        assert!(back == raw, "round trip differs");
    }
    d
}

#[test]
fn detaches_a_base64_attachment_and_gives_it_back() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    for eol in ["\r\n", "\n"] {
        let raw = mixed(&b64_lines(&data, 76, eol), eol);
        let d = round_trip(&raw, 1000);
        assert_eq!(d.parts.len(), 1, "{:?}", d.untouched_reason);
        let p = &d.parts[0];
        assert_eq!(p.filename, "report.pdf");
        assert_eq!(p.size, 5000);
        assert_eq!(p.sha256, <[u8; 32]>::from(Sha256Hasher::digest(&data)));
        assert_eq!(p.raw_sha256, None, "a regular body needs no raw copy");
        assert_eq!(d.objects.len(), 1);
        let rw = d.rewritten.as_ref().unwrap();
        assert!(rw.len() < raw.len());
        let text = String::from_utf8_lossy(rw);
        assert!(text.starts_with("X-Slimbox: v=1; parts=1; bytes=5000;"));
        // The default entry is plainly a note: no Thunderbird external
        // attachment, whose link Thunderbird would open as this text file.
        assert!(text.contains("X-Slimbox-Link: file:///store/sha256/"));
        assert!(!text.contains("X-Mozilla"));
        assert!(text.contains("filename=\"report.pdf.detached.txt\""));
        assert!(text.contains("X-Slimbox-Note: v=1"));
        assert!(text.contains("slimbox reattach --message-id 'm1@example.com'"));
        assert!(text.contains("preamble") && text.contains("epilogue"));
        assert!(is_processed(rw));
    }
}

#[test]
fn same_file_in_other_encodings_is_one_object() {
    let data = vec![42u8; 3000];
    let a = mixed(&b64_lines(&data, 76, "\r\n"), "\r\n");
    let b = mixed(&b64_lines(&data, 64, "\n"), "\n");
    let da = round_trip(&a, 100);
    let db = round_trip(&b, 100);
    assert_eq!(da.parts[0].sha256, db.parts[0].sha256);
}

#[test]
fn ragged_base64_keeps_the_raw_body_too() {
    let data = vec![7u8; 3000];
    let mut att = b64_lines(&data, 76, "\r\n");
    att.insert_str(10, "\r\n"); // one short line: no regular layout
    let raw = mixed(&att, "\r\n");
    let d = round_trip(&raw, 100);
    assert_eq!(d.parts.len(), 1);
    assert!(d.parts[0].raw_sha256.is_some());
    assert_eq!(d.objects.len(), 2);
}

#[test]
fn small_attachments_and_text_bodies_stay() {
    let raw = mixed(&b64_lines(&[1u8; 100], 76, "\r\n"), "\r\n");
    let d = round_trip(&raw, 1000);
    assert!(d.rewritten.is_none());
    assert!(d.untouched_reason.unwrap().contains("no attachment"));
}

#[test]
fn signed_mail_is_never_rewritten_unless_asked() {
    let raw = b"Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\r\n\r\n--s\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxx\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n";
    let d = detach(raw, &policy(1));
    assert!(d.untouched_reason.unwrap().contains("signed"));
    let mut p = policy(1);
    p.detach_signed = true;
    assert!(detach(raw, &p).rewritten.is_some());
}

#[test]
fn processed_mail_is_not_processed_twice() {
    let raw = mixed(&b64_lines(&[9u8; 2000], 76, "\r\n"), "\r\n");
    let d = detach(&raw, &policy(100));
    let rw = d.rewritten.unwrap();
    let again = detach(&rw, &policy(1));
    assert_eq!(
        again.untouched_reason.as_deref(),
        Some("already processed by slimbox")
    );
}

#[test]
fn cid_images_referenced_from_html_stay() {
    let img = b64_lines(&[3u8; 3000], 76, "\r\n");
    let raw = format!("Content-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo@x\">\r\n--r\r\nContent-Type: image/png; name=logo.png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{img}\r\n--r\r\nContent-Type: image/png; name=other.png\r\nContent-Transfer-Encoding: base64\r\n\r\n{img}\r\n--r--\r\n");
    let d = round_trip(raw.as_bytes(), 100);
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.parts[0].filename, "other.png");
}

#[test]
fn forwarded_message_is_detached_whole() {
    let inner = format!("Subject: old\r\n\r\n{}", "x".repeat(5000));
    let raw = format!("Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--m--\r\n");
    let d = round_trip(raw.as_bytes(), 1000);
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.parts[0].filename, "forwarded-message.eml");
    assert_eq!(d.parts[0].size as usize, inner.len());
}

/// A single-part PDF message after `prefix`, detached whole, its headers
/// kept: the rewritten message.
fn single_part_pdf_rewritten(prefix: &str) -> String {
    let raw = format!(
        "{prefix}From: a@b\r\nSubject: scan\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64_lines(&[5u8; 4000], 72, "\r\n")
    );
    let d = round_trip(raw.as_bytes(), 100);
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.parts[0].path, "");
    let rw = String::from_utf8(d.rewritten.unwrap()).unwrap();
    assert!(rw.contains("From: a@b\r\nSubject: scan\r\nContent-Type: text/plain"));
    assert!(!rw.contains("application/pdf; name=scan.pdf"));
    rw
}

#[test]
fn single_part_attachment_message_keeps_its_headers() {
    single_part_pdf_rewritten("");
}

#[test]
fn hostile_file_names_cannot_inject_headers() {
    let att = b64_lines(&[1u8; 2000], 76, "\r\n");
    let raw = format!("Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nContent-Type: application/octet-stream; name=\"=?utf-8?B?{}?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{att}\r\n--h--\r\n",
        base64_simd::STANDARD.encode_to_string("../../x\r\nBcc: evil@x\r\n--h--\r\n\u{202E}é.exe"));
    let d = round_trip(raw.as_bytes(), 100);
    let rw = String::from_utf8(d.rewritten.unwrap()).unwrap();
    assert!(!rw.contains("\r\nBcc:"));
    assert_eq!(rw.matches("\r\n--h--").count(), 1);
    for line in rw.lines() {
        assert!(
            !line.starts_with("--")
                || line.starts_with("--h")
                || line.starts_with("--slimbox-note-"),
            "{line}"
        );
    }
}

#[test]
fn malformed_input_is_untouched_with_a_reason() {
    for raw in [
        &b""[..],
        b"\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nunterminated",
    ] {
        let d = detach(raw, &policy(1));
        assert!(d.rewritten.is_none());
        assert!(d.untouched_reason.is_some());
    }
}

#[test]
fn reattach_reports_missing_and_corrupt_objects() {
    let raw = mixed(&b64_lines(&[8u8; 2000], 76, "\r\n"), "\r\n");
    let d = detach(&raw, &policy(100));
    let rw = d.rewritten.as_ref().unwrap();
    assert!(matches!(
        reattach(rw, &|_| None),
        Err(ReattachError::MissingObject { .. })
    ));
    let bad = vec![0u8; 2000];
    assert!(matches!(
        reattach(rw, &|_| Some(&bad[..])),
        Err(ReattachError::CorruptObject { .. })
    ));
    assert!(matches!(
        reattach(&raw, &|_| None),
        Err(ReattachError::NotProcessed)
    ));
    assert_eq!(objects_needed(rw).unwrap(), vec![d.parts[0].sha256]);
}

#[test]
fn type_filters_apply() {
    let raw = mixed(&b64_lines(&[8u8; 2000], 76, "\r\n"), "\r\n");
    let mut p = policy(100);
    p.exclude_types = vec!["application/*".into()];
    assert!(detach(&raw, &p).rewritten.is_none());
    p.exclude_types.clear();
    p.include_types = vec!["image/*".into()];
    assert!(detach(&raw, &p).rewritten.is_none());
    p.include_types = vec!["application/pdf".into()];
    assert!(detach(&raw, &p).rewritten.is_some());
}

#[test]
fn reattach_equals_compares_without_rebuilding() {
    let raw = mixed(&b64_lines(&[6u8; 3000], 76, "\r\n"), "\r\n");
    let d = detach(&raw, &policy(100));
    let rw = d.rewritten.as_ref().unwrap();
    assert!(reattach_equals(rw, &objects_of(&d), &raw, false).unwrap());
    let mut other = raw.clone();
    other.push(b'x');
    assert!(!reattach_equals(rw, &objects_of(&d), &other, false).unwrap());
    assert!(!reattach_equals(rw, &objects_of(&d), &raw[..raw.len() - 1], false).unwrap());
}

#[test]
fn unproven_detach_matches_detach_on_regular_base64() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let raw = mixed(&b64_lines(&data, 76, "\r\n"), "\r\n");
    let proven = detach(&raw, &policy(1000));
    let unproven = detach_unproven(&raw, &policy(1000));
    assert_eq!(proven.rewritten, unproven.rewritten);
    let rewritten = unproven.rewritten.as_deref().expect("rewritten");
    let back = reattach(rewritten, &objects_of(&unproven)).expect("reattach");
    assert_eq!(back, raw);
}

#[test]
fn unproven_detach_declines_non_canonical_base64_as_detach_does() {
    // Non-canonical padding bits ("QR==" would decode like "QQ==") cannot
    // re-encode to the same characters; the strict decoder refuses them,
    // so even without the engine's own proof nothing wrong is produced
    // (and the caller's proof from the store would catch it if it were).
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 13) as u8).collect();
    let mut b64 = b64_lines(&data, 76, "\r\n");
    b64.push_str("\r\nQR==");
    let raw = mixed(&b64, "\r\n");
    for d in [
        detach(&raw, &policy(100)),
        detach_unproven(&raw, &policy(100)),
    ] {
        assert!(d.rewritten.is_none());
        assert!(
            d.notes.iter().any(|n| n.contains("base64")),
            "{:?}",
            d.notes
        );
    }
}

#[test]
fn issue8_type_patterns_are_checked() {
    for good in ["*", "image/*", "application/pdf", "image/svg+xml", " a/b "] {
        assert_eq!(check_type_pattern(good), Ok(()), "{good}");
    }
    for bad in ["image", "image/png*", "/png", "image/", "*/*x", "a b/c", ""] {
        let msg = check_type_pattern(bad).expect_err(bad);
        assert!(msg.contains("is not a content-type pattern"), "{msg}");
    }
    // What the check accepts, type_matches understands.
    assert!(type_matches("image/png", "image/*"));
    assert!(type_allowed(
        "image/svg+xml",
        &["image/svg+xml".into()],
        &[]
    ));
}

const MBOX_FROM: &str = "From alice@example.com Mon Jan  1 00:00:00 2024";

#[test]
fn issue8_marker_goes_after_an_mbox_from_line_and_the_round_trip_is_exact() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    for eol in ["\r\n", "\n"] {
        let mut raw = format!("{MBOX_FROM}{eol}").into_bytes();
        raw.extend_from_slice(&mixed(&b64_lines(&data, 76, eol), eol));
        let d = round_trip(&raw, 1000);
        assert_eq!(d.parts.len(), 1, "{:?}", d.untouched_reason);
        let rw = d.rewritten.as_deref().unwrap();
        let text = String::from_utf8_lossy(rw);
        let expected_start = format!("{MBOX_FROM}{eol}X-Slimbox: v=1; parts=1; bytes=5000;");
        assert!(text.starts_with(&expected_start), "{text}");
        assert!(text.contains(&format!("original-size={};", raw.len())));
        assert!(is_processed(rw));
        let line = marker_line(rw).unwrap();
        assert!(line.starts_with("X-Slimbox: v=1; parts=1;"), "{line}");
        assert!(!line.ends_with('\r'), "{line:?}");
        assert_eq!(objects_needed(rw).unwrap(), vec![d.parts[0].sha256]);
        assert!(reattach_equals(rw, &objects_of(&d), &raw, false).unwrap());
        // Processed once is processed for good, From line or not.
        assert_eq!(
            detach(rw, &policy(1)).untouched_reason.as_deref(),
            Some("already processed by slimbox")
        );
        assert!(detach_unproven(&raw, &policy(1000)).rewritten.as_deref() == Some(rw));
    }
}

#[test]
fn issue8_single_part_message_after_an_mbox_from_line() {
    let rw = single_part_pdf_rewritten(&format!("{MBOX_FROM}\r\n"));
    assert!(rw.starts_with(&format!("{MBOX_FROM}\r\nX-Slimbox: v=1;")));
    assert_eq!(rw.matches(MBOX_FROM).count(), 1);
}

#[test]
fn issue8_marker_line_reads_the_marker_wherever_it_is() {
    let raw = mixed(&b64_lines(&[9u8; 2000], 76, "\r\n"), "\r\n");
    let rw = detach(&raw, &policy(100)).rewritten.unwrap();
    let line = marker_line(&rw).unwrap();
    assert!(
        line.starts_with("X-Slimbox: v=1; parts=1; bytes=2000;"),
        "{line}"
    );
    assert!(line.contains(&format!("original-size={};", raw.len())));
    assert_eq!(marker_line(&raw), None);
    assert_eq!(marker_line(b""), None);
    assert_eq!(marker_line(b"X-Slimbox: v=1\r\n"), Some("X-Slimbox: v=1"));
    assert_eq!(
        marker_line(b"From x\nX-Slimbox: v=2\n"),
        Some("X-Slimbox: v=2")
    );
}

#[test]
fn issue8_parts_named_only_in_content_type_are_attachments() {
    let log = "log line\r\n".repeat(300);
    let csv = b64_lines(&b"a,b,c\r\n".repeat(500), 76, "\r\n");
    let body = "Hello, the log and data are attached.\r\n".repeat(100);
    let raw = format!(
        "From: a@example.com\r\nMessage-ID: <old@example.com>\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
         --o\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}\r\n\
         --alt\r\nContent-Type: text/html\r\n\r\n<p>{body}</p>\r\n--alt--\r\n\
         --o\r\nContent-Type: text/plain; name=\"log.txt\"\r\n\r\n{log}\r\n\
         --o\r\nContent-Type: text/csv; name=data.csv\r\nContent-Transfer-Encoding: base64\r\n\r\n{csv}\r\n\
         --o\r\nContent-Type: text/plain; name=\"shown.txt\"\r\nContent-Disposition: inline\r\n\r\n{log}\r\n--o--\r\n"
    );
    let d = round_trip(raw.as_bytes(), 1000);
    let names: Vec<&str> = d.parts.iter().map(|p| p.filename.as_str()).collect();
    assert_eq!(names, ["log.txt", "data.csv"], "{:?}", d.untouched_reason);
    assert_eq!(d.parts[0].content_type, "text/plain");
    assert_eq!(d.parts[1].content_type, "text/csv");
    let rw = String::from_utf8(d.rewritten.unwrap()).unwrap();
    assert!(rw.contains(&format!("Content-Type: text/html\r\n\r\n<p>{body}</p>")));
    assert!(rw.contains("name=\"shown.txt\"\r\nContent-Disposition: inline\r\n\r\nlog line"));
}

#[test]
fn issue8_a_named_single_part_text_message_is_its_own_body() {
    let raw = format!(
        "From: a@b\r\nContent-Type: text/plain; name=\"log.txt\"\r\n\r\n{}",
        "line\r\n".repeat(1000)
    );
    let d = round_trip(raw.as_bytes(), 100);
    assert!(d.rewritten.is_none());
}

#[test]
fn issue8_the_attachment_rule() {
    // (content type, disposition, named, whole message, counts)
    let cases = [
        ("text/plain", None, true, false, true),
        ("text/csv", None, true, false, true),
        ("text/plain", None, false, false, false),
        ("text/html", None, false, false, false),
        ("text/plain", Some("inline"), true, false, false),
        ("text/plain", None, true, true, false),
        ("text/plain", Some("attachment"), false, true, true),
        ("application/pdf", None, true, true, true),
        ("application/pdf", Some("inline"), true, false, true),
        ("image/png", None, false, false, false),
        ("multipart/mixed", None, true, false, false),
        ("message/rfc822", None, true, false, false),
    ];
    for (t, disp, named, whole, want) in cases {
        assert_eq!(
            counts_as_attachment(t, disp, named, whole),
            want,
            "{t} {disp:?} named={named} whole={whole}"
        );
    }
}

fn with_name(name: &str, data: &[u8]) -> Vec<u8> {
    let att = b64_lines(data, 76, "\r\n");
    format!(
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nHi\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''{name}\r\nContent-Transfer-Encoding: base64\r\n\r\n{att}\r\n--B--\r\n"
    )
    .into_bytes()
}

#[test]
fn issue12_signed_links_go_into_the_stub() {
    let data = vec![7u8; 4000];
    let raw = with_name("r%C3%A9sum%C3%A9%20%3Cx%3E.pdf", &data);
    let secret = std::sync::Arc::new(crate::links::Secret::from_bytes(&[9u8; 32]));
    let p = Policy {
        links: Links::Signed(SignedLinks {
            secret: secret.clone(),
            base: "https://files.example.com".into(),
            expires: Some(4_000_000_000),
        }),
        ..policy(1000)
    };
    let d = detach(&raw, &p);
    let rw = d.rewritten.as_ref().expect("detached");
    let sha = hex::encode(Sha256Hasher::digest(&data));
    let link = &d.parts[0].link;
    // The short form (issue 19): hash prefix and tag, expiry, name.
    let target = link.strip_prefix("https://files.example.com").unwrap();
    assert!(
        target.starts_with("/f/") && target.ends_with("/r%C3%A9sum%C3%A9%20%3Cx%3E.pdf"),
        "{link}"
    );
    assert!(link.len() <= crate::links::LINK_MAX, "{link}");
    let text = String::from_utf8_lossy(rw);
    assert!(text.contains(&format!("X-Slimbox-Link: {link}\r\n")));
    // The note shows it whole on a line of its own.
    let (plain, _) = note::tests::note_texts(rw).expect("note");
    assert!(plain.contains(&format!("\n{link}\n")), "{plain}");
    // The server's check accepts it, for the name the stub shows.
    let hash: [u8; 32] = Sha256Hasher::digest(&data).into();
    let ok = secret.check_file_target(target, &[hash], 1_800_000_000);
    assert_eq!(ok.as_ref().map(|f| f.sha256.as_str()), Ok(sha.as_str()));
    let expired = secret.check_file_target(target, &[hash], 4_000_000_000);
    assert_eq!(expired, Err(crate::links::Refused::Expired));
    assert_eq!(ok.map(|f| f.name), Ok("résumé <x>.pdf".to_string()));
    assert_eq!(reattach(rw, &objects_of(&d)).expect("reattach"), raw);
}

#[test]
fn issue12_given_links_by_hash_and_name_fall_back_to_the_template() {
    let data = vec![8u8; 4000];
    let raw = with_name("a.pdf", &data);
    let sha: Sha256 = Sha256Hasher::digest(&data).into();
    let mut map = std::collections::HashMap::new();
    map.insert(
        (sha, "a.pdf".to_string()),
        "file:///s/files/me/2026/11/a.pdf".to_string(),
    );
    let p = Policy {
        links: Links::Given(std::sync::Arc::new(map.clone())),
        ..policy(1000)
    };
    assert_eq!(
        detach(&raw, &p).parts[0].link,
        "file:///s/files/me/2026/11/a.pdf"
    );
    let other = with_name("b.pdf", &data);
    assert!(detach(&other, &p).parts[0]
        .link
        .starts_with("file:///store/sha256/"));
}

#[test]
fn issue12_html_stubs_escape_names_and_reattach_exactly() {
    let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    for name in [
        "plain.pdf",
        "%3Cscript%3Ea%26b%22.pdf",
        "na%C3%AFve%20--x.pdf",
    ] {
        let raw = with_name(name, &data);
        let p = Policy {
            stub_format: StubFormat::Html,
            link_template: "https://x.example/{sha256}/{name}?a=1&b=2".into(),
            ..policy(1000)
        };
        let d = detach(&raw, &p);
        let rw = d.rewritten.as_ref().expect("detached");
        assert_eq!(
            reattach(rw, &objects_of(&d)).expect("reattach"),
            raw,
            "{name}"
        );
        let text = String::from_utf8_lossy(rw);
        assert!(
            text.contains("Content-Type: text/html; charset=utf-8;"),
            "{text}"
        );
        assert!(text.contains(".detached.html"), "{text}");
        assert!(text.contains("X-Slimbox-Link: https://x.example/"));
        assert!(!text.contains("X-Mozilla"), "{text}");
        // Only the note's plain text shows the name as it is.
        assert!(text.matches("<script>").count() <= 1, "{text}");
        assert!(!text.contains("<b><script>") && !text.contains("\"><script>"));
        assert!(text.contains("&amp;b="), "{text}");
        // Read back as the index rebuild reads it: the same parts.
        let c = read_converted(rw).expect("read back");
        assert_eq!(c.parts, d.parts);
    }
    let raw = with_name("%3Cscript%3Ea%26b%22.pdf", &data);
    let p = Policy {
        stub_format: StubFormat::Html,
        ..policy(1000)
    };
    let text = String::from_utf8(detach(&raw, &p).rewritten.unwrap()).unwrap();
    assert!(
        text.contains("<b>&lt;script&gt;a&amp;b&quot;.pdf</b>"),
        "{text}"
    );
}

#[test]
fn issue13_links_chosen_after_planning_match_links_given_before() {
    // Readable copies' names are chosen once detach knows the files: one
    // detach gives what a detach to learn them and a second with the map
    // gave, byte for byte, with and without the engine's own proof.
    let data: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 251) as u8).collect();
    let raw = with_name("Bericht März.pdf", &data);
    let sha: Sha256 = Sha256Hasher::digest(&data).into();
    let link = "file:///s/files/me/2026/11/Bericht%20M%C3%A4rz.pdf".to_string();
    let mut map = std::collections::HashMap::new();
    map.insert((sha, safe_name("Bericht März.pdf")), link.clone());
    let given = Policy {
        links: Links::Given(std::sync::Arc::new(map.clone())),
        ..policy(1000)
    };
    for prove in [true, false] {
        let mut calls = 0;
        let d = detach_linked(&raw, &policy(1000), prove, |parts| {
            calls += 1;
            assert_eq!(parts.len(), 1);
            assert_eq!((parts[0].sha256, parts[0].size), (sha, 9000));
            Ok::<_, String>(Some(Links::Given(std::sync::Arc::new(map.clone()))))
        })
        .expect("links chosen");
        assert_eq!(calls, 1);
        assert_eq!(d.parts[0].link, link);
        assert_eq!(d.rewritten, detach(&raw, &given).rewritten, "prove {prove}");
        assert_eq!(
            reattach(d.rewritten.as_ref().unwrap(), &objects_of(&d)).unwrap(),
            raw
        );
    }
    // No choice: the policy's own links; an error ends the detach.
    let d = detach_linked(&raw, &policy(1000), true, |_| Ok::<_, String>(None)).unwrap();
    assert_eq!(d.rewritten, detach(&raw, &policy(1000)).rewritten);
    let e = detach_linked(&raw, &policy(1000), true, |_| Err("disk full".to_string()));
    assert_eq!(e.err().as_deref(), Some("disk full"));
    // Nothing to detach: never asked.
    let small = with_name("tiny.pdf", &data[..10]);
    let d = detach_linked(&small, &policy(1000), true, |_| -> Result<_, String> {
        panic!("asked for links with nothing to detach")
    })
    .unwrap();
    assert!(d.rewritten.is_none());
}
