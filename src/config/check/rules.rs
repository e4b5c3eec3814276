//! `[[rule]]` and `[[account.rule]]`: which messages a rule is about
//! (`folders`, `from`, `to`) and the thresholds it sets for them
//! (`min_size`, `older_than`, `types`). Every error names the rule by its
//! number (`rule[2].from[0]`), since rules have no names of their own.

use serde::Deserialize;

use super::policy::{age_at, check_folder};
use super::size::size_at;
use super::Ctx;
use crate::config::raw::RawRule;
use crate::config::{ConfigError, RuleConfig};

/// Checks the rules of one list; `prefix` is `"rule"` or
/// `"account[1].rule"`, as errors name them.
pub(super) fn rules_config(
    ctx: &Ctx,
    prefix: &str,
    raw: Vec<toml::Table>,
) -> Result<Vec<RuleConfig>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, t)| rule_config(ctx, &format!("{prefix}[{i}]"), t))
        .collect()
}

fn rule_config(ctx: &Ctx, name: &str, table: toml::Table) -> Result<RuleConfig, ConfigError> {
    if table.is_empty() {
        return Err(ctx.err(
            name,
            "is empty; give it what it is about (folders, from, to) and what it sets \
             (min_size, older_than, types), or remove it",
        ));
    }
    // serde's own message names the unknown key and the known ones.
    let raw = RawRule::deserialize(toml::Value::Table(table))
        .map_err(|e| ctx.err(name, e.to_string().trim().to_string()))?;
    let key = |k: &str| format!("{name}.{k}");
    let list = |k: &str, v: Option<Vec<String>>| -> Result<Vec<String>, ConfigError> {
        match v {
            Some(l) if l.is_empty() => Err(ctx.err(
                key(k),
                "is empty; list at least one entry, or remove the key",
            )),
            Some(l) => Ok(l),
            None => Ok(Vec::new()),
        }
    };
    let folders = match raw.folders {
        None => None,
        Some(l) => Some(
            list("folders", Some(l))?
                .iter()
                .enumerate()
                .map(|(i, f)| check_folder(ctx, &format!("{name}.folders[{i}]"), f))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let from = list("from", raw.from)?;
    let to = list("to", raw.to)?;
    for (k, patterns) in [("from", &from), ("to", &to)] {
        for (i, p) in patterns.iter().enumerate() {
            check_address_glob(p)
                .map_err(|problem| ctx.err(format!("{name}.{k}[{i}]"), problem))?;
        }
    }
    let types = match raw.types {
        None => None,
        Some(l) => {
            let l = list("types", Some(l))?;
            for (i, t) in l.iter().enumerate() {
                crate::mime::check_type_pattern(t)
                    .map_err(|problem| ctx.err(format!("{name}.types[{i}]"), problem))?;
            }
            Some(l)
        }
    };
    Ok(RuleConfig {
        name: name.to_string(),
        folders,
        from,
        to,
        min_size: raw
            .min_size
            .map(|v| size_at(ctx, &key("min_size"), v))
            .transpose()?,
        older_than: raw
            .older_than
            .map(|v| age_at(ctx, &key("older_than"), v))
            .transpose()?,
        types,
        quota_target: super::target::target(ctx, &key("quota_target"), raw.quota_target)?,
    })
}

/// An address glob: an address with `*` and `?` (`*@example.com`,
/// `boss@*`), matched against the bare address, without display name.
fn check_address_glob(p: &str) -> Result<(), String> {
    const HINT: &str = "write an address, or a glob with * and ? such as \"*@example.com\"";
    if p.trim().is_empty() {
        return Err(format!("is empty; {HINT}"));
    }
    if let Some(c) = p
        .chars()
        .find(|c| c.is_whitespace() || "<>,;\"()[]".contains(*c))
    {
        return Err(format!(
            "{p:?} is not an address glob ({c:?} never occurs in a bare address); {HINT}"
        ));
    }
    if p.matches('@').count() != 1 {
        return Err(format!(
            "{p:?} is not an address glob (it needs one @); {HINT}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;
    use std::time::Duration;

    #[test]
    fn issue13_rules_parse_globally_and_per_account() {
        let text = with_store(&format!(
            "[[rule]]\nfolders = [\"Archive/*\", \"\\\\sent\"]\nmin_size = \"100KiB\"\n\
             [[rule]]\nfrom = [\"*@example.com\"]\nto = [\"boss@*\"]\nolder_than = \"30d\"\n\
             types = [\"image/*\"]\n{ACCOUNT}[[account.rule]]\nmin_size = 4096\n"
        ));
        let c = ok(&text);
        assert_eq!(c.rules.len(), 2);
        let r0 = &c.rules[0];
        assert_eq!(r0.name, "rule[0]");
        assert_eq!(
            r0.folders.as_deref(),
            Some(&["Archive/*".to_string(), "\\Sent".to_string()][..])
        );
        assert_eq!(r0.min_size, Some(100 * 1024));
        assert!(r0.from.is_empty() && r0.older_than.is_none() && r0.types.is_none());
        let r1 = &c.rules[1];
        assert_eq!(
            (r1.from.as_slice(), r1.to.as_slice()),
            (
                &["*@example.com".to_string()][..],
                &["boss@*".to_string()][..]
            )
        );
        assert_eq!(r1.older_than, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(r1.types.as_deref(), Some(&["image/*".to_string()][..]));
        let a = &c.accounts[0].rules;
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].name.as_str(), a[0].min_size),
            ("account[0].rule[0]", Some(4096))
        );
    }

    #[test]
    fn issue13_rule_errors_name_the_rule_by_its_number() {
        let rule = |body: &str| {
            with_store(&format!(
                "[[rule]]\nmin_size = 1\n[[rule]]\n{body}\n{ACCOUNT}"
            ))
        };
        for (text, key, says) in [
            (rule("min_sise = 5"), "rule[1]", "min_sise"),
            (
                rule("from = [\"<a@b>\"]"),
                "rule[1].from[0]",
                "address glob",
            ),
            (rule("to = [\"example.com\"]"), "rule[1].to[0]", "one @"),
            (rule("from = []"), "rule[1].from", "is empty"),
            (
                rule("folders = [\"\\\\Snet\"]"),
                "rule[1].folders[0]",
                "special-use",
            ),
            (rule("types = [\"image\"]"), "rule[1].types[0]", ""),
            (rule("older_than = 30"), "rule[1].older_than", "unit"),
            (rule("min_size = \"lots\""), "rule[1].min_size", ""),
        ] {
            let msg = err(&text);
            assert!(msg.contains(key) && msg.contains(says), "{key}: {msg}");
        }
        // A rule with nothing in it.
        let msg = err(&with_store(&format!(
            "[[rule]]\n[[rule]]\nmin_size = 1\n{ACCOUNT}"
        )));
        assert!(msg.contains("rule[0]") && msg.contains("is empty"), "{msg}");
        let msg = err(&with_store(&format!(
            "{ACCOUNT}[[account.rule]]\nfrom = [\"x\"]\n"
        )));
        assert!(msg.contains("account[0].rule[0].from[0]"), "{msg}");
    }
}
