//! Jobs: one row per mailbox to work on (`slimbox_jobs`), taken by the
//! oldest first with `FOR UPDATE SKIP LOCKED`, and what `status` reads.
//!
//! States: `queued` → `running` (a worker, its expiry renewed by the
//! worker's heartbeat) → `done` or `failed` (the mailbox's report as JSON
//! in `result`). A running job whose expiry passed (its worker died or
//! lost the database) goes back to `queued` ([`reclaim`]). Each statement
//! may be run twice after a lost answer without harm: an enqueue adds
//! nothing when the account has a queued job, a finish only touches the
//! job while this worker runs it, and a job taken twice by a retry is left
//! to expire and be reclaimed.

use serde::Serialize;

use super::{Db, QueueError};

/// A job a worker took.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub account: String,
    /// Tries so far, this one included.
    pub attempts: i32,
}

/// Queues a job for each of `accounts` that has none queued; the ids of
/// the new ones (`None`: one was already queued).
pub async fn enqueue(db: &Db, accounts: &[String]) -> Result<Vec<Option<i64>>, QueueError> {
    let mut out = Vec::new();
    for account in accounts {
        let a = account.as_str();
        let row = db
            .run(|c| async move {
                c.query_opt(
                    "INSERT INTO slimbox_jobs (account) SELECT $1::text
                     WHERE NOT EXISTS (SELECT 1 FROM slimbox_jobs
                                       WHERE account = $1 AND state = 'queued')
                     RETURNING id",
                    &[&a],
                )
                .await
            })
            .await?;
        out.push(row.map(|r| r.get(0)));
    }
    Ok(out)
}

/// Running jobs whose worker stopped renewing them go back to the queue;
/// how many.
pub async fn reclaim(db: &Db) -> Result<u64, QueueError> {
    db.run(|c| async move {
        c.execute(
            "UPDATE slimbox_jobs SET state = 'queued', worker = NULL, expires_at = NULL
             WHERE state = 'running' AND expires_at < now()",
            &[],
        )
        .await
    })
    .await
}

