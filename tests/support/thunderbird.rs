//! A real Thunderbird (Debian's `thunderbird`) under Xvfb, driven through
//! Marionette, for tests of what a reader sees in a converted message.
//!
//! [`Thunderbird::start`] runs `scripts/thunderbird-harness start` (Xvfb on
//! a free display, a fresh profile with one IMAP account on the test
//! Dovecot, `thunderbird --marionette`), connects the minimal Marionette
//! client below (TCP, `len:json` packets; WebDriver:NewSession, chrome
//! context, WebDriver:ExecuteAsyncScript) and runs the `setup` command of
//! tests/support/thunderbird.js (password, online, external browser).
//! Dropping it stops Thunderbird and Xvfb and removes the directory.
//!
//! Missing Thunderbird or Xvfb: the test is skipped, saying so, except under
//! `CI=true`, where it fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The chrome-context commands (`run(NAME, ARGS, callback)`).
const SCRIPT: &str = include_str!("thunderbird.js");

/// How long one Marionette command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `scripts/thunderbird-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/thunderbird-harness")
}

/// A Marionette connection (protocol 3): each packet is `LEN:JSON`, a
/// command `[0, id, name, params]`, its answer `[1, id, error, result]`.
pub struct Marionette {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Marionette {
    /// Connects to 127.0.0.1:`port`, retrying until `wait` has passed, and
    /// reads the server's greeting.
    pub fn connect(port: u16, wait: Duration) -> Result<Marionette, String> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("cannot connect to Marionette on port {port}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(COMMAND_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut m = Marionette {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        };
        let hello = m.read_packet()?;
        if hello["marionetteProtocol"] != 3 {
            return Err(format!("not a Marionette protocol 3 greeting: {hello}"));
        }
        Ok(m)
    }

    fn read_packet(&mut self) -> Result<Value, String> {
        let mut len = Vec::new();
        self.reader
            .read_until(b':', &mut len)
            .map_err(|e| format!("reading from Marionette: {e}"))?;
        let digits = std::str::from_utf8(&len[..len.len().saturating_sub(1)]).unwrap_or("");
        let n: usize = digits
            .parse()
            .map_err(|_| format!("Marionette sent a bad packet length {len:?}"))?;
        let mut body = vec![0; n];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading a Marionette packet of {n} bytes: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("Marionette sent bad JSON: {e}"))
    }

    /// Sends one command and returns its result, or its error as text.
    pub fn command(&mut self, name: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let packet = json!([0, id, name, params]).to_string();
        write!(self.writer, "{}:{packet}", packet.len())
            .map_err(|e| format!("sending {name} to Marionette: {e}"))?;
        loop {
            let answer = self.read_packet()?;
            if answer[0] != 1 || answer[1] != id {
                continue;
            }
            if !answer[2].is_null() {
                return Err(format!("{name} failed: {}", answer[2]));
            }
            return Ok(answer[3].clone());
        }
    }
}

/// A running Thunderbird; stopped on drop.
pub struct Thunderbird {
    dir: tempfile::TempDir,
    /// `:N`, the Xvfb display it shows on.
    pub display: String,
    marionette: Marionette,
    /// Where the recording helper app (the "external browser" and the
    /// handler of opened entries) copies each file it is given.
    pub opened_dir: PathBuf,
    opened_log: PathBuf,
    recorder: PathBuf,
}

/// Installs what is missing (scripts/thunderbird-harness install). `false`:
/// the test should be skipped (said on stderr); under `CI=true` it panics.
pub fn available() -> bool {
    let out = Command::new(harness_script())
        .arg("install")
        .output()
        .expect("run scripts/thunderbird-harness");
    if out.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: thunderbird or Xvfb missing and scripts/thunderbird-harness install failed: {why}"
    );
    eprintln!("SKIPPED: no thunderbird/Xvfb here ({why}); run scripts/thunderbird-harness install");
    false
}

