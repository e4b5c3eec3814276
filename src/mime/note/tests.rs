//! The note's placement, its text, its exact removal, and the entry styles
//! of the stubs beside it (issue 19).

use super::super::encoding::decode_qp;
use super::super::tests::policy;
use super::super::*;
use super::{boundary, walk, Seen, NOTE_HEADER};

fn b64(data: &[u8], e: &str) -> String {
    let s = base64_simd::STANDARD.encode_to_string(data);
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(e)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(37) as u8) ^ seed)
        .collect()
}

/// An attachment part (no delimiter line), lines ending with `e`.
fn att(name: &str, ctype: &str, len: usize, seed: u8, e: &str) -> String {
    format!(
        "Content-Type: {ctype}; name=\"{name}\"{e}Content-Disposition: attachment; filename=\"{name}\"{e}Content-Transfer-Encoding: base64{e}{e}{}",
        b64(&data(len, seed), e)
    )
}

/// A message: top-level `ctype` (boundary `B`) holding `parts`.
fn message(ctype: &str, parts: &[String], e: &str) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com{e}Subject: s{e}Message-ID: <n1@example.com>{e}MIME-Version: 1.0{e}Content-Type: {ctype}; boundary=\"B\"{e}{e}preamble{e}"
    );
    for p in parts {
        m.push_str(&format!("--B{e}{p}{e}"));
    }
    m.push_str(&format!("--B--{e}"));
    m.into_bytes()
}

fn text(body: &str, e: &str) -> String {
    format!("Content-Type: text/plain; charset=utf-8{e}{e}{body}")
}

fn objects<'a>(d: &'a Detached) -> impl Fn(&Sha256) -> Option<&'a [u8]> {
    move |h| {
        d.objects
            .iter()
            .find(|o| &o.sha256 == h)
            .map(|o| &o.data[..])
    }
}

/// Detaches with `p`, proves the round trip exact by reattach (and by
/// comparison), checks that the index rebuild reads back what detach
/// reported, and returns the rewritten message.
fn converts(raw: &[u8], p: &Policy) -> (Detached<'static>, String) {
    let raw: &'static [u8] = Box::leak(raw.to_vec().into_boxed_slice());
    let d = detach(raw, p);
    let rw = d.rewritten.clone().expect("rewritten");
    assert_eq!(reattach(&rw, &objects(&d)).expect("reattach"), raw);
    assert!(reattach_equals(&rw, &objects(&d), raw, false).unwrap());
    let c = read_converted(&rw).expect("read back");
    assert_eq!(c.parts, d.parts);
    let wanted: Vec<Sha256> = d.parts.iter().map(|p| p.sha256).collect();
    assert_eq!(objects_needed(&rw).unwrap(), wanted);
    (d, String::from_utf8(rw).expect("utf-8"))
}

/// The note's plain text and HTML, decoded, if the message has a note.
pub(crate) fn note_texts(rw: &[u8]) -> Option<(String, String)> {
    let span = stub::marker_span(rw)?;
    let body = &rw[span.end..];
    let tree = structure::scan(body).ok()?;
    let note = walk(body, &tree).into_iter().find_map(|s| match s {
        Seen::Note(p) => Some(p),
        Seen::Part { .. } => None,
    })?;
    let decode = |p: &Part| {
        let b = &body[p.body_start..p.end];
        let hdr = String::from_utf8_lossy(&body[p.start..p.body_start]);
        let bytes = if hdr.contains("quoted-printable") {
            decode_qp(b)
        } else {
            b.to_vec()
        };
        String::from_utf8(bytes)
            .expect("utf-8")
            .replace("\r\n", "\n")
    };
    Some((decode(&note.children[0]), decode(&note.children[1])))
}

