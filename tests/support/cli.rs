//! The slimbox binary as a command, for every test that runs it, and the
//! config files of the tests that reach no server.
//!
//! [`slimbox`] returns a `std::process::Command`; tests that check its
//! outcome with `assert_cmd` bring `assert_cmd::prelude::*` into scope for
//! `.assert()`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable the test accounts' `password_env` names.
pub const PASSWORD_ENV: &str = "SLIMBOX_TEST_PASSWORD";

/// The slimbox binary. None of the caller's `RUST_LOG` or test hooks
/// (`SLIMBOX_TEST_PAUSE_AT`, `SLIMBOX_TEST_COPY_PAUSE_AFTER`) reach it:
/// a test sets the ones it means after this.
pub fn slimbox() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slimbox"));
    c.env_remove("RUST_LOG")
        .env_remove("SLIMBOX_TEST_PAUSE_AT")
        .env_remove("SLIMBOX_TEST_COPY_PAUSE_AFTER");
    c
}

/// [`slimbox`] with `--config config`.
pub fn slimbox_with(config: &Path) -> Command {
    let mut c = slimbox();
    c.arg("--config").arg(config);
    c
}

/// `dir/config.toml` for a test that reaches no server: `[store]` with
/// `store` (its lines, e.g. `url = "..."`), the index in `dir`, `tables`
/// (e.g. a `[links]` table, may be empty), then `accounts` (see
/// [`closed_account`]).
pub fn write_offline_config(dir: &Path, store: &str, tables: &str, accounts: &str) -> PathBuf {
    let text = format!(
        "[store]\n{store}\n[index]\npath = \"{index}\"\n{tables}\n{accounts}",
        index = dir.join("index.sqlite").display(),
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// The `[store]` line of a local store in `dir/store`.
pub fn local_store(dir: &Path) -> String {
    format!("url = \"{}\"", dir.join("store").display())
}

/// An `[[account]]` `name` of mailbox `user` on a closed loopback port (9),
/// without TLS, and `auth`, its sign-in lines (e.g. a `password_env`, see
/// [`PASSWORD_LOGIN`]).
pub fn closed_account(name: &str, user: &str, auth: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n\
         user = \"{user}\"\n{auth}\n"
    )
}

/// The sign-in line of an account with the password in [`PASSWORD_ENV`].
pub const PASSWORD_LOGIN: &str = "password_env = \"SLIMBOX_TEST_PASSWORD\"";
