//! Leases: who works on a mailbox, as rows of `slimbox_leases`, held with
//! a heartbeat and taken over once expired ([`DbClaims`], the service's
//! `Claims` on a shared database).
//!
//! One [`Leases`] per process: its holder name (`host:pid:random`), the
//! leases it holds, and one heartbeat task that every third of the lease
//! renews the process's leases, its connection slots and its running
//! jobs. A lease the heartbeat no longer finds under its name was taken
//! over (it expired: the process stalled or lost the database for longer
//! than the lease): its mailbox's lost signal fires ([`Leases::lost`]) and
//! the holder stops working on it. A process that cannot renew for a whole
//! lease counts all its leases as lost, for the same reason.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{Db, QueueError};
use crate::lock::Mailbox;
use crate::service::{ClaimError, Claims, Held};

/// How often a waiting claim looks again.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// The leases of this process, and its heartbeat.
pub struct Leases {
    db: Arc<Db>,
    holder: String,
    lease: Duration,
    state: Mutex<State>,
    takeovers: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Mailbox key → when this process took it.
    held: HashMap<String, Instant>,
    /// Mailbox key → its lost signal, for whoever watches it.
    signals: HashMap<String, watch::Sender<bool>>,
    /// Jobs this process runs (their expiry is renewed with the leases).
    jobs: HashSet<i64>,
    /// When the heartbeat last got through.
    renewed: Option<Instant>,
    /// Releases under way (awaited by [`Leases::settle`]).
    releasing: Vec<tokio::task::JoinHandle<()>>,
    /// The token of the last take (see the table's `token`).
    tokens: i64,
}

