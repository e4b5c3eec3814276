//! `[worker]`: the lease length of `slimbox worker` (the queue itself
//! lives in the PostgreSQL index, `[index] url`).

use super::super::raw::RawWorker;
use super::super::{WorkerConfig, DEFAULT_WORKER_LEASE};
use super::policy::parse_age;
use super::{ConfigError, Ctx};

pub(super) fn worker_config(ctx: &Ctx, raw: &RawWorker) -> Result<WorkerConfig, ConfigError> {
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
    Ok(WorkerConfig { lease })
}
