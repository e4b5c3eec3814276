//! Issue 21: an index belongs to the store it was first opened with.
//! Three configs whose stores were sibling folders silently shared one
//! index (and one links key); now the second store is refused, naming both
//! stores and the fix, and `store copy` moves the binding with the objects.
//! No server is needed: the account points at a closed loopback port, and
//! the refusal comes before any connection.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use support::cli::{closed_account, slimbox_with, PASSWORD_ENV, PASSWORD_LOGIN};

/// A config named `name` whose store is the folder `store` beside it and
/// whose index is the one `index.sqlite` all the configs share.
fn config(dir: &Path, name: &str, store: &str) -> PathBuf {
    let text = format!(
        "[store]\nurl = \"{store}\"\n[index]\npath = \"{index}\"\n{account}",
        store = dir.join(store).display(),
        index = dir.join("index.sqlite").display(),
        account = closed_account("work", "alice", PASSWORD_LOGIN),
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn slimbox(config: &Path) -> Command {
    let mut c = slimbox_with(config);
    c.env(PASSWORD_ENV, "pw");
    c
}

fn refused(config: &Path, bound: &str, named: &str) {
    slimbox(config)
        .arg("verify")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("belongs to the store"))
        .stderr(predicate::str::contains(bound))
        .stderr(predicate::str::contains(named))
        .stderr(predicate::str::contains("slimbox store copy"))
        .stderr(predicate::str::contains("[index] path"));
}

fn accepted(config: &Path) {
    // verify may still fail (the account's server is not there); the
    // index is not what stops it.
    slimbox(config)
        .arg("verify")
        .assert()
        .stderr(predicate::str::contains("belongs to the store").not());
}

#[test]
fn issue21_index_of_another_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = config(dir.path(), "a", "store-a");
    let b = config(dir.path(), "b", "store-b");
    let c = config(dir.path(), "c", "store-c");
    // The index, new, is bound by the first store it is opened with.
    accepted(&a);
    refused(&b, "store-a", "store-b");
    refused(&c, "store-a", "store-c");
    accepted(&a);
}

#[test]
fn issue21_store_copy_moves_the_index_to_the_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = config(dir.path(), "a", "store-a");
    let b = config(dir.path(), "b", "store-b");
    accepted(&a);
    let to = dir.path().join("store-d");
    slimbox(&a)
        .args(["store", "copy", "--to"])
        .arg(&to)
        .assert()
        .success();
    // `a` now names store-d, and the index went with it.
    accepted(&a);
    refused(&b, "store-d", "store-b");
}
