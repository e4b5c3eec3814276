//! Sizes in the configuration (`policy.min_size`, a rule's `min_size`, an
//! account's `quota`): one checker that `policy`, `rules` and `target` share,
//! kept apart so that none of them imports another for it.

use super::Ctx;
use crate::config::ConfigError;

/// A size at `key` (`policy.min_size`, `rule[0].min_size`, `quota`).
pub(super) fn size_at(ctx: &Ctx, key: &str, raw: toml::Value) -> Result<u64, ConfigError> {
    match raw {
        // parse_size's message already shows the bad value and examples.
        toml::Value::String(s) => crate::units::parse_size(&s)
            .map_err(|e| ctx.err(key, format!("{e}; the default is \"1MiB\""))),
        toml::Value::Integer(n) => u64::try_from(n).map_err(|_| {
            ctx.err(
                key,
                format!("{n} is negative; write a size such as \"1MiB\" or 1048576"),
            )
        }),
        other => Err(ctx.err(
            key,
            format!(
                "{other} is not a size; write a string such as \"1MiB\" or \"512KiB\", \
                 or a number of bytes"
            ),
        )),
    }
}
