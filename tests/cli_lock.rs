//! `slimbox run` and `slimbox reattach` on a mailbox another slimbox holds:
//! skipped with a message naming the holder, exit status 1, `"busy": true`
//! in `run --json`. The claim is taken before any connection, so no server
//! is needed: the account points at a closed loopback port, and the test
//! process holds the mailbox as another slimbox would.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::prelude::*;
use predicates::prelude::*;
use slimbox::lock::{Locks, Mailbox};
use support::cli::{
    closed_account, local_store, slimbox_with, write_offline_config, PASSWORD_ENV, PASSWORD_LOGIN,
};

/// A config for two accounts (two names, one mailbox) on a closed port.
fn config(dir: &Path) -> PathBuf {
    let accounts = closed_account("work", "alice", PASSWORD_LOGIN)
        + &closed_account("same-mailbox", "Alice", PASSWORD_LOGIN);
    write_offline_config(dir, &local_store(dir), "", &accounts)
}

fn slimbox(config: &Path) -> std::process::Command {
    let mut c = slimbox_with(config);
    c.env(PASSWORD_ENV, "pw");
    c
}

fn hold(dir: &Path) -> slimbox::lock::Claim {
    Locks::beside_index(&dir.join("index.sqlite"))
        .try_claim(&Mailbox::new("127.0.0.1", 9, "alice"), "cron", "run")
        .expect("claim the mailbox")
}

#[test]
fn issue9_run_skips_a_busy_mailbox_under_both_names_and_says_who_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let _held = hold(dir.path());
    let out = slimbox(&config)
        .args(["run", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let accounts = json.as_array().expect("one report per account");
    assert_eq!(accounts.len(), 2, "{json:#}");
    let pid = format!("slimbox pid {} on host", std::process::id());
    for a in accounts {
        assert_eq!(a["busy"], true, "{json:#}");
        let error = a["error"].as_str().expect("error says why");
        assert!(
            error.contains("mailbox alice@127.0.0.1:9 is busy"),
            "{error}"
        );
        assert!(error.contains(&pid), "{error}");
        assert!(error.contains("`slimbox run`, account cron"), "{error}");
    }
    // The table says the same, and that --wait exists.
    slimbox(&config)
        .args(["run", "--account", "work"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "work: skipped: mailbox alice@127.0.0.1:9 is busy",
        ))
        .stdout(predicate::str::contains("--wait"));
}

#[test]
fn issue9_a_free_mailbox_is_not_reported_busy() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    drop(hold(dir.path()));
    // Claimed, then the connection fails: an error, but not a busy mailbox.
    let out = slimbox(&config)
        .args(["run", "--json", "--account", "work"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json[0]["busy"], false, "{json:#}");
    assert!(json[0]["error"].is_string(), "{json:#}");
}

#[test]
fn issue9_reattach_leaves_a_busy_mailbox_alone_and_says_who_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut index = slimbox::index::Index::open(&dir.path().join("index.sqlite")).unwrap();
    let record = slimbox::index::MessageRecord {
        account: "work".into(),
        folder: "Sent".into(),
        uidvalidity: 1,
        old_uid: 1,
        new_uid: Some(2),
        message_id: Some("m@x".into()),
        date: Some(1_700_000_000),
        from: Some("a@x".into()),
        to: Some("b@x".into()),
        subject: Some("s".into()),
        internal_date: "01-Feb-2024 10:00:00 +0100".into(),
        flags: vec![],
        size_before: 1000,
        size_after: 100,
        parts: vec![slimbox::index::PartRecord {
            sha256: "ab".repeat(32),
            size: 900,
            filename: "a.pdf".into(),
            content_type: "application/pdf".into(),
            part_path: "2".into(),
            raw_sha256: None,
        }],
    };
    let id = index.journal_begin(&record, b"x").unwrap();
    index.journal_finish(id, &record).unwrap();
    drop(index);
    let _held = hold(dir.path());
    slimbox(&config)
        .args(["reattach", "--all"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "mailbox alice@127.0.0.1:9 is busy",
        ))
        .stdout(predicate::str::contains(format!(
            "slimbox pid {} on host",
            std::process::id()
        )));
}
