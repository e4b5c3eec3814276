//! Fetching ahead: while one message is detached, stored and proven, the
//! next ones are downloaded on a second, read-only connection, so the
//! network does not sit idle during local work.
//!
//! The second connection only EXAMINEs folders and FETCHes `BODY.PEEK[]`: it
//! changes nothing on the server, so it has no place in the safety order,
//! and when it fails the job simply fetches on its own connection again.
//! Memory is bounded by a byte budget shared with the job: a message is
//! fetched ahead only while the messages held (the one being converted and
//! those waiting) fit in [`BUDGET`] together; one larger message is held
//! alone.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::plan::AccountPlan;
use crate::imap::{Folder, ImapError, Session};

/// The least budget for one mailbox alone: small messages still flow while
/// one is converted.
pub const MIN_BUDGET: u64 = 16 * 1024 * 1024;

/// How many bytes of raw messages may be held at once (the one being
/// converted plus those fetched ahead): the largest candidate's size, at
/// least the job's floor ([`MIN_BUDGET`] unless it runs beside others). While the largest is converted nothing waits
/// beside it, so the job's memory stays near what converting the largest
/// message alone takes (about 1.75x its size: the message, then its
/// attachments as read back for the proof).
pub struct Budget {
    bytes: u64,
    sem: Arc<Semaphore>,
}

impl Budget {
    pub fn for_plan(plan: &AccountPlan, floor: u64) -> Budget {
        Budget::for_sizes(
            plan.folders
                .iter()
                .flat_map(|f| &f.candidates)
                .map(|c| c.size),
            floor,
        )
    }

    fn for_sizes(sizes: impl Iterator<Item = u64>, floor: u64) -> Budget {
        Budget::new(sizes.max().unwrap_or(0).max(floor))
    }

    fn new(bytes: u64) -> Budget {
        let bytes = bytes.max(1);
        Budget {
            bytes,
            sem: Arc::new(Semaphore::new(kib(bytes) as usize)),
        }
    }

    /// Semaphore permits (KiB) for a message of `size` bytes: one larger
    /// than the whole budget takes all of it, and is held alone.
    #[cfg(test)]
    fn permits_for(&self, size: u64) -> u32 {
        permits(size, self.bytes)
    }
}

/// Permits for `size` bytes within a budget of `cap` bytes.
fn permits(size: u64, cap: u64) -> u32 {
    kib(size.clamp(1, cap))
}

/// Budget permits are counted in KiB (a semaphore counts in `u32`).
fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// A message fetched ahead, holding its share of the budget until dropped.
pub struct Fetched {
    pub folder: usize,
    pub uid: u32,
    /// The message and its flags as they were when it was fetched.
    pub body: Result<Option<(Bytes, Vec<String>)>, ImapError>,
    _permit: OwnedSemaphorePermit,
}

/// What [`fetch_ahead`] needs of one folder of the plan.
pub struct AheadFolder {
    /// Position in the plan.
    folder: usize,
    handle: Folder,
    uidvalidity: u32,
    /// UID and size of each candidate, in plan order.
    candidates: Vec<(u32, u64)>,
}

/// The folders of `plan` that have candidates, for [`fetch_ahead`].
pub fn folders_of(plan: &AccountPlan) -> Vec<AheadFolder> {
    plan.folders
        .iter()
        .enumerate()
        .filter(|(_, fp)| !fp.candidates.is_empty())
        .map(|(folder, fp)| AheadFolder {
            folder,
            handle: fp.handle.clone(),
            uidvalidity: fp.uidvalidity,
            candidates: fp.candidates.iter().map(|c| (c.uid, c.size)).collect(),
        })
        .collect()
}

/// Fetches every candidate of `folders`, in order, into `tx`. Stops at the
/// first error (after sending it), or as soon as the receiver is gone. It
/// owns what it uses, so it can run as a task of its own: on a runtime
/// with more than one thread it keeps reading while the job's thread is
/// busy (an SQLite fsync, a proof), and the server keeps sending.
pub async fn fetch_ahead(
    mut session: Session,
    folders: Vec<AheadFolder>,
    budget: &Budget,
    tx: mpsc::UnboundedSender<Fetched>,
) {
    let sem = budget.sem.clone();
    let cap = budget.bytes;
    let job = async move {
        for f in &folders {
            let status = tokio::select! {
                s = session.examine(&f.handle) => s,
                _ = tx.closed() => return,
            };
            match status {
                Ok(s) if s.uidvalidity == f.uidvalidity => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!("fetching ahead stopped: {e}");
                    return;
                }
            }
            for &(uid, size) in &f.candidates {
                let permit = tokio::select! {
                    p = sem.clone().acquire_many_owned(permits(size, cap)) => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    _ = tx.closed() => return,
                };
                // 1. Fetch (BODY.PEEK[]: \Seen is not set), with the flags
                // the message has now.
                let body = tokio::select! {
                    b = session.fetch_original(uid) => b,
                    _ = tx.closed() => return,
                };
                let failed = body.is_err();
                let sent = tx.send(Fetched {
                    folder: f.folder,
                    uid,
                    body,
                    _permit: permit,
                });
                if sent.is_err() || failed {
                    return;
                }
            }
        }
        let _ = session.logout().await;
    };
    // A task of its own; the job waits for it to end (it ends as soon as
    // the job drops its receiver).
    if let Err(e) = tokio::spawn(job).await {
        tracing::debug!("fetching ahead ended: {e}");
    }
}

/// The job's end of [`fetch_ahead`]: hands out the candidates in plan
/// order, or says to fetch one on the job's own connection.
pub struct Ahead {
    rx: Option<mpsc::UnboundedReceiver<Fetched>>,
}

impl Ahead {
    pub fn new(rx: Option<mpsc::UnboundedReceiver<Fetched>>) -> Self {
        Ahead { rx }
    }

    /// The message `uid` of folder `folder` (its plan position) with its
    /// budget share, if it was fetched ahead; `None` means: fetch it here.
    /// After one miss, every later message is fetched here too.
    pub async fn take(&mut self, folder: usize, uid: u32) -> Option<Fetched> {
        let rx = self.rx.as_mut()?;
        match rx.recv().await {
            Some(f) if f.folder == folder && f.uid == uid && f.body.is_ok() => Some(f),
            Some(f) => {
                if let Err(e) = &f.body {
                    tracing::info!("the connection fetching ahead failed ({e}); going on with one");
                }
                self.rx = None;
                None
            }
            None => {
                self.rx = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_cover_the_size_within_the_budget() {
        let b = Budget::new(64 * 1024 * 1024);
        assert_eq!(b.permits_for(0), 1);
        assert_eq!(b.permits_for(1), 1);
        assert_eq!(b.permits_for(1024), 1);
        assert_eq!(b.permits_for(1025), 2);
        // A message larger than the budget takes all of it, and is held alone.
        assert_eq!(
            b.permits_for(10 * b.bytes) as usize,
            b.sem.available_permits()
        );
    }

    #[test]
    fn budget_is_the_largest_candidate_but_not_below_the_minimum() {
        let bytes = |sizes: &[u64]| Budget::for_sizes(sizes.iter().copied(), MIN_BUDGET).bytes;
        assert_eq!(bytes(&[]), MIN_BUDGET);
        assert_eq!(bytes(&[3_000_000]), MIN_BUDGET);
        assert_eq!(bytes(&[3_000_000, 41_000_000, 9]), 41_000_000);
        // Beside other mailboxes (floor 0): the largest candidate only.
        assert_eq!(
            Budget::for_sizes([3_000_000, 9].into_iter(), 0).bytes,
            3_000_000
        );
    }
}
