//! Issue 9: a mailbox in use. The owner's mail client works in the folder
//! while `slimbox run` converts it: flags set and cleared, messages moved
//! away and deleted. At the end every message is there exactly once (none
//! duplicated, none brought back), with the flags its owner last gave it
//! and its INTERNALDATE kept.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use slimbox::imap::Session;
use support::dovecot::{Dovecot, DovecotOptions, CAPS_WITHOUT_CONDSTORE};
use support::mailbox::{self, slimbox, Seen};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn big(i: u64) -> Vec<u8> {
    mailbox::with_attachment(
        &format!("owner{i}"),
        &format!("Owner {i}"),
        "o.pdf",
        "application/pdf",
        mailbox::noise(250_000, 900 + i),
    )
}

fn id(i: u64) -> String {
    format!("owner{i}@example.com")
}

fn sorted(flags: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    v.sort();
    v
}

/// Every message of `folders`, grouped by Message-ID.
fn by_id(d: &Dovecot, folders: &[&str]) -> BTreeMap<String, Vec<(String, Seen)>> {
    let mut out: BTreeMap<String, Vec<(String, Seen)>> = BTreeMap::new();
    for f in folders {
        for s in rt().block_on(mailbox::snapshot(d, f)).into_values() {
            let id = mailbox::message_id(&s.bytes).unwrap_or_default();
            out.entry(id).or_default().push((f.to_string(), s));
        }
    }
    out
}

/// The UIDs in the selected folder whose Message-ID is `id`.
async fn uids_of(s: &mut Session, id: &str) -> Vec<u32> {
    s.search_header("Message-ID", id).await.expect("search")
}

/// Sets exactly `flags` on every message with Message-ID `id` in the
/// selected folder, as a mail client would, until the set of messages
/// carrying that Message-ID held still while it did so (a copy may appear
/// or an original vanish under it).
async fn set_flags_by_id(s: &mut Session, id: &str, flags: &[&str]) {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    let mut before = uids_of(s, id).await;
    loop {
        for &uid in &before {
            // A UID that just went away is no error for a mail client.
            let _ = s.set_flags(uid, &flags).await;
        }
        let after = uids_of(s, id).await;
        if after == before {
            return;
        }
        before = after;
    }
}

/// Starts `slimbox run --json` paused at `step` (the first message there)
/// and returns it with a function that lets it go on.
fn start_paused(
    config: &std::path::Path,
    dir: &std::path::Path,
    step: &str,
) -> (std::process::Child, std::path::PathBuf) {
    let go = dir.join("go");
    let mut child = slimbox(config)
        .args(["-v", "run", "--json"])
        .env("SLIMBOX_TEST_PAUSE_AT", step)
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slimbox");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let paused = lines
        .by_ref()
        .any(|l| l.unwrap_or_default().contains(&format!("paused at {step}")));
    assert!(paused, "slimbox never reached {step}");
    // Keep reading stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, go)
}

/// A Dovecot with CONDSTORE, or one announcing none (slimbox then reads
/// the flags afresh and removes without the UNCHANGEDSINCE condition).
fn dovecot(condstore: bool) -> Dovecot {
    let d = Dovecot::start(DovecotOptions {
        capability: (!condstore).then(|| CAPS_WITHOUT_CONDSTORE.to_string()),
        ..DovecotOptions::default()
    });
    let caps = rt().block_on(async {
        let s = mailbox::connect(&d).await;
        let caps = s.capabilities();
        let _ = s.logout().await;
        caps
    });
    assert_eq!(caps.iter().any(|c| c == "CONDSTORE"), condstore, "{caps:?}");
    d
}

#[test]
fn issue9_the_owners_flags_moves_and_deletions_during_a_run_win() {
    owner_works_during_the_run(true);
}

#[test]
fn issue9_the_owners_changes_win_without_condstore() {
    owner_works_during_the_run(false);
}

