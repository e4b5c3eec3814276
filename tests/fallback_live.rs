//! `slimbox run` against a real server WITHOUT UIDPLUS and MOVE: GNU
//! Mailutils imap4d 3.15 (scripts/imap4d-harness, Maildir storage).
//!
//! Without UIDPLUS, APPEND reports no APPENDUID, so slimbox finds its copy by
//! the `X-Slimbox` marker; and it cannot expunge one message by UID, nor move
//! it (no MOVE), so the original is only flagged \Deleted and left for the
//! user to expunge, with a note in the report. Whatever happens, every
//! message exists at least once and slimbox never expunges an original.
//!
//! imap4d's Maildir quirks shape the mail used here (see the harness):
//! - APPEND drops the flags it is given, so a copy of a flagged message can
//!   never match its original: slimbox's verification refuses it, and the
//!   rejected copy can only be flagged \Deleted (second test).
//! - INTERNALDATE is not stored: it is the date of the last `Received:`
//!   header, else the time of each FETCH. The test mail carries a
//!   `Received:` header, so the copy (same headers) has the same instant.
//! - A message appended and then seen under EXAMINE changes its UID at the
//!   next read-write SELECT (same UIDVALIDITY), and a UID set naming a UID
//!   that no longer exists below the highest one is answered with BAD
//!   ("Failed to parse message set"); the last test covers both.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;

use slimbox::imap::Session;
use support::cli::{slimbox_with, PASSWORD_ENV};
use support::imap4d::Imap4d;
use support::mailbox::{self, Seen};

/// The instant of `RECEIVED` (2024-02-01 09:00:00 UTC).
const RECEIVED_TS: i64 = 1_706_778_000;
const RECEIVED: &str =
    "Received: from mx.example.com by imap.example.com; Thu, 01 Feb 2024 10:00:00 +0100\r\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `msg` as delivered by an MTA: one `Received:` line on top, which gives it
/// a stable INTERNALDATE on imap4d.
fn received(msg: Vec<u8>) -> Vec<u8> {
    let mut m = RECEIVED.as_bytes().to_vec();
    m.extend(msg);
    m
}

/// A large delivered message: a lettre-built message with a big PDF.
fn big_received(id: &str, seed: u64) -> Vec<u8> {
    received(mailbox::with_attachment(
        id,
        "Report",
        "report.pdf",
        "application/pdf",
        mailbox::noise(600_000, seed),
    ))
}

/// A small delivered text message.
fn text_received(id: &str) -> Vec<u8> {
    received(mailbox::text(id, "Hello", "Just text.\n"))
}

async fn connect(d: &Imap4d) -> Session {
    Session::connect(&d.imap_config())
        .await
        .unwrap_or_else(|e| panic!("connect to imap4d: {e}\n{}", d.log_tail(30)))
}

/// APPENDs `msgs` to `folder_name` (imap4d ignores APPEND flags, so none are
/// given); checks that no APPENDUID came back. With `settle`, SELECTs the
/// folder read-write afterwards, which makes imap4d give the new messages
/// their lasting UIDs (else the last one changes UID at the first SELECT
/// after an EXAMINE saw it).
async fn seed(d: &Imap4d, folder_name: &str, msgs: &[&[u8]], settle: bool) {
    let mut s = connect(d).await;
    let f = mailbox::folder(&mut s, folder_name).await;
    for msg in msgs {
        let r = s.append(&f, &[], "", msg).await.expect("append");
        assert_eq!(r, None, "imap4d has no UIDPLUS, so no APPENDUID");
    }
    if settle {
        s.select(&f).await.expect("select");
    }
    let _ = s.logout().await;
}

/// Every message of a folder, by UID (all test mail has a Message-ID).
async fn snapshot(d: &Imap4d, folder_name: &str) -> BTreeMap<u32, Seen> {
    let mut s = connect(d).await;
    let f = mailbox::folder(&mut s, folder_name).await;
    s.examine(&f).await.expect("examine");
    let uids = s.search_header("Message-ID", "").await.expect("search");
    let mut out = BTreeMap::new();
    if !uids.is_empty() {
        for m in s.fetch_meta(&uids).await.expect("fetch meta") {
            let bytes = s
                .fetch_message(m.uid)
                .await
                .expect("fetch")
                .expect("message exists");
            let mut flags = m.flags.clone();
            flags.sort();
            out.insert(
                m.uid,
                Seen {
                    uid: m.uid,
                    flags,
                    internal_ts: m.internal_ts,
                    bytes: bytes.to_vec(),
                },
            );
        }
    }
    let _ = s.logout().await;
    out
}

