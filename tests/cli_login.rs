//! `slimbox login` where no provider is needed: its help explains both
//! flows, an account without `[account.oauth]` or a provider that cannot be
//! reached fails with a message naming the fix, and nothing is written.

mod support;

use std::path::Path;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use support::cli::slimbox;

fn config(dir: &Path, oauth: &str) -> std::path::PathBuf {
    let text = format!(
        "[store]\nurl = \"{}\"\n[[account]]\nname = \"work\"\nhost = \"127.0.0.1\"\n\
         tls = \"none\"\nuser = \"alice\"\npassword_env = \"SLIMBOX_TEST_PASSWORD\"\n{oauth}",
        dir.join("store").display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn issue10_login_help_explains_both_flows() {
    slimbox()
        .args(["login", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--device"))
        .stdout(predicate::str::contains("PKCE"))
        .stdout(predicate::str::contains("Changes nothing in any mailbox"));
}

#[test]
fn issue10_login_without_oauth_table_names_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "");
    slimbox()
        .arg("--config")
        .arg(&cfg)
        .args(["login", "work"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[account.oauth]"));
    slimbox()
        .arg("--config")
        .arg(&cfg)
        .args(["login", "home"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no account named \"home\""));
}

#[test]
fn issue10_login_with_provider_unreachable_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 9 on loopback: nothing listens, the device request fails at once.
    let cfg = config(
        dir.path(),
        "[account.oauth]\nclient_id = \"slimbox\"\ntoken_url = \"http://127.0.0.1:9/token\"\n\
         device_url = \"http://127.0.0.1:9/device\"\n",
    );
    slimbox()
        .arg("--config")
        .arg(&cfg)
        .args(["login", "work", "--device"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot reach the sign-in server"));
    assert!(!dir.path().join("tokens").exists());
}
