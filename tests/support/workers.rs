//! The worker tests' Dovecot users, seeds, config and worker processes
//! (tests/worker_live.rs, issue 22): many mailboxes through the master
//! user, the queue in a private PostgreSQL, workers started, signalled and
//! waited for, and what must hold after them.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use slimbox::imap::Session;

use super::cli::slimbox_with;
use super::dovecot::{master_login, Dovecot, MASTER_PASSWORD};
use super::mailbox::{self, imap_config};
use super::pg::Pg;

pub const DATE: &str = "01-Feb-2024 10:00:00 +0100";
/// 01-Feb-2024 09:00:00 UTC.
pub const DATE_TS: i64 = 1_706_778_000;
pub const ATTACHMENT: usize = 200 * 1024;
pub const FLAGS: [&str; 2] = ["$Label1", "\\Flagged"];

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `n` more users `u01`.. on the Dovecot (its passwd file is read again
/// when it changes), with alice's uid and gid; their names.
pub fn add_users(d: &Dovecot, n: usize) -> Vec<String> {
    let path = d.dir.path().join("passwd");
    let text = std::fs::read_to_string(&path).expect("passwd");
    let alice = text
        .lines()
        .find(|l| l.starts_with("alice:"))
        .expect("alice in passwd")
        .to_string();
    let names: Vec<String> = (1..=n).map(|i| format!("u{i:02}")).collect();
    let mut more = text.clone();
    for name in &names {
        let line = alice
            .replacen("alice:{PLAIN}alicepw", &format!("{name}:{{PLAIN}}pw"), 1)
            .replace("/home/alice", &format!("/home/{name}"));
        more.push_str(&line);
        more.push('\n');
    }
    std::fs::write(&path, more).expect("passwd");
    names
}

/// `n` messages with an attachment, flags and a date in `user`'s Archive.
pub async fn seed(d: &Dovecot, user: &str, n: usize) {
    let cfg = imap_config(d, &master_login(user), MASTER_PASSWORD);
    let mut s = Session::connect(&cfg).await.expect("master login");
    let f = mailbox::folder(&mut s, "Archive").await;
    let flags: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    for i in 0..n {
        let msg = mailbox::with_attachment(
            &format!("{user}-{i}"),
            &format!("Report {i} for {user}"),
            "report.pdf",
            "application/pdf",
            mailbox::noise(ATTACHMENT, i as u64 + user.len() as u64),
        );
        s.append(&f, &flags, DATE, &msg).await.expect("append");
    }
    let _ = s.logout().await;
}

/// Each user's Archive holds `n` messages, each once, slim, with its
/// flags and date.
pub async fn each_once_slim_and_kept(d: &Dovecot, users: &[String], n: usize) {
    for user in users {
        let cfg = imap_config(d, &master_login(user), MASTER_PASSWORD);
        let mut s = Session::connect(&cfg).await.expect("master login");
        let f = mailbox::folder(&mut s, "Archive").await;
        s.examine(&f).await.expect("examine");
        let uids = s.search_header("Message-ID", "").await.expect("search");
        let metas = if uids.is_empty() {
            Vec::new()
        } else {
            s.fetch_meta(&uids).await.expect("meta")
        };
        let mut ids = BTreeSet::new();
        for m in &metas {
            let raw = s
                .fetch_message(m.uid)
                .await
                .expect("fetch")
                .expect("exists");
            ids.insert(mailbox::message_id(&raw).unwrap_or_default());
            assert!(raw.len() < ATTACHMENT / 2, "{user}: uid {} not slim", m.uid);
            for flag in FLAGS {
                assert!(m.flags.iter().any(|f| f == flag), "{user}: {:?}", m.flags);
            }
            assert_eq!(m.internal_ts, DATE_TS, "{user}: {}", m.internal_date);
        }
        assert_eq!((metas.len(), ids.len()), (n, n), "{user}: {ids:?}");
        let _ = s.logout().await;
    }
}

/// A config for `users` (a CSV) through the master user, the index (and
/// with it the queue) in `pg`, and a `lease`.
pub fn write_config(
    d: &Dovecot,
    pg: &Pg,
    dir: &Path,
    users: &[String],
    max: u32,
    lease: &str,
) -> PathBuf {
    let mut csv = String::from("name,user\n");
    for u in users {
        csv.push_str(&format!("{u},{u}\n"));
    }
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let text = format!(
        r#"accounts_file = "people.csv"
[store]
url = "store"
{index}
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
max_connections = {max}
[worker]
lease = "{lease}"
"#,
        port = d.imaps_port,
        ca = d.ca_pem.display(),
        index = pg.index_toml(),
    );
    let p = dir.join("worker.toml");
    std::fs::write(&p, text).expect("config");
    p
}

pub fn slimbox(config: &Path, pg: &Pg) -> Command {
    let mut c = slimbox_with(config);
    c.env("SLIMBOX_MASTER_PASSWORD", MASTER_PASSWORD)
        .envs(pg.env());
    c
}

pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "slimbox failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A worker that drains the queue and exits (`-v`: its take-overs show).
pub fn worker(config: &Path, pg: &Pg, concurrency: &str) -> Child {
    slimbox(config, pg)
        .args(["-v", "worker", "--once", "--concurrency", concurrency])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker")
}

/// Waits for the workers; each must exit 0. Their stderr, joined.
pub fn finish(workers: Vec<Child>) -> String {
    let mut all = String::new();
    for w in workers {
        let out = w.wait_with_output().expect("worker");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "a worker failed ({:?}):\n{err}",
            out.status
        );
        all.push_str(&err);
    }
    all
}

