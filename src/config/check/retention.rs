//! `[retention]`: how long `store gc` lets an unreferenced object wait
//! before it deletes it.

use super::super::raw::RawRetention;
use super::super::{RetentionConfig, DEFAULT_GRACE};
use super::policy::age_at;
use super::{ConfigError, Ctx};

pub(super) fn retention_config(
    ctx: &Ctx,
    raw: RawRetention,
) -> Result<RetentionConfig, ConfigError> {
    let grace = match raw.grace {
        None => DEFAULT_GRACE,
        // Zero is allowed: an operator who wants unreferenced objects gone
        // at the next gc says so explicitly.
        Some(v) => age_at(ctx, "retention.grace", v)?,
    };
    Ok(RetentionConfig { grace })
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::{err, ok};

    const BASE: &str = "[store]\nurl = \"/srv/store\"\n[[account]]\nname = \"a\"\n\
                        host = \"h\"\nuser = \"u\"\npassword_env = \"P\"\n";

    #[test]
    fn issue23_grace_defaults_to_30_days_and_reads_a_duration() {
        assert_eq!(ok(BASE).retention.grace.as_secs(), 30 * 24 * 3600);
        let c = ok(&format!("{BASE}[retention]\ngrace = \"7d\"\n"));
        assert_eq!(c.retention.grace.as_secs(), 7 * 24 * 3600);
        let e = err(&format!("{BASE}[retention]\ngrace = 30\n"));
        assert!(e.contains("retention.grace"), "{e}");
        let e = err(&format!("{BASE}[retention]\ngraze = \"1d\"\n"));
        assert!(e.contains("graze"), "{e}");
    }
}
