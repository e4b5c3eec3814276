//! Issue 10: the rules of Gmail and Microsoft 365 / Outlook.com, on a
//! private Dovecot made to look like them (`dovecot-harness --layout`):
//! - Gmail (X-GM-EXT-1, `[Gmail]/...` folders): the original goes to
//!   `[Gmail]/Trash` and is expunged there; a glob never scans All Mail,
//!   Important or Starred; an original that vanishes right after its copy's
//!   APPEND (as Gmail does with a duplicate Message-ID) leaves exactly one
//!   copy and loses nothing.
//! - Microsoft (no SPECIAL-USE, "Sent Items"): `\Sent` finds "Sent Items"
//!   by its name, the scan says so, and scan and run each print the
//!   Recoverable Items note once.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use slimbox::imap::Session;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const SENT: &str = "[Gmail]/Sent Mail";
const TRASH: &str = "[Gmail]/Trash";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn big(id: &str) -> Vec<u8> {
    let seed = id.bytes().map(u64::from).sum::<u64>();
    mailbox::with_attachment(
        id,
        &format!("Report {id}"),
        "r.pdf",
        "application/pdf",
        mailbox::noise(250_000, seed),
    )
}

fn dovecot(layout: &'static str) -> Dovecot {
    Dovecot::start(DovecotOptions {
        layout: Some(layout),
        ..DovecotOptions::default()
    })
}

/// A config for alice (and, with `bob`, for bob too) with `folders` and
/// `provider`; the host stays the test server's.
fn config(d: &Dovecot, dir: &Path, folders: &str, provider: &str, bob: bool) -> PathBuf {
    let account = |name: &str, env: &str| {
        format!(
            "[[account]]\nname = \"{name}\"\nprovider = \"{provider}\"\nhost = \"127.0.0.1\"\n\
             port = {port}\nca_file = \"{ca}\"\nuser = \"{name}\"\npassword_env = \"{env}\"\n",
            port = d.imaps_port,
            ca = d.ca_pem.display(),
        )
    };
    let mut text = format!(
        "[store]\nurl = \"{store}\"\n[index]\npath = \"{index}\"\n[policy]\n\
         min_size = \"100KiB\"\nfolders = {folders}\n{alice}",
        store = dir.join("store").display(),
        index = dir.join("index.sqlite").display(),
        alice = account("alice", "SLIMBOX_TEST_PASSWORD"),
    );
    if bob {
        text.push_str(&account("bob", "SLIMBOX_TEST_PASSWORD_BOB"));
    }
    let p = dir.join("config.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// Starts `slimbox run --json` paused at `step` and returns it with the
/// file that lets it go on, and its stderr as it comes.
fn start_paused(
    config: &Path,
    dir: &Path,
    step: &str,
) -> (
    std::process::Child,
    PathBuf,
    std::sync::mpsc::Receiver<String>,
) {
    let go = dir.join("go");
    let mut child = slimbox(config)
        .args(["run", "--json"])
        .env("SLIMBOX_TEST_PAUSE_AT", step)
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slimbox");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let paused = lines
        .by_ref()
        .any(|l| l.unwrap_or_default().contains(&format!("paused at {step}")));
    assert!(paused, "slimbox never reached {step}");
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    (child, go, rx)
}

/// Lets a paused run go on and returns its JSON report and its stderr.
fn finish(
    child: std::process::Child,
    go: &Path,
    rx: std::sync::mpsc::Receiver<String>,
) -> (serde_json::Value, String) {
    std::fs::write(go, b"").expect("go");
    let mut child = child;
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    child.wait().expect("wait");
    let stderr: Vec<String> = rx.iter().collect();
    let report = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&stdout),
            stderr.join("\n")
        )
    });
    (report, stderr.join("\n"))
}

/// The messages of `folder` whose Message-ID is `<id@example.com>`.
fn with_id(d: &Dovecot, folder: &str, id: &str) -> Vec<mailbox::Seen> {
    let want = format!("{id}@example.com");
    rt().block_on(mailbox::snapshot(d, folder))
        .into_values()
        .filter(|s| mailbox::message_id(&s.bytes).as_deref() == Some(want.as_str()))
        .collect()
}

/// The one converted copy of `original` in `folder`, rebuilt from the store.
fn assert_one_converted_copy(d: &Dovecot, dir: &Path, folder: &str, id: &str, original: &[u8]) {
    let copies = with_id(d, folder, id);
    assert_eq!(copies.len(), 1, "exactly one {id} in {folder}: {copies:?}");
    let copy = &copies[0].bytes;
    assert!(copy.len() < original.len() / 2, "{id} was converted");
    assert!(
        mailbox::reattach_from_disk(&dir.join("store"), copy) == original,
        "{id} rebuilds byte for byte from the store"
    );
}

