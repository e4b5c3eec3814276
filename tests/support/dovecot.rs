//! A private Dovecot IMAP server on 127.0.0.1 for integration tests.
//!
//! [`Dovecot::start`] runs `scripts/dovecot-harness start` on a fresh temporary
//! directory (installing Dovecot first on a fresh machine), which writes the
//! config, users, TLS cert and Maildir storage there and starts Dovecot on two
//! free loopback ports. Dropping the [`Dovecot`] stops it and removes the
//! directory.
//!
//! Accounts: [`USERS`] (`alice`/`alicepw`, `bob`/`bobpw`) and the master user
//! [`MASTER_USER`]/[`MASTER_PASSWORD`], used as `alice*admin` (see
//! [`master_login`]). Mailboxes Sent, Archive, Trash, Drafts and Junk exist with
//! their SPECIAL-USE flags, auto-created and subscribed; the hierarchy
//! separator is `/`.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Regular accounts: (user, password).
pub const USERS: &[(&str, &str)] = &[("alice", "alicepw"), ("bob", "bobpw")];
/// More mailboxes for tests of many at once (`run --all`): (user, password).
pub const MORE_USERS: &[(&str, &str)] = &[("carol", "carolpw"), ("dave", "davepw")];
/// The master user: log in as `<user>*admin` with this password.
pub const MASTER_USER: &str = "admin";
pub const MASTER_PASSWORD: &str = "adminpw";
/// Separator between the target user and the master user in a login name.
pub const MASTER_SEPARATOR: char = '*';

/// The login name that authenticates as the master user on behalf of `user`.
pub fn master_login(user: &str) -> String {
    format!("{user}{MASTER_SEPARATOR}{MASTER_USER}")
}

/// How to configure the instance.
#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Per-user storage limit in bytes for every user (quota + imap_quota
    /// plugins, `count` backend). APPEND beyond it fails with `NO [OVERQUOTA]`.
    pub quota_bytes: Option<u64>,
    /// The post-login capabilities to announce instead of Dovecot's own
    /// (`imap_capability`): a list without CONDSTORE stands for a server
    /// that lacks it.
    pub capability: Option<String>,
    /// The issuer of a running [`super::oidc::Oidc`] (`http://127.0.0.1:PORT`):
    /// XOAUTH2 and OAUTHBEARER logins with its access tokens work beside the
    /// passwords (a user's token for that user only, an app token for any).
    pub oauth2_issuer: Option<String>,
    /// [`LAYOUT_GMAIL`] or [`LAYOUT_MICROSOFT`]: folders and capabilities
    /// made to look like that provider's (see scripts/dovecot-harness).
    pub layout: Option<&'static str>,
    /// The largest message an APPEND may carry, in bytes: a larger one is
    /// refused with `NO [LIMIT]`; `APPENDLIMIT=<n>` is announced (except with
    /// [`LAYOUT_MICROSOFT`], where the limit is there but not announced).
    pub append_limit: Option<u64>,
    /// At most this many IMAP connections of one user from one address
    /// (`mail_max_userip_connections`; 1000 without it). Dovecot 2.3 turns
    /// a login past it away with `NO [LIMIT] Maximum number of connections
    /// from user+IP exceeded` and closes the connection; a master user's
    /// login counts for the user it logs in as.
    pub max_userip_connections: Option<u32>,
}

/// X-GM-EXT-1 announced; INBOX and `[Gmail]/All Mail` (\All),
/// `[Gmail]/Sent Mail` (\Sent), `[Gmail]/Trash` (\Trash), `[Gmail]/Drafts`
/// (\Drafts), `[Gmail]/Spam` (\Junk), `[Gmail]/Important` (\Important),
/// `[Gmail]/Starred` (\Flagged).
pub const LAYOUT_GMAIL: &str = "gmail";
/// No SPECIAL-USE announced and no special-use flags; INBOX, "Sent Items",
/// "Archive", "Deleted Items", "Drafts", "Junk Email"; no QUOTA announced (a
/// `quota_bytes` limit is still enforced).
pub const LAYOUT_MICROSOFT: &str = "microsoft";

/// The capabilities Microsoft 365 announces after login (for `capability`,
/// with [`LAYOUT_MICROSOFT`], to stand for Exchange more closely).
pub const CAPS_MICROSOFT: &str =
    "IMAP4rev1 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";

/// Dovecot 2.3's post-login capabilities without CONDSTORE and QRESYNC.
pub const CAPS_WITHOUT_CONDSTORE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
    SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND \
    URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 \
    ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY \
    PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE";

