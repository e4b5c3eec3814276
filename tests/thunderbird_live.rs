//! issue 19 in a real Thunderbird (Debian's 153 ESR, under Xvfb, driven
//! through Marionette: tests/support/thunderbird.rs). A Dovecot mailbox is
//! converted by `slimbox run`, then read in Thunderbird as its owner would:
//! the attachment entries Thunderbird lists (`currentAttachments`: name,
//! type, size, external or not), the note in the displayed body (HTML and
//! plain-text views) with each moved file's link, and the file that saving
//! (`AttachmentInfo.save`) or opening (`AttachmentInfo.open`) an entry
//! yields: its name and SHA-256.
//!
//! The design under test (issue 19): the message carries a note listing each
//! moved file with its link on a line of its own, and by default each stub
//! is plainly a note (`text/plain`, `<file>.detached.txt`, no
//! `X-Mozilla-External-Attachment-URL`): saving or opening it gives that
//! small text under that name, never the original's bytes under a `.txt`
//! name. What Thunderbird does with the links: an http(s) link is handed to
//! the external browser (here a recorder standing for it), which downloads
//! the original under its name; a `file://` link in a message is refused
//! ("Security Error: Content at imap://… may not load or link to file://…").
//!
//! `SLIMBOX_THUNDERBIRD_SCREENSHOTS=DIR` saves screenshots of the converted
//! message: DIR/thunderbird.png (local store, HTML view) and
//! DIR/thunderbird-plain.png (signed http links, plain-text view), as in docs/.

mod support;

use std::path::{Path, PathBuf};

use mail_parser::MimeHeaders;
use serde_json::{json, Value};
use sha2::Digest;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, ok, slimbox};
use support::serve::Serve;
use support::thunderbird::{self, Thunderbird};

const DATE: &str = "14-Mar-2024 10:00:00 +0100";
const NAME: &str = "Q3-report.pdf";
const STUB_NAME: &str = "Q3-report.pdf.detached.txt";
const SUBJECT: &str = "Q3 report";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// A Dovecot whose Sent holds one message with a 300 KB PDF, converted by
/// `slimbox run` with `extra` added to the config; the file and the
/// converted message as the server has it.
struct Converted {
    d: Dovecot,
    dir: tempfile::TempDir,
    file: Vec<u8>,
    message: Vec<u8>,
}

fn convert(extra: impl FnOnce(&Path) -> String) -> Converted {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let more = extra(&config);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}\n{more}")).expect("config");
    let file = mailbox::noise(300_000, 19);
    let original = mailbox::with_attachment("tb19", SUBJECT, NAME, "application/pdf", file.clone());
    rt().block_on(mailbox::seed(&d, "Sent", &original, &["\\Seen"], DATE));
    ok(slimbox(&config).arg("run"));
    let snap = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let message = snap.into_values().next().expect("the message").bytes;
    assert_ne!(message, original, "slimbox run converted the message");
    Converted {
        d,
        dir,
        file,
        message,
    }
}

/// The decoded body of the stub part named [`STUB_NAME`] as Thunderbird
/// hands a text part out (its size, saving, opening): with Unix line ends.
fn stub_body(message: &[u8]) -> Vec<u8> {
    let parsed = mail_parser::MessageParser::default()
        .parse(message)
        .expect("the converted message parses");
    let body = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some(STUB_NAME))
        .unwrap_or_else(|| panic!("no part named {STUB_NAME} in the converted message"))
        .contents()
        .to_vec();
    String::from_utf8(body)
        .expect("the note is UTF-8 text")
        .replace("\r\n", "\n")
        .into_bytes()
}

/// The one readable copy of the file under the local store, and its link.
fn readable_copy(dir: &Path) -> (PathBuf, String) {
    let mut found = Vec::new();
    let mut todo = vec![dir.join("store/files")];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n == NAME) {
                found.push(p);
            }
        }
    }
    assert_eq!(found.len(), 1, "one readable copy named {NAME}: {found:?}");
    let path = found.remove(0);
    let url = url::Url::from_file_path(&path)
        .expect("absolute path")
        .to_string();
    (path, url)
}

/// With `SLIMBOX_THUNDERBIRD_SCREENSHOTS=DIR`, the screen as `DIR/name`.
fn screenshot(tb: &Thunderbird, name: &str) {
    if let Some(dir) = std::env::var_os("SLIMBOX_THUNDERBIRD_SCREENSHOTS") {
        // The DOM is complete when the message has loaded; its paint on
        // the X screen may come a moment later.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        tb.screenshot(&Path::new(&dir).join(name));
    }
}

