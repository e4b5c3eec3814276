//! Who works on a mailbox: a claim taken before any work on it and held to
//! the end. [`Claims`] is all the service sees, so that a shared database
//! (workers on several hosts) can take the place of [`LockClaims`], today's
//! lock files in `locks/` beside the index (`crate::lock`).

use futures::future::BoxFuture;

use crate::lock::{Claim, LockError, Locks, Mailbox};

/// Why a mailbox could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A lock file: another process holds it ([`ClaimError::is_busy`]), or
    /// the lock folder cannot be written.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A database lease (`crate::queue`): another process holds it.
    #[error("mailbox {mailbox} is busy: {holder}")]
    LeaseBusy { mailbox: String, holder: String },
    /// A database lease could not be taken: the database failed.
    #[error(
        "cannot take the lease on mailbox {mailbox}: {problem}; check that the queue's \
         PostgreSQL is reachable"
    )]
    LeaseFailed { mailbox: String, problem: String },
}

impl ClaimError {
    /// Another process works on the mailbox now: skipped (or waited for),
    /// reported busy.
    pub fn is_busy(&self) -> bool {
        match self {
            ClaimError::Lock(e) => e.is_busy(),
            ClaimError::LeaseBusy { .. } => true,
            ClaimError::LeaseFailed { .. } => false,
        }
    }
}

/// A held claim; dropping it lets go of the mailbox.
pub type Held = Box<dyn std::any::Any + Send>;

/// Takes claims on mailboxes.
pub trait Claims: Send + Sync {
    /// Claims `mailbox` (config name `account`) for `command` at once, or
    /// says who holds it.
    fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Held, ClaimError>;

    /// Claims `mailbox`, waiting while another process holds it; `waiting`
    /// is told who holds it, once, when the wait starts.
    fn claim_waiting<'a>(
        &'a self,
        mailbox: &'a Mailbox,
        account: &'a str,
        command: &'a str,
        waiting: Box<dyn FnOnce(String) + Send + 'a>,
    ) -> BoxFuture<'a, Result<Held, ClaimError>>;
}

/// Claims as lock files in `locks/` beside the index.
pub struct LockClaims(pub Locks);

impl LockClaims {
    /// The lock files beside the index at `index`.
    pub fn beside_index(index: &std::path::Path) -> LockClaims {
        LockClaims(Locks::beside_index(index))
    }
}

impl Claims for LockClaims {
    fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Held, ClaimError> {
        let claim = self.0.try_claim(mailbox, account, command)?;
        Ok(held(claim, mailbox, account))
    }

    fn claim_waiting<'a>(
        &'a self,
        mailbox: &'a Mailbox,
        account: &'a str,
        command: &'a str,
        waiting: Box<dyn FnOnce(String) + Send + 'a>,
    ) -> BoxFuture<'a, Result<Held, ClaimError>> {
        Box::pin(async move {
            let tell = |e: &LockError| waiting(e.to_string());
            let claim = self
                .0
                .claim_waiting(mailbox, account, command, tell)
                .await?;
            Ok(held(claim, mailbox, account))
        })
    }
}

/// A claim taken, saying so when it took over from a process that died.
fn held(claim: Claim, mailbox: &Mailbox, account: &str) -> Held {
    if let Some(dead) = claim.taken_over() {
        tracing::info!(
            "account {account}: took over mailbox {mailbox} from a slimbox that ended without \
             letting go of it (pid {} on host {}); what it left in flight is finished now",
            dead.pid,
            dead.host
        );
    }
    Box::new(claim)
}

/// A held shared slot; dropping it frees the slot.
pub type SharedSlot = Box<dyn std::any::Any + Send + Sync>;

/// Connection slots shared with other processes: the database side of the
/// fleet's per-server gates, for workers on many hosts (`crate::queue`).
pub trait SharedSlots: Send + Sync {
    /// One of the `max` slots of `server` (`host:port`): waits for one when
    /// `wait`, else takes a free one or none. Also waits out (or, without
    /// `wait`, refuses during) a back-off another process noted for the
    /// server.
    fn acquire(
        &self,
        server: String,
        max: u32,
        wait: bool,
    ) -> BoxFuture<'static, Option<SharedSlot>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn issue21_one_claim_implementation_tries_and_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let claims = LockClaims::beside_index(&dir.path().join("index.sqlite"));
        let mailbox = Mailbox::new("mail.example", 993, "alice");
        let held = claims.try_claim(&mailbox, "alice", "run").expect("free");
        let busy = claims
            .try_claim(&mailbox, "alice", "run")
            .expect_err("busy");
        assert!(busy.is_busy(), "{busy}");
        // The waiting claim is told once, and gets the mailbox when the
        // holder lets go.
        let told = std::sync::Mutex::new(Vec::new());
        let wait = claims.claim_waiting(
            &mailbox,
            "alice",
            "run",
            Box::new(|e| told.lock().expect("lock").push(e)),
        );
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            drop(held);
        };
        let (claimed, ()) = tokio::join!(wait, release);
        claimed.expect("claimed after the release");
        let told = told.into_inner().expect("lock");
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].contains("busy"), "{told:?}");
    }
}
