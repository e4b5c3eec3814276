//! `slimbox scan` and the mailbox's quota, against a private Dovecot: on a
//! server with QUOTA it shows usage against the limit, and at or over the
//! limit warns and says how `run` will proceed; on one without, it says
//! nothing about a quota (`"quota": null` in the JSON).

mod support;

use std::path::Path;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn scan(config: &Path) -> (bool, String) {
    let out = slimbox(config)
        .arg("scan")
        .output()
        .expect("run slimbox scan");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn scan_json(config: &Path) -> serde_json::Value {
    let mut cmd = slimbox(config);
    let out = cmd
        .args(["scan", "--json"])
        .output()
        .expect("run slimbox scan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// APPENDs large mail to Sent until the server refuses it (over quota).
fn fill_to_quota(d: &Dovecot) -> usize {
    rt().block_on(async {
        let mut s = mailbox::connect(d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        let mut n = 0;
        for i in 0..40u64 {
            let m = mailbox::with_attachment(
                &format!("q{i}"),
                "Scan",
                "scan.pdf",
                "application/pdf",
                mailbox::noise(200_000, 300 + i),
            );
            match s.append(&f, &["\\Seen".to_string()], DATE, &m).await {
                Ok(_) => n += 1,
                Err(slimbox::imap::ImapError::OverQuota { .. }) => break,
                Err(e) => panic!("unexpected append error: {e}"),
            }
        }
        let _ = s.logout().await;
        n
    })
}

/// Issue 9: `scan` warns when the mailbox is at or over its quota and says
/// how the run will proceed; below the limit it shows the usage only.
#[test]
fn issue9_scan_warns_at_quota_and_says_how_the_run_proceeds() {
    let limit: u64 = 3_000_000;
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(limit),
        ..DovecotOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");

    // Nearly empty: usage shown, no warning.
    rt().block_on(async {
        let m = mailbox::with_attachment(
            "one",
            "Scan",
            "s.pdf",
            "application/pdf",
            mailbox::noise(150_000, 1),
        );
        mailbox::seed(&d, "Sent", &m, &["\\Seen"], DATE).await;
    });
    let plan = scan_json(&config);
    let q = &plan[0]["quota"];
    assert!(q.is_object(), "{plan:#}");
    // STORAGE counts KiB: the limit comes back rounded to one.
    let shown = q["limit_bytes"].as_u64().expect("a storage limit");
    assert!(shown.abs_diff(limit) < 1024, "{plan:#}");
    assert!(q["used_bytes"].as_u64().unwrap() >= 150_000, "{plan:#}");
    assert!(q["percent_used"].as_u64().unwrap() < 95, "{plan:#}");
    assert!(q["warning"].is_null(), "{plan:#}");
    let (ok, said) = scan(&config);
    assert!(ok, "{said}");
    assert!(said.contains("account alice: quota"), "{said}");
    assert!(!said.contains("warning:"), "{said}");

    // Full: the server refuses more mail. scan warns, and says the run
    // frees space first, retries refused copies, and what waits.
    let n = fill_to_quota(&d);
    assert!((5..40).contains(&n), "{n} appended before the quota");
    let plan = scan_json(&config);
    let q = &plan[0]["quota"];
    assert!(q["percent_used"].as_u64().unwrap() >= 95, "{plan:#}");
    let warning = q["warning"].as_str().expect("a warning");
    for words in [
        "frees space first",
        "retried later in the run",
        "waits in the journal",
    ] {
        assert!(warning.contains(words), "{warning}");
    }
    let (ok, said) = scan(&config);
    assert!(ok, "{said}");
    assert!(
        said.contains("warning: account alice: the mailbox is"),
        "{said}"
    );
    assert!(said.contains("frees space first"), "{said}");
}

/// A server without QUOTA: no quota, no warning, scan as before.
#[test]
fn issue9_scan_without_quota_says_nothing_of_it() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let plan = scan_json(&config);
    assert!(plan[0]["quota"].is_null(), "{plan:#}");
    let (ok, said) = scan(&config);
    assert!(ok, "{said}");
    assert!(!said.contains("quota"), "{said}");
}