fn by_message_id(snap: &BTreeMap<u32, Seen>) -> BTreeMap<String, Vec<&Seen>> {
    let mut m: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    for s in snap.values() {
        m.entry(mailbox::message_id(&s.bytes).unwrap_or_default())
            .or_default()
            .push(s);
    }
    m
}

/// Sets `flag` on every message of `folder_name` over a raw connection:
/// slimbox's client has no call for it, and imap4d drops flags at APPEND.
fn store_flag_on_all(d: &Imap4d, folder_name: &str, flag: &str) {
    let stream = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).expect("greeting");
    for (tag, cmd) in [
        ("a1", format!("LOGIN \"{}\" \"{}\"", d.user, d.password)),
        ("a2", format!("SELECT \"{folder_name}\"")),
        ("a3", format!("UID STORE 1:* +FLAGS.SILENT ({flag})")),
        ("a4", "LOGOUT".to_string()),
    ] {
        write!(w, "{tag} {cmd}\r\n").expect("send");
        loop {
            line.clear();
            assert!(r.read_line(&mut line).expect("read") > 0, "{tag}: EOF");
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{tag} {cmd}: {line}");
                break;
            }
        }
    }
}

fn run(d: &Imap4d, config: &Path) -> Output {
    slimbox_with(config)
        .args(["run", "--json"])
        .env(PASSWORD_ENV, &d.password)
        .output()
        .expect("run slimbox")
}

