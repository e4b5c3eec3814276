//! `slimbox run` and `slimbox scan` against a private Dovecot over TLS:
//! flags, INTERNALDATE and Message-ID kept, each message exactly once,
//! signed/small/text mail byte-identical, the user's \Deleted mail kept,
//! scan changes nothing, a second run changes nothing, over quota ends under
//! quota, and a SIGKILL at every step of the safety order loses nothing.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox, Seen};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn run_json(config: &Path, cmd: &str) -> serde_json::Value {
    let out = slimbox(config)
        .args([cmd, "--json"])
        .output()
        .expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The report of `folder` in the first account of a `run --json` report.
fn folder_report(report: &serde_json::Value, folder: &str) -> serde_json::Value {
    report[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder"] == folder)
        .cloned()
        .unwrap_or_else(|| panic!("{folder} in the report: {report:#}"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
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

struct Seeded {
    pdf: Vec<u8>,
    video: Vec<u8>,
    signed: Vec<u8>,
    small: Vec<u8>,
    text: Vec<u8>,
    deleted: Vec<u8>,
}

fn seed_sent(d: &Dovecot) -> Seeded {
    let s = Seeded {
        pdf: mailbox::with_attachment(
            "pdf",
            "Report",
            "report.pdf",
            "application/pdf",
            mailbox::noise(600_000, 1),
        ),
        video: mailbox::with_attachment(
            "video",
            "Holiday",
            "holiday.mp4",
            "video/mp4",
            mailbox::noise(3_000_000, 2),
        ),
        signed: mailbox::signed("signed", &mailbox::noise(500_000, 3)),
        small: mailbox::with_attachment(
            "small",
            "Logo",
            "logo.png",
            "image/png",
            mailbox::noise(20_000, 4),
        ),
        text: mailbox::text("text", "Hello", "Just text.\n"),
        deleted: mailbox::with_attachment(
            "deleted",
            "Old",
            "old.pdf",
            "application/pdf",
            mailbox::noise(400_000, 5),
        ),
    };
    rt().block_on(async {
        mailbox::seed(d, "Sent", &s.pdf, &["\\Seen", "$Label1", "\\Flagged"], DATE).await;
        mailbox::seed(
            d,
            "Sent",
            &s.video,
            &["\\Seen"],
            "15-Mar-2023 23:59:59 -0700",
        )
        .await;
        mailbox::seed(d, "Sent", &s.signed, &["\\Seen"], DATE).await;
        mailbox::seed(d, "Sent", &s.small, &[], DATE).await;
        mailbox::seed(d, "Sent", &s.text, &["\\Answered"], DATE).await;
        mailbox::seed(d, "Sent", &s.deleted, &["\\Seen", "\\Deleted"], DATE).await;
    });
    s
}

#[test]
fn run_converts_large_mail_and_keeps_everything_else() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let seeded = seed_sent(&d);
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(before.len(), 6);

    let report = run_json(&config, "run");
    let sent = &folder_report(&report, "Sent");
    assert_eq!(sent["converted"], 2, "{report:#}");
    assert_eq!(sent["failed"], 0, "{report:#}");

    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let ids = by_message_id(&after);
    assert_eq!(ids.len(), 6, "every message still there");
    for (id, copies) in &ids {
        assert_eq!(copies.len(), 1, "{id} exactly once");
    }
    let orig_by_id: BTreeMap<String, &Seen> = before
        .values()
        .map(|s| (mailbox::message_id(&s.bytes).unwrap(), s))
        .collect();
    for (id, copies) in &ids {
        let now = copies[0];
        let was = orig_by_id[id];
        assert_eq!(now.flags, was.flags, "{id}: flags kept");
        assert_eq!(now.internal_ts, was.internal_ts, "{id}: INTERNALDATE kept");
        match id.as_str() {
            "pdf@example.com" | "video@example.com" => {
                assert!(slimbox::mime::is_processed(&now.bytes), "{id} converted");
                assert!(now.bytes.len() < was.bytes.len() / 10);
                assert_eq!(
                    mailbox::reattach_from_disk(&dir.path().join("store"), &now.bytes),
                    was.bytes
                );
            }
            _ => assert_eq!(now.bytes, was.bytes, "{id} byte-identical"),
        }
    }
    assert_eq!(ids["signed@example.com"][0].bytes, seeded.signed);
    assert!(ids["deleted@example.com"][0]
        .flags
        .iter()
        .any(|f| f == "\\Deleted"));

    // A second run finds nothing to do and changes nothing.
    let again = run_json(&config, "run");
    let converted: u64 = again[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["converted"].as_u64().unwrap())
        .sum();
    assert_eq!(converted, 0, "{again:#}");
    let after2 = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after2, after, "second run changed the mailbox");
}

#[test]
fn scan_reports_and_changes_nothing() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    seed_sent(&d);
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let plan = run_json(&config, "scan");
    let sent = plan[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder"] == "Sent")
        .cloned()
        .unwrap();
    assert_eq!(sent["candidates"].as_array().unwrap().len(), 2, "{plan:#}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after, before, "scan changed the mailbox");
    // The table form works too.
    let out = slimbox(&config).arg("scan").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice Sent"));
}

#[test]
fn over_quota_mailbox_ends_under_quota() {
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(3_000_000),
        ..DovecotOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    // Fill the mailbox with large mail until the server refuses more, then
    // top it up with ever smaller text mail until even a tiny one is refused:
    // a hard quota, where the smaller copy cannot go in first.
    let mut seeded = Vec::new();
    let mut fillers = 0;
    rt().block_on(async {
        let mut s = mailbox::connect(&d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        for i in 0..20u64 {
            let m = mailbox::with_attachment(
                &format!("q{i}"),
                "Scan",
                "scan.pdf",
                "application/pdf",
                mailbox::noise(400_000, 100 + i),
            );
            match s.append(&f, &["\\Seen".to_string()], DATE, &m).await {
                Ok(_) => seeded.push(m),
                Err(slimbox::imap::ImapError::OverQuota { .. }) => break,
                Err(e) => panic!("unexpected append error: {e}"),
            }
        }
        for size in [50_000usize, 5_000, 500, 50] {
            loop {
                let m = mailbox::text(&format!("fill{fillers}"), "filler", &"x".repeat(size));
                match s.append(&f, &[], DATE, &m).await {
                    Ok(_) => fillers += 1,
                    Err(slimbox::imap::ImapError::OverQuota { .. }) => break,
                    Err(e) => panic!("unexpected append error: {e}"),
                }
            }
        }
        let _ = s.logout().await;
    });
    assert!(
        seeded.len() >= 3 && seeded.len() < 20,
        "{} seeded",
        seeded.len()
    );
    let small = mailbox::text("tiny", "t", "x");
    let report = run_json(&config, "run");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let ids = by_message_id(&after);
    assert_eq!(ids.len(), seeded.len() + fillers, "{report:#}");
    for (id, copies) in &ids {
        assert_eq!(copies.len(), 1, "{id} exactly once");
        if id.starts_with('q') {
            assert!(
                slimbox::mime::is_processed(&copies[0].bytes),
                "{id} converted: {report:#}"
            );
        }
    }
    // Under quota again: a new message fits.
    rt().block_on(async {
        let mut s = mailbox::connect(&d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        s.append(&f, &[], DATE, &small)
            .await
            .expect("fits after the run");
        let _ = s.logout().await;
    });
}

/// Runs slimbox paused at `step`, SIGKILLs it there, checks nothing is
/// lost, then runs again and checks the job is finished exactly once.
fn kill_at(step: &str) {
    kill_then(step, |_| {});
}

/// [`kill_at`], with `meanwhile` done to the store between the kill and the
/// next run.
fn kill_then(step: &str, meanwhile: impl Fn(&Path)) {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let original = mailbox::with_attachment(
        "k",
        "Kill",
        "k.pdf",
        "application/pdf",
        mailbox::noise(300_000, 9),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &original, &["\\Seen"], DATE));

    let mut child = slimbox(&config)
        .arg("run")
        .env("SLIMBOX_TEST_PAUSE_AT", step)
        .env("SLIMBOX_TEST_PAUSE_FILE", dir.path().join("never"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn slimbox");
    let stderr = child.stderr.take().unwrap();
    let mut paused = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if line.contains(&format!("paused at {step}")) {
            paused = true;
            break;
        }
    }
    assert!(paused, "slimbox never reached {step}");
    // SIGKILL: no destructor, no flush, nothing.
    child.kill().expect("kill");
    let _ = child.wait();

    let mid = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(!mid.is_empty(), "{step}: nothing left on the server");
    for s in mid.values() {
        let full = if slimbox::mime::is_processed(&s.bytes) {
            mailbox::reattach_from_disk(&dir.path().join("store"), &s.bytes)
        } else {
            s.bytes.clone()
        };
        assert_eq!(full, original, "{step}: a message that is not the original");
    }
    meanwhile(&dir.path().join("store"));

    let report = run_json(&config, "run");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(
        after.len(),
        1,
        "{step}: exactly one copy after the next run: {report:#}"
    );
    let only = after.values().next().unwrap();
    assert!(
        slimbox::mime::is_processed(&only.bytes),
        "{step}: converted after the next run"
    );
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), &only.bytes),
        original
    );
    assert_eq!(only.flags, vec!["\\Seen".to_string()]);
}

#[test]
fn sigkill_after_prepare_loses_nothing() {
    kill_at("prepared");
}

#[test]
fn sigkill_after_append_loses_nothing() {
    kill_at("appended");
}

#[test]
fn sigkill_after_verify_loses_nothing() {
    kill_at("verified");
}

#[test]
fn sigkill_after_removing_the_original_loses_nothing() {
    kill_at("removed");
}

#[test]
fn issue3_recovery_rolls_back_when_the_store_lost_the_objects() {
    // Killed with both copies on the server, then the store loses what the
    // copy needs: the next run must not remove the original (it cannot be
    // rebuilt), nor stop on it; it takes the copy away and converts again.
    kill_then("verified", |store| {
        std::fs::remove_dir_all(store.join("sha256")).expect("remove the objects");
    });
}

/// A loopback TCP proxy whose connections the test can cut.
struct Proxy {
    port: u16,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        Proxy::start_limited(target, &[])
    }

    /// As [`Proxy::start`], but connection number `i` (from 0, in the
    /// order they come) is cut after `limits[i]` bytes from the server.
    fn start_limited(target: u16, limits: &[Option<u64>]) -> Proxy {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let list = conns.clone();
        let limits = limits.to_vec();
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().flatten().enumerate() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    list.lock().unwrap().extend([c2, s2]);
                }
                let limit = limits.get(n).copied().flatten().unwrap_or(u64::MAX);
                for (mut from, mut to, limit) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        u64::MAX,
                    ),
                    (server, client, limit),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut (&mut from).take(limit), &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, conns }
    }

    /// A config (min size 100 KiB) for an account reached through the proxy.
    fn write_config(&self, d: &Dovecot, dir: &Path) -> std::path::PathBuf {
        let config = mailbox::write_config(d, dir, "100KiB");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            &format!("port = {}", d.imaps_port),
            &format!("port = {}", self.port),
        );
        std::fs::write(&config, text).unwrap();
        config
    }

    /// Drops every connection now open, as a network failure would.
    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Cuts the connection at `step`, lets slimbox carry on (it reconnects
/// and finishes), then checks nothing is lost and a next run leaves every
/// message there exactly once.
fn drop_connection_at(step: &str) {
    let d = Dovecot::start(DovecotOptions::default());
    let proxy = Proxy::start(d.imaps_port);
    let dir = tempfile::tempdir().unwrap();
    let config = proxy.write_config(&d, dir.path());
    let original = mailbox::with_attachment(
        "c",
        "Cut",
        "c.pdf",
        "application/pdf",
        mailbox::noise(300_000, 11),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &original, &["\\Seen"], DATE));

    let go = dir.path().join("go");
    let mut child = slimbox(&config)
        .arg("run")
        .env("SLIMBOX_TEST_PAUSE_AT", step)
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn slimbox");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let paused = lines.any(|l| l.unwrap_or_default().contains(&format!("paused at {step}")));
    assert!(paused, "slimbox never reached {step}");
    proxy.cut();
    std::fs::write(&go, b"").unwrap();
    let log: Vec<String> = lines.map(|l| l.unwrap_or_default()).collect();
    let status = child.wait().expect("wait");
    // Issue 25: the run reconnects and finishes: exit 0, with a warning
    // (before, a cut connection failed the run whatever came after).
    let log = log.join("\n");
    assert!(status.success(), "{step}: reconnected and finished: {log}");
    assert!(
        log.contains("warning:") && log.contains("reconnected and finished everything"),
        "{step}: the warning line: {log}"
    );

    let mid = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(!mid.is_empty(), "{step}: nothing left on the server");
    let report = run_json(&config, "run");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after.len(), 1, "{step}: exactly one copy: {report:#}");
    let only = after.values().next().unwrap();
    assert!(
        slimbox::mime::is_processed(&only.bytes),
        "{step}: converted: {report:#}"
    );
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), &only.bytes),
        original
    );
}

