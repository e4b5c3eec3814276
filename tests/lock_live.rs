//! Two `slimbox run` started at the same moment on one mailbox, on a private
//! Dovecot: one works, the other says the mailbox is busy and leaves it
//! alone (or, with --wait, waits and then finds nothing to do). With and
//! without an index already there. At the end every message is on the
//! server exactly once, with its flags and INTERNALDATE, each candidate
//! converted once, and nothing left in the journal.
//!
//! The overlap is made certain with the test hook: both runs are told to
//! pause after preparing their first message (`SLIMBOX_TEST_PAUSE_AT`), so
//! whichever claims the mailbox first holds it, paused, until the test
//! lets it go; the other one meets the claim.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox, Seen};

const CANDIDATES: usize = 6;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Seeds Sent with CANDIDATES large messages and two small ones, with
/// assorted flags and dates; returns the folder as the server shows it.
fn seed(d: &Dovecot) -> BTreeMap<u32, Seen> {
    let flags: [&[&str]; 4] = [&["\\Seen"], &["\\Seen", "\\Flagged"], &[], &["$Label1"]];
    let dates = ["01-Feb-2024 10:00:00 +0100", "15-Mar-2023 23:59:59 -0700"];
    rt().block_on(async {
        for i in 0..CANDIDATES {
            let m = mailbox::with_attachment(
                &format!("big{i}"),
                "Scan",
                "scan.pdf",
                "application/pdf",
                mailbox::noise(300_000, 40 + i as u64),
            );
            mailbox::seed(d, "Sent", &m, flags[i % 4], dates[i % 2]).await;
        }
        for i in 0..2 {
            let m = mailbox::text(&format!("small{i}"), "Hi", "Just text.\n");
            mailbox::seed(d, "Sent", &m, flags[i], dates[i]).await;
        }
        mailbox::snapshot(d, "Sent").await
    })
}

