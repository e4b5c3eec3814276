//! A private SMTP server on 127.0.0.1 for the owner report's SMTP delivery:
//! aiosmtpd running scripts/smtp/server.py (via `scripts/smtp-harness
//! serve`, which installs it on a fresh machine). It keeps every message it
//! accepts, byte for byte, with its envelope; [`Smtp::received`] reads them.
//!
//! [`Smtp::start`] panics (never skips) with the server's log when it cannot
//! start; dropping the [`Smtp`] stops it, and the server also stops by
//! itself once the test process is gone.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What the server asks of its clients.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Certificate and key (PEM): offer STARTTLS and require it.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `user:password`: require AUTH with that login.
    pub auth: Option<String>,
    /// Recipients to answer with 550.
    pub refuse: Vec<String>,
}

/// One message the server accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The AUTH login, if the client logged in.
    pub login: Option<String>,
    /// Whether the session was TLS (after STARTTLS).
    pub tls: bool,
    /// The message as received (after SMTP's dot-unstuffing).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A running server; stopped on drop.
pub struct Smtp {
    /// mail/ (the messages), server.log.
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

/// `scripts/smtp-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp-harness")
}

impl Smtp {
    pub fn start(opts: SmtpOptions) -> Smtp {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-smtp-")
            .tempdir()
            .expect("cannot create a temporary directory for the SMTP server");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("create server.log");
        let mut cmd = Command::new("bash");
        cmd.arg(harness_script())
            .arg("serve")
            .arg(dir.path())
            .arg("--watch-pid")
            .arg(std::process::id().to_string());
        if let Some((cert, key)) = &opts.tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(auth) = &opts.auth {
            cmd.arg("--auth").arg(auth);
        }
        for r in &opts.refuse {
            cmd.arg("--refuse").arg(r);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", harness_script().display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let port = BufReader::new(stdout)
            .read_line(&mut line)
            .ok()
            .and_then(|_| line.trim().strip_prefix("PORT=")?.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "the SMTP server did not start ({} serve printed {line:?}).\n--- log ---\n{log}",
                harness_script().display()
            );
        };
        Smtp { dir, port, child }
    }

    /// Every message accepted so far, in the order they came.
    pub fn received(&self) -> Vec<Received> {
        let mail = self.dir.path().join("mail");
        let mut out = Vec::new();
        for n in 1.. {
            let meta = mail.join(format!("{n}.json"));
            let Ok(text) = std::fs::read_to_string(&meta) else {
                break;
            };
            let mut r: Received = serde_json::from_str(&text).expect("envelope JSON");
            r.bytes = std::fs::read(mail.join(format!("{n}.eml"))).expect("message file");
            out.push(r);
        }
        out
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
