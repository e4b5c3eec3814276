//! A private PostgreSQL cluster on 127.0.0.1 for the shared-index and worker
//! tests (Debian's postgresql; `initdb` and `pg_ctl` through
//! `scripts/pg-harness`, which owns the details).
//!
//! [`Pg::start`] makes a fresh cluster in a temporary folder (installing the
//! package first on a fresh machine); dropping the [`Pg`] stops it. It panics
//! with the log when the cluster cannot start: these tests never skip.
//! [`Pg::stop`] and [`Pg::restart`] take the database away in the middle of
//! a run and bring it back on the same port with the same data.
//!
//! What slimbox needs to use it: [`Pg::url`] (for `[index] url`, without the
//! password) and [`Pg::password`] (given through the environment).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable [`Pg::index_toml`]'s `password_env` names.
pub const PASSWORD_ENV: &str = "SLIMBOX_TEST_PG_PASSWORD";

/// A running cluster; stopped on drop.
pub struct Pg {
    /// data/, run/, server.log, env, the TLS key and certificate.
    pub dir: tempfile::TempDir,
    /// `postgres://slimbox@127.0.0.1:PORT/slimbox`.
    pub url: String,
    /// The password of the role `slimbox`.
    pub password: String,
    /// The server's self-signed certificate (for `sslmode=verify-full`).
    pub ca: PathBuf,
    pub port: u16,
    /// Everything the harness printed.
    pub vars: BTreeMap<String, String>,
    running: bool,
}

/// `scripts/pg-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-harness")
}

impl Pg {
    /// Starts a fresh cluster with an empty database `slimbox`.
    pub fn start() -> Pg {
        Pg::start_with(&[])
    }

    /// Starts a fresh cluster; `args` go to `pg-harness start` (e.g.
    /// `["--max-connections", "20"]`).
    pub fn start_with(args: &[&str]) -> Pg {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-pg-")
            .tempdir()
            .expect("cannot create a temporary directory for PostgreSQL");
        let vars = run_start(dir.path(), args);
        let get = |k: &str| {
            vars.get(k)
                .unwrap_or_else(|| panic!("pg-harness printed no {k}: {vars:?}"))
                .clone()
        };
        Pg {
            url: get("PG_URL"),
            password: get("PG_PASSWORD"),
            ca: PathBuf::from(get("PG_CA")),
            port: get("PG_PORT").parse().expect("PG_PORT is a port"),
            vars,
            dir,
            running: true,
        }
    }

    /// Stops the cluster (fast shutdown: open sessions are cut).
    pub fn stop(&mut self) {
        let out = Command::new(harness_script())
            .arg("stop")
            .arg(self.dir.path())
            .output()
            .expect("cannot run scripts/pg-harness");
        assert!(out.status.success(), "pg-harness stop failed: {out:?}");
        self.running = false;
    }

    /// Starts the stopped cluster again, same port and data.
    pub fn restart(&mut self) {
        if self.running {
            self.stop();
        }
        run_start(self.dir.path(), &[]);
        self.running = true;
    }

    /// Runs SQL as the superuser in the database `slimbox`; returns what
    /// psql printed (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(harness_script())
            .arg("psql")
            .arg(self.dir.path())
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("cannot run scripts/pg-harness psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The `[index]` table of a PostgreSQL index in this cluster: TLS
    /// verified against its certificate, the password from [`PASSWORD_ENV`]
    /// (set it with [`Pg::env`]).
    pub fn index_toml(&self) -> String {
        format!(
            "[index]\nurl = \"{url}?sslmode=verify-full\"\npassword_env = \"{PASSWORD_ENV}\"\nca_file = \"{ca}\"\n",
            url = self.url,
            ca = self.ca.display()
        )
    }

    /// The environment a slimbox using [`Pg::index_toml`] needs.
    pub fn env(&self) -> [(&'static str, String); 1] {
        [(PASSWORD_ENV, self.password.clone())]
    }

    /// Rewrites the config at `config`: its `[index]` table (a `path` line
    /// after it) becomes [`Pg::index_toml`].
    pub fn use_in_config(&self, config: &Path) {
        let text = std::fs::read_to_string(config).expect("read the config");
        let start = text
            .find("[index]\n")
            .expect("the config has an [index] table");
        let rest = &text[start + "[index]\n".len()..];
        let end = rest
            .find('\n')
            .map_or(text.len(), |i| start + "[index]\n".len() + i + 1);
        assert!(
            text[start..end].contains("path = "),
            "the [index] table's first line is its path: {text}"
        );
        let text = format!("{}{}{}", &text[..start], self.index_toml(), &text[end..]);
        std::fs::write(config, text).expect("write the config");
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new(harness_script())
                .arg("stop")
                .arg(self.dir.path())
                .output();
        }
    }
}

fn run_start(dir: &Path, args: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new(harness_script())
        .arg("start")
        .arg(dir)
        .args(["--watch-pid", &std::process::id().to_string()])
        .args(args)
        .output()
        .expect("cannot run scripts/pg-harness");
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        panic!(
            "PostgreSQL did not start (scripts/pg-harness start): {}\n{}\nlog:\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
