//! Issue 25: `quota_target`, on Dovecot with its quota plugin. A mailbox
//! at 120 % of its quota with `quota_target = "80%"` ends at or under 80 %
//! and above what converting everything would give (only what was needed
//! moved, largest first); `scan` predicted that same set; a mailbox
//! already under its target is left alone.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

/// Eight messages in Sent, attachments of 150 to 500 kB (decoded).
fn seed(d: &Dovecot) {
    seed_in(d, "Sent");
}

fn seed_in(d: &Dovecot, folder: &str) {
    rt().block_on(async {
        for i in 0..MESSAGES {
            let m = mailbox::with_attachment(
                &format!("target{i}"),
                &format!("Target {i}"),
                "t.pdf",
                "application/pdf",
                mailbox::noise(150_000 + 50_000 * i as usize, 700 + i),
            );
            mailbox::seed(d, folder, &m, &["\\Seen"], DATE).await;
        }
    });
}

/// Bytes used and allowed, as the server says (GETQUOTAROOT INBOX).
fn usage(d: &Dovecot) -> (u64, u64) {
    rt().block_on(async {
        let mut s = mailbox::connect(d).await;
        let inbox = slimbox::imap::Folder::from_name("INBOX");
        let q = s.quota(&inbox).await.expect("quota").expect("a quota");
        let _ = s.logout().await;
        // In bytes (slimbox converts the KiB of QUOTA).
        q.storage.expect("storage")
    })
}

/// The config of `mailbox::write_config` with `quota_target`.
fn config_with_target(d: &Dovecot, dir: &Path, target: Option<&str>) -> std::path::PathBuf {
    let config = mailbox::write_config(d, dir, "100KiB");
    if let Some(t) = target {
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace("[policy]\n", &format!("[policy]\nquota_target = \"{t}\"\n"));
        std::fs::write(&config, text).unwrap();
    }
    config
}

fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    let out = slimbox(config).args(args).output().expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Message-ID by UID in Sent, and which are converted.
fn sent(d: &Dovecot) -> (BTreeMap<u32, String>, BTreeSet<String>) {
    let snap = rt().block_on(mailbox::snapshot(d, "Sent"));
    let ids = snap
        .iter()
        .map(|(uid, s)| (*uid, mailbox::message_id(&s.bytes).unwrap_or_default()))
        .collect();
    let converted = snap
        .values()
        .filter(|s| slimbox::mime::is_processed(&s.bytes))
        .map(|s| mailbox::message_id(&s.bytes).unwrap_or_default())
        .collect();
    (ids, converted)
}