fn folder_names(report: &serde_json::Value) -> Vec<String> {
    report[0]["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .map(|f| f["folder"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn issue10_gmail_original_goes_to_trash_and_is_expunged_there_views_never_scanned() {
    let d = dovecot("gmail");
    let dir = tempfile::tempdir().unwrap();
    let config = config(&d, dir.path(), r#"["*"]"#, "gmail", false);
    let original = big("sent1");
    // Large mail in the views a glob must never pick (on Dovecot they are
    // real folders: a scan of them would convert these).
    let views: Vec<(&str, &str, Vec<u8>)> = [
        ("[Gmail]/All Mail", "all1"),
        ("[Gmail]/Important", "imp1"),
        ("[Gmail]/Starred", "star1"),
    ]
    .into_iter()
    .map(|(f, id)| (f, id, big(id)))
    .collect();
    rt().block_on(async {
        mailbox::seed(&d, SENT, &original, &["\\Seen"], DATE).await;
        for (folder, _, msg) in &views {
            mailbox::seed(&d, folder, msg, &["\\Seen"], DATE).await;
        }
    });
    // Moved to the Trash, not yet expunged there.
    let (child, go, rx) = start_paused(&config, dir.path(), "trashed");
    let trashed = with_id(&d, TRASH, "sent1");
    assert_eq!(trashed.len(), 1, "the original is in {TRASH}: {trashed:?}");
    assert!(
        trashed[0].bytes == original,
        "the original itself went there"
    );
    let (report, stderr) = finish(child, &go, rx);

    assert!(
        rt().block_on(mailbox::snapshot(&d, TRASH)).is_empty(),
        "expunged from {TRASH}; {stderr}"
    );
    assert_one_converted_copy(&d, dir.path(), SENT, "sent1", &original);
    let folders = folder_names(&report);
    assert!(folders.contains(&SENT.to_string()), "{folders:?}");
    for view in ["[Gmail]/All Mail", "[Gmail]/Important", "[Gmail]/Starred"] {
        assert!(
            !folders.contains(&view.to_string()),
            "{view} scanned: {folders:?}"
        );
    }
    for (folder, id, msg) in &views {
        let seen = with_id(&d, folder, id);
        assert!(
            seen.len() == 1 && seen[0].bytes == *msg,
            "{folder} untouched"
        );
    }
    assert_eq!(report[0]["error"], serde_json::Value::Null, "{report:#}");
}

#[test]
fn issue10_gmail_original_vanished_after_the_append_leaves_exactly_one_copy() {
    let d = dovecot("gmail");
    let dir = tempfile::tempdir().unwrap();
    let config = config(&d, dir.path(), r#"["\\Sent"]"#, "gmail", false);
    let original = big("gone1");
    let uid = rt().block_on(mailbox::seed(&d, SENT, &original, &["\\Seen"], DATE));
    // The copy is in; another client expunges the original now, as Gmail
    // does with a message whose Message-ID is appended again.
    let (child, go, rx) = start_paused(&config, dir.path(), "appended");
    rt().block_on(async {
        let mut s: Session = mailbox::connect(&d).await;
        let sent = mailbox::folder(&mut s, SENT).await;
        s.select(&sent).await.expect("select");
        let both = s
            .search_header("Message-ID", "gone1@")
            .await
            .expect("search");
        assert_eq!(both.len(), 2, "original and copy: {both:?}");
        s.delete_uids(&[uid], None).await.expect("expunge");
        let _ = s.logout().await;
    });
    let (report, stderr) = finish(child, &go, rx);

    assert_one_converted_copy(&d, dir.path(), SENT, "gone1", &original);
    assert!(with_id(&d, TRASH, "gone1").is_empty(), "nothing in Trash");
    let sent = &report[0]["folders"][0];
    assert_eq!(sent["converted"], 1, "{report:#}\n{stderr}");
    assert_eq!(sent["failed"], 0, "{report:#}");
    let notes = sent["notes"].to_string();
    assert!(notes.contains("vanished"), "{notes}");
    // A second run finds nothing more to do and keeps the one copy.
    let out = slimbox(&config)
        .args(["run", "--json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_one_converted_copy(&d, dir.path(), SENT, "gone1", &original);
}

#[test]
fn issue10_microsoft_sent_items_without_special_use_and_one_recoverable_items_note() {
    let d = dovecot("microsoft");
    let dir = tempfile::tempdir().unwrap();
    let config = config(&d, dir.path(), r#"["\\Sent"]"#, "microsoft365", true);
    let original = big("ms1");
    rt().block_on(async {
        let mut s = mailbox::connect(&d).await;
        let folders = s.list_folders().await.expect("list");
        let _ = s.logout().await;
        assert!(
            folders.iter().all(|f| f.special_use.is_empty()),
            "no SPECIAL-USE: {folders:?}"
        );
        mailbox::seed(&d, "Sent Items", &original, &["\\Seen"], DATE).await;
    });
    let with_bob = |c: &mut std::process::Command| {
        c.env("SLIMBOX_TEST_PASSWORD_BOB", "bobpw");
    };

    let mut scan = slimbox(&config);
    with_bob(scan.arg("scan"));
    let out = scan.output().expect("scan");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("alice Sent Items"), "{stdout}");
    assert!(
        stdout.contains("no folder is marked \\Sent") && stdout.contains("\"Sent Items\""),
        "the scan says how it found the folder: {stdout}"
    );
    assert_eq!(stderr.matches("Recoverable Items").count(), 1, "{stderr}");
    assert!(stderr.contains("alice, bob"), "{stderr}");

    let mut run = slimbox(&config);
    with_bob(run.args(["run", "--json"]));
    let out = run.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(out.status.success(), "{report:#}\n{stderr}");
    assert_eq!(report[0]["folders"][0]["folder"], "Sent Items");
    assert_eq!(report[0]["folders"][0]["converted"], 1, "{report:#}");
    assert_eq!(stderr.matches("Recoverable Items").count(), 1, "{stderr}");
    assert_one_converted_copy(&d, dir.path(), "Sent Items", "ms1", &original);
    assert!(rt()
        .block_on(mailbox::snapshot(&d, "Deleted Items"))
        .is_empty());
}
