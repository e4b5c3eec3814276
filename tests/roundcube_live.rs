//! issue 19 in Roundcube: Debian's Roundcube (scripts/roundcube-harness,
//! SQLite, PHP's built-in server on 127.0.0.1) logged in to the test
//! Dovecot, in Debian's chromium driven by playwright-core
//! (tests/browser/roundcube.mjs). alice's Sent holds a report with a PDF,
//! converted by `slimbox run` with signed http links to a running
//! `slimbox serve`. In Roundcube's message view: the note lists the moved
//! file and its link, one click on the link opens the PDF under its own name
//! (in Chromium's PDF viewer in a new tab: the bytes and name the tab got
//! are fetched again there), and no attachment entry bears the PDF's name
//! unless it is the PDF.
//! The open message is saved to docs/roundcube.png.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::Digest;
use support::clients::{self, Converted, PDF_NAME, SUBJECT};
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

/// Runs tests/browser/roundcube.mjs against `rc` for the report and its
/// note's `link`; its JSON.
fn drive_roundcube(c: &Converted, rc: &Roundcube, modules: &str, link: &str) -> Value {
    let out_dir = c.dir.path().join("downloads");
    std::fs::create_dir_all(&out_dir).expect("downloads");
    let png = clients::docs_png("roundcube.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/roundcube.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([rc.url.as_str(), "alice", "alicepw", "Sent", SUBJECT, link])
        .arg(&out_dir)
        .arg(&png)
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

/// The note where the reader reads the message: in the html view (the
/// default) and in the "Plain text" view.
fn assert_note_shown(r: &Value, link: &str) {
    let body = r["bodyText"].as_str().expect("body text");
    assert!(body.contains(PDF_NAME), "the note names the file: {body}");
    assert!(
        body.contains("revised figures"),
        "the message's own text is still shown: {body}"
    );
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
fn assert_link_gives(r: &Value, link: &str, pdf: &[u8]) {
    assert_eq!(r["clicked"], true, "{r}");
    if r["linkOpened"] == "tab" {
        assert_eq!(r["tabUrl"], link, "{r}");
        assert_eq!(r["linkStatus"], 200, "{r}");
        assert_eq!(r["linkContentType"], "application/pdf", "{r}");
    } else {
        assert_eq!(r["linkOpened"], "download", "{r}");
    }
    assert_eq!(r["downloadName"], PDF_NAME, "{r}");
    assert_eq!(r["downloadSha256"], sha_hex(pdf), "the link gives the PDF");
}

/// No entry misleads: one named like the PDF gives the PDF.
fn assert_entries_honest(r: &Value, pdf: &[u8]) {
    for e in r["attachments"].as_array().expect("attachments") {
        let name = e["name"].as_str().unwrap_or_default();
        assert!(
            !(name == PDF_NAME || name.ends_with(".pdf")) || e["sha256"] == sha_hex(pdf),
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
    let links = clients::note_links(&c.raw);
    assert_eq!(links.len(), 1, "one moved file, one link: {links:?}");
    let link = links[0].as_str();
    assert!(
        link.starts_with(&format!("{}/", c.serve.base)),
        "{link} is served by {}",
        c.serve.base
    );
    let rc = Roundcube::start(&c.d);
    let r = drive_roundcube(&c, &rc, &modules, link);
    assert_note_shown(&r, link);
    assert_link_gives(&r, link, &c.pdf);
    assert_entries_honest(&r, &c.pdf);
}
