//! A private GNU Mailutils imap4d on 127.0.0.1: an IMAP server without
//! UIDPLUS and MOVE, for slimbox's fallback path.
//!
//! [`Imap4d::start`] runs `scripts/imap4d-harness start` on a fresh temporary
//! directory (installing `mailutils-imap4d` first on a fresh machine), which
//! writes the config, a virtual-domain user and Maildir storage there and
//! starts imap4d on a free loopback port (plain IMAP: `TlsMode::None`, which
//! slimbox allows for loopback only). Dropping the [`Imap4d`] stops it and
//! removes the directory.
//!
//! Folders INBOX, Sent and Trash exist (no SPECIAL-USE: imap4d has none); the
//! hierarchy separator is `/`. See the harness for imap4d's storage quirks:
//! APPEND drops flags, and INTERNALDATE is the last `Received:` header's date
//! (else the time of the FETCH).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use slimbox::imap::{ImapAuth, ImapConfig, TlsMode};

/// The test account (a virtual-domain user: no system account involved).
pub const USER: &str = "slimboxtest@slimbox.test";
pub const PASSWORD: &str = "slimboxpw";

/// A running private imap4d instance; stopped on drop.
pub struct Imap4d {
    /// Everything of this instance lives here: imap4d.conf, virtdomain/,
    /// mail/slimboxtest/{INBOX,Sent,Trash}, imap4d.log, imap4d.pid, ports.env.
    pub dir: tempfile::TempDir,
    /// Plain IMAP on 127.0.0.1.
    pub port: u16,
    pub user: String,
    pub password: String,
    /// imap4d's log, with the session transcript (passwords masked).
    pub log: PathBuf,
    running: bool,
}

/// `scripts/imap4d-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/imap4d-harness")
}

impl Imap4d {
    /// Starts a fresh instance. Panics (never skips) with the harness output
    /// and the log file's path and tail when it cannot; the directory is then
    /// kept so the log can be read.
    pub fn start() -> Imap4d {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-imap4d-")
            .tempdir()
            .expect("cannot create a temporary directory for imap4d");
        let log = dir.path().join("imap4d.log");
        let script = harness_script();
        let out = match Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                let kept = dir.keep();
                panic!(
                    "cannot run {}: {e} (imap4d dir kept at {})",
                    script.display(),
                    kept.display()
                );
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let port = stdout
            .lines()
            .find_map(|l| l.strip_prefix("IMAP_PORT=")?.trim().parse::<u16>().ok());
        let port = match (out.status.success(), port) {
            (true, Some(port)) => port,
            _ => {
                let tail = log_tail(&log, 30);
                let _ = Command::new("bash")
                    .arg(&script)
                    .arg("stop")
                    .arg(dir.path())
                    .output();
                let kept = dir.keep();
                panic!(
                    "imap4d did not start ({} start {} exited with {}).\n\
                     Log file: {}\n--- harness stdout ---\n{stdout}\n\
                     --- harness stderr ---\n{stderr}\n--- log tail ---\n{tail}",
                    script.display(),
                    kept.display(),
                    out.status,
                    kept.join("imap4d.log").display(),
                );
            }
        };
        Imap4d {
            dir,
            port,
            user: USER.to_string(),
            password: PASSWORD.to_string(),
            log,
            running: true,
        }
    }

    /// A config file for slimbox against this imap4d (folder Sent, trash
    /// "Trash", password in SLIMBOX_TEST_PASSWORD), in `dir`.
    pub fn write_config(&self, dir: &Path) -> PathBuf {
        let text = format!(
            r#"[store]
url = "{store}"
[index]
path = "{index}"
[policy]
min_size = "100KiB"
folders = ["Sent"]
[[account]]
name = "imap4d"
host = "127.0.0.1"
port = {port}
tls = "none"
user = "{user}"
password_env = "SLIMBOX_TEST_PASSWORD"
trash = "Trash"
"#,
            store = dir.join("store").display(),
            index = dir.join("index.sqlite").display(),
            port = self.port,
            user = self.user,
        );
        let p = dir.join("config.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Client settings for the test account: plain IMAP to 127.0.0.1.
    pub fn imap_config(&self) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: TlsMode::None,
            ca_file: None,
            user: self.user.clone(),
            auth: ImapAuth::Password(self.password.clone()),
        }
    }

    /// The Maildir of folder `name` (cur/new/tmp inside).
    pub fn maildir(&self, name: &str) -> PathBuf {
        self.dir.path().join("mail/slimboxtest").join(name)
    }

    /// The last `lines` lines of imap4d's log (for assertion messages).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Stops the instance. Safe to call more than once; panics only if the
    /// harness reports that imap4d would not stop.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let problem = match Command::new("bash")
            .arg(harness_script())
            .arg("stop")
            .arg(self.dir.path())
            .output()
        {
            Ok(out) if out.status.success() => return,
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => format!("cannot run {}: {e}", harness_script().display()),
        };
        let msg = format!(
            "stopping imap4d in {} failed: {problem}",
            self.dir.path().display()
        );
        if std::thread::panicking() {
            // Don't turn a failing test into an abort.
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

impl Drop for Imap4d {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    // The transcript may hold non-UTF-8 bytes.
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