fn owner_works_during_the_run(condstore: bool) {
    let d = dovecot(condstore);
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let originals: Vec<Vec<u8>> = (0..6).map(big).collect();
    rt().block_on(async {
        for o in &originals {
            mailbox::seed(&d, "Sent", o, &["\\Seen"], DATE).await;
        }
    });
    // The first message's copy is verified, its original not yet removed;
    // the others are planned, some already downloaded.
    let (child, go) = start_paused(&config, dir.path(), "verified");
    rt().block_on(async {
        let mut s = mailbox::connect(&d).await;
        let sent = mailbox::folder(&mut s, "Sent").await;
        let inbox = mailbox::folder(&mut s, "INBOX").await;
        s.select(&sent).await.unwrap();
        // 0: both copies visible; flagged on the original, a keyword on the copy.
        let both = uids_of(&mut s, &id(0)).await;
        assert_eq!(both.len(), 2, "original and verified copy: {both:?}");
        s.set_flags(both[0], &sorted(&["\\Seen", "\\Flagged"]))
            .await
            .unwrap();
        s.set_flags(both[1], &sorted(&["\\Seen", "$Copy"]))
            .await
            .unwrap();
        // 1: marked unread and tagged before its turn.
        set_flags_by_id(&mut s, &id(1), &["$Todo"]).await;
        // 2: moved to INBOX; 3: deleted.
        let two = uids_of(&mut s, &id(2)).await;
        s.move_uids(&two, &inbox).await.unwrap();
        let three = uids_of(&mut s, &id(3)).await;
        s.delete_uids(&three, None).await.unwrap();
        let _ = s.logout().await;
    });
    std::fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().expect("wait");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");

    let all = by_id(&d, &["Sent", "INBOX", "Archive"]);
    let flags_of = |i: u64| {
        let got = &all[&id(i)];
        assert_eq!(got.len(), 1, "{} exactly once: {got:?}", id(i));
        got[0].1.flags.clone()
    };
    assert_eq!(flags_of(0), sorted(&["\\Seen", "\\Flagged", "$Copy"]));
    assert_eq!(flags_of(1), sorted(&["$Todo"]));
    // Moved: there once, as its owner moved it (not converted again here).
    let moved = &all[&id(2)];
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].0, "INBOX");
    assert!(
        moved[0].1.bytes == originals[2],
        "the moved original, untouched"
    );
    assert!(
        !all.contains_key(&id(3)),
        "the deleted message stays deleted"
    );
    for i in [0, 1, 4, 5] {
        let (folder, s) = &all[&id(i)][0];
        assert_eq!(folder, "Sent");
        assert!(
            String::from_utf8_lossy(&s.bytes).contains("X-Slimbox:"),
            "{} converted",
            id(i)
        );
        assert_eq!(s.internal_ts, 1_706_778_000, "INTERNALDATE kept");
    }
    assert_eq!(flags_of(4), sorted(&["\\Seen"]));
    assert!(report[0]["error"].is_null(), "{report:#}");
}

/// A second client sets and clears flags on every message, moves some
/// away and deletes others, for as long as the run goes on.
#[test]
fn issue9_a_busy_mail_client_beside_the_run() {
    busy_client_beside_the_run(true);
}

/// Without CONDSTORE a flag change in the moment between slimbox's last
/// look and its removal could be missed; the client here re-applies what
/// it sees vanish, as the assertion needs a settled end state.
#[test]
fn issue9_a_busy_mail_client_beside_the_run_without_condstore() {
    busy_client_beside_the_run(false);
}

