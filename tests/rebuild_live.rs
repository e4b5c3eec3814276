//! issue 9: a lost index is rebuilt, not mourned. After a real run on a
//! private Dovecot the index files are deleted; `slimbox index rebuild`
//! writes them again from the converted messages on the server, and
//! `list` (text and JSON) and `stats` print exactly what they printed
//! before; `restore` and `reattach` work from the rebuilt index; the server
//! is not changed; a second rebuild adds nothing; a missing object is
//! reported, its message still listed.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn output(c: &mut Command) -> Output {
    c.output().expect("run slimbox")
}

fn ok(c: &mut Command) -> String {
    let out = output(c);
    assert!(
        out.status.success(),
        "slimbox failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The index file and SQLite's -wal and -shm beside it, gone.
fn lose_index(dir: &Path) {
    for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove {name}: {e}"),
        }
    }
    assert!(!dir.join("index.sqlite").exists());
}

/// A message with an explicit Date, a non-ASCII file name and two
/// attachments, as a mail client writes it.
fn two_files(pdf: &[u8], jpg: &[u8]) -> Vec<u8> {
    let b64 = |d: &[u8]| {
        let s = base64_simd::STANDARD.encode_to_string(d);
        s.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    format!(
        "Date: Mon, 05 Feb 2024 09:30:00 +0100\r\nFrom: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>\r\nTo: alice@example.com\r\nSubject: =?utf-8?q?Bericht_f=C3=BCr_Q1?=\r\nMessage-ID: <two@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''Bericht%20f%C3%BCr%20Q1.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        b64(pdf),
        b64(jpg)
    )
    .into_bytes()
}

#[test]
fn issue9_index_rebuild_gives_back_the_same_list() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let pdf = mailbox::noise(300_000, 1);
    let jpg = mailbox::noise(200_000, 2);
    let shared = mailbox::noise(250_000, 3);
    let alpha = mailbox::with_attachment("alpha", "Alpha", "alpha.pdf", "application/pdf", {
        shared.clone()
    });
    let beta = mailbox::with_attachment("beta", "Beta", "same-file.pdf", "application/pdf", {
        shared.clone()
    });
    let archived = mailbox::with_attachment(
        "arch",
        "Archived",
        "old.zip",
        "application/zip",
        mailbox::noise(400_000, 4),
    );
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &two_files(&pdf, &jpg), &["\\Seen"], DATE).await;
        mailbox::seed(&d, "Sent", &alpha, &["\\Seen", "$Work"], DATE).await;
        mailbox::seed(&d, "Sent", &beta, &[], DATE).await;
        let note = mailbox::text("note", "Note", "no attachment");
        mailbox::seed(&d, "Sent", &note, &[], DATE).await;
        mailbox::seed(&d, "Archive", &archived, &["\\Flagged"], DATE).await;
    });
    ok(slimbox(&config).arg("run"));

    let list = ok(slimbox(&config).arg("list"));
    let list_json = ok(slimbox(&config).args(["list", "--json"]));
    let stats = ok(slimbox(&config).arg("stats"));
    let rows: serde_json::Value = serde_json::from_str(&list_json).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5, "{list}");
    let sent = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let archive = rt().block_on(mailbox::snapshot(&d, "Archive"));

    // Lost: today's commands find nothing.
    lose_index(dir.path());
    assert_eq!(ok(slimbox(&config).args(["list", "--json"])).trim(), "[]");

    let out = ok(slimbox(&config).args(["index", "rebuild"]));
    assert!(
        out.contains("4 converted messages found")
            && out.contains("4 written to the index (5 parts), 0 already there"),
        "{out}"
    );
    assert_eq!(ok(slimbox(&config).arg("list")), list);
    assert_eq!(ok(slimbox(&config).args(["list", "--json"])), list_json);
    assert_eq!(ok(slimbox(&config).arg("stats")), stats);
    // Nothing changed on the server, not even \Seen.
    assert_eq!(rt().block_on(mailbox::snapshot(&d, "Sent")), sent);
    assert_eq!(rt().block_on(mailbox::snapshot(&d, "Archive")), archive);

    // Again: nothing added.
    let again: serde_json::Value =
        serde_json::from_str(&ok(slimbox(&config).args(["index", "rebuild", "--json"]))).unwrap();
    assert_eq!(again[0]["found"], 4, "{again:#}");
    assert_eq!(again[0]["written"], 0, "{again:#}");
    assert_eq!(again[0]["known"], 4, "{again:#}");
    assert_eq!(ok(slimbox(&config).args(["list", "--json"])), list_json);

    // restore and reattach work from the rebuilt index.
    let to = dir.path().join("out");
    ok(slimbox(&config)
        .args(["restore", "--message-id", "two@example.com", "--to"])
        .arg(&to));
    assert_eq!(
        Sha256::digest(std::fs::read(to.join("Bericht für Q1.pdf")).unwrap()),
        Sha256::digest(&pdf)
    );
    assert_eq!(
        Sha256::digest(std::fs::read(to.join("attachment-3.jpg")).unwrap()),
        Sha256::digest(&jpg)
    );
    let back = ok(slimbox(&config).args(["reattach", "--message-id", "alpha@example.com"]));
    assert!(back.contains("whole again"), "{back}");
    let now = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let whole: Vec<_> = now
        .values()
        .filter(|s| mailbox::message_id(&s.bytes).as_deref() == Some("alpha@example.com"))
        .collect();
    assert_eq!(whole.len(), 1, "exactly one copy");
    assert_eq!(whole[0].bytes, alpha, "byte-exact");
    assert_eq!(whole[0].flags, ["$Work", "\\Seen"]);
}

#[test]
fn issue9_index_rebuild_reports_a_missing_object_and_still_lists_its_message() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let data = mailbox::noise(300_000, 5);
    let msg = mailbox::with_attachment("gone", "Gone", "gone.pdf", "application/pdf", {
        data.clone()
    });
    let kept = mailbox::with_attachment(
        "kept",
        "Kept",
        "kept.pdf",
        "application/pdf",
        mailbox::noise(300_000, 6),
    );
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &msg, &[], DATE).await;
        mailbox::seed(&d, "Sent", &kept, &[], DATE).await;
    });
    ok(slimbox(&config).arg("run"));
    let list = ok(slimbox(&config).arg("list"));

    lose_index(dir.path());
    let hex = hex::encode(Sha256::digest(&data));
    std::fs::remove_file(dir.path().join("store/sha256").join(&hex[..2]).join(&hex))
        .expect("remove the object");
    let out = output(slimbox(&config).args(["index", "rebuild"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a missing object fails: {text}");
    assert!(
        text.contains("2 written to the index (2 parts)")
            && text.contains(&format!("the object {hex} of \"gone.pdf\" is missing"))
            && text.contains("<gone@example.com>"),
        "{text}"
    );
    // Listed all the same, as before.
    assert_eq!(ok(slimbox(&config).arg("list")), list);
    let json: serde_json::Value = serde_json::from_slice(
        &output(slimbox(&config).args(["index", "rebuild", "--json"])).stdout,
    )
    .unwrap();
    let f = &json[0]["findings"][0];
    assert_eq!(f["kind"], "object", "{json:#}");
    assert_eq!(f["state"], "missing", "{json:#}");
    assert_eq!(f["sha256"], hex.as_str(), "{json:#}");
    assert_eq!(json[0]["written"], 0, "{json:#}");
}
