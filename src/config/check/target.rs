//! `quota_target` (in `[policy]`, an account or a rule) and an account's
//! `quota` (issue 25): how far under its quota a run takes a mailbox, and
//! what 100 % is where the server has no QUOTA.

use super::size::size_at;
use super::Ctx;
use crate::config::ConfigError;

/// `quota_target = "80%"`: a share of the quota from 1 to 100 percent.
pub(super) fn target_at(ctx: &Ctx, key: &str, raw: toml::Value) -> Result<u8, ConfigError> {
    let bad = |what: String| {
        ctx.err(
            key,
            format!("{what}; write a share of the quota such as \"80%\" (1% to 100%)"),
        )
    };
    let toml::Value::String(s) = raw else {
        return Err(bad(format!("{raw} is not a percentage")));
    };
    let Some(n) = s.trim().strip_suffix('%') else {
        return Err(bad(format!("{s:?} has no %")));
    };
    match n.trim().parse::<u8>() {
        Ok(p) if (1..=100).contains(&p) => Ok(p),
        _ => Err(bad(format!(
            "{s:?} is not a whole percentage from 1% to 100%"
        ))),
    }
}

/// An optional `quota_target`.
pub(super) fn target(
    ctx: &Ctx,
    key: &str,
    raw: Option<toml::Value>,
) -> Result<Option<u8>, ConfigError> {
    raw.map(|v| target_at(ctx, key, v)).transpose()
}

/// An account's `quota = "50 GB"`: a size, not zero.
pub(super) fn quota(
    ctx: &Ctx,
    key: &str,
    raw: Option<toml::Value>,
) -> Result<Option<u64>, ConfigError> {
    match raw.map(|v| size_at(ctx, key, v)).transpose()? {
        Some(0) => Err(ctx.err(
            key,
            "is zero; write the mailbox's quota such as \"50GB\", or remove the key",
        )),
        q => Ok(q),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn issue25_quota_target_in_the_policy_an_account_and_a_rule() {
        let c = ok(&with_store(&format!(
            "[policy]\nquota_target = \"80%\"\n{ACCOUNT}quota_target = \"70 %\"\nquota = \"50GB\"\n\
             [[account.rule]]\nfolders = [\"INBOX\"]\nquota_target = \"60%\"\n"
        )));
        assert_eq!(c.policy.quota_target, Some(80));
        let a = &c.accounts[0];
        assert_eq!(a.overrides.quota_target, Some(70));
        assert_eq!(a.overrides.quota, Some(50_000_000_000));
        assert_eq!(a.rules[0].quota_target, Some(60));
        let plain = ok(&with_store(ACCOUNT));
        assert_eq!(plain.policy.quota_target, None);
        assert_eq!(plain.accounts[0].overrides.quota, None);
    }

    #[test]
    fn issue25_a_bad_quota_target_or_quota_names_its_key() {
        for (extra, key) in [
            ("[policy]\nquota_target = \"80\"", "policy.quota_target"),
            ("[policy]\nquota_target = 80", "policy.quota_target"),
            ("[policy]\nquota_target = \"0%\"", "policy.quota_target"),
            ("[policy]\nquota_target = \"120%\"", "policy.quota_target"),
            ("quota = \"0\"", "quota"),
            ("quota = \"lots\"", "quota"),
        ] {
            let text = if extra.starts_with('[') {
                with_store(&format!("{extra}\n{ACCOUNT}"))
            } else {
                with_store(&format!("{ACCOUNT}{extra}\n"))
            };
            let e = err(&text);
            assert!(e.contains(key), "{extra}: {e}");
        }
        let e = err(&with_store(&format!(
            "[policy]\nquota_target = \"90\"\n{ACCOUNT}"
        )));
        assert!(e.contains("\"80%\""), "{e}");
    }
}
