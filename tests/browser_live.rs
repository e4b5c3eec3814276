//! issue 12, end to end in a real browser: Debian's chromium, headless,
//! driven by playwright-core (tests/browser/e2e.mjs; both installed by
//! scripts/browser-harness). A Dovecot mailbox is seeded and `slimbox run`
//! writes stubs whose links point at a `slimbox serve` the test started on
//! 127.0.0.1. In the browser: the mailbox's page (from `slimbox link
//! --page`), a search by file name, a download (its SHA-256 and name are
//! the original's), "put back" (the original is then in the mailbox byte
//! for byte, over IMAP), and a link taken from a stub in the mailbox.

mod support;

use std::path::Path;
use std::process::Command;

use sha2::Digest;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, ok, slimbox};
use support::serve::Serve;

const DATE: &str = "14-Mar-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// playwright-core's node_modules, installed when missing. Outside CI a
/// machine that cannot install it skips this test, saying so; under CI
/// that is a failure.
fn playwright_modules() -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser-harness");
    let out = Command::new(&script)
        .arg("modules")
        .output()
        .expect("browser-harness");
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: scripts/browser-harness install failed: {why}"
    );
    eprintln!(
        "SKIPPED: no chromium/playwright-core here ({why}); run scripts/browser-harness install"
    );
    None
}

/// Every stub link of `folder`, with the file's SHA-256.
fn stub_links(d: &Dovecot, folder: &str) -> Vec<(String, String)> {
    let snap = rt().block_on(mailbox::snapshot(d, folder));
    let mut out = Vec::new();
    for m in snap.values() {
        if let Ok(c) = slimbox::mime::read_converted(&m.bytes) {
            out.extend(c.parts.into_iter().map(|p| (hex::encode(p.sha256), p.link)));
        }
    }
    out
}

#[test]
fn issue12_browser_page_search_download_put_back_and_stub_link() {
    let Some(modules) = playwright_modules() else {
        return;
    };
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let serve = Serve::start(&config);
    let t = std::fs::read_to_string(&config).expect("config");
    let links = format!("[links]\nbase_url = \"{}\"\n", serve.base);
    std::fs::write(&config, format!("{t}\n{links}")).expect("config");

    let report_name = "Quarterly report März.zip";
    let report = mailbox::noise(400_000, 11);
    let holiday = mailbox::noise(250_000, 12);
    let original =
        mailbox::with_attachment("b1", "Q1", report_name, "application/zip", report.clone());
    let other = mailbox::with_attachment(
        "b2",
        "Pics",
        "holiday.zip",
        "application/zip",
        holiday.clone(),
    );
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &original, &["\\Seen"], DATE).await;
        mailbox::seed(&d, "Sent", &other, &["\\Seen", "\\Flagged"], DATE).await;
    });
    ok(slimbox(&config).arg("run"));
    let stubs = stub_links(&d, "Sent");
    assert_eq!(stubs.len(), 2, "both messages are stubs now");
    let (_, holiday_link) = stubs
        .iter()
        .find(|(sha, _)| *sha == sha_hex(&holiday))
        .expect("the holiday stub");
    assert!(
        holiday_link.starts_with(&format!("{}/f/", serve.base)),
        "{holiday_link}"
    );
    let page = ok(slimbox(&config).args(["link", "--page", "alice"]));

    let out_dir = dir.path().join("downloads");
    std::fs::create_dir_all(&out_dir).expect("downloads");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/e2e.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([page.as_str(), "quarterly", holiday_link.as_str()])
        .arg(&out_dir)
        .env("PLAYWRIGHT_MODULES", &modules)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "e2e.mjs failed: {}{}\nserve log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        serve.log()
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from e2e.mjs");

    assert_eq!(r["pageStatus"], 200);
    // Issue 20: the strict CSP blocks nothing the page uses.
    assert_eq!(r["cspErrors"], serde_json::json!([]), "{r}");
    assert_ne!(r["styled"], "none", "the style sheet applies: {r}");
    let framed = r["framedShows"].as_str().unwrap_or("");
    assert_eq!(r["frameFound"], true, "{r}");
    assert!(
        !framed.contains("Files moved out"),
        "another site framed the page: {framed}"
    );
    assert_eq!(r["rowsBefore"], 2);
    assert_eq!(r["namesFound"], serde_json::json!([report_name]), "{r}");
    let got = std::fs::read(r["download"].as_str().expect("path")).expect("download");
    assert_eq!(
        sha_hex(&got),
        sha_hex(&report),
        "the page's download is the file"
    );
    assert_eq!(r["downloadName"], report_name);
    let said = r["putBack"].as_str().expect("text");
    assert!(said.contains("Put back:"), "{said}");
    let back = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(
        back.values().any(|m| m.bytes == original),
        "the original, byte for byte"
    );
    assert_eq!(back.len(), 2, "its stub is gone");
    let got = std::fs::read(r["stubDownload"].as_str().expect("path")).expect("download");
    assert_eq!(
        sha_hex(&got),
        sha_hex(&holiday),
        "the stub's link serves its file"
    );
    assert_eq!(r["stubDownloadName"], "holiday.zip");
}