#[test]
fn issue19_note_goes_right_after_the_text_of_a_mixed_message() {
    for e in ["\r\n", "\n"] {
        let raw = message(
            "multipart/mixed",
            &[
                text("Hello", e),
                att("Q3-report.pdf", "application/pdf", 3000, 1, e),
                att("photo.jpg", "image/jpeg", 2500, 2, e),
            ],
            e,
        );
        let (d, rw) = converts(&raw, &policy(1000));
        assert_eq!(d.parts.len(), 2);
        assert!(
            rw.contains(&format!(
                "Hello{e}--B{e}Content-Type: multipart/alternative; boundary=\"slimbox-note-"
            )),
            "{rw}"
        );
        assert_eq!(rw.matches("X-Slimbox-Note: v=1").count(), 1);
        // Parts keep the numbers of the original message.
        assert_eq!(d.parts[0].path, "2");
        let (plain, html) = note_texts(rw.as_bytes()).expect("note");
        let l0 = &d.parts[0].link;
        let l1 = &d.parts[1].link;
        assert_eq!(
            plain,
            format!(
                "slimbox moved 2 attachments out of this message to save mailbox space.\n\
                 Nothing was lost: each file opens from its link below.\n\n\
                 Q3-report.pdf (2.9 KiB)\n{l0}\n\nphoto.jpg (2.4 KiB)\n{l1}\n\n\
                 To put the original message back into the mailbox:\n\
                 \x20 slimbox reattach --message-id 'n1@example.com'\n"
            )
        );
        assert!(html.contains(&format!("<li><a href=\"{l0}\">Q3-report.pdf</a> (2.9 KiB)")));
        for line in html.lines() {
            assert!(line.len() < 300 && !line.starts_with("--"), "{line}");
        }
    }
}

#[test]
fn issue19_note_goes_after_an_alternative_body_in_mixed() {
    let e = "\r\n";
    let alt = format!(
        "Content-Type: multipart/alternative; boundary=\"A\"{e}{e}--A{e}{}{e}--A{e}Content-Type: text/html{e}{e}<p>Hello</p>{e}--A--",
        text("Hello", e)
    );
    let raw = message(
        "multipart/mixed",
        &[alt, att("a.pdf", "application/pdf", 3000, 3, e)],
        e,
    );
    let (_, rw) = converts(&raw, &policy(1000));
    assert!(
        rw.contains(
            "--A--\r\n--B\r\nContent-Type: multipart/alternative; boundary=\"slimbox-note-"
        ),
        "{rw}"
    );
}

#[test]
fn issue19_a_message_of_attachments_only_shows_the_note_as_its_text() {
    for e in ["\r\n", "\n"] {
        let raw = message(
            "multipart/mixed",
            &[
                att("a.pdf", "application/pdf", 3000, 4, e),
                att("b.png", "image/png", 2000, 5, e),
            ],
            e,
        );
        let (d, rw) = converts(&raw, &policy(1000));
        assert_eq!(d.parts.len(), 2);
        // First, right after the preamble.
        assert!(
            rw.contains(&format!(
                "preamble{e}--B{e}Content-Type: multipart/alternative;"
            )),
            "{rw}"
        );
        assert_eq!(d.parts[0].path, "1");
    }
    // A named text file first is an attachment, not the message's text.
    let e = "\r\n";
    let log = format!(
        "Content-Type: text/plain; name=\"log.txt\"{e}{e}{}",
        "x".repeat(3000)
    );
    let raw = message(
        "multipart/mixed",
        &[log, att("a.pdf", "application/pdf", 3000, 4, e)],
        e,
    );
    let (d, rw) = converts(&raw, &policy(1000));
    assert_eq!(d.parts.len(), 2);
    assert!(rw.contains("preamble\r\n--B\r\nContent-Type: multipart/alternative;"));
}

#[test]
fn issue19_a_single_part_message_gets_an_inline_stub_and_no_note() {
    let e = "\r\n";
    let raw = format!(
        "From: a@b{e}Subject: scan{e}Content-Type: application/pdf; name=scan.pdf{e}Content-Disposition: attachment; filename=scan.pdf{e}Content-Transfer-Encoding: base64{e}{e}{}{e}",
        b64(&data(4000, 6), e)
    );
    let (_, rw) = converts(raw.as_bytes(), &policy(100));
    assert!(!rw.contains(NOTE_HEADER));
    assert!(rw.contains("Content-Disposition: inline;\r\n filename=\"scan.pdf.detached.txt\""));
    // With the note off, the stub stays an attachment.
    let off = Policy {
        note: false,
        ..policy(100)
    };
    let (_, rw) = converts(raw.as_bytes(), &off);
    assert!(rw.contains("Content-Disposition: attachment;\r\n filename=\"scan.pdf.detached.txt\""));
}

