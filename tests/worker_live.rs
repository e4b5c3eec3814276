//! Issue 22: `slimbox worker` processes over a queue in a private
//! PostgreSQL, against a private Dovecot through the master user: every
//! message there once, converted, with its flags and date; a worker killed
//! in the middle of a mailbox is taken over once its lease expires; a
//! PostgreSQL restart is ridden out; `max_connections` holds across all
//! workers as Dovecot counts them (`doveadm who`).

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use slimbox::imap::Session;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::imap_config;
use support::pg::Pg;
use support::workers::*;

#[test]
fn issue22_three_workers_over_thirty_mailboxes() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 30);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 2).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "10s");
    // Two jobs of one mailbox first (two enqueues racing), taken side by
    // side: one waits for the other's lease, even within one worker.
    let text = ok(slimbox(&config, &pg)
        .args(["enqueue", "u01"])
        .output()
        .expect("enqueue"));
    assert!(text.contains("queued 1 mailbox(es)"), "{text}");
    pg.psql("INSERT INTO slimbox_jobs (account) VALUES ('u01')");
    let text = ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    assert!(text.contains("queued 29 mailbox(es); 1 already"), "{text}");
    // A second enqueue adds nothing while the jobs wait.
    let text = ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    assert!(text.contains("queued 0 mailbox(es); 30 already"), "{text}");
    let started = Instant::now();
    let workers: Vec<Child> = (0..3).map(|_| worker(&config, &pg, "2")).collect();
    let logs = finish(workers);
    eprintln!(
        "3 workers, 30 mailboxes of 2 messages: {:?}",
        started.elapsed()
    );
    let s = status(&config, &pg);
    all_done(&s, &users, &pg, 2);
    // The jobs were shared: more than one worker ran some.
    let holders: BTreeSet<&str> = s["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .filter_map(|m| m["worker"].as_str())
        .collect();
    assert!(
        holders.len() >= 2,
        "one worker did everything: {holders:?}\n{logs}"
    );
    assert_eq!(s["leases"].as_array().map(Vec::len), Some(0), "{s:#}");
    rt.block_on(each_once_slim_and_kept(&d, &users, 2));
    let out = slimbox(&config, &pg)
        .args(["verify", "--read-data"])
        .output()
        .expect("verify");
    ok(out);
    // The table shows the queue and each mailbox.
    let text = ok(slimbox(&config, &pg)
        .arg("status")
        .output()
        .expect("status"));
    assert!(
        text.contains("queue: 0 queued, 0 running") && text.contains("u30"),
        "{text}"
    );
}

#[test]
fn issue22_a_killed_worker_s_mailbox_is_taken_over_and_finished() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 6);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 3).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "3s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    // The first worker stops after its first copy is appended (before the
    // original is removed), and is killed there.
    let mut first = slimbox(&config, &pg)
        .args(["worker", "--concurrency", "1"])
        .env("SLIMBOX_TEST_PAUSE_AT", "appended")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = stderr_lines(&mut first);
    paused_at(&lines, "appended");
    let held = pg.psql("SELECT account FROM slimbox_leases");
    assert!(!held.is_empty(), "the paused worker holds no lease");
    first.kill().expect("kill -9");
    let _ = first.wait();
    // Two more workers: one takes the mailbox over once its lease expires.
    let workers: Vec<Child> = (0..2).map(|_| worker(&config, &pg, "2")).collect();
    let logs = finish(workers);
    assert!(
        logs.contains(&format!("account {held}: took over mailbox")),
        "nobody took {held} over:\n{logs}"
    );
    let s = status(&config, &pg);
    all_done(&s, &users, &pg, 3);
    let taken: Vec<&serde_json::Value> = s["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .filter(|m| m["account"] == held.as_str())
        .collect();
    assert!(taken[0]["attempts"].as_i64() >= Some(2), "{taken:#?}");
    rt.block_on(each_once_slim_and_kept(&d, &users, 3));
    ok(slimbox(&config, &pg)
        .args(["verify", "--read-data"])
        .output()
        .expect("verify"));
}

