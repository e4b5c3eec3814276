//! Work that holds the index across awaits, run where that is allowed.
//!
//! The index is an SQLite connection: it may move between threads but not
//! be shared, so a job that keeps `&Index` across an await is a future
//! that cannot be sent to another thread. Callers that need a `Send`
//! future (the fleet's scheduler, the HTTP server's handlers) hand such
//! work here: it runs on a blocking thread of its own, with a runtime of
//! its own, and its result comes back. One place for this, so that the
//! fleet and `serve` do not each solve it their own way.

use std::future::Future;

use super::ServiceError;

/// Runs the future that `work` makes on a thread of its own, with a
/// runtime of its own (timers and I/O included), and returns its output.
pub async fn on_own_thread<T, W, F>(work: W) -> Result<T, ServiceError>
where
    T: Send + 'static,
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
{
    let joined = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(work()))
            .map_err(|e| {
                ServiceError::Thread(format!("cannot start a thread for the mailbox: {e}"))
            })
    })
    .await;
    joined.unwrap_or_else(|e| {
        Err(ServiceError::Thread(format!(
            "the mailbox's job ended abnormally ({e}); a slimbox bug, please report it"
        )))
    })
}