fn start_thunderbird(c: &Converted) -> Thunderbird {
    Thunderbird::start(c.d.imap_port, "alice", "alicepw")
}

fn sent() -> String {
    Thunderbird::folder_url("alice", "Sent")
}

fn show(tb: &mut Thunderbird, plain: bool) -> Value {
    tb.call(
        "show",
        json!({"folder": sent(), "subject": SUBJECT, "plain": plain}),
    )
}

/// The note entry, as Thunderbird must list it: a small text part of the
/// message, not an external file or link.
fn assert_note_entry(view: &Value, stub: &[u8]) {
    let entries = view["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "one entry: {view:#}");
    let e = &entries[0];
    assert_eq!(e["name"], STUB_NAME, "{e}");
    assert_eq!(e["contentType"], "text/plain", "{e}");
    assert_eq!(
        e["isExternalAttachment"], false,
        "the entry is the note itself: {e}"
    );
    assert_eq!(e["hasFile"], true, "{e}");
    assert_eq!(e["size"], stub.len(), "the entry's size is the note's: {e}");
    let listed = &view["listed"][0];
    assert_eq!(listed["name"], STUB_NAME, "{view:#}");
    assert_eq!(listed["notFound"], false, "not struck through: {view:#}");
}

/// The note in the displayed body names the file and links it, the link
/// whole on a line of its own in the plain-text view.
fn assert_note_links(html: &Value, plain: &Value, link: &str) {
    for (view, what) in [(html, "HTML"), (plain, "plain-text")] {
        let text = view["text"].as_str().unwrap_or_default();
        assert!(text.contains(NAME), "the {what} view names {NAME}:\n{text}");
        let hrefs: Vec<&str> = view["links"]
            .as_array()
            .expect("links")
            .iter()
            .filter_map(|l| l["href"].as_str())
            .collect();
        assert!(
            hrefs.contains(&link),
            "the {what} view links {link}: {hrefs:?}\n{text}"
        );
    }
    let text = plain["text"].as_str().unwrap_or_default();
    assert!(
        text.lines().any(|l| l.trim() == link),
        "the link on a line of its own in the plain-text view:\n{text}"
    );
}

/// Save and open of the entry both give the note's bytes under its name.
fn assert_save_and_open_give_the_note(tb: &mut Thunderbird, dir: &Path, stub: &[u8]) {
    let save_dir = dir.join("saved");
    std::fs::create_dir_all(&save_dir).expect("saved/");
    let saved = tb.call(
        "save",
        json!({"folder": sent(), "subject": SUBJECT, "dir": save_dir}),
    );
    assert_eq!(saved["proposed"], json!([STUB_NAME]), "{saved}");
    let path = saved["saved"][0]["path"].as_str().expect("saved");
    assert_eq!(Path::new(path), save_dir.join(STUB_NAME), "{saved}");
    let got = std::fs::read(path).expect("saved file");
    assert_eq!(sha_hex(&got), sha_hex(stub), "saving gives the note");

    let before = tb.opened(0).len();
    let recorder = tb.recorder().to_path_buf();
    tb.call(
        "open",
        json!({"folder": sent(), "subject": SUBJECT, "recorder": recorder}),
    );
    let opened = tb.opened(before + 1);
    let path = opened
        .get(before)
        .expect("opening the entry launched its app");
    assert!(path.ends_with(&format!("/{STUB_NAME}")), "{opened:?}");
    let got = std::fs::read(tb.opened_dir.join(STUB_NAME)).expect("opened copy");
    assert_eq!(sha_hex(&got), sha_hex(stub), "opening gives the note");
}

#[test]
fn issue19_thunderbird_local_store_note_and_entries() {
    if !thunderbird::available() {
        return;
    }
    let c = convert(|_| String::new());
    let (copy, link) = readable_copy(c.dir.path());
    assert_eq!(
        sha_hex(&std::fs::read(&copy).expect("copy")),
        sha_hex(&c.file)
    );
    let stub = stub_body(&c.message);
    let mut tb = start_thunderbird(&c);

    let html = show(&mut tb, false);
    assert_note_entry(&html, &stub);
    screenshot(&tb, "thunderbird.png");
    let plain = show(&mut tb, true);
    assert_note_links(&html, &plain, &link);
    assert_save_and_open_give_the_note(&mut tb, c.dir.path(), &stub);

    // Thunderbird refuses file:// links in a message: the reader copies the
    // path instead (what the README says).
    let before = tb.opened(0).len();
    let clicked = tb.call(
        "click",
        json!({"folder": sent(), "subject": SUBJECT, "index": 0}),
    );
    assert_eq!(clicked["href"], link.as_str(), "{clicked}");
    let said = clicked["console"].to_string();
    assert!(
        said.contains("Security Error") && said.contains(&link),
        "Thunderbird refused the file:// link: {clicked}"
    );
    assert_eq!(tb.opened(0).len(), before, "nothing was opened");
}

#[test]
fn issue19_thunderbird_signed_http_links() {
    if !thunderbird::available() {
        return;
    }
    let mut serve = None;
    let c = convert(|config| {
        let s = Serve::start(config);
        let links = format!("[links]\nbase_url = \"{}\"\n", s.base);
        serve = Some(s);
        links
    });
    let serve = serve.expect("serve");
    let stub = stub_body(&c.message);
    let mut tb = start_thunderbird(&c);

    let html = show(&mut tb, false);
    assert_note_entry(&html, &stub);
    let links: Vec<String> = html["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["href"].as_str())
        .filter(|h| h.starts_with(&format!("{}/", serve.base)))
        .map(str::to_string)
        .collect();
    assert_eq!(links.len(), 1, "one signed link in the note: {html:#}");
    let link = links[0].clone();
    let plain = show(&mut tb, true);
    screenshot(&tb, "thunderbird-plain.png");
    assert_note_links(&html, &plain, &link);
    assert_save_and_open_give_the_note(&mut tb, c.dir.path(), &stub);

    // A click hands the link to the external browser...
    let before = tb.opened(0).len();
    let clicked = tb.call(
        "click",
        json!({"folder": sent(), "subject": SUBJECT, "index": 0}),
    );
    assert_eq!(clicked["href"], link.as_str(), "{clicked}");
    let opened = tb.opened(before + 1);
    assert_eq!(
        opened.get(before),
        Some(&link),
        "the external browser got the link"
    );
    // ...which downloads the original under its own name.
    let (status, disposition, body) = rt().block_on(async {
        let res = reqwest::get(&link).await.expect("GET the link");
        let disposition = res
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (res.status(), disposition, res.bytes().await.expect("body"))
    });
    assert_eq!(status, 200, "{}", serve.log());
    assert!(disposition.contains(NAME), "{disposition}");
    assert_eq!(sha_hex(&body), sha_hex(&c.file), "the link gives the file");
}

/// `[links] entries = "original"` with a local store: the entry is
/// Thunderbird's own detached format, so Thunderbird lists the file itself
/// (its name, type and real size) and saving or opening it gives the
/// original, from the readable copy.
#[test]
fn issue19_thunderbird_original_entries_give_the_file() {
    if !thunderbird::available() {
        return;
    }
    let c = convert(|_| "[links]\nentries = \"original\"\n".to_string());
    let (copy, link) = readable_copy(c.dir.path());
    let mut tb = start_thunderbird(&c);

    let view = show(&mut tb, false);
    let entries = view["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "one entry: {view:#}");
    let e = &entries[0];
    assert_eq!(e["name"], NAME, "{e}");
    assert_eq!(e["contentType"], "application/pdf", "{e}");
    assert_eq!(e["isExternalAttachment"], true, "{e}");
    assert_eq!(e["url"], link.as_str(), "{e}");
    assert_eq!(e["size"], c.file.len(), "the file's real size: {e}");
    assert_eq!(view["listed"][0]["notFound"], false, "{view:#}");
    let hrefs = view["links"].to_string();
    assert!(
        hrefs.contains(&link),
        "the note links the copy too: {hrefs}"
    );

    let save_dir = c.dir.path().join("saved");
    std::fs::create_dir_all(&save_dir).expect("saved/");
    let saved = tb.call(
        "save",
        json!({"folder": sent(), "subject": SUBJECT, "dir": save_dir}),
    );
    assert_eq!(saved["proposed"], json!([NAME]), "{saved}");
    let got = std::fs::read(save_dir.join(NAME)).expect("saved file");
    assert_eq!(sha_hex(&got), sha_hex(&c.file), "saving gives the original");

    // Opening hands the PDF app the readable copy itself.
    let recorder = tb.recorder().to_path_buf();
    tb.call(
        "open",
        json!({"folder": sent(), "subject": SUBJECT, "recorder": recorder}),
    );
    let opened = tb.opened(1);
    assert_eq!(opened.first().map(PathBuf::from), Some(copy), "{opened:?}");
    let got = std::fs::read(tb.opened_dir.join(NAME)).expect("opened copy");
    assert_eq!(
        sha_hex(&got),
        sha_hex(&c.file),
        "opening gives the original"
    );
}
