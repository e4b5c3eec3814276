//! `[worker]`: the queue's PostgreSQL database and the lease length.
//!
//! Until `[index] url` names a shared PostgreSQL index, the queue has its
//! own `url` here (or `$SLIMBOX_QUEUE_URL`); one place, so that switching
//! it to the index's URL is one change.

use super::super::raw::RawWorker;
use super::super::{env_nonempty, PasswordSource, WorkerConfig, DEFAULT_WORKER_LEASE};
use super::policy::parse_age;
use super::{ConfigError, Ctx};

/// The environment variable naming the queue's database when the file
/// does not.
pub const QUEUE_URL_ENV: &str = "SLIMBOX_QUEUE_URL";

pub(super) fn worker_config(ctx: &Ctx, raw: &RawWorker) -> Result<WorkerConfig, ConfigError> {
    let url = match &raw.url {
        Some(u) => Some(u.trim().to_string()),
        None => env_nonempty(ctx.env, QUEUE_URL_ENV).map(|v| v.to_string_lossy().into_owned()),
    };
    if let Some(u) = &url {
        if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            return Err(ctx.err(
                "worker.url",
                format!(
                    "{u:?} is not a PostgreSQL URL; write e.g. \
                     \"postgres://slimbox@db.example:5432/slimbox?sslmode=verify-full\""
                ),
            ));
        }
    }
    let password = match (&raw.password_env, &raw.password_command) {
        (None, None) => None,
        (Some(var), None) => Some(PasswordSource::Env(var.clone())),
        (None, Some(cmd)) => Some(PasswordSource::Command(cmd.clone())),
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                "worker.password_env",
                "password_env and password_command are both set; keep one",
            ))
        }
    };
    let lease = match &raw.lease {
        None => DEFAULT_WORKER_LEASE,
        Some(text) => match parse_age(text) {
            Ok(d) if d.as_secs() >= 2 => d,
            Ok(_) => {
                return Err(ctx.err(
                    "worker.lease",
                    "is shorter than 2 s; a heartbeat renews it every third of it, so \
                     write e.g. \"60s\"",
                ))
            }
            Err(e) => return Err(ctx.err("worker.lease", e)),
        },
    };
    Ok(WorkerConfig {
        url,
        password,
        lease,
    })
}