/// `slimbox run --json` (plus `extra`), paused after its first prepared
/// message until `go` exists.
fn spawn_run(config: &Path, go: &Path, extra: &[&str]) -> Child {
    slimbox(config)
        .args(["run", "--json"])
        .args(extra)
        .env("SLIMBOX_TEST_PAUSE_AT", "prepared")
        .env("SLIMBOX_TEST_PAUSE_FILE", go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slimbox")
}

/// Waits for the first of `runs` to end; returns its position.
fn first_to_end(runs: &mut [Child]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        for (i, c) in runs.iter_mut().enumerate() {
            if c.try_wait().expect("try_wait").is_some() {
                return i;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("neither run ended: the one that found the mailbox claimed should have");
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn converted(report: &serde_json::Value) -> u64 {
    report[0]["folders"]
        .as_array()
        .map(|fs| fs.iter().filter_map(|f| f["converted"].as_u64()).sum())
        .unwrap_or(0)
}

/// Starts two runs at once (both with `extra` arguments), lets the one
/// that claimed the mailbox go once the other has ended or is waiting, and
/// returns (the worker's output, the other's output).
fn two_runs(dir: &Path, config: &Path, extra: &[&str]) -> (Output, Output) {
    let go = dir.join("go");
    let mut runs = vec![spawn_run(config, &go, extra), spawn_run(config, &go, extra)];
    let other = if extra.contains(&"--wait") {
        // A waiting run never ends first: give it time to meet the claim.
        std::thread::sleep(Duration::from_secs(3));
        None
    } else {
        Some(first_to_end(&mut runs))
    };
    std::fs::write(&go, b"").unwrap();
    let outs: Vec<Output> = runs
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    match other {
        Some(i) => {
            let mut outs = outs;
            let busy = outs.remove(i);
            (outs.remove(0), busy)
        }
        // Both ran; the worker converted, the waiter found nothing left.
        None => {
            let mut outs = outs;
            let (a, b) = (outs.remove(0), outs.remove(0));
            if converted(&json(&a)) > 0 {
                (a, b)
            } else {
                (b, a)
            }
        }
    }
}

/// Every message exactly once, flags and INTERNALDATE kept, candidates
/// converted (and rebuildable), the others byte-identical, the journal
/// empty and one index row per candidate.
fn check_exactly_once(d: &Dovecot, dir: &Path, before: &BTreeMap<u32, Seen>, why: &str) {
    let after = rt().block_on(mailbox::snapshot(d, "Sent"));
    let mut by_id: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    for s in after.values() {
        let id = mailbox::message_id(&s.bytes).unwrap_or_default();
        by_id.entry(id).or_default().push(s);
    }
    assert_eq!(by_id.len(), before.len(), "{why}: every message there");
    for was in before.values() {
        let id = mailbox::message_id(&was.bytes).unwrap();
        let copies = &by_id[&id];
        assert_eq!(copies.len(), 1, "{why}: {id} exactly once");
        let now = copies[0];
        assert_eq!(now.flags, was.flags, "{why}: {id} flags kept");
        assert_eq!(now.internal_ts, was.internal_ts, "{why}: {id} INTERNALDATE");
        if id.starts_with("big") {
            assert!(slimbox::mime::is_processed(&now.bytes), "{why}: {id}");
            let store = dir.join("store");
            assert_eq!(mailbox::reattach_from_disk(&store, &now.bytes), was.bytes);
        } else {
            assert_eq!(now.bytes, was.bytes, "{why}: {id} untouched");
        }
    }
    let index = slimbox::index::Index::open(&dir.join("index.sqlite")).unwrap();
    assert!(index.journal_pending("alice").unwrap().is_empty(), "{why}");
    assert_eq!(index.message_count().unwrap(), CANDIDATES as u64, "{why}");
}

fn two_runs_at_once(with_index: bool) {
    let why = if with_index {
        "with an index"
    } else {
        "without an index"
    };
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let before = seed(&d);
    if with_index {
        slimbox::index::Index::open(&dir.path().join("index.sqlite")).unwrap();
    }
    let (worker, busy) = two_runs(dir.path(), &config, &[]);

    let report = json(&busy);
    assert_eq!(busy.status.code(), Some(1), "{why}: busy run: {report:#}");
    assert_eq!(report[0]["busy"], true, "{why}: {report:#}");
    let error = report[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is busy") && error.contains("slimbox pid"),
        "{why}: {error}"
    );
    assert!(String::from_utf8_lossy(&busy.stderr).contains("is busy"));
    assert_eq!(converted(&report), 0, "{why}: {report:#}");

    let report = json(&worker);
    assert!(worker.status.success(), "{why}: worker: {report:#}");
    assert_eq!(report[0]["busy"], false, "{why}: {report:#}");
    assert_eq!(converted(&report), CANDIDATES as u64, "{why}: {report:#}");
    check_exactly_once(&d, dir.path(), &before, why);
}

#[test]
fn issue9_two_runs_at_once_with_an_index_convert_each_message_once() {
    two_runs_at_once(true);
}

#[test]
fn issue9_two_runs_at_once_without_an_index_convert_each_message_once() {
    two_runs_at_once(false);
}

#[test]
fn issue9_a_run_with_wait_waits_for_the_other_then_finds_nothing_to_do() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let before = seed(&d);
    let (worker, waiter) = two_runs(dir.path(), &config, &["--wait"]);
    for (name, out) in [("worker", &worker), ("waiter", &waiter)] {
        let report = json(out);
        assert!(out.status.success(), "{name}: {report:#}");
        assert_eq!(report[0]["busy"], false, "{name}: {report:#}");
    }
    assert_eq!(converted(&json(&worker)), CANDIDATES as u64);
    assert_eq!(converted(&json(&waiter)), 0, "the waiter found it done");
    let said = String::from_utf8_lossy(&waiter.stderr);
    assert!(
        said.contains("is busy") && said.contains("waiting"),
        "{said}"
    );
    check_exactly_once(&d, dir.path(), &before, "--wait");
}
