//! Issue 11: `[store]` settings of a remote store that are wrong are
//! refused when the store opens, before anything else happens, with the
//! key and the fix named and exit status 1. No server is needed: each
//! refusal comes before the first request.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::prelude::*;
use predicates::prelude::*;
use support::cli::{closed_account, slimbox_with, write_offline_config, PASSWORD_LOGIN};

fn config(dir: &Path, store: &str) -> PathBuf {
    let account = closed_account("work", "alice", PASSWORD_LOGIN);
    write_offline_config(dir, store, "", &account)
}

fn verify(store: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), store);
    slimbox_with(&config)
        .arg("verify")
        .env_remove("SLIMBOX_TEST_UNSET_KEY")
        .assert()
}

#[test]
fn issue11_allow_http_is_refused_for_a_remote_endpoint() {
    verify("url = \"s3://b/p\"\nendpoint = \"http://10.1.2.3:9000\"\nallow_http = true")
        .code(1)
        .stderr(predicate::str::contains("store.allow_http"))
        .stderr(predicate::str::contains("127.0.0.1"));
}

#[test]
fn issue11_plain_http_endpoint_needs_allow_http() {
    verify("url = \"s3://b/p\"\nendpoint = \"http://127.0.0.1:9\"")
        .code(1)
        .stderr(predicate::str::contains("store.endpoint"))
        .stderr(predicate::str::contains("allow_http = true"));
}

/// Issue 21: an http:// endpoint from object_store's environment
/// (AWS_ENDPOINT), without allow_http, failed at the first request with
/// "HTTP error: builder error"; it is refused when the store opens, naming
/// the variable, the endpoint and allow_http.
#[test]
fn issue21_plain_http_endpoint_from_the_environment_names_it_and_allow_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "url = \"s3://b/p\"");
    slimbox_with(&config)
        .arg("verify")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ENDPOINT", "http://127.0.0.1:9")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("AWS_ENDPOINT"))
        .stderr(predicate::str::contains("http://127.0.0.1:9"))
        .stderr(predicate::str::contains("allow_http = true"))
        .stderr(predicate::str::contains("builder error").not());
}

#[test]
fn issue11_credential_settings_that_give_nothing_are_refused() {
    verify("url = \"s3://b/p\"\naccess_key_id_env = \"SLIMBOX_TEST_UNSET_KEY\"")
        .code(1)
        .stderr(predicate::str::contains("store.access_key_id_env"))
        .stderr(predicate::str::contains("SLIMBOX_TEST_UNSET_KEY"));
    verify(
        "url = \"az://c/p\"\naccount = \"a\"\ncredentials_command = \"echo denied >&2; exit 4\"",
    )
    .code(1)
    .stderr(predicate::str::contains("store.credentials_command"))
    .stderr(predicate::str::contains("denied"));
}

#[test]
fn issue11_unknown_store_key_is_a_config_error() {
    verify("url = \"s3://b/p\"\nendpont = \"https://x\"")
        .code(predicate::ne(0))
        .stderr(predicate::str::contains("endpont"));
}
