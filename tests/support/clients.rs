//! What the mail-client tests (issue 19: Roundcube, neomutt) share: the
//! check that a client is installed (a failure under `CI=true`), a converted
//! mailbox whose stubs carry signed http links to a running `slimbox serve`,
//! and the note slimbox puts in a converted message (the part with
//! `X-Slimbox-Note: v=1`), read from the raw message.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart};
use mail_parser::{MessageParser, MimeHeaders};

use super::dovecot::{Dovecot, DovecotOptions};
use super::mailbox::{self, ok, slimbox};
use super::serve::Serve;

pub const PDF_NAME: &str = "Q3-report.pdf";
pub const SUBJECT: &str = "Q3 report";
/// A message that is only an attachment (a scanner's mail): no text of its
/// own, so the note is all a client has to show.
pub const SCAN_NAME: &str = "scan-0314.pdf";
pub const SCAN_SUBJECT: &str = "Scan from the copier";
const DATE: &str = "14-Mar-2024 10:00:00 +0100";

/// Runs `scripts/<harness> install`. Outside CI a machine where that fails
/// skips the test, saying so; under `CI=true` that is a failure.
pub fn require(harness: &str) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(harness);
    let out = Command::new("bash")
        .arg(&script)
        .arg("install")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if out.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: scripts/{harness} install failed: {why}"
    );
    eprintln!("SKIPPED: scripts/{harness} install failed here: {why}");
    false
}

/// A small but well-formed PDF of about `len` bytes (one page; the bulk is
/// an incompressible content stream).
pub fn pdf(len: usize) -> Vec<u8> {
    let body = mailbox::noise(len, 19);
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n\
        2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n\
        3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R>> endobj\n"
        .to_vec();
    out.extend_from_slice(format!("4 0 obj <</Length {}>> stream\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\nendstream endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n");
    out
}

fn mbox(s: &str) -> Mailbox {
    s.parse().expect("mailbox")
}

/// A message as a desktop client sends it: text and html alternatives and
/// a PDF attachment.
pub fn report_message(pdf: &[u8]) -> Vec<u8> {
    let plain = "Hi Bob,\n\nhere is the Q3 report we talked about. The revised figures \
                 are on page 4.\n\nBest,\nAda\n";
    let html = "<p>Hi Bob,</p><p>here is the Q3 report we talked about. The revised \
                figures are on page 4.</p><p>Best,<br>Ada</p>";
    Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Bob <bob@example.com>"))
        .subject(SUBJECT)
        .message_id(Some("<q3-report@example.com>".into()))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    plain.to_string(),
                    html.to_string(),
                ))
                .singlepart(Attachment::new(PDF_NAME.to_string()).body(
                    pdf.to_vec(),
                    ContentType::parse("application/pdf").expect("type"),
                )),
        )
        .expect("message")
        .formatted()
}

/// A message with only a PDF, as a scanner sends it.
pub fn scan_message(pdf: &[u8]) -> Vec<u8> {
    Message::builder()
        .from(mbox("Copier <copier@example.com>"))
        .to(mbox("Ada Lovelace <ada@example.com>"))
        .subject(SCAN_SUBJECT)
        .message_id(Some("<scan-0314@example.com>".into()))
        .multipart(
            MultiPart::mixed().singlepart(Attachment::new(SCAN_NAME.to_string()).body(
                pdf.to_vec(),
                ContentType::parse("application/pdf").expect("type"),
            )),
        )
        .expect("message")
        .formatted()
}

/// One converted message of the mailbox.
pub struct Mail {
    pub subject: &'static str,
    /// The attached file's name.
    pub name: &'static str,
    /// The PDF that was attached.
    pub pdf: Vec<u8>,
    /// The converted message as the server holds it.
    pub raw: Vec<u8>,
    /// Words of the message's own text, if it has any.
    pub own_text: Option<&'static str>,
}

/// A mailbox after `slimbox run`: alice's Sent holds the converted report
/// (text and a PDF) and scan (only a PDF), whose links point at `serve`.
pub struct Converted {
    pub serve: Serve,
    pub d: Dovecot,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The report, then the scan.
    pub mails: Vec<Mail>,
}

pub fn converted_report() -> Converted {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let serve = Serve::start(&config);
    let t = std::fs::read_to_string(&config).expect("config");
    let links = format!("[links]\nbase_url = \"{}\"\n", serve.base);
    std::fs::write(&config, format!("{t}\n{links}")).expect("config");
    let report = pdf(600_000);
    let scan = pdf(300_000);
    let originals = [report_message(&report), scan_message(&scan)];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for m in &originals {
        rt.block_on(mailbox::seed(&d, "Sent", m, &["\\Seen"], DATE));
    }
    ok(slimbox(&config).arg("run"));
    let snap = rt.block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(snap.len(), 2, "two messages in Sent");
    let converted = |id: &str| -> Vec<u8> {
        let m = snap
            .values()
            .find(|m| mailbox::message_id(&m.bytes).as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no message {id} in Sent"));
        assert!(!originals.contains(&m.bytes), "slimbox run converted {id}");
        m.bytes.clone()
    };
    let mails = vec![
        Mail {
            subject: SUBJECT,
            name: PDF_NAME,
            raw: converted("q3-report@example.com"),
            pdf: report,
            own_text: Some("revised figures"),
        },
        Mail {
            subject: SCAN_SUBJECT,
            name: SCAN_NAME,
            raw: converted("scan-0314@example.com"),
            pdf: scan,
            own_text: None,
        },
    ];
    Converted {
        serve,
        d,
        dir,
        config,
        mails,
    }
}

/// The text/plain of the note (`X-Slimbox-Note: v=1`), decoded.
pub fn note_plain(raw: &[u8]) -> Option<String> {
    let msg = MessageParser::new().parse(raw)?;
    let note = msg.parts.iter().find(|p| {
        p.headers()
            .iter()
            .any(|h| h.name().eq_ignore_ascii_case("X-Slimbox-Note"))
    })?;
    let plain = note
        .sub_parts()?
        .iter()
        .filter_map(|&i| msg.parts.get(i as usize))
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("plain"))
        })?;
    plain.text_contents().map(str::to_string)
}

/// Every http(s) link of a text, in order.
pub fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '<' | '>' | '(' | ')' | '"' | '\'')))
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_string)
        .collect()
}

/// The note's links, checked to stand whole on lines of their own.
pub fn note_links(raw: &[u8]) -> Vec<String> {
    let Some(text) = note_plain(raw) else {
        panic!(
            "no note (a part with X-Slimbox-Note: v=1 and a text/plain) in the converted message:\n{}",
            String::from_utf8_lossy(&raw[..raw.len().min(4000)])
        );
    };
    let found = links(&text);
    assert!(!found.is_empty(), "the note has no link: {text}");
    for l in &found {
        assert!(
            text.lines().any(|line| line.trim() == l),
            "the note's link {l} is not on a line of its own:\n{text}"
        );
    }
    found
}

/// Where a screenshot goes: `docs/` when `SLIMBOX_SCREENSHOTS=docs`, else a
/// folder under the target directory.
pub fn docs_png(name: &str) -> PathBuf {
    // The README's pictures are refreshed on purpose only
    // (`SLIMBOX_SCREENSHOTS=docs cargo test --test ...`): a plain test run
    // must not leave the work tree changed (ports, keys and dates differ
    // every run).
    let dir = match std::env::var_os("SLIMBOX_SCREENSHOTS") {
        Some(v) if v == "docs" => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir.join(name)
}
