//! issue 19 in Roundcube: Debian's Roundcube (scripts/roundcube-harness,
//! SQLite, PHP's built-in server on 127.0.0.1) logged in to the test
//! Dovecot, in Debian's chromium driven by playwright-core
//! (tests/browser/roundcube.mjs). alice's Sent holds a report with a PDF
//! and a scan that is only a PDF (no text of its own: the note is its
//! text), converted by `slimbox run` with signed http links to a running
//! `slimbox serve`. In Roundcube's message view: the note lists the moved
//! file and its link, one click on the link opens the PDF under its own name
//! (in Chromium's PDF viewer in a new tab: the bytes and name the tab got
//! are fetched again there), and no attachment entry bears the PDF's name
//! unless it is the PDF.
//! The open report is saved to docs/roundcube.png.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::Digest;
use support::clients::{self, Converted, Mail};
use support::roundcube::Roundcube;

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// playwright-core's node_modules (scripts/browser-harness), or a skip
/// outside CI when it cannot be installed.
fn playwright_modules() -> Option<String> {
    if !clients::require("browser-harness") {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser-harness");
    let out = Command::new(&script)
        .arg("modules")
        .output()
        .expect("browser-harness");
    assert!(out.status.success(), "browser-harness modules failed");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs tests/browser/roundcube.mjs against `rc` for message `m` and its
/// note's `link`, its screenshot to `png`; its JSON.
fn drive_roundcube(
    c: &Converted,
    rc: &Roundcube,
    modules: &str,
    m: &Mail,
    link: &str,
    png: &Path,
) -> Value {
    let out_dir = c.dir.path().join("downloads").join(m.name);
    std::fs::create_dir_all(&out_dir).expect("downloads");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/roundcube.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([rc.url.as_str(), "alice", "alicepw", "Sent", m.subject, link])
        .arg(&out_dir)
        .arg(png)
        .env("PLAYWRIGHT_MODULES", modules)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "roundcube.mjs failed: {}{}\n{}\nserve log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        rc.logs(),
        c.serve.log()
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON from roundcube.mjs");
    eprintln!(
        "Roundcube shows: {}",
        serde_json::to_string_pretty(&r).unwrap_or_default()
    );
    r
}

/// The note where the reader reads message `m`: in the html view (the
/// default) and in the "Plain text" view.
fn assert_note_shown(r: &Value, m: &Mail, link: &str) {
    let body = r["bodyText"].as_str().expect("body text");
    assert!(body.contains(m.name), "the note names the file: {body}");
    if let Some(own) = m.own_text {
        assert!(
            body.contains(own),
            "the message's own text is still shown: {body}"
        );
    }
    // The html note links the file's name: the URL is the link's target,
    // not its text.
    let hrefs: Vec<&str> = r["bodyLinks"]
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|l| l["href"].as_str())
        .collect();
    assert!(hrefs.contains(&link), "the note links {link}: {hrefs:?}");
    // "Plain text" shows the note's text/plain: the link whole on its own
    // line, and a link.
    let plain = r["plainBodyText"].as_str().expect("plain text");
    assert!(
        plain.lines().any(|l| l.trim() == link),
        "the plain-text view shows the link on a line of its own: {plain}"
    );
    let plain_links = r["plainBodyLinks"].as_array().expect("links");
    assert!(
        plain_links.iter().any(|h| h == link),
        "the plain-text view links {link}: {r}"
    );
}

/// One click on the note's link: the PDF, under its own name. Chromium
/// shows a PDF in its viewer, in the new tab Roundcube opens for the link;
/// another type (or a browser set to download PDFs) is a download.
fn assert_link_gives(r: &Value, m: &Mail, link: &str) {
    assert_eq!(r["clicked"], true, "{r}");
    if r["linkOpened"] == "tab" {
        assert_eq!(r["tabUrl"], link, "{r}");
        assert_eq!(r["linkStatus"], 200, "{r}");
        assert_eq!(r["linkContentType"], "application/pdf", "{r}");
    } else {
        assert_eq!(r["linkOpened"], "download", "{r}");
    }
    assert_eq!(r["downloadName"], m.name, "{r}");
    assert_eq!(
        r["downloadSha256"],
        sha_hex(&m.pdf),
        "the link gives the PDF"
    );
}

/// No entry misleads: one named like the PDF gives the PDF.
fn assert_entries_honest(r: &Value, m: &Mail) {
    for e in r["attachments"].as_array().expect("attachments") {
        let name = e["name"].as_str().unwrap_or_default();
        assert!(
            !(name == m.name || name.ends_with(".pdf")) || e["sha256"] == sha_hex(&m.pdf),
            "an entry named like the PDF that is not the PDF: {e}"
        );
    }
}

#[test]
fn issue19_roundcube_shows_the_note_and_its_link_downloads_the_file() {
    if !clients::require("roundcube-harness") {
        return;
    }
    let Some(modules) = playwright_modules() else {
        return;
    };
    let c = clients::converted_report();
    let rc = Roundcube::start(&c.d);
    for (i, m) in c.mails.iter().enumerate() {
        let links = clients::note_links(&m.raw);
        assert_eq!(links.len(), 1, "one moved file, one link: {links:?}");
        let link = links[0].as_str();
        assert!(
            link.starts_with(&format!("{}/", c.serve.base)),
            "{link} is served by {}",
            c.serve.base
        );
        // The report is the README's picture; the scan's stays with the test.
        let png = match i {
            0 => clients::docs_png("roundcube.png"),
            _ => c.dir.path().join("roundcube-scan.png"),
        };
        let r = drive_roundcube(&c, &rc, &modules, m, link, &png);
        assert_note_shown(&r, m, link);
        assert_link_gives(&r, m, link);
        assert_entries_honest(&r, m);
    }
}