#[test]
fn issue25_a_mailbox_over_quota_ends_at_its_target_and_no_lower_than_needed() {
    let mut d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(20_000_000),
        ..DovecotOptions::default()
    });
    seed(&d);
    let (used, _) = usage(&d);
    // An administrator lowers the quota: the mailbox is at 120 % of it.
    let limit = used * 100 / 120;
    d.set_quota(limit);
    let (used, limit_now) = usage(&d);
    assert!(limit_now.abs_diff(limit) <= 1024, "{limit_now} vs {limit}");
    let limit = limit_now;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_target(&d, dir.path(), Some("80%"));
    let target = limit * 80 / 100;

    // scan: usage now, the target, usage after, and what would move.
    let plans = json(&config, &["scan", "--json"]);
    let t = &plans[0]["target"];
    assert_eq!(t["target_percent"], 80, "{plans:#}");
    assert_eq!(t["limit_from"], "server", "{t:#}");
    assert_eq!(t["usage_bytes"].as_u64(), Some(used), "{t:#}");
    let after = t["usage_after_bytes"].as_u64().expect("usage after");
    assert!(after <= target, "{t:#}");
    let (ids, none) = sent(&d);
    assert!(none.is_empty());
    let predicted: BTreeSet<String> = plans[0]["folders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["candidates"].as_array().unwrap())
        .map(|c| ids[&(c["uid"].as_u64().unwrap() as u32)].clone())
        .collect();
    assert!(
        !predicted.is_empty() && predicted.len() < MESSAGES as usize,
        "only some move: {plans:#}"
    );
    // Largest first: the largest attachments are the ones chosen.
    let largest: BTreeSet<String> = (MESSAGES - predicted.len() as u64..MESSAGES)
        .map(|i| format!("<target{i}@example.com>"))
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    let bare: BTreeSet<String> = predicted
        .iter()
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    assert_eq!(bare, largest, "{plans:#}");
    let scan_text =
        String::from_utf8_lossy(&slimbox(&config).arg("scan").output().expect("scan").stdout)
            .to_string();
    assert!(scan_text.contains("quota target: usage"), "{scan_text}");
    let all_text = String::from_utf8_lossy(
        &slimbox(&config)
            .args(["scan", "--all"])
            .output()
            .expect("scan --all")
            .stdout,
    )
    .to_string();
    assert!(
        all_text.contains("account alice: quota target: usage"),
        "scan --all names each mailbox's target: {all_text}"
    );

    // run: the same set moves; the mailbox ends at or under its target.
    let metrics = dir.path().join("slimbox.prom");
    let report = json(
        &config,
        &["run", "--json", "--metrics-file", metrics.to_str().unwrap()],
    );
    let (_, converted) = sent(&d);
    assert_eq!(converted, predicted, "scan predicted the run: {report:#}");
    let end = &report[0]["quota_target"];
    assert_eq!(end["reached"], true, "{report:#}");
    let (ended, _) = usage(&d);
    assert!(ended <= target, "{ended} > {target}: {report:#}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("slimbox_quota_target_reached{mailbox=\"alice\"} 1\n"),
        "{prom}"
    );

    // Converting everything would have gone further: only what was needed
    // moved.
    let all = config_with_target(&d, dir.path(), None);
    json(&all, &["run", "--json"]);
    let (everything, _) = usage(&d);
    assert!(ended > everything, "{ended} vs {everything}");
    eprintln!(
        "quota target figures: limit {limit}, before {used} ({}%), target {target} (80%), \
         scan predicted {after}, after {ended} ({}%), everything converted {everything} ({}%), \
         {} of {MESSAGES} moved",
        used * 100 / limit,
        ended * 100 / limit,
        everything * 100 / limit,
        predicted.len()
    );
}

#[test]
fn issue25_a_mailbox_under_its_target_is_left_alone() {
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(20_000_000),
        ..DovecotOptions::default()
    });
    seed(&d);
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_target(&d, dir.path(), Some("80%"));
    let plans = json(&config, &["scan", "--json"]);
    let t = &plans[0]["target"];
    assert_eq!(t["moving"], 0, "{plans:#}");
    assert_eq!(t["left"], MESSAGES, "{plans:#}");
    let report = json(&config, &["run", "--json"]);
    let (_, converted) = sent(&d);
    assert!(converted.is_empty(), "nothing moved: {report:#}");
    assert_eq!(report[0]["quota_target"]["reached"], true, "{report:#}");
}

/// Microsoft 365 has no QUOTA: the account's `quota` says what 100 % is,
/// and usage is what the folders' messages take.
#[test]
fn issue25_without_quota_on_the_server_the_accounts_quota_is_the_limit() {
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(20_000_000),
        layout: Some(support::dovecot::LAYOUT_MICROSOFT),
        ..DovecotOptions::default()
    });
    seed_in(&d, "Sent Items");
    let used: u64 = rt()
        .block_on(mailbox::snapshot(&d, "Sent Items"))
        .values()
        .map(|s| s.bytes.len() as u64)
        .sum();
    let limit = used * 100 / 120;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_target(&d, dir.path(), Some("80%"));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}quota = {limit}\n")).unwrap();

    let plans = json(&config, &["scan", "--json"]);
    let t = &plans[0]["target"];
    assert_eq!(t["limit_from"], "config", "{plans:#}");
    assert_eq!(t["limit_bytes"].as_u64(), Some(limit), "{t:#}");
    assert_eq!(t["usage_bytes"].as_u64(), Some(used), "{t:#}");
    let moving = t["moving"].as_u64().unwrap();
    assert!(moving > 0 && moving < MESSAGES, "{t:#}");

    let report = json(&config, &["run", "--json"]);
    let end = &report[0]["quota_target"];
    assert_eq!(end["reached"], true, "{report:#}");
    let after: u64 = rt()
        .block_on(mailbox::snapshot(&d, "Sent Items"))
        .values()
        .map(|s| s.bytes.len() as u64)
        .sum();
    assert!(after <= limit * 80 / 100, "{after}: {report:#}");
    assert_eq!(end["usage_after_bytes"].as_u64(), Some(after), "{report:#}");
}
