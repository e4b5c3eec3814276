//! `slimbox run --all` (IT mode) against a private Dovecot: mailboxes
//! through the master user (`user*admin`, and SASL PLAIN with an
//! authorization identity) beside one with a wrong password; two runs at
//! once never convert a message twice; `max_connections` holds, counted by
//! Dovecot itself (`doveadm who`); a mailbox over Dovecot's
//! `mail_max_userip_connections` is tried again later in the run.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slimbox::imap::Session;
use support::cli::slimbox_with;
use support::dovecot::{master_login, Dovecot, DovecotOptions, MASTER_PASSWORD};
use support::mailbox::{self, imap_config};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const ATTACHMENT: usize = 300 * 1024;
const MAILBOXES: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `n` messages with a 300 KiB attachment in `user`'s Archive, through
/// the master user.
async fn seed(d: &Dovecot, user: &str, n: usize) {
    let cfg = imap_config(d, &master_login(user), MASTER_PASSWORD);
    let mut s = Session::connect(&cfg).await.expect("master login");
    let f = mailbox::folder(&mut s, "Archive").await;
    for i in 0..n {
        let msg = mailbox::with_attachment(
            &format!("{user}-{i}"),
            &format!("Report {i} for {user}"),
            "report.pdf",
            "application/pdf",
            mailbox::noise(ATTACHMENT, i as u64 + 7),
        );
        s.append(&f, &[], DATE, &msg).await.expect("append");
    }
    let _ = s.logout().await;
}

/// Message-IDs and sizes of `user`'s Archive.
async fn archive(d: &Dovecot, user: &str) -> Vec<(String, usize)> {
    let cfg = imap_config(d, &master_login(user), MASTER_PASSWORD);
    let mut s = Session::connect(&cfg).await.expect("master login");
    let f = mailbox::folder(&mut s, "Archive").await;
    s.examine(&f).await.expect("examine");
    let uids = s.search_header("Message-ID", "").await.expect("search");
    let mut out = Vec::new();
    for uid in uids {
        let raw = s.fetch_message(uid).await.expect("fetch").expect("exists");
        out.push((mailbox::message_id(&raw).unwrap_or_default(), raw.len()));
    }
    let _ = s.logout().await;
    out
}

/// `n` messages into each of `users`' Archive.
async fn seed_each(d: &Dovecot, users: &[&str], n: usize) {
    for user in users {
        seed(d, user, n).await;
    }
}

/// Each of `users`' Archive holds `n` messages, each once, all slimmed.
async fn each_once_and_slim(d: &Dovecot, users: &[&str], n: usize) {
    for user in users {
        let msgs = archive(d, user).await;
        let ids: BTreeSet<&str> = msgs.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!((msgs.len(), ids.len()), (n, n), "{user}: {msgs:?}");
        assert!(
            msgs.iter().all(|(_, len)| *len < ATTACHMENT / 2),
            "{user}: {msgs:?}"
        );
    }
}

/// A fleet config: `[server]` with the master user, alice and bob from a
/// CSV, carol over SASL PLAIN, and `dave` as given.
fn write_config(d: &Dovecot, dir: &Path, max_connections: u32, dave: &str) -> PathBuf {
    std::fs::write(
        dir.join("people.csv"),
        "name,user,min_size\n# one mailbox per row\nalice,alice,\nbob,bob,100KiB\n",
    )
    .expect("csv");
    let text = format!(
        r#"accounts_file = "people.csv"
[store]
url = "store"
[policy]
min_size = "100KiB"
folders = ["\\Archive"]
[server]
host = "127.0.0.1"
port = {port}
tls = "implicit"
ca_file = "{ca}"
auth = "master"
master_user = "admin"
password_env = "SLIMBOX_MASTER_PASSWORD"
max_connections = {max_connections}

[[account]]
name = "carol"
user = "carol"
auth = "plain"
master_user = "admin"
password_env = "SLIMBOX_MASTER_PASSWORD"

[[account]]
name = "dave"
user = "dave"
{dave}
"#,
        port = d.imaps_port,
        ca = d.ca_pem.display(),
    );
    let p = dir.join("fleet.toml");
    std::fs::write(&p, text).expect("config");
    p
}