fn busy_client_beside_the_run(condstore: bool) {
    const N: u64 = 24;
    let d = dovecot(condstore);
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    rt().block_on(async {
        for i in 0..N {
            mailbox::seed(&d, "Sent", &big(i), &["\\Seen"], DATE).await;
        }
    });
    let done = Arc::new(AtomicBool::new(false));
    let last: Arc<Mutex<BTreeMap<u64, Vec<String>>>> = Arc::default();
    let gone: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let client = {
        let (done, last, gone) = (done.clone(), last.clone(), gone.clone());
        let d_addr = mailbox::imap_config(&d, "alice", "alicepw");
        std::thread::spawn(move || {
            rt().block_on(busy_client(d_addr, done, last, gone));
        })
    };
    let out = slimbox(&config)
        .args(["-vv", "run", "--json"])
        .output()
        .expect("run slimbox");
    done.store(true, Ordering::SeqCst);
    client.join().expect("client thread");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let all = by_id(&d, &["Sent", "INBOX", "Archive"]);
    let (last, gone) = (last.lock().unwrap(), gone.lock().unwrap());
    for i in 0..N {
        let got = all.get(&id(i));
        if gone.contains(&i) {
            let in_sent = got.is_some_and(|g| g.iter().any(|(f, _)| f == "Sent"));
            assert!(!in_sent, "{} was moved or deleted: {got:?}", id(i));
            assert!(got.is_none_or(|g| g.len() == 1), "{got:?}");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{} is lost", id(i)));
        let seen: Vec<_> = got
            .iter()
            .map(|(f, s)| (f, s.uid, &s.flags, slimbox::mime::is_processed(&s.bytes)))
            .collect();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(got.len(), 1, "{} exactly once: {seen:?}\n{log}", id(i));
        let want = last.get(&i).cloned().unwrap_or_else(|| sorted(&["\\Seen"]));
        assert_eq!(got[0].1.flags, want, "{} has its owner's last flags", id(i));
        assert_eq!(got[0].1.internal_ts, 1_706_778_000);
    }
    assert!(!gone.is_empty() && last.len() > 4, "the client did work");
}

async fn busy_client(
    cfg: slimbox::imap::ImapConfig,
    done: Arc<AtomicBool>,
    last: Arc<Mutex<BTreeMap<u64, Vec<String>>>>,
    gone: Arc<Mutex<BTreeSet<u64>>>,
) {
    const N: u64 = 24;
    let choices: [&[&str]; 4] = [&["\\Seen", "\\Flagged"], &[], &["$Work"], &["\\Seen"]];
    let mut s = Session::connect(&cfg).await.expect("client connects");
    let sent = mailbox::folder(&mut s, "Sent").await;
    let inbox = mailbox::folder(&mut s, "INBOX").await;
    s.select(&sent).await.expect("select");
    let mut step: u64 = 0;
    while !done.load(Ordering::SeqCst) {
        step += 1;
        let i = (step * 7) % N;
        if gone.lock().unwrap().contains(&i) {
            continue;
        }
        if step.is_multiple_of(11) {
            let gone_now = match step % 2 {
                0 => move_away(&mut s, &id(i), &sent, &inbox).await,
                _ => delete_all(&mut s, &id(i)).await,
            };
            if gone_now {
                gone.lock().unwrap().insert(i);
            }
            continue;
        }
        let flags = choices[(step % 4) as usize];
        set_flags_by_id(&mut s, &id(i), flags).await;
        last.lock().unwrap().insert(i, sorted(flags));
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    let _ = s.logout().await;
}

/// Moves the one message with Message-ID `id` to `to`, as its owner would;
/// true if it is there now. (With two, an original and its copy, the owner
/// would see a duplicate: left for another turn.)
async fn move_away(
    s: &mut Session,
    id: &str,
    from: &slimbox::imap::Folder,
    to: &slimbox::imap::Folder,
) -> bool {
    let uids = uids_of(s, id).await;
    if uids.len() != 1 {
        return false;
    }
    let _ = s.move_uids(&uids, to).await;
    s.select(to).await.expect("select");
    let arrived = !uids_of(s, id).await.is_empty();
    s.select(from).await.expect("select");
    arrived
}

/// Deletes every message with Message-ID `id` until none is left.
async fn delete_all(s: &mut Session, id: &str) -> bool {
    loop {
        let uids = uids_of(s, id).await;
        if uids.is_empty() {
            return true;
        }
        let _ = s.delete_uids(&uids, None).await;
    }
}
