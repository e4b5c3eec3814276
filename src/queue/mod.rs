//! The work queue in PostgreSQL, for `slimbox worker`, `enqueue` and
//! `status`: workers on any hosts share one picture of the work.
//!
//! What belongs here: the queue's tables and their numbered migrations
//! (`schema`), the connection to them (`db`: made again when the database
//! restarts), the leases on mailboxes (`lease`: `DbClaims`, the service's
//! claims on a shared database, with their heartbeat), the connection slots
//! per server and the back-off a server asked for (`slots`), and the jobs
//! (`jobs`). Nothing else: the worker's loop is `crate::fleet::worker`,
//! the commands are in `crate::cli`.

mod db;
pub mod jobs;
mod lease;
mod schema;
mod slots;

pub use db::{connect, Db};
pub use lease::{DbClaims, Lease, Leases};
pub use slots::{back_off, DbSlots};

use std::sync::Arc;

use crate::config::Config;

/// Errors of the queue's database.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "the work queue lives in a shared PostgreSQL index, and this config's index is a \
         SQLite file; set url in [index] (e.g. url = \
         \"postgres://slimbox@db.example/slimbox?sslmode=verify-full\") and move the index \
         there with `slimbox index migrate`"
    )]
    NotConfigured,
    #[error("the queue's database URL {url:?} is not valid: {source}")]
    Url {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("cannot connect to the queue's database {url}: {source}; check the URL, the password (worker.password_env) and that PostgreSQL runs")]
    Connect {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("TLS to the queue's database: {problem}")]
    Tls { problem: String },
    #[error("cannot migrate the queue's tables: {source}")]
    Migrate { source: tokio_postgres::Error },
    #[error(
        "the queue's tables are at version {found}, newer than this slimbox knows ({known}); \
         upgrade slimbox"
    )]
    Newer { found: i32, known: i32 },
    #[error("the queue's database: {0}")]
    Sql(tokio_postgres::Error),
    #[error("the queue's password: {0}")]
    Password(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error("{0}")]
    Task(String),
}

/// The queue of `config`, connected and migrated: in the PostgreSQL index
/// (`[index] url`, its password and `ca_file`).
///
/// The one place that says where the queue lives, and the one call to
/// [`connect`] (through [`Db`]): the index's own connect can take its place
/// here.
pub async fn open(config: &Config) -> Result<Arc<Db>, QueueError> {
    let db = config
        .index
        .database
        .as_ref()
        .ok_or(QueueError::NotConfigured)?;
    let password = db.password.as_ref().map(|s| s.resolve()).transpose()?;
    Db::open(&db.url, password, db.ca_file.clone()).await
}

/// Claims as leases in the queue of `config` (for a service on a
/// PostgreSQL index: `Service::with_claims(config, claims)`), `[worker]
/// lease` long, their heartbeat running on the current runtime.
pub async fn db_claims(config: &Config) -> Result<Arc<DbClaims>, QueueError> {
    let db = open(config).await?;
    Ok(Arc::new(DbClaims(Leases::start(db, config.worker.lease))))
}

/// `slimbox enqueue`: a job for each of `accounts` without one queued.
pub async fn enqueue(config: &Config, accounts: &[String]) -> Result<Vec<Option<i64>>, QueueError> {
    jobs::enqueue(&*open(config).await?, accounts).await
}

/// `slimbox status`: the queue, the leases, the last result per account.
pub async fn status(config: &Config) -> Result<jobs::Status, QueueError> {
    jobs::status(&*open(config).await?).await
}
