//! `slimbox verify` against GNU Mailutils imap4d (no UIDPLUS, MOVE,
//! CONDSTORE or QUOTA; scripts/imap4d-harness): the checks for mail held
//! twice work there too, through imap4d's quirks (SEARCH LARGER counts its
//! LF-only files, RFC822.SIZE counts CRLF).

mod support;

use std::path::Path;
use std::process::Output;

use support::cli::{slimbox_with, PASSWORD_ENV};
use support::imap4d::Imap4d;
use support::mailbox;

const RECEIVED: &str =
    "Received: from mx.example.com by imap.example.com; Thu, 01 Feb 2024 10:00:00 +0100\r\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn slimbox(d: &Imap4d, config: &Path, args: &[&str]) -> Output {
    slimbox_with(config)
        .args(args)
        .env(PASSWORD_ENV, &d.password)
        .output()
        .expect("run slimbox")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Sets exactly `flags` on the message of Sent with Message-ID `id`;
/// returns its UID.
fn set_flags_of(d: &Imap4d, id: &str, flags: &[&str]) -> u32 {
    rt().block_on(async {
        let mut s = slimbox::imap::Session::connect(&d.imap_config())
            .await
            .expect("connect");
        let f = mailbox::folder(&mut s, "Sent").await;
        s.select(&f).await.expect("select");
        let uids = s.search_header("Message-ID", id).await.expect("search");
        let metas = s.fetch_meta(&uids).await.expect("meta");
        let uid = metas
            .iter()
            .find(|m| m.size > 500_000)
            .unwrap_or_else(|| panic!("the original of {id}: {metas:#?}"))
            .uid;
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        s.set_flags(uid, &flags).await.expect("set flags");
        let _ = s.logout().await;
        uid
    })
}

/// Issue 9 on a server without UIDPLUS: no false alarm for an original
/// flagged \Deleted beside its converted copy (what a run leaves there);
/// a duplicate once the owner takes the flag off. The converted copy is
/// made with `slimbox eml detach` into the same store, so it has no index
/// row: that is reported too.
#[test]
fn issue9_verify_without_uidplus_tells_a_deleted_original_from_a_duplicate() {
    let d = Imap4d::start();
    let dir = tempfile::tempdir().unwrap();
    let config = d.write_config(dir.path());
    let mut big = RECEIVED.as_bytes().to_vec();
    big.extend(mailbox::with_attachment(
        "big",
        "Report",
        "report.pdf",
        "application/pdf",
        mailbox::noise(600_000, 1),
    ));
    let eml = dir.path().join("big.eml");
    std::fs::write(&eml, &big).unwrap();
    let store = dir.path().join("store");
    let converted = dir.path().join("converted.eml");
    let out = support::cli::slimbox()
        .args(["eml", "detach"])
        .arg(&eml)
        .arg("--store")
        .arg(&store)
        .args(["--min-size", "100KiB", "--out"])
        .arg(&converted)
        .output()
        .expect("slimbox eml detach");
    assert!(out.status.success(), "{}", text(&out));
    let converted = std::fs::read(&converted).unwrap();
    assert!(slimbox::mime::is_processed(&converted));
    rt().block_on(async {
        let mut s = slimbox::imap::Session::connect(&d.imap_config())
            .await
            .expect("connect");
        let f = mailbox::folder(&mut s, "Sent").await;
        s.append(&f, &[], "", &big).await.expect("append");
        s.append(&f, &[], "", &converted).await.expect("append");
        // A read-write SELECT gives the new messages their lasting UIDs.
        s.select(&f).await.expect("select");
        let _ = s.logout().await;
    });
    let problems = |out: &Output| -> Vec<serde_json::Value> {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{}", text(out), d.log_tail(30)));
        json["problems"].as_array().expect("problems").clone()
    };

    // Flagged \Deleted, the original is on its way out: not a duplicate.
    set_flags_of(&d, "big@example.com", &["\\Deleted"]);
    let out = slimbox(&d, &config, &["verify", "--json"]);
    let found = problems(&out);
    assert_eq!(out.status.code(), Some(1), "{found:#?}");
    let kinds: Vec<&str> = found.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["not-indexed"], "{found:#?}");

    // The owner takes \Deleted off: now it is there twice.
    let original = set_flags_of(&d, "big@example.com", &[]);
    let out = slimbox(&d, &config, &["verify", "--json"]);
    let found = problems(&out);
    assert_eq!(out.status.code(), Some(1), "{found:#?}");
    let dup: Vec<&serde_json::Value> = found.iter().filter(|p| p["kind"] == "duplicate").collect();
    assert_eq!(dup.len(), 1, "{found:#?}");
    let repair = dup[0]["repair"].as_str().unwrap();
    assert!(
        repair.contains(&format!("delete the original, UID {original} in Sent")),
        "{found:#?}"
    );
}