impl Thunderbird {
    /// Starts Thunderbird with `user`'s account on a Dovecot at
    /// 127.0.0.1:`imap_port` (plain IMAP), online and ready.
    pub fn start(imap_port: u16, user: &str, password: &str) -> Thunderbird {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-thunderbird-")
            .tempdir()
            .expect("a temporary directory for Thunderbird");
        let out = Command::new(harness_script())
            .arg("start")
            .arg(dir.path())
            .args(["--imap-port", &imap_port.to_string(), "--user", user])
            .output()
            .expect("run scripts/thunderbird-harness start");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key).map(str::to_string))
        };
        let (Some(display), Some(port)) = (value("DISPLAY="), value("MARIONETTE_PORT=")) else {
            stop(dir.path());
            panic!(
                "Thunderbird did not start ({} start exited with {}):\n{stdout}\n{}",
                harness_script().display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let port: u16 = port.trim().parse().expect("MARIONETTE_PORT is a port");
        let marionette = match Marionette::connect(port, Duration::from_secs(30)) {
            Ok(m) => m,
            Err(e) => {
                let tail = log_tail(&dir.path().join("thunderbird.log"));
                stop(dir.path());
                panic!("{e}\nThunderbird's log:\n{tail}");
            }
        };
        let opened_dir = dir.path().join("opened");
        std::fs::create_dir_all(&opened_dir).expect("opened/");
        let opened_log = dir.path().join("opened.log");
        let recorder = dir.path().join("recorder.sh");
        std::fs::write(
            &recorder,
            format!(
                "#!/bin/sh\n# Stands for the external browser and for the app an entry opens in.\n\
                 for a in \"$@\"; do\n  [ -f \"$a\" ] && cp \"$a\" '{}/'\n  \
                 printf '%s\\n' \"$a\" >> '{}'\ndone\n",
                opened_dir.display(),
                opened_log.display()
            ),
        )
        .expect("write the recorder");
        make_executable(&recorder);
        let mut tb = Thunderbird {
            dir,
            display: display.trim().to_string(),
            marionette,
            opened_dir,
            opened_log,
            recorder,
        };
        tb.session();
        let recorder = tb.recorder.display().to_string();
        tb.call(
            "setup",
            json!({"user": user, "password": password, "recorder": recorder}),
        );
        tb
    }

    fn session(&mut self) {
        let steps = [
            ("WebDriver:NewSession", json!({"capabilities": {}})),
            ("Marionette:SetContext", json!({"value": "chrome"})),
            ("WebDriver:SetTimeouts", json!({"script": 50_000})),
        ];
        for (name, params) in steps {
            if let Err(e) = self.marionette.command(name, params) {
                panic!("{e}\nThunderbird's log:\n{}", self.log_tail());
            }
        }
    }

    /// Runs the command `name` of tests/support/thunderbird.js with `args`
    /// in the main window; panics with its error and the log's tail.
    pub fn call(&mut self, name: &str, args: Value) -> Value {
        let script = format!(
            "{SCRIPT}\nrun({}, arguments[0], arguments[1]);",
            json!(name)
        );
        let answer = self.marionette.command(
            "WebDriver:ExecuteAsyncScript",
            json!({"script": script, "args": [args], "newSandbox": true}),
        );
        match answer {
            Ok(v) if v["value"]["error"].is_null() => v["value"]["ok"].clone(),
            Ok(v) => panic!(
                "Thunderbird command {name} failed: {}\nlog:\n{}",
                v["value"]["error"].as_str().unwrap_or_default(),
                self.log_tail()
            ),
            Err(e) => panic!("Thunderbird command {name}: {e}\nlog:\n{}", self.log_tail()),
        }
    }

    /// What the recorder has been given so far, waiting up to 10 s for at
    /// least `count` items (paths or URLs, in order).
    pub fn opened(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.opened_log).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= count || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The whole X screen as a PNG.
    pub fn screenshot(&self, to: &Path) {
        let out = Command::new(harness_script())
            .arg("screenshot")
            .arg(self.dir.path())
            .arg(to)
            .output()
            .expect("run scripts/thunderbird-harness screenshot");
        assert!(
            out.status.success(),
            "screenshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The recording helper app (for the `open` command).
    pub fn recorder(&self) -> &Path {
        &self.recorder
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("thunderbird.log"))
    }

    /// A folder of the IMAP account, as Thunderbird names it.
    pub fn folder_url(user: &str, folder: &str) -> String {
        format!("imap://{user}@127.0.0.1/{folder}")
    }
}

impl Drop for Thunderbird {
    fn drop(&mut self) {
        stop(self.dir.path());
    }
}

fn stop(dir: &Path) {
    let _ = Command::new(harness_script()).arg("stop").arg(dir).output();
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Leave out the sandbox's seccomp listing; keep what Thunderbird said.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && !l.contains("Sandbox:")
        })
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
