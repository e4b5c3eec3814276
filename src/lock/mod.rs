//! One slimbox per mailbox at a time.
//!
//! Every command that recovers or changes a mailbox on the server (`run`,
//! `reattach`) first claims it, and holds the [`Claim`] to the end. The
//! mailbox is named by server host, port and user, not by the account's
//! name in the config, so two names for one mailbox still exclude each
//! other. Another slimbox that finds the mailbox claimed is told who holds
//! it ([`LockError::Busy`]) and skips it, or waits.
//!
//! Today a claim is an OS advisory lock (`flock`) on a file in `locks/`
//! beside the index. The OS releases it when the holder exits or dies, so a
//! lock left by a dead process is simply taken over; the file only says who
//! holds it (process id, host name, start time) for the busy message. Two
//! configs with different index folders do not see each other's locks; a
//! shared database could later hold the claims instead (the service only
//! sees its `Claims` trait, whose lock-file implementation is
//! `service::LockClaims`).
//!
//! Not here: what a command does with a busy mailbox (`service/`, `cli/`).

mod error;
#[cfg(test)]
mod tests;

pub use error::LockError;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dates::now_unix;

/// A mailbox on a server: what a claim is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    host: String,
    port: u16,
    user: String,
}

impl Mailbox {
    /// Host names and user names are compared without case: two spellings
    /// of one mailbox must collide (a false collision only makes one run
    /// wait).
    pub fn new(host: &str, port: u16, user: &str) -> Mailbox {
        Mailbox {
            host: host.to_lowercase(),
            port,
            user: user.to_lowercase(),
        }
    }

    /// The lock file's name: readable, and made unique by a hash of the
    /// whole key (the readable part drops characters a file name cannot
    /// hold).
    fn file_name(&self) -> String {
        let readable: String = format!("{}@{}-{}", self.user, self.host, self.port)
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '.' | '@' | '-' | '_' => c,
                _ => '_',
            })
            .take(80)
            .collect();
        let key = format!("{}\0{}\0{}", self.host, self.port, self.user);
        let hash = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
        format!("{readable}-{hash}.lock")
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Who holds a mailbox, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// When it claimed the mailbox, Unix seconds.
    pub since: i64,
    /// The account's name in the holder's config.
    pub account: String,
    /// The slimbox command it runs (`run`, `reattach`).
    pub command: String,
}

impl Holder {
    fn me(account: &str, command: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            since: now_unix(),
            account: account.to_string(),
            command: command.to_string(),
        }
    }

    /// The holder a lock file's text names, if any (an empty file: nobody,
    /// or one that is just starting or finishing).
    fn parse(text: &str) -> Option<Holder> {
        serde_json::from_str(text.trim()).ok()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = crate::dates::utc_datetime(self.since).strftime("%Y-%m-%d %H:%M:%S UTC");
        write!(
            f,
            "slimbox pid {} on host {} has been working on it since {since} \
             (`slimbox {}`, account {})",
            self.pid, self.host, self.command, self.account
        )
    }
}

/// This machine's name, for the busy message another run prints.
/// (Also names the holder of a database lease, `crate::queue`.)
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "(unknown)".to_string())
}

/// Where claims are kept: lock files in one folder.
#[derive(Debug, Clone)]
pub struct Locks {
    dir: PathBuf,
}

/// A claimed mailbox. Dropping it (or the process ending, however it
/// ends) gives the mailbox back.
#[derive(Debug)]
pub struct Claim {
    file: File,
    previous: Option<Holder>,
}

impl Claim {
    /// The holder named in the lock file when it was taken over: a process
    /// that ended without giving the mailbox back (killed, or crashed).
    pub fn taken_over(&self) -> Option<&Holder> {
        self.previous.as_ref()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Emptied while still locked, so a file naming a holder that no
        // longer holds it means that holder died. Never deleted: a process
        // waiting on the old file would lock a name nobody else sees.
        let _ = self.file.set_len(0);
    }
}

/// How often a waiting claim tries again.
const WAIT_STEP: Duration = Duration::from_millis(500);

impl Locks {
    /// The lock folder beside the index at `index` (`<its folder>/locks`).
    pub fn beside_index(index: &Path) -> Locks {
        let dir = match index.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Locks {
            dir: dir.join("locks"),
        }
    }

    /// Claims `mailbox` for `command` of `account`, or says who holds it.
    pub fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Claim, LockError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| LockError::Folder {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join(mailbox.file_name());
        let file_err = |source| LockError::File {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(file_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    mailbox: mailbox.to_string(),
                    holder: holder_of_busy(&mut file),
                })
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Unsupported { path, source })
            }
        }
        let previous = Holder::parse(&read_all(&mut file).map_err(file_err)?);
        let me = serde_json::to_string(&Holder::me(account, command)).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(format!("{me}\n").as_bytes()))
            .map_err(file_err)?;
        Ok(Claim { file, previous })
    }

    /// As [`Locks::try_claim`], but while the mailbox is busy, waits for it
    /// (telling `waiting` once who holds it).
    pub async fn claim_waiting(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
        waiting: impl FnOnce(&LockError),
    ) -> Result<Claim, LockError> {
        let mut waiting = Some(waiting);
        loop {
            match self.try_claim(mailbox, account, command) {
                Err(e) if e.is_busy() => {
                    if let Some(tell) = waiting.take() {
                        tell(&e);
                    }
                    tokio::time::sleep(WAIT_STEP).await;
                }
                other => return other,
            }
        }
    }
}

/// Who holds a busy lock file. A holder writes its record just after
/// taking the lock, so an empty file may only mean "just starting": look a
/// few more times (at most about 0.2 s) before saying nobody is named.
fn holder_of_busy(file: &mut File) -> Option<Holder> {
    for _ in 0..10 {
        if let Some(h) = Holder::parse(&read_all(file).unwrap_or_default()) {
            return Some(h);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Holder::parse(&read_all(file).unwrap_or_default())
}

fn read_all(file: &mut File) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    file.rewind()?;
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
