//! `slimbox store copy` after a real run on Dovecot (issue 11): the store
//! moved, the old one taken away, then restore, verify --read-data,
//! reattach and the next run all work from the new store: another folder,
//! and moto's S3 server with the copy killed once in the middle.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};
use support::objstore::{Kind, ObjStore};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn object(store: &std::path::Path, data: &[u8]) -> std::path::PathBuf {
    let hex = hex::encode(Sha256::digest(data));
    store.join("sha256").join(&hex[..2]).join(&hex)
}

#[test]
fn issue11_store_copy_then_everything_works_from_the_new_store() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    // One attachment large enough to be streamed by the copy.
    let big = mailbox::noise(9 * 1024 * 1024 + 100, 51);
    let small = mailbox::noise(300_000, 52);
    let msgs = [
        mailbox::with_attachment("big", "Big", "big.bin", "application/pdf", big.clone()),
        mailbox::with_attachment("small", "Small", "s.pdf", "application/pdf", small.clone()),
    ];
    rt().block_on(async {
        for m in &msgs {
            mailbox::seed(&d, "Sent", m, &["\\Seen"], DATE).await;
        }
    });
    ok(slimbox(&config).arg("run"));
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));

    let new = dir.path().join("moved").join("store");
    let out = ok(slimbox(&config).args(["store", "copy", "--to"]).arg(&new));
    assert!(
        out.contains("2 objects from") && out.contains(": 2 copied ("),
        "{out}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let new = std::fs::canonicalize(&new).unwrap();
    assert!(
        text.contains(&format!("url = \"{}\"", new.display())),
        "{text}"
    );
    // The old store is gone: whatever works now works from the new one.
    std::fs::rename(dir.path().join("store"), dir.path().join("old-store")).unwrap();

    let files = dir.path().join("restored");
    ok(slimbox(&config)
        .args(["restore", "--message-id", "big@example.com", "--to"])
        .arg(&files));
    let restored = std::fs::read(files.join("big.bin")).unwrap();
    assert_eq!(Sha256::digest(&restored), Sha256::digest(&big));

    let out = ok(slimbox(&config).args(["verify", "--read-data"]));
    assert!(out.contains("2 objects read and hashed"), "{out}");
    assert!(out.contains("all is well"), "{out}");

    let out = ok(slimbox(&config).args(["reattach", "--message-id", "small@example.com"]));
    assert!(out.contains("whole again"), "{out}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after.len(), before.len());
    assert!(after.values().any(|m| m.bytes == msgs[1]), "byte-exact");

    // The next run stores into the new store.
    let third = mailbox::noise(200_000, 53);
    let m = mailbox::with_attachment("third", "Third", "t.pdf", "application/pdf", third.clone());
    rt().block_on(mailbox::seed(&d, "Sent", &m, &["\\Seen"], DATE));
    ok(slimbox(&config).arg("run"));
    assert!(object(&new, &third).exists());
    assert!(!object(&dir.path().join("old-store"), &third).exists());
    let out = ok(slimbox(&config).args(["verify", "--read-data"]));
    assert!(out.contains("all is well"), "{out}");
}

/// `store copy --to` moto's bucket, with the settings the harness gives.
fn copy_to_s3(config: &std::path::Path, s3: &ObjStore) -> Command {
    let mut c = slimbox(config);
    c.args(["store", "copy", "--to", &s3.url])
        .args(["--set", &format!("endpoint={}", s3.endpoint)])
        .args(["--set", "allow_http=true", "--set", "path_style=true"])
        .args(["--set", "region=us-east-1"])
        .args(["--set", "access_key_id_env=SLIMBOX_TEST_KEY_ID"])
        .args(["--set", "secret_access_key_env=SLIMBOX_TEST_SECRET"])
        .envs(s3.env())
        .env_remove("SLIMBOX_TEST_COPY_PAUSE_AFTER");
    c
}

#[test]
fn issue11_store_copy_to_s3_killed_and_resumed_then_run_restore_verify_from_s3() {
    let d = Dovecot::start(DovecotOptions::default());
    let s3 = ObjStore::start(Kind::S3);
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let big = mailbox::noise(9 * 1024 * 1024 + 100, 61);
    let mut msgs = vec![mailbox::with_attachment(
        "big",
        "Big",
        "big.bin",
        "application/pdf",
        big.clone(),
    )];
    for i in 0..5u64 {
        let id = format!("small{i}");
        let data = mailbox::noise(150_000, 70 + 2 * i);
        msgs.push(mailbox::with_attachment(
            &id,
            "Small",
            "s.pdf",
            "application/pdf",
            data,
        ));
    }
    rt().block_on(async {
        for m in &msgs {
            mailbox::seed(&d, "Sent", m, &["\\Seen"], DATE).await;
        }
    });
    ok(slimbox(&config).arg("run"));
    let config_before = std::fs::read_to_string(&config).unwrap();

    // Killed after two objects are copied and checked.
    let mut child = copy_to_s3(&config, &s3)
        .env("SLIMBOX_TEST_COPY_PAUSE_AFTER", "2")
        .env("SLIMBOX_TEST_PAUSE_FILE", dir.path().join("never"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = stderr
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("slimbox-test: copy paused after 2 objects"));
    assert!(paused, "the copy never reached its pause\n{}", s3.log());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_before);

    // Resumed: the two are only size-checked, the rest copied.
    let out = ok(&mut copy_to_s3(&config, &s3));
    assert!(out.contains("6 objects from"), "{out}");
    assert!(
        out.contains("2 verified by the interrupted copy before"),
        "{out}"
    );
    assert!(out.contains(", 0 failed"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("url = \"{}\"", s3.url)), "{text}");
    assert!(
        text.contains(&format!("endpoint = \"{}\"", s3.endpoint)),
        "{text}"
    );
    let remote = s3.open();
    let listed = rt().block_on(remote.list_hashes()).unwrap();
    assert_eq!(listed.len(), 6);

    // The old store is gone; everything below reads and writes S3.
    std::fs::rename(dir.path().join("store"), dir.path().join("old-store")).unwrap();
    let third = mailbox::noise(200_000, 80);
    let m = mailbox::with_attachment("third", "Third", "t.pdf", "application/pdf", third.clone());
    rt().block_on(mailbox::seed(&d, "Sent", &m, &["\\Seen"], DATE));
    ok(slimbox(&config).arg("run").envs(s3.env()));
    let third_hash: [u8; 32] = Sha256::digest(&third).into();
    assert!(rt().block_on(remote.exists(&third_hash)).unwrap());

    let files = dir.path().join("restored");
    ok(slimbox(&config)
        .args(["restore", "--message-id", "big@example.com", "--to"])
        .arg(&files)
        .envs(s3.env()));
    let restored = std::fs::read(files.join("big.bin")).unwrap();
    assert_eq!(Sha256::digest(&restored), Sha256::digest(&big));

    let out = ok(slimbox(&config)
        .args(["verify", "--read-data"])
        .envs(s3.env()));
    assert!(out.contains("7 objects read and hashed"), "{out}");
    assert!(out.contains("all is well"), "{out}");
}