/// Takes the oldest queued job that may start now, for `worker`, expiring
/// after `lease` unless renewed.
pub async fn take(db: &Db, worker: &str, lease: f64) -> Result<Option<Job>, QueueError> {
    let row = db
        .run(|c| async move {
            c.query_opt(
                "UPDATE slimbox_jobs SET state = 'running', worker = $1, started_at = now(),
                    finished_at = NULL, attempts = attempts + 1,
                    expires_at = now() + make_interval(secs => $2)
                 WHERE id = (SELECT id FROM slimbox_jobs
                             WHERE state = 'queued' AND not_before <= now()
                             ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
                 RETURNING id, account, attempts",
                &[&worker, &lease],
            )
            .await
        })
        .await?;
    Ok(row.map(|r| Job {
        id: r.get(0),
        account: r.get(1),
        attempts: r.get(2),
    }))
}

/// How a job ends.
pub enum End<'a> {
    /// Done (`ok`) or failed, with the report's JSON and the error.
    Finished {
        ok: bool,
        error: Option<&'a str>,
        result: Option<&'a str>,
    },
    /// Back to the queue, to start no sooner than `after` seconds from now
    /// (a throttled server, a worker stopping).
    HandedBack { after: f64, error: Option<&'a str> },
}

/// Ends job `id` of `worker`; false when it was no longer this worker's
/// (reclaimed after it expired).
pub async fn end(db: &Db, id: i64, worker: &str, how: End<'_>) -> Result<bool, QueueError> {
    let n = match how {
        End::Finished { ok, error, result } => {
            let state = if ok { "done" } else { "failed" };
            db.run(|c| async move {
                c.execute(
                    "UPDATE slimbox_jobs SET state = $3, finished_at = now(), expires_at = NULL,
                        error = $4, result = $5::text::jsonb
                     WHERE id = $1 AND worker = $2 AND state = 'running'",
                    &[&id, &worker, &state, &error, &result],
                )
                .await
            })
            .await?
        }
        End::HandedBack { after, error } => {
            db.run(|c| async move {
                c.execute(
                    "UPDATE slimbox_jobs SET state = 'queued', worker = NULL, expires_at = NULL,
                        not_before = now() + make_interval(secs => $3), error = $4
                     WHERE id = $1 AND worker = $2 AND state = 'running'",
                    &[&id, &worker, &after, &error],
                )
                .await
            })
            .await?
        }
    };
    Ok(n == 1)
}

/// Queued jobs now.
pub async fn depth(db: &Db) -> Result<i64, QueueError> {
    db.run(|c| async move {
        c.query_one(
            "SELECT count(*) FROM slimbox_jobs WHERE state = 'queued'",
            &[],
        )
        .await
    })
    .await
    .map(|r| r.get(0))
}

/// What `slimbox status` shows.
#[derive(Debug, Serialize)]
pub struct Status {
    pub queued: i64,
    pub running: i64,
    /// Who holds which mailbox, oldest first.
    pub leases: Vec<LeaseRow>,
    /// The last finished job of each account, failures first.
    pub mailboxes: Vec<LastRun>,
}

#[derive(Debug, Serialize)]
pub struct LeaseRow {
    pub mailbox: String,
    pub account: String,
    pub holder: String,
    pub command: String,
    /// Unix seconds.
    pub since: i64,
    pub expires_at: i64,
    /// Past its expiry: free for another to take over.
    pub expired: bool,
}

#[derive(Debug, Serialize)]
pub struct LastRun {
    pub account: String,
    pub job: i64,
    /// `done` or `failed`.
    pub state: String,
    pub worker: Option<String>,
    pub attempts: i32,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// The mailbox's report as the worker wrote it.
    pub result: Option<serde_json::Value>,
}

/// The queue, the leases and the last result of each account.
pub async fn status(db: &Db) -> Result<Status, QueueError> {
    let counts = db
        .run(|c| async move {
            c.query_one(
                "SELECT count(*) FILTER (WHERE state = 'queued'),
                        count(*) FILTER (WHERE state = 'running')
                 FROM slimbox_jobs",
                &[],
            )
            .await
        })
        .await?;
    let leases = db
        .run(|c| async move {
            c.query(
                "SELECT mailbox, account, holder, command,
                        extract(epoch from since)::bigint, extract(epoch from expires_at)::bigint,
                        expires_at < now()
                 FROM slimbox_leases ORDER BY since, mailbox",
                &[],
            )
            .await
        })
        .await?;
    let last = db
        .run(|c| async move {
            c.query(
                "SELECT * FROM (
                   SELECT DISTINCT ON (account) account, id, state, worker, attempts,
                        extract(epoch from started_at)::bigint,
                        extract(epoch from finished_at)::bigint, error, result::text
                   FROM slimbox_jobs WHERE state IN ('done', 'failed')
                   ORDER BY account, id DESC) last
                 ORDER BY state = 'done', account",
                &[],
            )
            .await
        })
        .await?;
    Ok(Status {
        queued: counts.get(0),
        running: counts.get(1),
        leases: leases
            .iter()
            .map(|r| LeaseRow {
                mailbox: r.get(0),
                account: r.get(1),
                holder: r.get(2),
                command: r.get(3),
                since: r.get(4),
                expires_at: r.get(5),
                expired: r.get(6),
            })
            .collect(),
        mailboxes: last
            .iter()
            .map(|r| LastRun {
                account: r.get(0),
                job: r.get(1),
                state: r.get(2),
                worker: r.get(3),
                attempts: r.get(4),
                started_at: r.get(5),
                finished_at: r.get(6),
                error: r.get(7),
                result: r
                    .get::<_, Option<String>>(8)
                    .and_then(|t| serde_json::from_str(&t).ok()),
            })
            .collect(),
    })
}
