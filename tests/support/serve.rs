//! `slimbox serve` as a child process on 127.0.0.1 (port 0: it prints the
//! address it bound), stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: PathBuf,
}

impl Serve {
    /// Starts `slimbox --config CONFIG serve` on a free loopback port.
    pub fn start(config: &Path) -> Serve {
        Serve::start_with(config, super::mailbox::slimbox(config))
    }

    /// As [`Serve::start`], from `cmd` (`slimbox --config CONFIG` with the
    /// environment the test wants).
    pub fn start_with(config: &Path, mut cmd: std::process::Command) -> Serve {
        let log = config.with_file_name("serve.log");
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
            .spawn()
            .expect("cannot start slimbox serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("slimbox serve did not start: {line:?}\n{text}");
        };
        Serve {
            base: base.to_string(),
            child,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first hidden input `name` in a page of `slimbox serve`
/// (maud writes `name="X" value="V"`).
pub fn hidden(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + key.len();
    page[at..]
        .split('"')
        .next()
        .expect("value")
        .replace("&amp;", "&")
}