/// A running private Dovecot instance; stopped on drop.
pub struct Dovecot {
    /// Everything of this instance lives here: dovecot.conf, passwd,
    /// master-users, tls/, ca.pem, mail/<user>, dovecot.log, run/, state/.
    pub dir: tempfile::TempDir,
    /// Plain IMAP on 127.0.0.1 (STARTTLS offered, plain-text LOGIN allowed).
    pub imap_port: u16,
    /// Implicit-TLS IMAPS on 127.0.0.1.
    pub imaps_port: u16,
    /// The server's self-signed certificate (CN/SAN `localhost`, SAN IP
    /// 127.0.0.1, `CA:FALSE`): load it as the client's only trust root.
    pub ca_pem: PathBuf,
    /// Dovecot's log file.
    pub log: PathBuf,
    running: bool,
}

/// `scripts/dovecot-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dovecot-harness")
}

impl Dovecot {
    /// Starts a fresh instance. Panics (never skips) with the harness output and
    /// the log file's path and tail when it cannot; the directory is then kept
    /// so the log can be read.
    pub fn start(opts: DovecotOptions) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-dovecot-")
            .tempdir()
            .expect("cannot create a temporary directory for Dovecot");
        let log = dir.path().join("dovecot.log");
        let script = harness_script();

        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg("start").arg(dir.path());
        if let Some(bytes) = opts.quota_bytes {
            cmd.arg("--quota").arg(bytes.to_string());
        }
        if let Some(caps) = &opts.capability {
            cmd.arg("--capability").arg(caps);
        }
        if let Some(issuer) = &opts.oauth2_issuer {
            cmd.arg("--oauth2").arg(issuer);
        }
        if let Some(layout) = opts.layout {
            cmd.arg("--layout").arg(layout);
        }
        if let Some(bytes) = opts.append_limit {
            cmd.arg("--append-limit").arg(bytes.to_string());
        }
        if let Some(n) = opts.max_userip_connections {
            cmd.arg("--max-userip-connections").arg(n.to_string());
        }
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) => {
                let kept = dir.keep();
                panic!(
                    "cannot run {}: {e} (Dovecot dir kept at {})",
                    script.display(),
                    kept.display()
                );
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let port = |key: &str| -> Option<u16> {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        };
        let ports = (port("IMAP_PORT="), port("IMAPS_PORT="));
        let (imap_port, imaps_port) = match (out.status.success(), ports) {
            (true, (Some(imap), Some(imaps))) => (imap, imaps),
            _ => {
                let tail = log_tail(&log, 30);
                let _ = Command::new("bash")
                    .arg(&script)
                    .arg("stop")
                    .arg(dir.path())
                    .output();
                let kept = dir.keep();
                panic!(
                    "Dovecot did not start ({} start {} exited with {}).\n\
                     Log file: {}\n--- harness stdout ---\n{stdout}\n\
                     --- harness stderr ---\n{stderr}\n--- log tail ---\n{tail}",
                    script.display(),
                    kept.display(),
                    out.status,
                    kept.join("dovecot.log").display(),
                );
            }
        };
        let ca_pem = dir.path().join("ca.pem");
        Dovecot {
            dir,
            imap_port,
            imaps_port,
            ca_pem,
            log,
            running: true,
        }
    }

    /// The Maildir root of `user` (INBOX's cur/new/tmp are directly in it;
    /// other mailboxes are `.Name` subdirectories, Maildir++ style).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// `127.0.0.1:<imap_port>`.
    pub fn imap_addr(&self) -> String {
        format!("127.0.0.1:{}", self.imap_port)
    }

    /// `127.0.0.1:<imaps_port>`.
    pub fn imaps_addr(&self) -> String {
        format!("127.0.0.1:{}", self.imaps_port)
    }

    /// The last `lines` lines of the Dovecot log (for assertion messages).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Restarts the server (same config, ports and mail), dropping every
    /// open connection, as an administrator restarting the service would.
    pub fn restart(&mut self) {
        let out = Command::new("bash")
            .arg(harness_script())
            .arg("restart")
            .arg(self.dir.path())
            .output()
            .expect("run the Dovecot harness");
        assert!(
            out.status.success(),
            "restarting Dovecot failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(20)
        );
    }

    /// A new storage limit for an instance started with `quota_bytes`, then
    /// a restart (`scripts/dovecot-harness set-quota`): mail stored under a
    /// larger limit is now over quota.
    pub fn set_quota(&mut self, bytes: u64) {
        let out = Command::new("bash")
            .arg(harness_script())
            .arg("set-quota")
            .arg(self.dir.path())
            .arg(bytes.to_string())
            .output()
            .expect("run the Dovecot harness");
        assert!(
            out.status.success(),
            "setting Dovecot's quota failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(20)
        );
    }

    /// Stops the instance. Safe to call more than once; panics only if the
    /// harness reports that Dovecot would not stop.
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
            "stopping Dovecot in {} failed: {problem}",
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

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
