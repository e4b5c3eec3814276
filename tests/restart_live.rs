//! Issue 8: Dovecot restarted in the middle of a `slimbox run`. The run
//! reconnects with backoff, recovers what was in flight and goes on with
//! the rest of the plan: when that same run ends, every message is in the
//! folder exactly once, converted, and rebuilds to its original.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const MESSAGES: u64 = 8;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Restarts Dovecot while slimbox waits at `step` of the safety order (the
/// first message there, the others planned, some fetched ahead).
fn restart_at(step: &str) {
    let mut d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let originals: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| {
            mailbox::with_attachment(
                &format!("restart{i}"),
                "Restart",
                "r.pdf",
                "application/pdf",
                mailbox::noise(300_000, 40 + i),
            )
        })
        .collect();
    rt().block_on(async {
        for o in &originals {
            mailbox::seed(&d, "Sent", o, &["\\Seen", "$Work"], DATE).await;
        }
    });

    let go = dir.path().join("go");
    let mut child = slimbox(&config)
        .args(["-v", "run", "--json"])
        .env("SLIMBOX_TEST_PAUSE_AT", step)
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slimbox");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let paused = lines
        .by_ref()
        .any(|l| l.unwrap_or_default().contains(&format!("paused at {step}")));
    assert!(paused, "slimbox never reached {step}");
    d.restart();
    std::fs::write(&go, b"").unwrap();
    let log: Vec<String> = lines.map(|l| l.unwrap_or_default()).collect();
    let out = child.wait_with_output().expect("wait");
    let log = log.join("\n");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{step}: no JSON report ({e}); log:\n{log}"));
    assert!(
        report[0]["reconnects"].as_u64().unwrap_or(0) >= 1,
        "{step}: the run reconnected: {report:#}\n{log}"
    );
    assert!(
        report[0]["error"].is_null(),
        "{step}: the run finished: {report:#}\n{log}"
    );
    // Issue 25: a run that reconnected and finished everything succeeds,
    // with a warning (cron does not alarm on a blip that changed nothing).
    assert_eq!(
        out.status.code(),
        Some(0),
        "{step}: exit 0 after a reconnect: {report:#}\n{log}"
    );
    assert!(
        log.contains("warning:") && log.contains("reconnected and finished everything"),
        "{step}: the warning line: {log}"
    );

    // No second run: this one finished the job.
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(
        after.len(),
        originals.len(),
        "{step}: every message exactly once: {report:#}\n{log}"
    );
    let mut rebuilt: Vec<Vec<u8>> = after
        .values()
        .map(|s| {
            assert!(
                slimbox::mime::is_processed(&s.bytes),
                "{step}: converted in the same run: {report:#}\n{log}"
            );
            let mut flags = s.flags.clone();
            flags.sort();
            assert_eq!(flags, ["$Work", "\\Seen"], "{step}: flags kept");
            mailbox::reattach_from_disk(&dir.path().join("store"), &s.bytes)
        })
        .collect();
    // Issue 9: the summary says what happened: every message is counted,
    // as converted in its folder or as recovered, and the log never calls
    // the lost connection a slimbox bug.
    let converted: u64 = report[0]["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .map(|f| f["converted"].as_u64().unwrap_or(0))
        .sum();
    let recovered = report[0]["recovered"].as_u64().unwrap_or(0);
    assert_eq!(converted + recovered, MESSAGES, "{step}: {report:#}\n{log}");
    assert!(!log.contains("slimbox bug"), "{step}: {log}");
    rebuilt.sort();
    let mut want = originals.clone();
    want.sort();
    assert!(rebuilt == want, "{step}: every original rebuilds");
}

#[test]
fn issue8_dovecot_restart_with_a_copy_verified_finishes_in_the_same_run() {
    restart_at("verified");
}

#[test]
fn issue8_dovecot_restart_before_an_append_finishes_in_the_same_run() {
    restart_at("prepared");
}