impl Leases {
    /// This process's leases on `db`, `lease` long, with their heartbeat
    /// running on the queue's runtime.
    pub fn start(db: Arc<Db>, lease: Duration) -> Arc<Leases> {
        let leases = Arc::new(Leases {
            db: db.clone(),
            holder: holder_name(),
            lease,
            state: Mutex::new(State {
                renewed: Some(Instant::now()),
                ..State::default()
            }),
            takeovers: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&leases);
        db.handle().spawn(async move {
            loop {
                let Some(leases) = weak.upgrade() else { return };
                let period = leases.lease / 3;
                leases.heartbeat().await;
                drop(leases);
                tokio::time::sleep(period).await;
            }
        });
        leases
    }

    /// `host:pid:random`: unique across hosts and restarts.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// Expired leases this process took over since it started.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lost signal of `mailbox`: becomes `true` when this process's
    /// lease on it was taken over.
    pub fn lost(&self, mailbox: &Mailbox) -> watch::Receiver<bool> {
        let mut state = self.state();
        let tx = state
            .signals
            .entry(mailbox.to_string())
            .or_insert_with(|| watch::channel(false).0);
        tx.subscribe()
    }

    /// Forgets `mailbox`'s lost signal (its job is over).
    pub fn forget(&self, mailbox: &Mailbox) {
        self.state().signals.remove(&mailbox.to_string());
    }

    /// Job `id` runs here: its expiry is renewed with the leases.
    pub fn track_job(&self, id: i64, running: bool) {
        let mut state = self.state();
        if running {
            state.jobs.insert(id);
        } else {
            state.jobs.remove(&id);
        }
    }

    /// Waits for the releases under way (before the process exits).
    pub async fn settle(&self) {
        let pending = std::mem::take(&mut self.state().releasing);
        for p in pending {
            let _ = p.await;
        }
    }

    /// Notes a release under way (a lease, a slot), for [`Leases::settle`].
    pub(super) fn releasing(&self, task: tokio::task::JoinHandle<()>) {
        let mut state = self.state();
        state.releasing.retain(|t| !t.is_finished());
        state.releasing.push(task);
    }

    /// Renews everything this process holds; notes the leases it lost.
    async fn heartbeat(&self) {
        let started = Instant::now();
        let jobs: Vec<i64> = self.state().jobs.iter().copied().collect();
        let renewed = tokio::time::timeout(self.lease / 3, self.renew(&jobs)).await;
        let mut state = self.state();
        let kept = match renewed {
            Ok(Ok(kept)) => {
                state.renewed = Some(started);
                kept
            }
            Ok(Err(e)) => {
                tracing::warn!("cannot renew the leases: {e}");
                return self.fence(&mut state);
            }
            Err(_) => {
                tracing::warn!("renewing the leases takes longer than {:?}", self.lease / 3);
                return self.fence(&mut state);
            }
        };
        let lost: Vec<String> = state
            .held
            .iter()
            .filter(|(k, at)| **at < started && !kept.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in lost {
            tracing::error!(
                "the lease on mailbox {key} was taken over by another slimbox (this one did not \
                 renew it in time); stopping work on it"
            );
            lose(&mut state, &key);
        }
    }

    /// Without a renewal for two thirds of the lease, the leases may
    /// expire before the next renewal and be taken over: stop working on
    /// all the mailboxes before that can happen.
    fn fence(&self, state: &mut State) {
        if state
            .renewed
            .is_some_and(|t| t.elapsed() < self.lease * 2 / 3)
        {
            return;
        }
        let keys: Vec<String> = state.held.keys().cloned().collect();
        for key in keys {
            tracing::error!(
                "no lease renewal for {:?}: stopping work on mailbox {key}",
                self.lease
            );
            lose(state, &key);
        }
    }

    /// One round of renewals; the mailboxes still held under this name.
    async fn renew(&self, jobs: &[i64]) -> Result<HashSet<String>, QueueError> {
        let (holder, secs) = (self.holder.as_str(), self.lease.as_secs_f64());
        let rows = self
            .db
            .run(|c| async move {
                c.query(
                    "UPDATE slimbox_leases SET expires_at = now() + make_interval(secs => $2)
                     WHERE holder = $1 RETURNING mailbox",
                    &[&holder, &secs],
                )
                .await
            })
            .await?;
        self.db
            .run(|c| async move {
                c.execute(
                    "UPDATE slimbox_slots SET expires_at = now() + make_interval(secs => $2)
                     WHERE holder = $1",
                    &[&holder, &secs],
                )
                .await
            })
            .await?;
        if !jobs.is_empty() {
            self.db
                .run(|c| async move {
                    c.execute(
                        "UPDATE slimbox_jobs SET expires_at = now() + make_interval(secs => $2)
                         WHERE worker = $1 AND state = 'running' AND id = ANY($3)",
                        &[&holder, &secs, &jobs],
                    )
                    .await
                })
                .await?;
        }
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Takes `mailbox`'s lease if it is free or expired; `Err(holder)`
    /// says who holds it.
    async fn take(
        self: &Arc<Self>,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Result<Lease, String>, QueueError> {
        let key = mailbox.to_string();
        let token = {
            let mut state = self.state();
            if state.held.contains_key(&key) {
                // Another job of this process has it: the lease is one per
                // process, so the database would not tell the two apart.
                return Ok(Err("this slimbox is working on it already".into()));
            }
            state.tokens += 1;
            state.tokens
        };
        let (k, holder, secs) = (key.as_str(), self.holder.as_str(), self.lease.as_secs_f64());
        // The row of this very process is its own (a statement tried
        // again after its answer was lost, or a release still under way).
        let took = self
            .db
            .run(|c| async move {
                c.query_opt(
                    "INSERT INTO slimbox_leases
                        (mailbox, account, holder, command, since, expires_at, token)
                     VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5), $6)
                     ON CONFLICT (mailbox) DO UPDATE SET account = EXCLUDED.account,
                        holder = EXCLUDED.holder, command = EXCLUDED.command,
                        since = EXCLUDED.since, expires_at = EXCLUDED.expires_at,
                        token = EXCLUDED.token,
                        taken_from = CASE WHEN slimbox_leases.holder = EXCLUDED.holder
                                     THEN slimbox_leases.taken_from
                                     ELSE slimbox_leases.holder END
                     WHERE slimbox_leases.expires_at < now() OR slimbox_leases.holder = $3
                     RETURNING taken_from",
                    &[&k, &account, &holder, &command, &secs, &token],
                )
                .await
            })
            .await?;
        let Some(row) = took else {
            return Ok(Err(self.who(k).await?));
        };
        if let Some(from) = row.get::<_, Option<String>>(0) {
            self.takeovers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "account {account}: took over mailbox {key} from slimbox {from}, whose lease \
                 expired; what it left in flight is finished now"
            );
        }
        self.state().held.insert(key.clone(), Instant::now());
        Ok(Ok(Lease {
            leases: self.clone(),
            key,
            token,
        }))
    }

    /// Who holds the lease on `key`, for the busy message.
    async fn who(&self, key: &str) -> Result<String, QueueError> {
        let row = self
            .db
            .run(|c| async move {
                c.query_opt(
                    "SELECT holder, command, account,
                        to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                        extract(epoch from expires_at - now())::float8
                     FROM slimbox_leases WHERE mailbox = $1",
                    &[&key],
                )
                .await
            })
            .await?;
        Ok(match row {
            Some(r) => format!(
                "slimbox {} has been working on it since {} UTC (`slimbox {}`, account {}); \
                 its lease runs out in {:.0} s unless renewed",
                r.get::<_, String>(0),
                r.get::<_, String>(3),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, f64>(4).max(0.0)
            ),
            None => "another slimbox was taking it at the same moment".to_string(),
        })
    }
}

/// Marks `key` lost: no longer held, its watcher told.
fn lose(state: &mut State, key: &str) {
    state.held.remove(key);
    if let Some(tx) = state.signals.get(key) {
        let _ = tx.send(true);
    }
}

/// `host:pid:random`.
fn holder_name() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    format!(
        "{}:{}:{}",
        crate::lock::host_name(),
        std::process::id(),
        hex::encode(bytes)
    )
}

