//! A private Roundcube webmail on 127.0.0.1 (`scripts/roundcube-harness
//! start`), logging in to a test Dovecot over plain IMAP on loopback; stopped
//! and its folder removed when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::dovecot::Dovecot;

pub struct Roundcube {
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    pub dir: tempfile::TempDir,
}

pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/roundcube-harness")
}

impl Roundcube {
    /// Starts Roundcube against `d`'s plain IMAP port. Panics with the
    /// harness's output when it cannot (the tests check for Roundcube and
    /// PHP before, see [`super::clients::require`]).
    pub fn start(d: &Dovecot) -> Roundcube {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-roundcube-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("bash")
            .arg(harness_script())
            .arg("start")
            .arg(dir.path())
            .args(["--imap-port", &d.imap_port.to_string()])
            .output()
            .expect("run scripts/roundcube-harness");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout.lines().find_map(|l| l.strip_prefix("URL="));
        match (out.status.success(), url) {
            (true, Some(url)) => Roundcube {
                url: url.trim().to_string(),
                dir,
            },
            _ => panic!(
                "Roundcube did not start: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Roundcube's error log and PHP's request log, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- errors.log ---\n{}\n--- php.log (tail) ---\n{}",
            read(self.dir.path().join("root/logs/errors.log")),
            tail(&read(self.dir.path().join("php.log")), 30)
        )
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Roundcube {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(harness_script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
