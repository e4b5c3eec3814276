//! `slimbox verify` against a private Dovecot: after a run all is well; a
//! flipped byte in a stored object is caught by --read-data and named with
//! the messages using it; a missing object is caught without --read-data; a
//! stray object shows up as an orphan (not an error); an unreachable server
//! is a reported problem, not a crash; a damaged object nothing uses any
//! more (after reattach) is caught by --read-data too.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use sha2::Digest;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn verify(config: &Path, extra: &[&str]) -> Output {
    slimbox(config)
        .arg("verify")
        .args(extra)
        .output()
        .expect("run slimbox verify")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn verify_json(config: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = verify(config, &args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json printed no JSON ({e}):\n{}", text(&out)));
    (out.status.code().unwrap_or(-1), json)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A message with two attachments.
fn two_attachments(id: &str, a: (&str, &[u8]), b: (&str, &[u8])) -> Vec<u8> {
    let mbox = |s: &str| s.parse::<Mailbox>().expect("mailbox");
    let att = |name: &str, data: &[u8]| {
        Attachment::new(name.to_string()).body(
            data.to_vec(),
            ContentType::parse("application/pdf").expect("content type"),
        )
    };
    Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Bob <bob@example.com>"))
        .subject(format!("Files {id}"))
        .message_id(Some(format!("<{id}@example.com>")))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("Two files attached.\n".to_string()))
                .singlepart(att(a.0, a.1))
                .singlepart(att(b.0, b.1)),
        )
        .expect("message")
        .formatted()
}

