//! At most `max_connections` IMAP connections to one server at once,
//! across all the mailboxes of a run: a semaphore per server, and a
//! [`Gated`] connector per mailbox whose every session holds a permit
//! until it is dropped (`Session::hold`), the fetch-ahead connection
//! included.
//!
//! A mailbox waits for its first connection, but never for a further one
//! while it holds one: two mailboxes each holding one and waiting for a
//! second would wait for each other forever. Without a free permit the
//! further connection is refused ([`ImapError::Throttled`]), and the job
//! goes on with one connection, as it does on a server that refuses one.
//!
//! Beyond one process ([`SharedSlots`], the queue's database for `slimbox
//! worker`): after the process's own permit, a connection also takes one
//! of the server's slots shared by all processes, at the same point and
//! by the same rule (wait for the first, only a free one for a further).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::imap::{Connector, ImapConfig, ImapError, Session};
pub use crate::service::{SharedSlot, SharedSlots};

/// One semaphore per server (host, port), sized by the smallest
/// `max_connections` any of its accounts asks for.
#[derive(Debug, Default)]
pub struct Gates {
    servers: HashMap<(String, u16), Arc<Semaphore>>,
    limits: HashMap<(String, u16), u32>,
}

impl Gates {
    /// Notes that an account on `host:port` allows `max` connections.
    pub fn add(&mut self, host: &str, port: u16, max: u32) {
        let key = (host.to_ascii_lowercase(), port);
        let limit = self.limits.entry(key.clone()).or_insert(max);
        *limit = (*limit).min(max).max(1);
        self.servers
            .insert(key, Arc::new(Semaphore::new(*limit as usize)));
    }

    /// The gate of `host:port` (a lone one of `max` if it was never added).
    pub fn of(&self, host: &str, port: u16, max: u32) -> Gate {
        let key = (host.to_ascii_lowercase(), port);
        let sem = self.servers.get(&key).cloned();
        let limit = self.limits.get(&key).copied().unwrap_or(max).max(1);
        Gate {
            sem: sem.unwrap_or_else(|| Arc::new(Semaphore::new(max.max(1) as usize))),
            open: Arc::new(AtomicUsize::new(0)),
            shared: None,
            limit: None,
        }
        .with_limit(key, limit)
    }
}

/// One mailbox's share of its server's semaphore: counts its own open
/// connections so that it only ever waits for the first.
#[derive(Clone)]
pub struct Gate {
    sem: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
    /// The server's slots beyond this process, its key and limit.
    shared: Option<(Arc<dyn SharedSlots>, String, u32)>,
    /// The server's key (`host:port`) and its `max_connections`.
    limit: Option<(String, u32)>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("sem", &self.sem)
            .field("open", &self.open)
            .field("shared", &self.shared.as_ref().map(|(_, k, m)| (k, m)))
            .finish()
    }
}

/// A permit of one open connection; dropping it (with its session) frees
/// the slot.
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    _shared: Option<SharedSlot>,
    open: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("open", &self.open).finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    /// Remembers the server's key and limit for [`Gate::shared`].
    fn with_limit(mut self, key: (String, u16), limit: u32) -> Gate {
        self.shared = None;
        self.limit = Some((format!("{}:{}", key.0, key.1), limit));
        self
    }

    /// This gate, also taking one of the server's slots in `slots` for
    /// each connection (shared with other processes).
    pub fn shared(mut self, slots: Arc<dyn SharedSlots>) -> Gate {
        if let Some((server, max)) = self.limit.clone() {
            self.shared = Some((slots, server, max));
        }
        self
    }

    /// A permit for one more connection: waits for it when this mailbox
    /// has none open, else only takes a free one (`None`: none free).
    pub async fn acquire(&self) -> Option<Permit> {
        let first = self.open.load(Ordering::SeqCst) == 0;
        let permit = if first {
            self.sem.clone().acquire_owned().await.ok()?
        } else {
            self.sem.clone().try_acquire_owned().ok()?
        };
        let shared = match &self.shared {
            Some((slots, server, max)) => Some(slots.acquire(server.clone(), *max, first).await?),
            None => None,
        };
        self.open.fetch_add(1, Ordering::SeqCst);
        Some(Permit {
            _permit: permit,
            _shared: shared,
            open: self.open.clone(),
        })
    }

    /// How many connections this mailbox has open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// An account's [`ImapConfig`] behind its server's [`Gate`].
#[derive(Debug, Clone)]
pub struct Gated {
    pub imap: ImapConfig,
    pub gate: Gate,
}

impl Connector for Gated {
    #[allow(clippy::manual_async_fn)] // the trait asks for a Send future
    fn connect(&self) -> impl Future<Output = Result<Session, ImapError>> + Send {
        async move {
            let Some(permit) = self.gate.acquire().await else {
                return Err(ImapError::Throttled {
                    text: format!(
                        "max_connections to {}:{} reached; not opening another connection",
                        self.imap.host, self.imap.port
                    ),
                });
            };
            // An error drops the permit with it.
            Ok(Session::connect(&self.imap).await?.hold(permit))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn issue13_a_mailbox_waits_only_for_its_first_connection() {
        let mut gates = Gates::default();
        gates.add("Mail.example", 993, 3);
        gates.add("mail.example", 993, 2);
        let a = gates.of("mail.example", 993, 10);
        let b = gates.of("MAIL.EXAMPLE", 993, 10);
        let a1 = a.acquire().await.expect("first");
        let a2 = a.acquire().await.expect("second, free");
        assert_eq!(a.open(), 2);
        // The server's two are taken: a third of a's is refused at once.
        assert!(a.acquire().await.is_none());
        // b waits for its first until a lets one go.
        let waiting = tokio::spawn(async move { b.acquire().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a2);
        assert_eq!(a.open(), 1);
        waiting.await.expect("join").expect("b's first");
        drop(a1);
        assert_eq!(a.open(), 0);
    }
}