#[test]
fn issue19_attachments_only_under_related_show_their_stubs_inline() {
    let e = "\n";
    let html = format!("Content-Type: text/html{e}{e}<p>see attached</p>");
    let raw = message(
        "multipart/related",
        &[html, att("a.pdf", "application/pdf", 3000, 7, e)],
        e,
    );
    let (_, rw) = converts(&raw, &policy(1000));
    assert!(!rw.contains(NOTE_HEADER), "{rw}");
    assert!(rw.contains("Content-Disposition: inline;\n filename=\"a.pdf.detached.txt\""));
}

#[test]
fn issue19_the_nearest_mixed_holds_the_note_when_the_top_is_not_mixed() {
    let e = "\r\n";
    let inner = format!(
        "Content-Type: multipart/mixed; boundary=\"M\"{e}{e}--M{e}{}{e}--M{e}{}{e}--M--",
        text("inner text", e),
        att("a.pdf", "application/pdf", 3000, 8, e)
    );
    let raw = message("multipart/alternative", &[text("plain", e), inner], e);
    let (d, rw) = converts(&raw, &policy(1000));
    assert_eq!(d.parts[0].path, "2.2");
    assert!(
        rw.contains("inner text\r\n--M\r\nContent-Type: multipart/alternative;"),
        "{rw}"
    );
}

#[test]
fn issue19_the_note_is_removed_exactly_from_lf_crlf_and_mbox_messages() {
    for e in ["\r\n", "\n"] {
        for from in ["", "From alice@example.com Mon Jan  1 00:00:00 2024"] {
            let mut raw = if from.is_empty() {
                Vec::new()
            } else {
                format!("{from}{e}").into_bytes()
            };
            raw.extend_from_slice(&message(
                "multipart/mixed",
                &[
                    text("Hello", e),
                    att("a.pdf", "application/pdf", 3000, 9, e),
                ],
                e,
            ));
            let (d, rw) = converts(&raw, &policy(1000));
            assert!(rw.starts_with(from));
            // What reattach removes is exactly what detach inserted: the
            // rewritten message without the note and the stubs' recipes is
            // the original with stubs.
            let note = rw.find("--B").map(|_| ()).and(note_texts(rw.as_bytes()));
            assert!(note.is_some());
            assert_eq!(
                detach_unproven(&raw, &policy(1000)).rewritten.as_deref(),
                d.rewritten.as_deref()
            );
        }
    }
}

#[test]
fn issue19_note_off_writes_no_note() {
    let e = "\r\n";
    let raw = message(
        "multipart/mixed",
        &[
            text("Hello", e),
            att("a.pdf", "application/pdf", 3000, 10, e),
        ],
        e,
    );
    let off = Policy {
        note: false,
        ..policy(1000)
    };
    let (_, rw) = converts(&raw, &off);
    assert!(!rw.contains(NOTE_HEADER) && !rw.contains("slimbox-note-"));
    assert!(rw.contains("Content-Disposition: attachment;"));
}