#[test]
fn issue22_sigterm_hands_the_mailbox_back_after_the_grace_time() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 2);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 2).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "30s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let mut w = slimbox(&config, &pg)
        .args(["worker", "--concurrency", "1", "--grace", "1"])
        .env("SLIMBOX_TEST_PAUSE_AT", "appended")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = stderr_lines(&mut w);
    paused_at(&lines, "appended");
    let stopped = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let code = w.wait().expect("worker");
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(code.code(), Some(0), "{rest:#?}");
    // Handed back at once (not after the 30 s lease): queued again, the
    // lease and the connection slots let go.
    assert!(
        stopped.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(pg.psql("SELECT count(*) FROM slimbox_leases"), "0");
    assert_eq!(pg.psql("SELECT count(*) FROM slimbox_slots"), "0");
    assert_eq!(
        pg.psql("SELECT count(*) FROM slimbox_jobs WHERE state = 'queued'"),
        "2",
        "{rest:#?}"
    );
    // The next worker finishes it from the journal: nothing lost or twice.
    finish(vec![worker(&config, &pg, "2")]);
    all_done(&status(&config, &pg), &users, &pg, 2);
    rt.block_on(each_once_slim_and_kept(&d, &users, 2));
}

#[test]
fn issue22_workers_ride_out_a_postgresql_restart() {
    let d = Dovecot::start(DovecotOptions::default());
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 12);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 3).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "6s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let workers: Vec<Child> = (0..3).map(|_| worker(&config, &pg, "1")).collect();
    // Once some work is done and more is under way, the database goes.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: usize = pg
            .psql("SELECT count(*) FROM slimbox_jobs WHERE state = 'done'")
            .parse()
            .expect("count");
        if done >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no job finished in 2 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    let restarted = Instant::now();
    pg.restart();
    let back = restarted.elapsed();
    let logs = finish(workers);
    eprintln!(
        "PostgreSQL restarted in {back:?}; {} reconnect line(s) in the workers' logs",
        logs.matches("queue database").count()
    );
    assert!(
        logs.contains("queue database"),
        "no worker noticed the restart:\n{logs}"
    );
    let s = status(&config, &pg);
    all_done(&s, &users, &pg, 3);
    rt.block_on(each_once_slim_and_kept(&d, &users, 3));
}

#[test]
fn issue22_max_connections_holds_across_three_workers() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 9);
    rt().block_on(async {
        for u in &users {
            seed(&d, u, 3).await;
        }
    });
    assert_eq!(
        dovecot_connections(&d, &users),
        0,
        "seeding left connections open"
    );
    let config = write_config(&d, &pg, dir.path(), &users, 2, "10s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let done = AtomicBool::new(false);
    let (logs, (peak, samples)) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let (mut peak, mut samples) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(dovecot_connections(&d, &users));
                samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (peak, samples)
        });
        let workers: Vec<Child> = (0..3).map(|_| worker(&config, &pg, "2")).collect();
        let logs = finish(workers);
        done.store(true, Ordering::SeqCst);
        (logs, watcher.join().expect("watcher"))
    });
    eprintln!("peak {peak} connections at once in {samples} samples of doveadm who");
    let s = status(&config, &pg);
    all_done(&s, &users, &pg, 3);
    assert!(
        peak >= 1,
        "the watcher saw no connection in {samples} samples:\n{logs}"
    );
    assert!(
        peak <= 2,
        "Dovecot saw {peak} connections at once; max_connections is 2 across the workers"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM slimbox_slots"), "0");
}