pub fn status(config: &Path, pg: &Pg) -> serde_json::Value {
    let out = ok(slimbox(config, pg)
        .args(["status", "--json"])
        .output()
        .expect("status"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status JSON ({e}): {out}"))
}

/// Every account's last job is done, nothing is queued or running, and
/// the jobs converted `n` messages per account in all.
pub fn all_done(status: &serde_json::Value, users: &[String], pg: &Pg, n: usize) {
    assert_eq!(status["queued"], 0, "{status:#}");
    assert_eq!(status["running"], 0, "{status:#}");
    let rows = status["mailboxes"].as_array().expect("mailboxes");
    assert_eq!(rows.len(), users.len(), "{status:#}");
    for row in rows {
        assert_eq!(row["state"], "done", "{row:#}");
    }
    // Across all jobs (a taken-over mailbox had two runs): no message
    // converted twice, and each converted or finished from the journal.
    let sum = |sql: &str| -> usize { pg.psql(sql).parse().expect("a number") };
    let converted = sum(
        "SELECT coalesce(sum((f->>'converted')::int), 0) FROM slimbox_jobs,
                jsonb_array_elements(result->'folders') f",
    );
    let recovered = sum("SELECT coalesce(sum((result->>'recovered')::int), 0) FROM slimbox_jobs");
    let all = users.len() * n;
    assert!(
        converted <= all && converted + recovered >= all,
        "converted {converted}, recovered {recovered} of {all}: {status:#}"
    );
}

/// Reads `child`'s stderr on a thread; each line comes out of the channel.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits until `lines` says the job paused at `step`.
pub fn paused_at(lines: &mpsc::Receiver<String>, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains(&format!("slimbox-test: paused at {step}")) => return,
            Ok(l) => seen.push(l),
            Err(_) => panic!("the worker never paused at {step}: {seen:#?}"),
        }
    }
}

/// Connections of the test users Dovecot has open now (`doveadm who`).
pub fn dovecot_connections(d: &Dovecot, users: &[String]) -> usize {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(d.dir.path().join("dovecot.conf"))
        .args(["who", "-1"])
        .output()
        .expect("doveadm who (Dovecot's admin tool, installed with dovecot-core)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|u| users.iter().any(|x| x == u))
        })
        .count()
}

pub fn signal(child: &Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {sig}");
}
