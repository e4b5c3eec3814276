//! issue 22: one host's SQLite index moves into a shared PostgreSQL
//! database with `slimbox index migrate`, and every command reads the same
//! from it: `list --json` and `stats --json` byte-identical before and
//! after, then `restore`, `verify --read-data`, `reattach`, a second `run`
//! and `index rebuild` working from the database.

mod support;

use std::process::Command;

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox;
use support::pg::Pg;

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// slimbox with the test's config and both passwords (the mailbox's and
/// the database's).
fn slimbox(config: &std::path::Path, pg: &Pg) -> Command {
    let mut c = mailbox::slimbox(config);
    c.envs(pg.env());
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn issue22_index_migrate_keeps_list_and_stats_byte_identical() {
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let pdf = mailbox::noise(300_000, 1);
    let shared = mailbox::noise(250_000, 3);
    let one = mailbox::with_attachment("one", "One", "report.pdf", "application/pdf", pdf.clone());
    let two = mailbox::with_attachment("two", "Two", "same.pdf", "application/pdf", shared.clone());
    let three = mailbox::with_attachment("three", "Three", "same.pdf", "application/pdf", shared);
    let zip = mailbox::noise(400_000, 4);
    let old = mailbox::with_attachment("old", "Old", "old.zip", "application/zip", zip);
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &one, &["\\Seen"], DATE).await;
        mailbox::seed(&d, "Sent", &two, &["\\Seen", "$Work"], DATE).await;
        mailbox::seed(&d, "Sent", &three, &[], DATE).await;
        mailbox::seed(&d, "Archive", &old, &["\\Flagged"], DATE).await;
    });
    ok(slimbox(&config, &pg).arg("run"));
    let list = ok(slimbox(&config, &pg).args(["list", "--json"]));
    let stats = ok(slimbox(&config, &pg).args(["stats", "--json"]));
    let list_text = ok(slimbox(&config, &pg).arg("list"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let out = ok(slimbox(&config, &pg)
        .args(["index", "migrate", "--to"])
        .arg(format!("{}?sslmode=verify-full", pg.url))
        .args(["--password-env", support::pg::PASSWORD_ENV, "--ca-file"])
        .arg(&pg.ca));
    assert!(out.contains("parts: 4 rows"), "{out}");
    assert!(out.contains("url = \"postgres://"), "{out}");
    // A second migrate into the same database is refused: it is not empty.
    let again = slimbox(&config, &pg)
        .args(["index", "migrate", "--to"])
        .arg(format!("{}?sslmode=verify-full", pg.url))
        .args(["--password-env", support::pg::PASSWORD_ENV, "--ca-file"])
        .arg(&pg.ca)
        .output()
        .unwrap();
    assert!(!again.status.success(), "a non-empty database is refused");

    pg.use_in_config(&config);
    // The SQLite file is not read any more.
    std::fs::remove_file(dir.path().join("index.sqlite")).unwrap();
    assert_eq!(ok(slimbox(&config, &pg).args(["list", "--json"])), list);
    assert_eq!(ok(slimbox(&config, &pg).args(["stats", "--json"])), stats);
    assert_eq!(ok(slimbox(&config, &pg).arg("list")), list_text);

    // Every command works from the database.
    let to = dir.path().join("out");
    ok(slimbox(&config, &pg)
        .args(["restore", "--message-id", "one@example.com", "--to"])
        .arg(&to));
    assert_eq!(
        Sha256::digest(std::fs::read(to.join("report.pdf")).unwrap()),
        Sha256::digest(&pdf)
    );
    ok(slimbox(&config, &pg).args(["verify", "--read-data"]));
    let back = ok(slimbox(&config, &pg).args(["reattach", "--message-id", "two@example.com"]));
    assert!(back.contains("whole again"), "{back}");
    let sent = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let whole: Vec<_> = sent
        .values()
        .filter(|s| mailbox::message_id(&s.bytes).as_deref() == Some("two@example.com"))
        .collect();
    assert_eq!(whole.len(), 1, "exactly one copy");
    assert_eq!(whole[0].bytes, two, "byte-exact");

    // A new message converts into the database; a rebuild finds all there.
    let four = mailbox::with_attachment(
        "four",
        "Four",
        "new.pdf",
        "application/pdf",
        mailbox::noise(300_000, 9),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &four, &[], DATE));
    ok(slimbox(&config, &pg).arg("run"));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(slimbox(&config, &pg).args(["list", "--json"]))).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5, "{rows:#}");
    let rebuilt: serde_json::Value = serde_json::from_str(&ok(
        slimbox(&config, &pg).args(["index", "rebuild", "--json"])
    ))
    .unwrap();
    assert_eq!(rebuilt[0]["written"], 0, "{rebuilt:#}");
}

/// Two runs of one mailbox on two "hosts" (each its own lock folder, as
/// `$XDG_DATA_HOME` puts it) with one PostgreSQL index: the second finds
/// the mailbox claimed by the first's lease in the database, and is busy.
#[test]
fn issue22_a_run_on_another_host_finds_the_mailbox_leased() {
    use std::process::Stdio;
    let d = Dovecot::start(DovecotOptions::default());
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    pg.use_in_config(&config);
    let big = mailbox::with_attachment(
        "big",
        "Big",
        "big.pdf",
        "application/pdf",
        mailbox::noise(300_000, 1),
    );
    rt().block_on(mailbox::seed(&d, "Sent", &big, &["\\Seen"], DATE));
    // The index's tables, made before the first run starts.
    ok(slimbox(&config, &pg).arg("list"));
    let go = dir.path().join("go");
    let host = |name: &str| {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let mut c = slimbox(&config, &pg);
        c.env("XDG_DATA_HOME", &home).args(["run", "--json"]);
        c
    };
    let first = host("host-a")
        .env("SLIMBOX_TEST_PAUSE_AT", "prepared")
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the first run");
    // The first run holds the lease once it has prepared a message: wait
    // for that row, then start the second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = pg.psql("SELECT count(*) FROM journal");
        if rows == "1" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never prepared its message"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let second = host("host-b").output().expect("run the second");
    let report: serde_json::Value = serde_json::from_slice(&second.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&second.stderr)));
    assert_eq!(second.status.code(), Some(1), "busy: {report:#}");
    assert_eq!(report[0]["busy"], true, "{report:#}");
    std::fs::write(&go, b"").unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "the first run finishes: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let rows: serde_json::Value =
        serde_json::from_str(&ok(slimbox(&config, &pg).args(["list", "--json"]))).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows:#}");
}
