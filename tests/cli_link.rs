//! issue 12, `slimbox link`: a fresh signed link for a file the index knows,
//! with its name or --name, expiring only when asked; refused for an
//! unknown hash or without `[links] base_url`.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::prelude::*;
use predicates::prelude::*;
use slimbox::index::{Index, MessageRecord, PartRecord};
use support::cli::{
    closed_account, local_store, slimbox, slimbox_with, write_offline_config, PASSWORD_LOGIN,
};

const SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

fn config(dir: &Path, links: &str) -> PathBuf {
    let account = closed_account("me", "me", PASSWORD_LOGIN);
    write_offline_config(dir, &local_store(dir), links, &account)
}

fn index_with_file(dir: &Path) {
    let mut index = Index::open(&dir.join("index.sqlite")).unwrap();
    let record = MessageRecord {
        account: "me".into(),
        folder: "Sent".into(),
        uidvalidity: 1,
        old_uid: 7,
        new_uid: Some(8),
        message_id: Some("m@example.com".into()),
        date: Some(1_700_000_000),
        from: Some("a@example.com".into()),
        to: None,
        subject: Some("plan".into()),
        internal_date: "14-Nov-2023 22:13:20 +0000".into(),
        flags: vec![],
        size_before: 2000,
        size_after: 500,
        parts: vec![PartRecord {
            sha256: SHA.into(),
            size: 1500,
            filename: "plan v2.pdf".into(),
            content_type: "application/pdf".into(),
            part_path: "2".into(),
            raw_sha256: None,
        }],
    };
    let id = index.journal_begin(&record, b"x").unwrap();
    index.journal_finish(id, &record).unwrap();
}

#[test]
fn issue12_link_prints_a_signed_link_the_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[links]\nbase_url = \"https://files.example.com\"",
    );
    index_with_file(dir.path());
    let out = slimbox_with(&cfg).args(["link", SHA]).assert().success();
    let link = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let link = link.trim();
    // The short form (issue 19): no hash, no query, at most 100 characters.
    let target = link
        .strip_prefix("https://files.example.com")
        .expect("under base_url");
    assert!(target.starts_with("/f/"), "{link}");
    assert!(target.ends_with("/plan%20v2.pdf"), "{link}");
    assert!(!link.contains(SHA) && !link.contains('?'), "{link}");
    assert!(link.len() <= slimbox::links::LINK_MAX, "{link}");
    assert!(
        !target[3..].split('/').next().unwrap().contains('.'),
        "never expires unless asked: {link}"
    );
    // The secret was created beside the index; the server's check takes it.
    let secret = slimbox::links::Secret::load(&dir.path().join("links.key")).unwrap();
    let hash = slimbox::store::parse_hex(SHA).unwrap();
    let f = secret.check_file_target(target, &[hash], 0).unwrap();
    assert_eq!(f.name, "plan v2.pdf");
    assert_eq!(f.sha256, SHA);

    // --name and --expires, as JSON.
    let out = slimbox_with(&cfg)
        .args(["link", &SHA.to_uppercase(), "--name", "Plan (final).pdf"])
        .args(["--expires", "7d", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["sha256"], SHA);
    assert_eq!(v["name"], "Plan (final).pdf");
    let exp = v["expires"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        exp > now + 6 * 86_400 && exp <= now + 7 * 86_400 + 60,
        "{exp}"
    );
    let link = v["link"].as_str().unwrap();
    assert!(link.len() <= slimbox::links::LINK_MAX, "{link}");
    let target = link.strip_prefix("https://files.example.com").unwrap();
    assert!(secret.check_file_target(target, &[hash], now).is_ok());
    // Expired a week later.
    assert!(secret
        .check_file_target(target, &[hash], now + 8 * 86_400)
        .is_err());

    // A name too long for the line is cut in the link, and JSON says so.
    let long = "Quarterly-financial-report-for-the-board-2026-final.pdf";
    let out = slimbox_with(&cfg)
        .args(["link", SHA, "--name", long, "--expires", "30d", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let (link, name) = (v["link"].as_str().unwrap(), v["name"].as_str().unwrap());
    assert!(link.len() <= slimbox::links::LINK_MAX, "{link}");
    assert!(
        name.starts_with("Quarterly-") && name.ends_with("~.pdf"),
        "{name}"
    );
    assert!(link.ends_with(&format!("/{name}")), "{link}");
}

#[test]
fn issue19_page_links_are_short() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[links]\nbase_url = \"https://files.example.com\"",
    );
    let out = slimbox_with(&cfg)
        .args(["link", "--page", "me", "--expires", "30d"])
        .assert()
        .success();
    let link = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let link = link.trim();
    assert!(
        link.starts_with("https://files.example.com/m/me?sig="),
        "{link}"
    );
    assert!(!link.contains("exp="), "{link}");
    assert!(link.len() <= slimbox::links::LINK_MAX, "{link}");
    let secret = slimbox::links::Secret::load(&dir.path().join("links.key")).unwrap();
    let sig = link.split_once("?sig=").unwrap().1;
    assert_eq!(
        secret.check_page("me", Some(sig), None, 0),
        Ok("me".to_string())
    );
}

#[test]
fn issue12_link_refuses_unknown_hashes_and_a_missing_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[links]\nbase_url = \"https://files.example.com\"",
    );
    index_with_file(dir.path());
    let other = "0".repeat(64);
    slimbox_with(&cfg)
        .args(["link", &other])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "no detached file has SHA-256 {other}"
        )));
    slimbox_with(&cfg)
        .args(["link", "abc"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not a SHA-256"));

    let cfg = config(dir.path(), "");
    slimbox_with(&cfg)
        .args(["link", SHA])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[links] base_url"));
}

#[test]
fn issue12_eml_detach_writes_signed_links_and_html_stubs() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let b64 = base64_lines(&data);
    let raw = format!(
        "From: a@example.com\r\nSubject: x\r\nMessage-ID: <e@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nHi\r\n\
         --B\r\nContent-Type: application/pdf; name=\"a&b.pdf\"\r\nContent-Disposition: attachment; filename=\"a&b.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
    );
    let input = dir.path().join("in.eml");
    std::fs::write(&input, &raw).unwrap();
    let (out, store, key) = (
        dir.path().join("out.eml"),
        dir.path().join("store"),
        dir.path().join("links.key"),
    );
    let json = slimbox()
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(&store)
        .args([
            "--min-size",
            "1000",
            "--base-url",
            "https://f.example/",
            "--html-stub",
            "--json",
        ])
        .arg("--secret-file")
        .arg(&key)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let link = v["detached"][0]["link"].as_str().unwrap();
    assert!(link.starts_with("https://f.example/f/"), "{link}");
    assert!(link.ends_with("/a%26b.pdf"), "{link}");
    let rewritten = std::fs::read_to_string(&out).unwrap();
    assert!(rewritten.contains("Content-Type: text/html; charset=utf-8;"));
    assert!(rewritten.contains("<b>a&amp;b.pdf</b>"), "{rewritten}");
    assert!(key.exists(), "the secret is created");
    let back = slimbox()
        .args(["eml", "reattach"])
        .arg(&out)
        .arg("--store")
        .arg(&store)
        .assert()
        .success();
    assert!(back.get_output().stdout == raw.as_bytes());
}

fn base64_lines(data: &[u8]) -> String {
    let s = base64_simd::STANDARD.encode_to_string(data);
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}
