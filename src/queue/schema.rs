//! The queue's tables and their numbered migrations.
//!
//! The version is a row of `slimbox_queue_schema`; migrations run in one
//! transaction under `pg_advisory_xact_lock`, so that many workers
//! starting at once migrate once and the others find it done. A migration
//! once released is never edited: a change is a new one at the end.

use tokio_postgres::Client;

use super::QueueError;

/// The advisory lock key of the queue's migrations ("slimboxq").
const MIGRATION_LOCK: i64 = 0x736c_696d_626f_7871;

/// Migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: leases, connection slots, server back-off, jobs.
    "CREATE TABLE slimbox_leases (
        mailbox text PRIMARY KEY,
        account text NOT NULL,
        holder text NOT NULL,
        command text NOT NULL,
        since timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        -- One per take, so that a late release of an earlier take by the
        -- same process leaves a newer one alone.
        token bigint NOT NULL,
        -- The holder whose expired lease this one took over.
        taken_from text
    );
    CREATE TABLE slimbox_slots (
        server text NOT NULL,
        slot integer NOT NULL,
        holder text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (server, slot)
    );
    CREATE TABLE slimbox_server_backoff (
        server text PRIMARY KEY,
        until timestamptz NOT NULL,
        reason text NOT NULL
    );
    CREATE TABLE slimbox_jobs (
        id bigserial PRIMARY KEY,
        account text NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now(),
        not_before timestamptz NOT NULL DEFAULT now(),
        state text NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'running', 'done', 'failed')),
        worker text,
        started_at timestamptz,
        finished_at timestamptz,
        expires_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        error text,
        result jsonb
    );
    CREATE INDEX slimbox_jobs_queued ON slimbox_jobs (id) WHERE state = 'queued';
    CREATE INDEX slimbox_jobs_running ON slimbox_jobs (expires_at) WHERE state = 'running';
    CREATE INDEX slimbox_jobs_account ON slimbox_jobs (account, id);",
];

/// Brings the tables to the newest version.
pub async fn migrate(client: &Client) -> Result<(), QueueError> {
    let migrate = |e| QueueError::Migrate { source: e };
    client.batch_execute("BEGIN").await.map_err(migrate)?;
    let done = async {
        // Under the lock, so that two first workers do not both create it.
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS slimbox_queue_schema (version integer NOT NULL)",
            )
            .await?;
        let row = client
            .query_opt("SELECT version FROM slimbox_queue_schema", &[])
            .await?;
        let at: i32 = row.map(|r| r.get(0)).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(at.max(0) as usize) {
            client.batch_execute(sql).await?;
            let version = i as i32 + 1;
            client
                .execute("DELETE FROM slimbox_queue_schema", &[])
                .await?;
            client
                .execute("INSERT INTO slimbox_queue_schema VALUES ($1)", &[&version])
                .await?;
        }
        Ok::<i32, tokio_postgres::Error>(at)
    }
    .await;
    match done {
        Ok(at) if at as usize > MIGRATIONS.len() => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(QueueError::Newer {
                found: at,
                known: MIGRATIONS.len() as i32,
            })
        }
        Ok(_) => client.batch_execute("COMMIT").await.map_err(migrate),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(migrate(e))
        }
    }
}
