//! A 40 MB attachment through the store on a private Dovecot (issue 11):
//! `run` stores it (on S3 and GCS by multipart upload), `verify --read-data`
//! streams it back and checks it, `restore` streams it into a file that is
//! byte-exact, and `reattach` puts the byte-exact original back. On a local
//! store, on a private moto S3 server and on fake-gcs-server (its XML
//! multipart upload through scripts/objstore/gcs-xml-shim.py, see there).

mod support;

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox;
use support::objstore::{Kind, ObjStore};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const BIG: usize = 40 * 1000 * 1000;

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

/// `run` → `verify --read-data` → `restore` → `reattach` of one message
/// with a 40 MB attachment, against the store `config` names; `slimbox`
/// makes the command for a config (with the store's credentials).
fn round_trip(d: &Dovecot, config: &Path, out_dir: &Path, slimbox: &dyn Fn(&Path) -> Command) {
    let data = mailbox::noise(BIG, 1111);
    let original =
        mailbox::with_attachment("big", "Big", "talk.mov", "video/quicktime", data.clone());
    rt().block_on(mailbox::seed(d, "Sent", &original, &["\\Seen"], DATE));

    ok(slimbox(config).arg("run"));
    let mid = rt().block_on(mailbox::snapshot(d, "Sent"));
    assert_eq!(mid.len(), 1);
    assert!(slimbox::mime::is_processed(
        &mid.values().next().unwrap().bytes
    ));

    let said = ok(slimbox(config).args(["verify", "--read-data", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&said).expect("verify --json");
    assert_eq!(json["objects_checked"], 1, "{json:#}");
    assert_eq!(json["bytes_read"], BIG as u64, "{json:#}");
    assert!(json["problems"].as_array().unwrap().is_empty(), "{json:#}");

    let to = out_dir.join("restored");
    ok(slimbox(config)
        .args(["restore", "--message-id", "big@example.com", "--to"])
        .arg(&to));
    let got = std::fs::read(to.join("talk.mov")).expect("restored file");
    assert_eq!(got.len(), BIG);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data), "byte-exact");
    let names: Vec<_> = std::fs::read_dir(&to).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left behind");

    let said = ok(slimbox(config).args(["reattach", "--message-id", "big@example.com"]));
    assert!(said.contains("whole again"), "{said}");
    let after = rt().block_on(mailbox::snapshot(d, "Sent"));
    assert_eq!(after.len(), 1, "exactly one copy");
    assert!(
        after.values().next().unwrap().bytes == original,
        "the original is back byte-exact"
    );
}

#[test]
fn issue11_a_40_mb_attachment_round_trips_through_a_local_store() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "1MiB");
    round_trip(&d, &config, dir.path(), &mailbox::slimbox);
}

/// The round trip with the store on `kind`'s server; the 40 MB object
/// went there by multipart upload.
fn round_trip_on(kind: Kind) {
    let server = ObjStore::start(kind);
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "1MiB");
    let text = std::fs::read_to_string(&config).unwrap();
    let local = format!(
        "[store]\nurl = \"{}\"\n",
        dir.path().join("store").display()
    );
    assert!(text.contains(&local), "{text}");
    std::fs::write(&config, text.replace(&local, &server.store_toml())).unwrap();
    let slimbox = |config: &Path| {
        let mut c = mailbox::slimbox(config);
        c.envs(server.env());
        c
    };
    round_trip(&d, &config, dir.path(), &slimbox);
    // Above the threshold, so it went by multipart upload (moto and the
    // GCS shim log each request): one object, whole.
    let log = server.log();
    assert!(log.contains("?uploads"), "no multipart upload in:\n{log}");
    rt().block_on(async {
        let store = slimbox::store::Store::open_with(&server.url, &server.remote_options())
            .expect("open the bucket");
        let hashes = store.list_hashes().await.expect("list");
        assert_eq!(hashes.len(), 1);
        assert_eq!(store.check(&hashes[0]).await.expect("check"), BIG as u64);
        const { assert!(BIG >= slimbox::store::MULTIPART_THRESHOLD) };
    });
}

#[test]
fn issue11_a_40_mb_attachment_round_trips_through_s3_by_multipart_upload() {
    round_trip_on(Kind::S3);
}

#[test]
fn issue11_a_40_mb_attachment_round_trips_through_gcs_by_multipart_upload() {
    round_trip_on(Kind::Gcs);
}
