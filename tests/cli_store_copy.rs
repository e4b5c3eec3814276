//! `slimbox store copy --to URL` from a local store to another (issue 11):
//! every object copied and checked, the config rewritten in place only when
//! all went well, an interrupted copy resumed, failures named. No server is
//! needed: the account points at a closed loopback port and is only
//! claimed, never connected to.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::prelude::*;
use bytes::Bytes;
use predicates::prelude::*;
use slimbox::store::{object_key, sha256, to_hex, PutOptions, Sha256, Store};
use support::cli::{slimbox_with, PASSWORD_ENV};

/// A config with a comment, the store as a relative path and the index at
/// its default (beside the store's folder).
const CONFIG: &str = r#"# slimbox, as the admin wrote it
[store]
url = "store"   # moved by store copy

[[account]]
name = "work"
host = "127.0.0.1"
port = 9
tls = "none"
user = "alice"
password_env = "SLIMBOX_TEST_PASSWORD"
"#;

fn setup(objects: usize) -> (tempfile::TempDir, PathBuf, Vec<Sha256>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let store = Store::open(&dir.path().join("store").to_string_lossy()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut hashes = Vec::new();
    for i in 0..objects {
        // One object large enough to be streamed.
        let data = if i == 0 {
            Bytes::from(vec![b'x'; 9 * 1024 * 1024 + 3])
        } else {
            Bytes::from(format!("attachment {i} ").repeat(1000))
        };
        let hash = sha256(&data);
        rt.block_on(store.put(&hash, data, PutOptions::new()))
            .unwrap();
        hashes.push(hash);
    }
    hashes.sort_unstable();
    (dir, config, hashes)
}

fn slimbox(config: &Path) -> std::process::Command {
    let mut c = slimbox_with(config);
    c.env(PASSWORD_ENV, "pw");
    c
}

fn list(dir: &Path) -> Vec<Sha256> {
    let store = Store::open(&dir.to_string_lossy()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(store.list_hashes()).unwrap()
}

/// The config as `store copy` should leave it for a local destination;
/// `pinned`: the index's default would move, so `[index] path` is added.
fn moved_config(dir: &Path, to: &Path, pinned: bool) -> String {
    let to = std::fs::canonicalize(to).unwrap();
    let index = if pinned {
        format!(
            "\n[index]\npath = \"{}\"\n",
            dir.join("index.sqlite").display()
        )
    } else {
        String::new()
    };
    CONFIG.replace(
        "url = \"store\"   # moved by store copy\n",
        &format!(
            "url = \"{}\"   # moved by store copy\n{index}",
            to.display()
        ),
    )
}

#[test]
fn issue11_store_copy_moves_every_object_and_points_the_config_at_them() {
    let (dir, config, hashes) = setup(6);
    // In another folder: the index's default (beside the store) would move.
    let to = dir.path().join("elsewhere/new store");
    slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .success()
        .stdout(predicate::str::contains("6 objects from file://"))
        .stdout(predicate::str::contains(": 6 copied ("))
        .stdout(predicate::str::contains("0 already there"))
        .stdout(predicate::str::contains(", 0 failed"))
        .stdout(predicate::str::contains("added [index] path"));
    assert_eq!(list(&to), hashes);
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        moved_config(&dir, &to, true)
    );
    // The old store is left as it was; no checkpoint is left behind.
    assert_eq!(list(&dir.join("store")), hashes);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("checkpoint"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The config now names the new store: copying to it is refused.
    slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .failure()
        .stderr(predicate::str::contains("is the store itself"));
}

#[test]
fn issue11_store_copy_with_no_config_leaves_the_file_alone() {
    let (dir, config, hashes) = setup(3);
    let to = dir.path().join("copy");
    slimbox(&config)
        .args(["store", "copy", "--no-config", "--jobs", "1", "--to"])
        .arg(&to)
        .assert()
        .success()
        .stdout(predicate::str::contains("--no-config"));
    assert_eq!(list(&to), hashes);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
}

#[test]
fn issue11_store_copy_names_a_failed_object_and_keeps_the_config() {
    let (dir, config, hashes) = setup(4);
    let to = dir.path().join("new");
    // A damaged object already at the destination: checked, not trusted.
    let bad = hashes[1];
    let file = to.join(object_key(&bad).as_ref());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"not the attachment").unwrap();
    slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "FAILED: object {}",
            to_hex(&bad)
        )))
        .stdout(predicate::str::contains("is corrupt"))
        .stdout(predicate::str::contains(": 3 copied ("))
        .stdout(predicate::str::contains(", 1 failed"))
        .stdout(predicate::str::contains("the config still points at"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
    assert_eq!(std::fs::read(&file).unwrap(), b"not the attachment");

    // Repaired (the bad copy deleted), the same command finishes the job.
    std::fs::remove_file(&file).unwrap();
    slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .success()
        .stdout(predicate::str::contains(": 1 copied ("))
        .stdout(predicate::str::contains(
            "3 verified by the interrupted copy",
        ));
    assert_eq!(list(&to), hashes);
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        moved_config(&dir, &to, false)
    );
}

#[test]
fn issue11_store_copy_killed_midway_resumes_without_redoing_the_work() {
    let (dir, config, hashes) = setup(8);
    let to = dir.path().join("new");
    let mut child = slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .env("SLIMBOX_TEST_COPY_PAUSE_AFTER", "3")
        .env("SLIMBOX_TEST_PAUSE_FILE", dir.path().join("never"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = stderr
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("slimbox-test: copy paused after 3 objects"));
    assert!(paused, "the copy never reached its pause");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
    assert!(list(&to).len() >= 3);

    slimbox(&config)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .success()
        .stdout(predicate::str::contains("8 objects from"))
        .stdout(predicate::str::contains(
            "3 verified by the interrupted copy before",
        ))
        .stdout(predicate::str::contains(", 0 failed"));
    assert_eq!(list(&to), hashes);
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        moved_config(&dir, &to, false)
    );
}

#[test]
fn issue11_store_copy_refuses_a_setting_the_config_would_refuse() {
    let (dir, config, _) = setup(1);
    let to = dir.path().join("new");
    slimbox(&config)
        .args(["store", "copy", "--set", "colour=blue", "--to"])
        .arg(&to)
        .assert()
        .failure()
        .stderr(predicate::str::contains("colour"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
    assert!(list(&to).is_empty());
}
