//! Issue 13: `run --metrics-file` against a private Dovecot with QUOTA:
//! the file parses, its figures are the run's (as `--json` reports them),
//! quota before and after come from GETQUOTAROOT, and a run that fails
//! keeps the time of the last success.

mod support;

use std::path::Path;

use slimbox::metrics::parse::{parse, Sample};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn run(config: &Path, metrics: &Path, password: &str) -> (bool, serde_json::Value) {
    let out = slimbox(config)
        .env("SLIMBOX_TEST_PASSWORD", password)
        .args(["run", "--json", "--metrics-file"])
        .arg(metrics)
        .output()
        .expect("run slimbox");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.success(), json)
}

/// The value of `name` (with `phase`, if given) for mailbox alice.
fn value(samples: &[Sample], name: &str, phase: Option<&str>) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels["mailbox"] == "alice"
                && s.labels.get("phase").map(String::as_str) == phase
        })
        .map(|s| s.value)
}

fn read(metrics: &Path) -> Vec<Sample> {
    let text = std::fs::read_to_string(metrics).expect("metrics file");
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn issue13_metrics_file_holds_the_runs_figures_and_quota() {
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(20_000_000),
        ..DovecotOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    rt().block_on(async {
        for i in 0..3u64 {
            let m = mailbox::with_attachment(
                &format!("m{i}"),
                "Metrics",
                "file.pdf",
                "application/pdf",
                mailbox::noise(600_000, 40 + i),
            );
            mailbox::seed(&d, "Sent", &m, &["\\Seen"], DATE).await;
        }
    });
    let textfile_dir = dir.path().join("textfile");
    std::fs::create_dir(&textfile_dir).expect("mkdir");
    let metrics = textfile_dir.join("slimbox.prom");

    let t0 = slimbox::dates::now_unix();
    let (ok, report) = run(&config, &metrics, "alicepw");
    let t1 = slimbox::dates::now_unix();
    assert!(ok, "{report:#}");
    let r = &report[0];
    let folders = r["folders"].as_array().expect("folders");
    let sum = |k: &str| folders.iter().map(|f| f[k].as_u64().unwrap()).sum::<u64>();
    let saved = sum("bytes_before") - sum("bytes_after");
    assert_eq!(sum("converted"), 3, "{report:#}");

    let s = read(&metrics);
    assert_eq!(
        value(&s, "slimbox_last_run_bytes_saved", None),
        Some(saved as f64)
    );
    assert_eq!(
        value(&s, "slimbox_last_run_messages_converted", None),
        Some(3.0)
    );
    assert_eq!(value(&s, "slimbox_last_run_failures", None), Some(0.0));
    assert!(value(&s, "slimbox_last_run_duration_seconds", None).expect("duration") > 0.0);
    let success = value(&s, "slimbox_last_success_timestamp_seconds", None).expect("success");
    assert!(
        (t0 as f64..=t1 as f64).contains(&success),
        "{success} in {t0}..{t1}"
    );

    // Quota from GETQUOTAROOT, as --json has it: the run freed space.
    let before = r["quota_before"]["used_bytes"]
        .as_u64()
        .expect("quota before");
    let after = r["quota_after"]["used_bytes"]
        .as_u64()
        .expect("quota after");
    assert!(
        after + saved / 2 < before,
        "{before} -> {after}, saved {saved}"
    );
    let q = |phase| value(&s, "slimbox_quota_used_bytes", Some(phase));
    assert_eq!(
        (q("before"), q("after")),
        (Some(before as f64), Some(after as f64))
    );
    assert_eq!(
        value(&s, "slimbox_quota_limit_bytes", None),
        r["quota_after"]["limit_bytes"].as_f64()
    );
    // Only the file itself is left in the collector's folder.
    assert_eq!(std::fs::read_dir(&textfile_dir).expect("list").count(), 1);

    // A run that fails (a wrong password): a failure, no quota, and the
    // last success still the one before.
    let (ok, report) = run(&config, &metrics, "wrong");
    assert!(!ok, "{report:#}");
    let s = read(&metrics);
    assert_eq!(value(&s, "slimbox_last_run_failures", None), Some(1.0));
    assert_eq!(
        value(&s, "slimbox_last_run_messages_converted", None),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "slimbox_last_success_timestamp_seconds", None),
        Some(success)
    );
    assert_eq!(value(&s, "slimbox_quota_used_bytes", Some("before")), None);
}