fn hex_of(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn object_path(store: &Path, hex: &str) -> PathBuf {
    store.join("sha256").join(&hex[..2]).join(hex)
}

fn make_writable(p: &Path) {
    let mut perm = std::fs::metadata(p).expect("object file").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(p, perm).expect("chmod");
}

#[test]
fn verify_finds_corrupt_missing_and_orphan_objects() {
    let mut d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let store = dir.path().join("store");

    let shared = mailbox::noise(300_000, 11);
    let only_one = mailbox::noise(250_000, 12);
    let only_two = mailbox::noise(200_000, 13);
    let one = two_attachments("one", ("shared.pdf", &shared), ("a.pdf", &only_one));
    let two = two_attachments("two", ("shared.pdf", &shared), ("b.pdf", &only_two));
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &one, &["\\Seen"], DATE).await;
        mailbox::seed(&d, "Sent", &two, &["\\Seen"], DATE).await;
    });

    let out = slimbox(&config).args(["run", "--json"]).output().unwrap();
    assert!(out.status.success(), "run failed: {}", text(&out));

    // All is well after a run.
    let out = verify(&config, &["--read-data"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("all is well"), "{}", text(&out));
    let (code, json) = verify_json(&config, &["--read-data"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["objects_checked"], 3, "{json:#}");
    assert_eq!(json["messages_checked"], 2, "{json:#}");
    assert_eq!(
        json["bytes_read"],
        (shared.len() + only_one.len() + only_two.len()) as u64
    );
    assert!(json["problems"].as_array().unwrap().is_empty(), "{json:#}");
    assert!(json["orphans"].as_array().unwrap().is_empty(), "{json:#}");

    // One flipped byte in the shared object: only --read-data can see it,
    // and it names both messages.
    let shared_hex = hex_of(&shared);
    let shared_path = object_path(&store, &shared_hex);
    let good = std::fs::read(&shared_path).expect("shared object stored");
    assert_eq!(good, shared);
    let mut bad = good.clone();
    bad[1000] ^= 0x01;
    make_writable(&shared_path);
    std::fs::write(&shared_path, &bad).unwrap();

    let out = verify(&config, &["--read-data"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&shared_hex), "{said}");
    assert!(
        said.contains(&format!("sha256/{}/{shared_hex}", &shared_hex[..2])),
        "{said}"
    );
    assert!(said.contains("one@example.com"), "{said}");
    assert!(said.contains("two@example.com"), "{said}");
    assert!(said.contains("corrupt"), "{said}");
    assert!(said.contains("backup"), "{said}");
    let (code, json) = verify_json(&config, &["--read-data"]);
    assert_eq!(code, 1);
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["kind"], "corrupt");
    assert_eq!(problems[0]["sha256"], shared_hex.as_str());
    assert_eq!(problems[0]["messages"].as_array().unwrap().len(), 2);
    // Same size, so a metadata-only check cannot tell.
    let out = verify(&config, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&shared_path, &good).unwrap();

    // A missing object, without --read-data: named with its one message.
    let one_hex = hex_of(&only_one);
    let one_path = object_path(&store, &one_hex);
    let one_bytes = std::fs::read(&one_path).expect("object stored");
    std::fs::remove_file(&one_path).unwrap();
    let out = verify(&config, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&one_hex), "{said}");
    assert!(said.contains("missing"), "{said}");
    assert!(said.contains("one@example.com"), "{said}");
    assert!(!said.contains("two@example.com"), "{said}");
    let (_, json) = verify_json(&config, &[]);
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["kind"], "missing");
    assert_eq!(
        problems[0]["key"],
        format!("sha256/{}/{one_hex}", &one_hex[..2]).as_str()
    );
    let users = problems[0]["messages"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{json:#}");
    assert_eq!(users[0]["message_id"], "one@example.com");
    assert_eq!(users[0]["folder"], "Sent");
    assert!(users[0]["uid"].is_u64(), "the server's UID: {json:#}");
    std::fs::write(&one_path, &one_bytes).unwrap();

    // A stray object: an orphan, noted but not an error.
    let stray = b"nobody links to this".to_vec();
    let stray_hex = hex_of(&stray);
    let stray_path = object_path(&store, &stray_hex);
    std::fs::create_dir_all(stray_path.parent().unwrap()).unwrap();
    std::fs::write(&stray_path, &stray).unwrap();
    let out = verify(&config, &["--read-data"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(&stray_hex), "{said}");
    assert!(said.contains("not used by any message"), "{said}");
    let (code, json) = verify_json(&config, &[]);
    assert_eq!(code, 0);
    let orphans = json["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{json:#}");
    assert_eq!(orphans[0]["sha256"], stray_hex.as_str());
    assert_eq!(orphans[0]["size"], stray.len() as u64);

    // The server gone: a problem for that account, not a crash.
    d.stop();
    let (code, json) = verify_json(&config, &["--account", "alice"]);
    assert_eq!(code, 1, "{json:#}");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["kind"], "server");
    assert!(
        problems[0]["detail"].as_str().unwrap().contains("alice"),
        "{json:#}"
    );
    // The index and store checks still ran.
    assert_eq!(json["objects_checked"], 3, "{json:#}");
}

/// Issue 8: `verify --read-data` reads every object in the store, orphans
/// included. After `reattach`, the message's object is used by nothing; a
/// flipped byte in it used to pass unseen (and the next message carrying
/// that attachment would then fail to store it). Without --read-data it
/// stays a note, as before; with it, a problem naming the object and how to
/// repair it, and the repair works.
#[test]
fn issue8_verify_read_data_reads_orphans() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let store = dir.path().join("store");

    let data = mailbox::noise(300_000, 21);
    let msg =
        mailbox::with_attachment("orphan", "Report", "r.pdf", "application/pdf", data.clone());
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &msg, &["\\Seen"], DATE).await;
    });
    let out = slimbox(&config).args(["run", "--json"]).output().unwrap();
    assert!(out.status.success(), "run failed: {}", text(&out));
    let out = slimbox(&config)
        .args(["reattach", "--message-id", "orphan@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "reattach failed: {}", text(&out));

    // The object is an orphan now; flip one byte in it.
    let hex = hex_of(&data);
    let path = object_path(&store, &hex);
    let mut bad = std::fs::read(&path).expect("object stays in the store");
    bad[1000] ^= 0x01;
    make_writable(&path);
    std::fs::write(&path, &bad).unwrap();

    // Without --read-data: a note only, as before.
    let out = verify(&config, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(&hex), "{said}");
    assert!(said.contains("not used by any message"), "{said}");

    // With --read-data: a problem naming the object, its file and the repair.
    let out = verify(&config, &["--read-data"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("PROBLEM (corrupt)"), "{said}");
    assert!(said.contains(&hex), "{said}");
    assert!(said.contains(&path.display().to_string()), "{said}");
    assert!(said.contains("delete the damaged file"), "{said}");
    let (code, json) = verify_json(&config, &["--read-data"]);
    assert_eq!(code, 1, "{json:#}");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["kind"], "corrupt");
    assert_eq!(problems[0]["sha256"], hex.as_str());
    assert!(problems[0]["messages"].as_array().unwrap().is_empty());
    assert!(json["orphans"].as_array().unwrap().is_empty(), "{json:#}");
    assert_eq!(json["objects_checked"], 1, "the orphan was read: {json:#}");

    // The repair it names: delete the file; all is well again, and the
    // next run stores the attachment afresh.
    std::fs::remove_file(&path).unwrap();
    let out = verify(&config, &["--read-data"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = slimbox(&config).args(["run", "--json"]).output().unwrap();
    assert!(out.status.success(), "run failed: {}", text(&out));
    assert_eq!(std::fs::read(&path).expect("stored again"), data);
    let out = verify(&config, &["--read-data"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The UIDs in `folder` of each Message-ID, and whether each is converted.
fn copies_by_id(d: &Dovecot, folder: &str) -> std::collections::BTreeMap<String, Vec<(u32, bool)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(u32, bool)>> = Default::default();
    for (uid, seen) in rt().block_on(mailbox::snapshot(d, folder)) {
        let id = mailbox::message_id(&seen.bytes).expect("Message-ID");
        out.entry(id)
            .or_default()
            .push((uid, slimbox::mime::is_processed(&seen.bytes)));
    }
    out
}

/// Removes `uids` from Sent (UIDPLUS: UID EXPUNGE of exactly those).
fn delete_from_sent(d: &Dovecot, uids: &[u32]) {
    rt().block_on(async {
        let mut s = mailbox::connect(d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        s.select(&f).await.expect("select");
        s.delete_uids(uids, None).await.expect("delete");
        let _ = s.logout().await;
    });
}

/// Problems of `kind` whose messages include `id`.
fn problems_about<'a>(
    json: &'a serde_json::Value,
    kind: &str,
    id: &str,
) -> Vec<&'a serde_json::Value> {
    json["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["kind"] == kind)
        .filter(|p| {
            p["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .any(|m| m["message_id"] == id)
        })
        .collect()
}

/// Issue 9: `verify` said "all is well" for a mailbox holding messages
/// twice. Now it finds, per folder: an original beside its converted copy
/// (proven by rebuilding the copy from the store), two converted copies of
/// one message (byte-identical, or rebuilding to the same original), and a
/// converted message with no row in the index; each with its UIDs, subject
/// and the exact repair, and verify fails. Two different messages that
/// share a Message-ID, and an original already flagged \Deleted beside its
/// copy, are not reported. The repairs it names leave every message once.
#[test]
fn issue9_verify_fails_on_a_mailbox_holding_a_message_twice() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let msg = |id: &str, seed: u64| {
        let subject = format!("Report {id}");
        mailbox::with_attachment(
            id,
            &subject,
            "r.pdf",
            "application/pdf",
            mailbox::noise(300_000, seed),
        )
    };
    let (a, b, c, dd, f) = (
        msg("a", 31),
        msg("b", 32),
        msg("c", 33),
        msg("d", 34),
        msg("f", 37),
    );
    // Two different messages sharing one Message-ID.
    let (e1, e2) = (msg("e", 35), msg("e", 36));
    rt().block_on(async {
        for m in [&a, &b, &c, &dd, &e1, &e2, &f] {
            mailbox::seed(&d, "Sent", m, &["\\Seen"], DATE).await;
        }
    });
    let out = slimbox(&config).args(["run", "--json"]).output().unwrap();
    assert!(out.status.success(), "run failed: {}", text(&out));
    let out = verify(&config, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let before = copies_by_id(&d, "Sent");
    let converted = |id: &str| before[id][0].0;
    let sent = rt().block_on(mailbox::snapshot(&d, "Sent"));
    // a: the original again beside its copy, with a flag the copy lacks.
    let a_original = rt().block_on(mailbox::seed(
        &d,
        "Sent",
        &a,
        &["\\Seen", "\\Flagged"],
        DATE,
    ));
    // b: its converted copy twice, byte for byte.
    let b_bytes = sent[&converted("b@example.com")].bytes.clone();
    let b_extra = rt().block_on(mailbox::seed(&d, "Sent", &b_bytes, &["\\Seen"], DATE));
    // d: a second converted copy with another marker date (as a second run
    // at another second writes it): not the same bytes, the same original.
    let d_bytes = sent[&converted("d@example.com")].bytes.clone();
    let line = slimbox::mime::marker_line(&d_bytes)
        .expect("marker")
        .to_string();
    let at = line.find("date=").expect("marker date");
    let other = format!("{}date=\"Thu, 1 Jan 1970 00:00:00 +0000\"", &line[..at]);
    let d_other = String::from_utf8(d_bytes.clone())
        .unwrap()
        .replacen(&line, &other, 1);
    assert_ne!(d_other.as_bytes(), &d_bytes[..]);
    let d_extra = rt().block_on(mailbox::seed(
        &d,
        "Sent",
        d_other.as_bytes(),
        &["\\Seen"],
        DATE,
    ));
    // f: the original again, but flagged \Deleted (on its way out).
    rt().block_on(mailbox::seed(
        &d,
        "Sent",
        &f,
        &["\\Seen", "\\Deleted"],
        DATE,
    ));
    // c: its index row lost.
    let db = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    db.execute_batch(
        "PRAGMA foreign_keys = ON; DELETE FROM messages WHERE message_id = 'c@example.com';",
    )
    .unwrap();
    drop(db);

    let out = verify(&config, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("PROBLEM (duplicate)"), "{said}");
    assert!(said.contains("PROBLEM (not-indexed)"), "{said}");
    assert!(said.contains("\"Report a\""), "{said}");
    assert!(!said.contains("all is well"), "{said}");

    let (code, json) = verify_json(&config, &[]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["problems"].as_array().unwrap().len(), 4, "{json:#}");

    let pa = problems_about(&json, "duplicate", "a@example.com");
    assert_eq!(pa.len(), 1, "{json:#}");
    let repair = pa[0]["repair"].as_str().unwrap();
    assert!(
        repair.contains(&format!("delete the original, UID {a_original} in Sent")),
        "{repair}"
    );
    assert!(
        repair.contains(&format!("`UID EXPUNGE {a_original}`")),
        "{repair}"
    );
    assert!(
        repair.contains("\\Flagged"),
        "the flag the copy lacks: {repair}"
    );
    assert!(
        pa[0]["detail"].as_str().unwrap().contains("byte for byte"),
        "{json:#}"
    );

    let pb = problems_about(&json, "duplicate", "b@example.com");
    assert_eq!(pb.len(), 1, "{json:#}");
    let keep_b = converted("b@example.com");
    let repair = pb[0]["repair"].as_str().unwrap();
    assert!(
        repair.contains(&format!(
            "keep UID {keep_b} and delete the extra copy, UID {b_extra} in Sent"
        )),
        "{repair}"
    );
    assert!(
        pb[0]["detail"].as_str().unwrap().contains("byte-identical"),
        "{json:#}"
    );

    let pd = problems_about(&json, "duplicate", "d@example.com");
    assert_eq!(pd.len(), 1, "{json:#}");
    assert!(
        pd[0]["detail"]
            .as_str()
            .unwrap()
            .contains("rebuilds from the store to the same original"),
        "{json:#}"
    );
    assert!(
        pd[0]["repair"]
            .as_str()
            .unwrap()
            .contains(&format!("UID {d_extra} in Sent")),
        "{json:#}"
    );

    let pc = problems_about(&json, "not-indexed", "c@example.com");
    assert_eq!(pc.len(), 1, "{json:#}");
    assert_eq!(pc[0]["messages"][0]["uid"], converted("c@example.com"));
    assert!(
        pc[0]["repair"]
            .as_str()
            .unwrap()
            .contains("slimbox index rebuild --account alice"),
        "{json:#}"
    );
    assert!(
        problems_about(&json, "duplicate", "e@example.com").is_empty(),
        "{json:#}"
    );
    assert!(
        problems_about(&json, "duplicate", "f@example.com").is_empty(),
        "{json:#}"
    );

    // The repairs it names: every message once again (e's two messages
    // are two messages), and only the lost index row is left to repair.
    delete_from_sent(&d, &[a_original, b_extra, d_extra]);
    let after = copies_by_id(&d, "Sent");
    for (id, copies) in &after {
        let live = if id == "f@example.com" { 2 } else { 1 }; // one flagged \Deleted
        let expected = if id == "e@example.com" { 2 } else { live };
        assert_eq!(copies.len(), expected, "{id}: {copies:?}");
        assert!(copies.iter().any(|c| c.1), "{id} converted");
    }
    let (code, json) = verify_json(&config, &[]);
    assert_eq!(code, 1, "{json:#}");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["kind"], "not-indexed");
}
