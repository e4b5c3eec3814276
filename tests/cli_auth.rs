//! Issue 10: the errors of a token login that need no server. The token is
//! asked of its source before slimbox connects, so the account points at a
//! closed loopback port: a `token_command` that fails or prints nothing is
//! reported with the fix, exit status 1, and a token login set up wrong is
//! a config error naming the key.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::prelude::*;
use predicates::prelude::*;
use support::cli::{closed_account, local_store, slimbox_with, write_offline_config};

/// A config with one token-login account; `login` holds its auth keys.
fn config(dir: &Path, login: &str) -> PathBuf {
    let account = closed_account("work", "alice", login);
    write_offline_config(dir, &local_store(dir), "", &account)
}

#[test]
fn issue10_token_command_failing_or_silent_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let failing = config(
        dir.path(),
        "auth = \"xoauth2\"\ntoken_command = \"echo vault is sealed >&2; exit 4\"",
    );
    for cmd in ["scan", "run"] {
        slimbox_with(&failing).arg(cmd).assert().code(1).stderr(
            predicate::str::contains("vault is sealed")
                .and(predicate::str::contains("token_command"))
                .and(predicate::str::contains("work")),
        );
    }
    let silent = config(
        dir.path(),
        "auth = \"oauthbearer\"\ntoken_command = \"true\"",
    );
    slimbox_with(&silent).arg("scan").assert().code(1).stderr(
        predicate::str::contains("printed nothing")
            .and(predicate::str::contains("access token on its first line")),
    );
    // Nothing was connected to, so nothing was stored either.
    assert!(!dir.path().join("store").join("sha256").exists());
}

#[test]
fn issue10_token_login_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "auth = \"xoauth2\"",
            "account[0].token_command",
            "no token source: set token_command or [account.oauth]",
        ),
        (
            "auth = \"xoauth2\"\ntoken_command = \"t\"\npassword_env = \"P\"",
            "account[0].password_env",
            "remove password_env",
        ),
        (
            "token_command = \"t\"\npassword_env = \"P\"",
            "account[0].token_command",
            "auth = \\\"xoauth2\\\"",
        ),
    ];
    for (login, key, fix) in cases {
        let fix = fix.replace("\\\"", "\"");
        slimbox_with(&config(dir.path(), login))
            .arg("scan")
            .assert()
            .code(predicate::ne(0))
            .stderr(predicate::str::contains(key).and(predicate::str::contains(fix)));
    }
}
