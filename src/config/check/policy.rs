//! `[policy]`: sizes, ages, folders, content types and the link template.

use std::time::Duration;

use super::size::size_at;
use super::Ctx;
use crate::config::raw::RawPolicy;
use crate::config::{ConfigError, PolicyConfig, DEFAULT_FOLDERS, DEFAULT_MIN_SIZE};

/// The IMAP special-use flags (RFC 6154, plus `\Important` from RFC 8457).
/// Anything else starting with `\` is almost surely a typo, and would
/// otherwise match no folder without a word.
const SPECIAL_USE: [&str; 8] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Important",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// Checks `[policy]`, filling in defaults.
pub(super) fn policy_config(ctx: &Ctx, raw: RawPolicy) -> Result<PolicyConfig, ConfigError> {
    let min_size = min_size(ctx, raw.min_size)?;
    let older_than = older_than(ctx, raw.older_than)?;
    let folders = folders(ctx, raw.folders)?;

    // The engine knows which patterns and placeholders it understands.
    for (name, list) in [
        ("include_types", &raw.include_types),
        ("exclude_types", &raw.exclude_types),
    ] {
        for (i, t) in list.iter().enumerate() {
            crate::mime::check_type_pattern(t)
                .map_err(|problem| ctx.err(format!("policy.{name}[{i}]"), problem))?;
        }
    }
    if let Some(t) = &raw.link_template {
        crate::mime::check_link_template(t)
            .map_err(|problem| ctx.err("policy.link_template", problem))?;
    }

    Ok(PolicyConfig {
        min_size,
        older_than,
        folders,
        include_types: raw.include_types,
        exclude_types: raw.exclude_types,
        detach_signed: raw.detach_signed,
        link_template: raw.link_template,
        quota_target: super::target::target(ctx, "policy.quota_target", raw.quota_target)?,
    })
}

/// `policy.min_size`: a size string or a number of bytes.
fn min_size(ctx: &Ctx, raw: Option<toml::Value>) -> Result<u64, ConfigError> {
    match raw {
        None => Ok(DEFAULT_MIN_SIZE),
        Some(v) => size_at(ctx, "policy.min_size", v),
    }
}

/// `policy.older_than`: an age string such as `"30d"`.
fn older_than(ctx: &Ctx, raw: Option<toml::Value>) -> Result<Option<Duration>, ConfigError> {
    raw.map(|v| age_at(ctx, "policy.older_than", v)).transpose()
}

/// An age at `key` (`policy.older_than`, `rule[0].older_than`).
pub(super) fn age_at(ctx: &Ctx, key: &str, raw: toml::Value) -> Result<Duration, ConfigError> {
    match raw {
        toml::Value::String(s) => parse_age(&s).map_err(|problem| ctx.err(key, problem)),
        other => Err(ctx.err(
            key,
            format!(
                "{other} is not an age; write a string with a unit: \"30d\", \"12h\", \
                 \"2w\" (units s, m, h, d, w)"
            ),
        )),
    }
}

/// `policy.folders`: never empty, defaulting to [`DEFAULT_FOLDERS`].
fn folders(ctx: &Ctx, raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = raw else {
        return Ok(DEFAULT_FOLDERS.iter().map(|f| f.to_string()).collect());
    };
    if list.is_empty() {
        return Err(ctx.err(
            "policy.folders",
            "is empty, so slimbox would look at no folder; list some, e.g. \
             [\"\\\\Sent\", \"\\\\Archive\"], or remove the key for that default",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, f)| check_folder(ctx, &format!("policy.folders[{i}]"), f))
        .collect()
}

/// Parses an age like `30d`: a whole number and one unit. No months or
/// years: their length varies, and `m` already means minutes.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    const HINT: &str = "write a whole number and a unit: \"30d\", \"12h\", \"2w\" \
                        (s seconds, m minutes, h hours, d days, w weeks)";
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let Ok(n) = num.parse::<u64>() else {
        return Err(format!("{s:?} is not an age; {HINT}"));
    };
    let secs_per: u64 = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(format!("{s:?} has no unit; {HINT}")),
        _ => return Err(format!("{s:?} has an unknown unit; {HINT}")),
    };
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long an age; {HINT}"))
}

/// Checks one `policy.folders` entry; special-use flags come back in their
/// canonical spelling (IMAP flags are case-insensitive).
pub(super) fn check_folder(ctx: &Ctx, key: &str, f: &str) -> Result<String, ConfigError> {
    if f.trim().is_empty() {
        return Err(ctx.err(
            key,
            "is empty; write a special-use flag (\"\\\\Sent\"), a folder name or a glob",
        ));
    }
    if f.starts_with('\\') {
        return match SPECIAL_USE.iter().find(|s| s.eq_ignore_ascii_case(f)) {
            Some(s) => Ok(s.to_string()),
            None => Err(ctx.err(
                key,
                format!(
                    "{f:?} is not a special-use flag; use one of {} (in TOML \"\\\\Sent\"), \
                     or a folder name without the backslash",
                    SPECIAL_USE.join(", ")
                ),
            )),
        };
    }
    Ok(f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_units() {
        let day = 86_400;
        for (text, secs) in [
            ("45s", 45),
            ("90m", 90 * 60),
            ("12h", 12 * 3600),
            ("30d", 30 * day),
            ("2w", 14 * day),
            (" 7 d ", 7 * day),
            ("0d", 0),
        ] {
            assert_eq!(parse_age(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in [
            "30",
            "d",
            "",
            "1.5d",
            "3mo",
            "1y",
            "-1d",
            "99999999999999999999w",
        ] {
            assert!(parse_age(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
