//! Who works on a mailbox: a claim taken before the job and held to its
//! end. [`Claims`] is all the scheduler sees, so a shared database (for
//! workers on several hosts) can later take the place of [`LockClaims`],
//! today's lock files beside the index (`crate::lock`).

use crate::lock::{LockError, Locks, Mailbox};

/// Why a mailbox could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another process works on it: skipped, reported busy.
    #[error("{0}")]
    Busy(String),
    /// The claim itself failed (lock folder not writable, ...).
    #[error("{0}")]
    Failed(String),
}

/// A held claim; dropping it lets go of the mailbox.
pub type Held = Box<dyn std::any::Any + Send>;

/// Takes claims on mailboxes without waiting.
pub trait Claims: Send + Sync {
    /// Claims `mailbox` (config name `account`) for `command`, or says
    /// who holds it.
    fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Held, ClaimError>;
}

/// Claims as lock files in `locks/` beside the index.
pub struct LockClaims(pub Locks);

impl Claims for LockClaims {
    fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Held, ClaimError> {
        match self.0.try_claim(mailbox, account, command) {
            Ok(claim) => {
                if let Some(dead) = claim.taken_over() {
                    tracing::info!(
                        "account {account}: took over mailbox {mailbox} from a slimbox that \
                         ended without letting go of it (pid {} on host {})",
                        dead.pid,
                        dead.host
                    );
                }
                Ok(Box::new(claim))
            }
            Err(e @ LockError::Busy { .. }) => Err(ClaimError::Busy(e.to_string())),
            Err(e) => Err(ClaimError::Failed(e.to_string())),
        }
    }
}