fn report_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn sent_report(report: &serde_json::Value) -> serde_json::Value {
    report[0]["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .find(|f| f["folder"] == "Sent")
        .cloned()
        .unwrap_or_else(|| panic!("Sent not in the report: {report:#}"))
}

fn is_deleted(s: &Seen) -> bool {
    s.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted"))
}

#[test]
fn imap4d_has_neither_uidplus_nor_move() {
    let d = Imap4d::start();
    let caps = rt().block_on(async {
        let s = connect(&d).await;
        let caps = s.capabilities();
        let _ = s.logout().await;
        caps
    });
    eprintln!("imap4d capabilities after LOGIN: {caps:?}");
    for missing in ["UIDPLUS", "MOVE", "SPECIAL-USE"] {
        assert!(!caps.iter().any(|c| c == missing), "{missing} in {caps:?}");
    }
    assert!(caps.iter().any(|c| c == "IMAP4REV1"), "{caps:?}");
}

#[test]
fn run_without_uidplus_or_move_flags_the_original_deleted_and_keeps_it() {
    let d = Imap4d::start();
    let dir = tempfile::tempdir().unwrap();
    let config = d.write_config(dir.path());
    let big = big_received("big", 1);
    let text = text_received("text");
    rt().block_on(seed(&d, "Sent", &[&big[..], &text[..]], true));
    let before = rt().block_on(snapshot(&d, "Sent"));
    assert_eq!(before.len(), 2, "{}", d.log_tail(30));
    let before_ids = by_message_id(&before);
    let was_big = before_ids["big@example.com"][0].clone();
    let was_text = before_ids["text@example.com"][0].clone();
    assert_eq!(was_big.bytes, big, "imap4d returns what was appended");
    assert_eq!(was_text.bytes, text);
    for was in [&was_big, &was_text] {
        assert_eq!(
            was.internal_ts, RECEIVED_TS,
            "imap4d takes INTERNALDATE from the Received: header"
        );
    }

    let out = run(&d, &config);
    let report = report_of(&out);
    assert!(
        out.status.success(),
        "slimbox run failed: {report:#}\nstderr: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_tail(40)
    );
    let sent = sent_report(&report);
    assert_eq!(sent["converted"], 1, "{report:#}");
    assert_eq!(sent["failed"], 0, "{report:#}");
    let notes: Vec<&str> = sent["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("neither UIDPLUS nor MOVE")
            && n.contains("flagged \\Deleted")
            && n.contains(&format!("UID {}", was_big.uid))),
        "the report says the original is only flagged \\Deleted: {report:#}"
    );

    let after = rt().block_on(snapshot(&d, "Sent"));
    let ids = by_message_id(&after);
    assert_eq!(ids.len(), 2, "both messages still there: {after:#?}");
    // The text message: untouched.
    assert_eq!(ids["text@example.com"].len(), 1);
    assert_eq!(
        ids["text@example.com"][0], &was_text,
        "text message untouched"
    );
    // The big one: the original is still there, flagged \Deleted (never
    // expunged by slimbox), and the converted copy sits beside it.
    let bigs = &ids["big@example.com"];
    assert_eq!(bigs.len(), 2, "original and copy: {bigs:#?}");
    let original = bigs
        .iter()
        .find(|s| s.uid == was_big.uid)
        .expect("the original (same UID) is still there");
    assert_eq!(original.bytes, big, "the original's bytes are untouched");
    assert_eq!(original.flags, vec!["\\Deleted".to_string()]);
    let copy = bigs
        .iter()
        .find(|s| s.uid != was_big.uid)
        .expect("the copy");
    assert!(copy.uid > was_big.uid);
    assert!(slimbox::mime::is_processed(&copy.bytes), "copy converted");
    assert!(copy.bytes.len() < big.len() / 10, "copy is small");
    assert!(!is_deleted(copy), "the copy is not flagged \\Deleted");
    assert_eq!(copy.flags, was_big.flags, "copy has the original's flags");
    assert_eq!(
        copy.internal_ts, was_big.internal_ts,
        "copy keeps the INTERNALDATE instant"
    );
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), &copy.bytes),
        big,
        "the original rebuilds byte for byte from the copy and the store"
    );
    // No MOVE: nothing went to Trash even though trash = "Trash".
    assert!(rt().block_on(snapshot(&d, "Trash")).is_empty());

    // A second run converts nothing (the original is \Deleted, the copy
    // carries the marker) and changes nothing.
    let out2 = run(&d, &config);
    let again = report_of(&out2);
    assert!(out2.status.success(), "second run failed: {again:#}");
    assert_eq!(sent_report(&again)["converted"], 0, "{again:#}");
    assert_eq!(sent_report(&again)["failed"], 0, "{again:#}");
    let after2 = rt().block_on(snapshot(&d, "Sent"));
    assert_eq!(after2, after, "second run changed the mailbox");
}

#[test]
fn flags_dropped_by_imap4d_append_are_set_again_on_the_copy() {
    // Sent mail is \Seen; imap4d's APPEND drops that flag. slimbox sets the
    // original's flags on the copy (UID STORE) before verifying it, so the
    // conversion succeeds and the copy reads as the original did.
    let d = Imap4d::start();
    let dir = tempfile::tempdir().unwrap();
    let config = d.write_config(dir.path());
    let big = big_received("seen", 2);
    rt().block_on(seed(&d, "Sent", &[&big[..]], true));
    store_flag_on_all(&d, "Sent", "\\Seen");
    let before = rt().block_on(snapshot(&d, "Sent"));
    assert_eq!(before.len(), 1);
    let was = before.values().next().unwrap().clone();
    assert_eq!(was.flags, vec!["\\Seen".to_string()]);

    let out = run(&d, &config);
    let report = report_of(&out);
    let sent = sent_report(&report);
    assert!(out.status.success(), "{report:#}");
    assert_eq!(sent["converted"], 1, "{report:#}");

    let now = rt().block_on(snapshot(&d, "Sent"));
    let original = now
        .get(&was.uid)
        .expect("the original stays, flagged \\Deleted");
    assert!(is_deleted(original));
    let copies: Vec<&Seen> = now.values().filter(|s| s.uid != was.uid).collect();
    assert_eq!(copies.len(), 1, "{now:#?}");
    assert!(slimbox::mime::is_processed(&copies[0].bytes));
    assert_eq!(copies[0].flags, vec!["\\Seen".to_string()]);
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), &copies[0].bytes),
        was.bytes
    );

    // A second run adds nothing.
    let out = run(&d, &config);
    assert!(out.status.success());
    assert_eq!(sent_report(&report_of(&out))["converted"], 0);
    assert_eq!(rt().block_on(snapshot(&d, "Sent")).len(), 2);
}

