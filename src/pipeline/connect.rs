//! Connecting to an account again: the backoff with which the job
//! connects after a loss (the [`Connector`] itself is `crate::imap`'s).

use std::time::Duration;

use super::report::PipelineError;
pub use crate::imap::Connector;
use crate::imap::Session;

/// Connection attempts after a loss before the run gives up on the account
/// (about half a minute with [`backoff`]: a server restart fits).
pub(super) const RECONNECT_TRIES: u32 = 6;

/// Waits before connection attempt `n` (from 1) after a loss: 1, 2, 4, 8,
/// 16 seconds.
fn backoff(n: u32) -> Duration {
    Duration::from_secs(1 << n.saturating_sub(1).min(4))
}

/// Connects after a loss: up to `tries` attempts, waiting [`backoff`]
/// before each; only transient failures are tried again.
pub(super) async fn connect_with_backoff<C: Connector>(
    connector: &C,
    tries: u32,
) -> Result<Session, PipelineError> {
    let mut attempt = 1;
    loop {
        tokio::time::sleep(backoff(attempt)).await;
        match connector.connect().await {
            Ok(s) => return Ok(s),
            Err(e) if e.is_transient() && attempt < tries => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_sixteen_seconds() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16]);
    }
}