#[test]
fn connection_drop_before_append_loses_nothing() {
    drop_connection_at("prepared");
}

#[test]
fn connection_drop_before_verify_loses_nothing() {
    drop_connection_at("appended");
}

#[test]
fn connection_drop_before_removing_the_original_loses_nothing() {
    drop_connection_at("verified");
}

/// Several messages through a proxy whose second connection (the one that
/// fetches ahead) is refused or cut after `limit` bytes: the job goes on
/// with its one connection and converts every message exactly once.
fn fetch_ahead_fails_at(limit: u64, expect_in_log: &str) {
    let d = Dovecot::start(DovecotOptions::default());
    let proxy = Proxy::start_limited(d.imaps_port, &[None, Some(limit)]);
    let dir = tempfile::tempdir().unwrap();
    let config = proxy.write_config(&d, dir.path());
    let originals: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            mailbox::with_attachment(
                &format!("ahead{i}"),
                "Ahead",
                "a.pdf",
                "application/pdf",
                mailbox::noise(400_000, 20 + i),
            )
        })
        .collect();
    rt().block_on(async {
        for o in &originals {
            mailbox::seed(&d, "Sent", o, &["\\Seen"], DATE).await;
        }
    });

    let out = slimbox(&config)
        .args(["-v", "run", "--json"])
        .output()
        .expect("run slimbox");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "slimbox run failed: {log}");
    assert!(log.contains(expect_in_log), "{log}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let sent = folder_report(&report, "Sent");
    assert_eq!(sent["converted"], 4, "{report:#}");
    assert_eq!(sent["failed"], 0, "{report:#}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after.len(), 4, "each message exactly once: {report:#}");
    let mut rebuilt: Vec<Vec<u8>> = after
        .values()
        .map(|s| {
            assert!(slimbox::mime::is_processed(&s.bytes));
            mailbox::reattach_from_disk(&dir.path().join("store"), &s.bytes)
        })
        .collect();
    rebuilt.sort();
    let mut want = originals.clone();
    want.sort();
    assert_eq!(rebuilt, want);
}

#[test]
fn issue3_second_connection_refused_runs_on_one() {
    fetch_ahead_fails_at(0, "no second connection to fetch ahead");
}

#[test]
fn issue3_second_connection_cut_mid_fetch_runs_on_one() {
    // Past the greeting, login and EXAMINE, inside the first FETCH.
    fetch_ahead_fails_at(200_000, "the connection fetching ahead failed");
}

/// An attachment another mailbox already stored is not written again (nor
/// read twice): the proof's read-back is what checks it. Damaged in the
/// store, it fails the message, which stays as it was; the damaged object
/// is never overwritten; once a human has dealt with it, the next run
/// converts the message.
#[test]
fn issue13_an_attachment_already_stored_but_damaged_leaves_the_message_as_it_was() {
    use sha2::Digest;
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let data = mailbox::noise(600_000, 11);
    let msg = mailbox::with_attachment(
        "dup",
        "Report",
        "report.pdf",
        "application/pdf",
        data.clone(),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &msg, &["\\Seen"], DATE));
    let hex = hex::encode(sha2::Sha256::digest(&data));
    let object = dir.path().join("store/sha256").join(&hex[..2]).join(&hex);
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    let mut damaged = data.clone();
    damaged[1000] ^= 0x20;
    std::fs::write(&object, &damaged).unwrap();

    let out = slimbox(&config).args(["run", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let text = format!("{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !out.status.success(),
        "a damaged object is a failure: {text}"
    );
    assert!(text.contains(&hex), "the damaged object is named: {text}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after.len(), 1);
    assert_eq!(after.values().next().unwrap().bytes, msg, "left as it was");
    assert_eq!(
        std::fs::read(&object).unwrap(),
        damaged,
        "never overwritten"
    );

    // A human restores the object from a backup (or removes it); the next
    // run finishes the job.
    std::fs::remove_file(&object).unwrap();
    let again = run_json(&config, "run");
    assert_eq!(folder_report(&again, "Sent")["converted"], 1, "{again:#}");
    assert_eq!(std::fs::read(&object).unwrap(), data);
    let now = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let copy = &now.values().next().unwrap().bytes;
    assert!(slimbox::mime::is_processed(copy));
    assert_eq!(
        mailbox::reattach_from_disk(&dir.path().join("store"), copy),
        msg
    );
}