#[test]
fn issue22_worker_serves_its_metrics_for_prometheus() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 3);
    rt().block_on(async {
        for u in &users {
            seed(&d, u, 2).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "10s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let mut w = slimbox(&config, &pg)
        .args(["worker", "--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = stderr_lines(&mut w);
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker says where its metrics are");
        if let Some(rest) = line.split_once("metrics at ").map(|(_, r)| r.to_string()) {
            break rest;
        }
    };
    // Scraped until the worker counts its three jobs done.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (got, samples) = loop {
        let got = support::http::Http::new().get(&addr);
        assert_eq!(got.status, 200, "{}", got.body);
        let samples = slimbox::metrics::parse::parse(&got.body).expect("exposition");
        let done = samples
            .iter()
            .any(|s| s.name == "slimbox_jobs_done_total" && s.value == 3.0);
        if done {
            break (got, samples);
        }
        assert!(
            Instant::now() < deadline,
            "the jobs did not finish: {}",
            got.body
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let value = |name: &str, mailbox: Option<&str>| {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.get("mailbox").map(String::as_str) == mailbox)
            .map(|s| s.value)
    };
    for u in &users {
        assert_eq!(
            value("slimbox_last_run_messages_converted", Some(u)),
            Some(2.0),
            "{}",
            got.body
        );
        assert!(value("slimbox_last_success_timestamp_seconds", Some(u)).is_some());
    }
    assert_eq!(
        value("slimbox_queue_depth", None),
        Some(0.0),
        "{}",
        got.body
    );
    assert_eq!(value("slimbox_jobs_done_total", None), Some(3.0));
    assert_eq!(value("slimbox_jobs_failed_total", None), Some(0.0));
    assert_eq!(value("slimbox_lease_takeovers_total", None), Some(0.0));
    // An idle worker stops at once on SIGTERM.
    let term = Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    assert_eq!(w.wait().expect("worker").code(), Some(0));
}

/// A worker that stalls (SIGSTOP) for longer than its lease loses the
/// mailbox to another, and when it wakes it notices and stops working on
/// it instead of going on beside the new holder.
#[test]
fn issue22_a_stalled_worker_notices_its_lease_was_taken_over() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 2);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 3).await;
        }
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "3s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let mut stalled = slimbox(&config, &pg)
        .args(["worker", "--concurrency", "1"])
        .env("SLIMBOX_TEST_PAUSE_AT", "appended")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = stderr_lines(&mut stalled);
    paused_at(&lines, "appended");
    let held = pg.psql("SELECT account FROM slimbox_leases");
    signal(&stalled, "-STOP");
    let logs = finish(vec![worker(&config, &pg, "2")]);
    assert!(
        logs.contains(&format!("account {held}: took over mailbox")),
        "{logs}"
    );
    signal(&stalled, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains("was taken over by another slimbox") => break,
            Ok(l) => seen.push(l),
            Err(_) => panic!("the stalled worker never noticed: {seen:#?}"),
        }
    }
    signal(&stalled, "-TERM");
    assert_eq!(stalled.wait().expect("worker").code(), Some(0));
    all_done(&status(&config, &pg), &users, &pg, 3);
    rt.block_on(each_once_slim_and_kept(&d, &users, 3));
    assert_eq!(pg.psql("SELECT count(*) FROM slimbox_leases"), "0");
}

/// A mailbox the server turns away (over Dovecot's per-user connection
/// limit) goes back to the queue for later, and the server's back-off is
/// noted for every worker; it is done once the connection is free.
#[test]
fn issue22_a_turned_away_mailbox_is_queued_again_and_the_server_backed_off() {
    let d = Dovecot::start(DovecotOptions {
        max_userip_connections: Some(1),
        ..DovecotOptions::default()
    });
    let pg = Pg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let users = add_users(&d, 2);
    let rt = rt();
    rt.block_on(async {
        for u in &users {
            seed(&d, u, 2).await;
        }
    });
    // u01's own client holds its one connection.
    let held = rt.block_on(async {
        let cfg = imap_config(&d, "u01", "pw");
        for _ in 0..100 {
            match Session::connect(&cfg).await {
                Ok(s) => return s,
                Err(e) if e.is_throttled() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("u01 cannot log in: {e}"),
            }
        }
        panic!("u01 stayed over its connection limit")
    });
    let config = write_config(&d, &pg, dir.path(), &users, 10, "10s");
    ok(slimbox(&config, &pg)
        .args(["enqueue", "--all"])
        .output()
        .expect("enqueue"));
    let w = worker(&config, &pg, "2");
    let deadline = Instant::now() + Duration::from_secs(60);
    while pg.psql("SELECT count(*) FROM slimbox_server_backoff") == "0" {
        assert!(Instant::now() < deadline, "no back-off was noted");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.block_on(held.logout()).expect("u01's client logs out");
    finish(vec![w]);
    let s = status(&config, &pg);
    all_done(&s, &users, &pg, 2);
    let u01 = s["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .find(|m| m["account"] == "u01")
        .expect("u01");
    assert!(u01["attempts"].as_i64() >= Some(2), "{u01:#}");
    rt.block_on(each_once_slim_and_kept(&d, &users, 2));
}