#[test]
fn issue19_entry_styles_headers() {
    let e = "\r\n";
    let raw = message(
        "multipart/mixed",
        &[
            text("Hello", e),
            att("report.pdf", "application/pdf", 3000, 11, e),
        ],
        e,
    );
    // Note: plainly a small text, no Thunderbird external attachment.
    let (d, rw) = converts(&raw, &policy(1000));
    let link = &d.parts[0].link;
    assert!(link.starts_with("file:///store/"));
    assert!(rw.contains(
        "Content-Type: text/plain; charset=utf-8;\r\n name=\"report.pdf.detached.txt\"\r\n\
         Content-Disposition: attachment;\r\n filename=\"report.pdf.detached.txt\"\r\n"
    ));
    assert!(rw.contains(&format!("X-Slimbox-Link: {link}\r\nX-Slimbox-Recipe: ")));
    assert!(!rw.contains("X-Mozilla"));
    // Original: the original type and name, and Thunderbird's own headers.
    let original = Policy {
        entries: Entries::Original,
        ..policy(1000)
    };
    let (_, rw) = converts(&raw, &original);
    assert!(
        rw.contains(&format!(
            "Content-Type: application/pdf;\r\n name=\"report.pdf\"\r\n\
             Content-Disposition: attachment;\r\n filename=\"report.pdf\"\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             Content-Description: report.pdf (detached by slimbox)\r\n\
             X-Mozilla-External-Attachment-URL: {link}\r\n\
             X-Mozilla-Altered: AttachmentDetached; date=\"Mon Nov 23 12:00:00 2026\"\r\n\
             X-Slimbox-Link: {link}\r\nX-Slimbox-Recipe: "
        )),
        "{rw}"
    );
    assert!(!rw.contains(".detached."));
    // The stub's body is still its text, the link whole on its own line.
    assert!(rw.contains("report.pdf was moved out of this message by slimbox"));
    assert!(rw.contains(&format!("\r\n\r\n{link}\r\n\r\nFile:     report.pdf\r\n")));
    // Thunderbird fetches no http link there: an https link is a note.
    let https = Policy {
        entries: Entries::Original,
        link_template: "https://files.example.com/{sha256}".into(),
        ..policy(1000)
    };
    let (_, rw) = converts(&raw, &https);
    assert!(rw.contains("name=\"report.pdf.detached.txt\""));
    assert!(!rw.contains("X-Mozilla"));
    // The html stub format in the original style keeps the text body.
    let html = Policy {
        stub_format: StubFormat::Html,
        ..original
    };
    let (_, rw) = converts(&raw, &html);
    assert!(rw.contains("Content-Type: application/pdf;") && !rw.contains("<title>"));
}

#[test]
fn issue19_entries_parse_from_their_names() {
    assert_eq!("note".parse::<Entries>(), Ok(Entries::Note));
    assert_eq!("original".parse::<Entries>(), Ok(Entries::Original));
    let err = "thunderbird".parse::<Entries>().unwrap_err();
    assert!(
        err.contains("\"note\"") && err.contains("\"original\""),
        "{err}"
    );
    assert_eq!(Entries::default(), DEFAULT_ENTRIES);
    assert!(Policy::default().note);
}

#[test]
fn issue19_hostile_names_in_the_note_are_escaped_and_stay_on_their_line() {
    let e = "\r\n";
    let hostile = [
        "=?utf-8?B?PC9hPjxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD4ucGRm?=", // </a><script>alert(1)</script>.pdf
        "=?utf-8?B?LS1CLS0NCkJjYzogeEB5LnBkZg==?=",                 // --B--\r\nBcc: x@y.pdf
        "=?utf-8?B?YeKAqGLigKljLnBkZg==?=",                         // a\u{2028}b\u{2029}c.pdf
        "=?utf-8?B?ZXZpbOKArmZkcC5leGU=?=",                         // evil\u{202E}fdp.exe
    ];
    let parts: Vec<String> = std::iter::once(text("Hello", e))
        .chain(
            hostile
                .iter()
                .enumerate()
                .map(|(i, n)| att(n, "application/octet-stream", 2000, 20 + i as u8, e)),
        )
        .collect();
    let raw = message("multipart/mixed", &parts, e);
    let (d, rw) = converts(&raw, &policy(1000));
    assert_eq!(d.parts.len(), 4);
    let (plain, html) = note_texts(rw.as_bytes()).expect("note");
    assert!(
        !html.contains("<script>") && !html.contains("</a><"),
        "{html}"
    );
    // (safe_name has made the slashes `_`.)
    assert!(html.contains("&lt;_a&gt;&lt;script&gt;alert(1)&lt;_script&gt;.pdf"));
    // Each name on one line, right above its link; the override is gone.
    let lines: Vec<&str> = plain.lines().collect();
    for p in &d.parts {
        let at = lines.iter().position(|l| *l == p.link).expect("link line");
        assert!(lines[at - 1].starts_with(&safe_name(&p.filename)));
    }
    assert!(plain.contains("a_b_c.pdf (") && plain.contains("evil_fdp.exe ("));
    assert!(!plain.contains('\u{202E}') && !html.contains('\u{202E}'));
    assert!(!plain.contains('\u{2028}') && !rw.contains('\u{2028}'));
    // No raw line may look like a delimiter but the real ones.
    for line in rw.lines() {
        assert!(
            !line.starts_with("--")
                || line == "--B"
                || line == "--B--"
                || line.starts_with("--slimbox-note-"),
            "{line}"
        );
    }
    assert!(!rw.contains("\r\nBcc:"));
}

