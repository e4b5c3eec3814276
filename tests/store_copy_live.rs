//! `slimbox store copy` after a real run on Dovecot (issue 11): the store
//! moved, the old one taken away, then restore, verify --read-data,
//! reattach and the next run all work from the new store.

mod support;

use std::process::Command;

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

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
