//! Issue 9: a mailbox already over its quota (the limit below its size, as
//! when an administrator lowers it). The run frees space first and puts
//! the copies in as soon as there is room, retrying those the server
//! refused once the other conversions have freed space: at the end every
//! message is on the server, converted, or the summary names each one
//! still waiting, which the next run puts in once there is room.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox, Seen};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Delivers `msgs` straight into the Maildir of Sent, as a migration or a
/// lowered quota would leave them: past the quota, which only APPEND checks.
fn deliver(d: &Dovecot, msgs: &[Vec<u8>]) {
    // Selecting it once makes Dovecot create the folder's Maildir.
    rt().block_on(async {
        let mut s = mailbox::connect(d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        s.select(&f).await.expect("select Sent");
        let _ = s.logout().await;
    });
    let new = d.maildir("alice").join(".Sent").join("new");
    // Dovecot runs as the mail user: the files must be its own.
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&new).expect("Sent/new");
    for (i, m) in msgs.iter().enumerate() {
        let file = new.join(format!("1700000000.q{i}.test"));
        std::fs::write(&file, m).expect("deliver");
        std::os::unix::fs::chown(&file, Some(owner.uid()), Some(owner.gid())).expect("chown");
    }
}

fn big(i: usize) -> Vec<u8> {
    mailbox::with_attachment(
        &format!("quota{i}"),
        &format!("Quarterly scan {i}"),
        "scan.pdf",
        "application/pdf",
        mailbox::noise(400_000, 700 + i as u64),
    )
}

fn by_id(snap: &BTreeMap<u32, Seen>) -> BTreeMap<String, Vec<&Seen>> {
    let mut m: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
    for s in snap.values() {
        m.entry(mailbox::message_id(&s.bytes).unwrap_or_default())
            .or_default()
            .push(s);
    }
    m
}

fn run(config: &Path) -> (std::process::Output, serde_json::Value) {
    let out = slimbox(config)
        .args(["-v", "run", "--json"])
        .output()
        .expect("run slimbox");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

#[test]
fn issue9_over_quota_every_message_ends_on_the_server_in_the_same_run() {
    let msgs: Vec<Vec<u8>> = (0..10).map(big).collect();
    let total: usize = msgs.iter().map(Vec::len).sum();
    // About 1.5 MiB over: the first few originals must go before any copy
    // fits, and their copies are refused until later ones free more.
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some((total - 1_500_000) as u64),
        ..DovecotOptions::default()
    });
    deliver(&d, &msgs);
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let (out, report) = run(&config);
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let ids = by_id(&after);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        ids.len(),
        msgs.len(),
        "every message is there: {report:#}\n{log}"
    );
    for (id, copies) in &ids {
        assert_eq!(copies.len(), 1, "{id} exactly once");
        assert!(
            slimbox::mime::is_processed(&copies[0].bytes),
            "{id} converted: {report:#}"
        );
    }
    assert_eq!(report[0]["waiting"].as_array().map(Vec::len), Some(0));
    assert_eq!(report[0]["folders"][0]["converted"], msgs.len());
    assert!(
        out.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn issue9_what_cannot_fit_is_named_and_the_next_run_puts_it_in() {
    let msgs: Vec<Vec<u8>> = (0..3).map(big).collect();
    // Text mail the run leaves alone keeps the mailbox over quota even
    // after every original is gone.
    let text: Vec<Vec<u8>> = (0..4)
        .map(|i| mailbox::text(&format!("keep{i}"), "notes", &"x".repeat(500_000)))
        .collect();
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(1_500_000),
        ..DovecotOptions::default()
    });
    deliver(&d, &[msgs.clone(), text.clone()].concat());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let (out, report) = run(&config);
    assert!(!out.status.success(), "something waits: exit status 1");
    let waiting = report[0]["waiting"].as_array().expect("waiting").clone();
    assert_eq!(waiting.len(), msgs.len(), "{report:#}");
    for w in &waiting {
        assert!(w["subject"].as_str().unwrap().starts_with("Quarterly scan"));
        assert!(w["date"].is_string(), "{w}");
        assert!(
            w["why"].as_str().unwrap().contains("Free some space"),
            "{w}"
        );
    }
    let summary =
        String::from_utf8_lossy(&slimbox(&config).args(["run"]).output().expect("run").stdout)
            .into_owned();
    assert!(summary.contains("Quarterly scan 0"), "{summary}");
    assert!(summary.contains("Free some space"), "{summary}");

    // The owner frees space; the next run puts every copy in.
    rt().block_on(async {
        let mut s = mailbox::connect(&d).await;
        let f = mailbox::folder(&mut s, "Sent").await;
        s.select(&f).await.unwrap();
        for i in 0..4 {
            let uids = s
                .search_header("Message-ID", &format!("keep{i}@"))
                .await
                .unwrap();
            s.delete_uids(&uids, None).await.unwrap();
        }
        let _ = s.logout().await;
    });
    let (out, report) = run(&config);
    assert!(out.status.success(), "{report:#}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let ids = by_id(&after);
    assert_eq!(ids.len(), msgs.len(), "{report:#}");
    for copies in ids.values() {
        assert_eq!(copies.len(), 1);
        assert!(slimbox::mime::is_processed(&copies[0].bytes));
    }
}