/// A held lease; dropping it deletes its row.
pub struct Lease {
    leases: Arc<Leases>,
    key: String,
    token: i64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let leases = self.leases.clone();
        let key = std::mem::take(&mut self.key);
        let mut state = leases.state();
        state.held.remove(&key);
        let db = leases.db.clone();
        let holder = leases.holder.clone();
        let token = self.token;
        let task = db.handle().clone().spawn(async move {
            let (k, h) = (key.as_str(), holder.as_str());
            let deleted = db
                .run(|c| async move {
                    c.execute(
                        "DELETE FROM slimbox_leases
                         WHERE mailbox = $1 AND holder = $2 AND token = $3",
                        &[&k, &h, &token],
                    )
                    .await
                })
                .await;
            if let Err(e) = deleted {
                tracing::warn!(
                    "cannot release the lease on mailbox {key}: {e}; it expires by itself"
                );
            }
        });
        state.releasing.retain(|t| !t.is_finished());
        state.releasing.push(task);
    }
}

/// The service's claims as database leases.
pub struct DbClaims(pub Arc<Leases>);

impl DbClaims {
    fn claim_error(mailbox: &Mailbox, e: QueueError) -> ClaimError {
        ClaimError::LeaseFailed {
            mailbox: mailbox.to_string(),
            problem: e.to_string(),
        }
    }
}

impl Claims for DbClaims {
    fn try_claim(
        &self,
        mailbox: &Mailbox,
        account: &str,
        command: &str,
    ) -> Result<Held, ClaimError> {
        // The trait is synchronous; the statement runs on a thread of its
        // own against the queue's runtime (the caller may be on a runtime).
        let leases = self.0.clone();
        let handle = leases.db.handle().clone();
        let taken = std::thread::scope(|s| {
            s.spawn(|| handle.block_on(leases.take(mailbox, account, command)))
                .join()
        });
        match taken {
            Ok(Ok(Ok(lease))) => Ok(Box::new(lease)),
            Ok(Ok(Err(holder))) => Err(ClaimError::LeaseBusy {
                mailbox: mailbox.to_string(),
                holder,
            }),
            Ok(Err(e)) => Err(Self::claim_error(mailbox, e)),
            Err(_) => Err(Self::claim_error(
                mailbox,
                QueueError::Task("the claim's thread ended abnormally".into()),
            )),
        }
    }

    fn claim_waiting<'a>(
        &'a self,
        mailbox: &'a Mailbox,
        account: &'a str,
        command: &'a str,
        waiting: Box<dyn FnOnce(String) + Send + 'a>,
    ) -> BoxFuture<'a, Result<Held, ClaimError>> {
        Box::pin(async move {
            let mut waiting = Some(waiting);
            loop {
                match self.0.take(mailbox, account, command).await {
                    Ok(Ok(lease)) => return Ok(Box::new(lease) as Held),
                    Ok(Err(holder)) => {
                        if let Some(tell) = waiting.take() {
                            tell(format!("mailbox {mailbox} is busy: {holder}"));
                        }
                    }
                    Err(e) => return Err(Self::claim_error(mailbox, e)),
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
        })
    }
}
