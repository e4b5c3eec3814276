//! Connection slots per server across all workers (`slimbox_slots`), and
//! the back-off a server asked for (`slimbox_server_backoff`).
//!
//! A server with `max_connections = N` has slots 0..N; a connection holds
//! one row (server, slot, holder, expires_at), renewed by the holder's
//! heartbeat (`lease`) and deleted when the connection closes; a slot
//! whose holder stopped renewing is free once expired. This is the
//! database side of the fleet's gate (`service::SharedSlots`): the
//! gate takes the process's own permit, then one of these.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{Leases, QueueError};
use crate::service::{SharedSlot, SharedSlots};

/// How often a connection waiting for a slot looks again.
const SLOT_POLL: Duration = Duration::from_millis(200);

/// The slots of this process's leases' holder.
pub struct DbSlots(pub Arc<Leases>);

impl DbSlots {
    /// Takes a free (or expired) slot of `server`, if any.
    async fn try_take(&self, server: &str, max: u32) -> Result<Option<i32>, QueueError> {
        let leases = &self.0;
        let (holder, secs) = (leases.holder(), leases.lease().as_secs_f64());
        for slot in 0..max.min(i32::MAX as u32) as i32 {
            let row = leases
                .db()
                .run(|c| async move {
                    c.query_opt(
                        "INSERT INTO slimbox_slots (server, slot, holder, expires_at)
                         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                         ON CONFLICT (server, slot) DO UPDATE
                            SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                         WHERE slimbox_slots.expires_at < now()
                         RETURNING slot",
                        &[&server, &slot, &holder, &secs],
                    )
                    .await
                })
                .await?;
            if row.is_some() {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// How long the server's back-off still runs, if it does.
    async fn backoff(&self, server: &str) -> Result<Option<Duration>, QueueError> {
        let row = self
            .0
            .db()
            .run(|c| async move {
                c.query_opt(
                    "SELECT extract(epoch from until - now())::float8
                     FROM slimbox_server_backoff WHERE server = $1 AND until > now()",
                    &[&server],
                )
                .await
            })
            .await?;
        Ok(row.map(|r| Duration::from_secs_f64(r.get::<_, f64>(0).max(0.0))))
    }

    async fn acquire_slot(
        self: Arc<Self>,
        server: String,
        max: u32,
        wait: bool,
    ) -> Option<SharedSlot> {
        loop {
            match self.backoff(&server).await {
                Ok(Some(left)) if wait => {
                    tracing::info!("server {server} asked to back off; waiting {left:?}");
                    tokio::time::sleep(left.min(Duration::from_secs(60))).await;
                    continue;
                }
                Ok(Some(_)) => return None,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("cannot read the back-off of {server}: {e}");
                    return None;
                }
            }
            match self.try_take(&server, max).await {
                Ok(Some(slot)) => {
                    return Some(Box::new(Slot {
                        leases: self.0.clone(),
                        server,
                        slot,
                    }))
                }
                Ok(None) if wait => tokio::time::sleep(SLOT_POLL).await,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!("cannot take a connection slot of {server}: {e}");
                    return None;
                }
            }
        }
    }
}

impl SharedSlots for Arc<DbSlots> {
    fn acquire(
        &self,
        server: String,
        max: u32,
        wait: bool,
    ) -> BoxFuture<'static, Option<SharedSlot>> {
        Box::pin(self.clone().acquire_slot(server, max, wait))
    }
}

/// One held slot; dropping it deletes its row.
struct Slot {
    leases: Arc<Leases>,
    server: String,
    slot: i32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let db = self.leases.db().clone();
        let holder = self.leases.holder().to_string();
        let (server, slot) = (std::mem::take(&mut self.server), self.slot);
        let task = db.handle().clone().spawn(async move {
            let (s, h) = (server.as_str(), holder.as_str());
            let freed = db
                .run(|c| async move {
                    c.execute(
                        "DELETE FROM slimbox_slots WHERE server = $1 AND slot = $2 AND holder = $3",
                        &[&s, &slot, &h],
                    )
                    .await
                })
                .await;
            if let Err(e) = freed {
                tracing::warn!("cannot free slot {slot} of {server}: {e}; it expires by itself");
            }
        });
        self.leases.releasing(task);
    }
}

/// Notes that `server` turned a connection away: every worker waits
/// `wait` before its next first connection there.
pub async fn back_off(
    leases: &Leases,
    server: &str,
    wait: Duration,
    reason: &str,
) -> Result<(), QueueError> {
    let secs = wait.as_secs_f64();
    leases
        .db()
        .run(|c| async move {
            c.execute(
                "INSERT INTO slimbox_server_backoff (server, until, reason)
                 VALUES ($1, now() + make_interval(secs => $2), $3)
                 ON CONFLICT (server) DO UPDATE
                    SET until = greatest(slimbox_server_backoff.until, EXCLUDED.until),
                        reason = EXCLUDED.reason",
                &[&server, &secs, &reason],
            )
            .await
        })
        .await
        .map(drop)
}