fn slimbox(config: &Path) -> Command {
    let mut c = slimbox_with(config);
    c.env("SLIMBOX_MASTER_PASSWORD", MASTER_PASSWORD);
    c
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn mailbox_of<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .find(|m| m["account"] == name)
        .unwrap_or_else(|| panic!("{name} in {report:#}"))
}

fn converted(m: &serde_json::Value) -> u64 {
    m["report"]["folders"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["converted"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// alice, bob and carol with `n` messages each, through the master user,
/// and dave with a wrong password, in a fleet config.
fn three_and_dave(n: usize) -> (Dovecot, tempfile::TempDir, PathBuf) {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(seed_each(&d, &["alice", "bob", "carol"], n));
    let config = write_config(
        &d,
        dir.path(),
        10,
        "auth = \"password\"\npassword = \"wrong\"",
    );
    (d, dir, config)
}

#[test]
fn issue13_master_user_mailboxes_run_and_a_wrong_password_fails_alone() {
    let (d, _dir, config) = three_and_dave(3);
    let out = slimbox(&config)
        .args(["run", "--all", "--json", "--concurrency", "4"])
        .output()
        .expect("run");
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    for user in ["alice", "bob", "carol"] {
        let m = mailbox_of(&report, user);
        assert_eq!(m["status"], "ok", "{m:#}");
        assert_eq!(converted(m), 3, "{m:#}");
    }
    let dave = mailbox_of(&report, "dave");
    assert_eq!(dave["status"], "failed", "{dave:#}");
    let why = dave["error"].as_str().expect("error");
    assert!(
        why.contains("dave") && why.contains("rejected the login"),
        "{why}"
    );
    assert_eq!(report["totals"]["failed"], 1, "{report:#}");
    assert_eq!(report["totals"]["converted"], 9, "{report:#}");
    // Each message is there once, and slim.
    rt().block_on(each_once_and_slim(&d, &["alice", "bob", "carol"], 3));
    // The table has a row per mailbox and a total.
    let out = slimbox(&config)
        .args(["run", "--all"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("total (4 mailboxes)") && text.contains("dave: failed"),
        "{text}"
    );
}

#[test]
fn issue13_two_runs_at_once_never_convert_a_message_twice() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(seed_each(&d, &MAILBOXES, 4));
    let config = write_config(&d, dir.path(), 10, "");
    let start = || {
        slimbox(&config)
            .args(["run", "--all", "--json", "--concurrency", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (start(), start());
    let outs = [
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    ];
    let reports: Vec<serde_json::Value> = outs.iter().map(json).collect();
    for r in &reports {
        let statuses: Vec<String> = r["mailboxes"]
            .as_array()
            .expect("mailboxes")
            .iter()
            .map(|m| format!("{} {} {}", m["account"], m["status"], converted(m)))
            .collect();
        eprintln!("one run: {statuses:?}");
    }
    for user in MAILBOXES {
        let ms: Vec<&serde_json::Value> = reports.iter().map(|r| mailbox_of(r, user)).collect();
        let total: u64 = ms.iter().map(|m| converted(m)).sum();
        assert_eq!(total, 4, "{user} converted once in all: {ms:#?}");
        for m in &ms {
            assert!(m["status"] == "ok" || m["status"] == "busy", "{m:#}");
        }
    }
    rt().block_on(each_once_and_slim(&d, &MAILBOXES, 4));
    // The index holds each message once, and nothing is left in flight.
    let out = slimbox(&config)
        .args(["run", "--all", "--json"])
        .output()
        .expect("third run");
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["totals"]["converted"], 0, "{report:#}");
    for user in MAILBOXES {
        assert_eq!(
            mailbox_of(&report, user)["report"]["recovered"],
            0,
            "{report:#}"
        );
    }
}

/// Connections Dovecot has open now, as `doveadm who` counts them.
fn dovecot_connections(d: &Dovecot) -> usize {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(d.dir.path().join("dovecot.conf"))
        .args(["who", "-1"])
        .output()
        .expect("doveadm who (Dovecot's admin tool, installed with dovecot-core)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            MAILBOXES
                .iter()
                .any(|u| l.split_whitespace().next() == Some(u))
        })
        .count()
}

#[test]
fn issue13_max_connections_holds_on_the_dovecot_side() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(seed_each(&d, &MAILBOXES, 6));
    assert_eq!(dovecot_connections(&d), 0, "seeding left connections open");
    let config = write_config(&d, dir.path(), 2, "");
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let d = &d;
        std::thread::scope(|scope| {
            let peak = scope.spawn(|| {
                let mut peak = 0;
                let mut samples = 0;
                while !done.load(Ordering::SeqCst) {
                    peak = peak.max(dovecot_connections(d));
                    samples += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                (peak, samples)
            });
            let out = slimbox(&config)
                .args(["run", "--all", "--json", "--concurrency", "4"])
                .output()
                .expect("run");
            done.store(true, Ordering::SeqCst);
            (out, peak.join().expect("watcher"))
        })
    };
    let (out, (peak, samples)) = watcher;
    let report = json(&out);
    eprintln!("peak {peak} connections at once in {samples} samples of doveadm who");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["totals"]["converted"], 24, "{report:#}");
    assert!(
        peak >= 1,
        "the watcher saw no connection in {samples} samples"
    );
    assert!(
        peak <= 2,
        "Dovecot saw {peak} connections at once; max_connections is 2"
    );
}

/// `run --all` also tells each owner what moved (in their INBOX, through
/// the master user) and writes one metrics row per mailbox, the failing
/// one included.
#[test]
fn issue13_run_all_reports_to_owners_and_writes_metrics() {
    let (d, dir, config) = three_and_dave(2);
    // The logins are no addresses: each owner's comes from `email`
    // (a CSV column for alice and bob).
    std::fs::write(
        dir.path().join("people.csv"),
        "name,user,email\nalice,alice,alice@example.com\nbob,bob,bob@example.com\n",
    )
    .expect("csv");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text = text.replace(
        "name = \"carol\"\n",
        "name = \"carol\"\nemail = \"carol@example.com\"\n",
    );
    text = text.replace(
        "name = \"dave\"\n",
        "name = \"dave\"\nemail = \"dave@example.com\"\n",
    );
    text.push_str("\n[owner_report]\nfrom = \"IT <it@example.com>\"\n");
    std::fs::write(&config, text).expect("config");
    let metrics = dir.path().join("slimbox.prom");

    let out = slimbox(&config)
        .args(["run", "--all", "--json", "--metrics-file"])
        .arg(&metrics)
        .output()
        .expect("run");
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    for user in ["alice", "bob", "carol"] {
        let m = mailbox_of(&report, user);
        assert_eq!(m["report"]["owner_report"]["files"], 2, "{m:#}");
    }
    rt().block_on(async {
        for user in ["alice", "bob", "carol"] {
            let cfg = imap_config(&d, &master_login(user), MASTER_PASSWORD);
            let mut s = Session::connect(&cfg).await.expect("master login");
            let inbox = mailbox::folder(&mut s, "INBOX").await;
            s.examine(&inbox).await.expect("examine");
            let uids = s.search_header("Auto-Submitted", "").await.expect("search");
            assert_eq!(uids.len(), 1, "{user}: one report");
            let raw = s
                .fetch_message(uids[0])
                .await
                .expect("fetch")
                .expect("exists");
            let m = mail_parser::MessageParser::default()
                .parse(&raw[..])
                .expect("parse");
            let to = m.to().and_then(|t| t.first()).and_then(|a| a.address());
            assert_eq!(to, Some(format!("{user}@example.com").as_str()));
            let body = m.body_text(0).expect("text");
            assert!(
                body.contains("report.pdf") && body.contains("Nothing is lost"),
                "{body}"
            );
            let _ = s.logout().await;
        }
    });
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    let samples = slimbox::metrics::parse::parse(&text).expect("metrics parse");
    let value = |name: &str, mailbox: &str| {
        samples
            .iter()
            .find(|s| {
                s.name == name && s.labels.get("mailbox").map(String::as_str) == Some(mailbox)
            })
            .map(|s| s.value)
    };
    for user in ["alice", "bob", "carol"] {
        assert_eq!(
            value("slimbox_last_run_messages_converted", user),
            Some(2.0),
            "{text}"
        );
        assert!(
            value("slimbox_last_success_timestamp_seconds", user).is_some(),
            "{text}"
        );
    }
    assert_eq!(
        value("slimbox_last_run_failures", "dave"),
        Some(1.0),
        "{text}"
    );
}

/// Holds a logged-in connection of `user` (with its own password), taking
/// the one connection `mail_max_userip_connections = 1` allows. A seeding
/// connection that just logged out may still count for a moment, so a
/// login turned away for that is tried again.
async fn hold(d: &Dovecot, user: &str, password: &str) -> Session {
    let cfg = imap_config(d, user, password);
    for _ in 0..100 {
        match Session::connect(&cfg).await {
            Ok(s) => return s,
            Err(e) if e.is_throttled() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{user} cannot log in to hold a connection: {e}"),
        }
    }
    panic!("{user} was still over the connection limit after 5 s of seeding's logouts")
}

/// How many of `user`'s logins Dovecot's log shows turned away for the
/// connection limit.
fn turned_away(d: &Dovecot, user: &str) -> usize {
    std::fs::read_to_string(&d.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("mail_max_userip_connections") && l.contains(&format!("user=<{user}>"))
        })
        .count()
}

#[test]
fn issue13_a_mailbox_over_its_connection_limit_is_tried_again_later_in_the_run() {
    let d = Dovecot::start(DovecotOptions {
        max_userip_connections: Some(1),
        ..DovecotOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    rt.block_on(seed_each(&d, &["alice", "bob", "carol"], 3));
    // alice, bob and carol only: drop dave's table.
    let config = write_config(&d, dir.path(), 10, "");
    let text = std::fs::read_to_string(&config).expect("config");
    let (kept, _dave) = text
        .split_once("\n[[account]]\nname = \"dave\"")
        .expect("dave's table");
    std::fs::write(&config, kept).expect("config");
    // alice's own client (a phone, say) uses her one connection.
    let held = rt.block_on(hold(&d, "alice", "alicepw"));
    let before = turned_away(&d, "alice");

    let run = slimbox(&config)
        .args(["run", "--all", "--json", "--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once Dovecot has turned the run's login for alice away, her client
    // goes: the run's retry (2 s later) finds the connection free.
    let mut waited = Duration::ZERO;
    while turned_away(&d, "alice") == before {
        assert!(
            waited < Duration::from_secs(60),
            "Dovecot never turned alice's login away:\n{}",
            d.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    rt.block_on(held.logout()).expect("alice's client logs out");
    let out = run.wait_with_output().expect("run");
    let report = json(&out);
    eprintln!(
        "alice turned away after {waited:?}; run stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let alice = mailbox_of(&report, "alice");
    assert_eq!(alice["status"], "ok", "{alice:#}");
    assert!(alice["attempts"].as_u64() >= Some(2), "{alice:#}");
    assert_eq!(converted(alice), 3, "{alice:#}");
    for user in ["bob", "carol"] {
        let m = mailbox_of(&report, user);
        assert_eq!(m["status"], "ok", "{m:#}");
        assert_eq!(m["attempts"], 1, "{m:#}");
        assert_eq!(converted(m), 3, "{m:#}");
    }
    assert_eq!(report["totals"]["mailboxes"], 3, "{report:#}");
    assert_eq!(report["totals"]["converted"], 9, "{report:#}");
    // The messages really moved: each is there once, and slim.
    rt.block_on(each_once_and_slim(&d, &["alice", "bob", "carol"], 3));
}