#[test]
fn uids_renumbered_by_imap4d_between_scan_and_run_lose_nothing() {
    // The big message is appended last and never SELECTed before the run:
    // slimbox plans under EXAMINE, then imap4d gives the message a new UID
    // at the run's SELECT, and fetching the planned UID is answered with BAD.
    let d = Imap4d::start();
    let dir = tempfile::tempdir().unwrap();
    let config = d.write_config(dir.path());
    let big = big_received("late", 3);
    let text = text_received("early");
    rt().block_on(seed(&d, "Sent", &[&text[..], &big[..]], false));

    // Whatever the first run manages, nothing is lost or changed.
    let first = run(&d, &config);
    let report = report_of(&first);
    eprintln!(
        "first run: exit {}, {}",
        first.status,
        sent_report(&report)["notes"]
    );
    let mid = rt().block_on(snapshot(&d, "Sent"));
    let ids = by_message_id(&mid);
    assert_eq!(ids.len(), 2, "{mid:#?}");
    assert_eq!(ids["early@example.com"].len(), 1);
    assert_eq!(ids["early@example.com"][0].bytes, text);
    assert!(
        ids["late@example.com"].iter().any(|s| s.bytes == big),
        "the original is still there: {report:#}"
    );

    // The next runs finish the job: one live converted copy, the original
    // kept flagged \Deleted, then nothing left to do.
    let second = run(&d, &config);
    let report2 = report_of(&second);
    assert!(second.status.success(), "{report2:#}");
    let after = rt().block_on(snapshot(&d, "Sent"));
    let ids = by_message_id(&after);
    assert_eq!(ids["early@example.com"].len(), 1);
    assert_eq!(ids["early@example.com"][0].bytes, text);
    let late = &ids["late@example.com"];
    let live: Vec<&&Seen> = late.iter().filter(|s| !is_deleted(s)).collect();
    assert_eq!(live.len(), 1, "one live copy: {late:#?}");
    assert!(slimbox::mime::is_processed(&live[0].bytes));
    assert_eq!(live[0].internal_ts, RECEIVED_TS);
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), &live[0].bytes),
        big
    );
    assert!(
        late.iter().any(|s| s.bytes == big && is_deleted(s)),
        "the original is kept, flagged \\Deleted: {late:#?}"
    );
    let third = run(&d, &config);
    let report3 = report_of(&third);
    assert!(third.status.success(), "{report3:#}");
    assert_eq!(sent_report(&report3)["converted"], 0, "{report3:#}");
    assert_eq!(rt().block_on(snapshot(&d, "Sent")), after);
}

/// Issue 9: imap4d may hide a message from the very session that APPENDed
/// it (here, with no EXAMINE of the folder since it was seeded): slimbox
/// selects the folder anew and finds its copy, instead of leaving the
/// message in the journal for the next run.
#[test]
fn issue9_a_copy_imap4d_hides_after_its_append_is_still_found() {
    let d = Imap4d::start();
    let dir = tempfile::tempdir().unwrap();
    let config = d.write_config(dir.path());
    let big = big_received("hidden", 31);
    let other = big_received("hidden-2", 32);
    rt().block_on(seed(&d, "Sent", &[&big[..], &other[..]], true));
    // Another session selects the folder just before the run.
    rt().block_on(seed(&d, "Sent", &[], true));
    let out = run(&d, &config);
    let report = report_of(&out);
    assert_eq!(sent_report(&report)["converted"], 2, "{report:#}");
    assert!(report[0]["waiting"].as_array().is_some_and(Vec::is_empty));
    let now = rt().block_on(snapshot(&d, "Sent"));
    let live: Vec<&Seen> = now.values().filter(|s| !is_deleted(s)).collect();
    assert_eq!(live.len(), 2, "{now:#?}");
    assert!(live.iter().all(|s| slimbox::mime::is_processed(&s.bytes)));
}