#[test]
fn issue19_the_note_boundary_occurs_nowhere_else() {
    let e = "\r\n";
    let pdf = data(3000, 30);
    let sha: Sha256 = Sha256Hasher::digest(&pdf).into();
    let first = boundary(&sha, 0);
    let raw = message(
        "multipart/mixed",
        &[
            text(&format!("look: {first}"), e),
            att("a.pdf", "application/pdf", 3000, 30, e),
        ],
        e,
    );
    let (_, rw) = converts(&raw, &policy(1000));
    assert_eq!(rw.matches(first.as_str()).count(), 1, "{rw}");
    assert!(rw.contains("boundary=\"slimbox-note-"));
}

#[test]
fn issue19_a_message_with_a_note_part_of_its_own_is_left_alone() {
    let e = "\r\n";
    let fake = format!("Content-Type: text/plain{e}X-Slimbox-Note: v=1{e}{e}hi");
    let raw = message(
        "multipart/mixed",
        &[fake, att("a.pdf", "application/pdf", 3000, 31, e)],
        e,
    );
    let d = detach(&raw, &policy(1000));
    assert!(d.rewritten.is_none());
    assert!(d.untouched_reason.unwrap().contains(NOTE_HEADER));
}

#[test]
fn issue19_stubs_written_before_the_note_still_read_and_reattach() {
    // Earlier versions wrote the link only in Thunderbird's header, the
    // stub as `<name>.detached.txt`, and no note.
    let e = "\r\n";
    let raw = message(
        "multipart/mixed",
        &[
            text("Hello", e),
            att("a.pdf", "application/pdf", 3000, 32, e),
        ],
        e,
    );
    let off = Policy {
        note: false,
        ..policy(1000)
    };
    let d = detach(&raw, &off);
    let rw = String::from_utf8(d.rewritten.clone().unwrap()).unwrap();
    let link = &d.parts[0].link;
    let old = rw.replace(
        &format!("X-Slimbox-Link: {link}\r\n"),
        &format!(
            "X-Mozilla-External-Attachment-URL: {link}\r\n\
             X-Mozilla-Altered: AttachmentDetached; date=\"Mon Nov 23 12:00:00 2026\"\r\n"
        ),
    );
    assert_ne!(old, rw);
    assert_eq!(reattach(old.as_bytes(), &objects(&d)).unwrap(), raw);
    assert_eq!(read_converted(old.as_bytes()).unwrap().parts, d.parts);
}

#[test]
fn issue19_the_stub_text_says_the_file_moved_with_its_link_on_a_line() {
    let e = "\n";
    let raw = message(
        "multipart/mixed",
        &[
            text("Hello", e),
            att("Q3-report.pdf", "application/pdf", 3000, 33, e),
        ],
        e,
    );
    let (d, rw) = converts(&raw, &policy(1000));
    let link = &d.parts[0].link;
    assert!(rw.contains("Q3-report.pdf was moved out of this message by slimbox to save mailbox\n"));
    assert!(rw.contains(&format!("opens from this link:\n\n{link}\n\n")));
    assert!(!rw.contains("\nLink:"));
}

/// Clients refuse file:// links from a message, so the HTML note shows
/// such a link's path as text to copy; a web link is the name alone.
#[test]
fn issue19_the_html_note_shows_a_file_link_as_text() {
    let file = super::NoteFile {
        name: "Q3-report.pdf".into(),
        size: 2048,
        link: "file:///srv/files/a%20b/Q3-report.pdf",
    };
    let html = super::html_text(std::slice::from_ref(&file), None);
    assert!(html.contains("<a href=\"file:///srv/files/a%20b/Q3-report.pdf\">Q3-report.pdf</a>"));
    assert!(html.contains("<code>file:///srv/files/a%20b/Q3-report.pdf</code>"));
    let web = super::NoteFile {
        link: "https://files.example.com/f/k/Q3-report.pdf",
        ..file
    };
    let html = super::html_text(&[web], None);
    assert!(html.contains(">Q3-report.pdf</a> (2.0 KiB)</li>"), "{html}");
    assert!(!html.contains("<code>https:"));
}
