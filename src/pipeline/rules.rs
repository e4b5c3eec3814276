//! Rules (`[[rule]]`, `[[account.rule]]`): which thresholds apply to a
//! message. Pure functions, decided at planning in two steps:
//!
//! - on the server, per folder: the folders to look at are those of the
//!   policy and of every rule; the SEARCH of a folder uses the loosest
//!   size and age of what may apply there ([`Scope::search`]), so no
//!   message a rule would take is missed;
//! - per message, from its addresses (From, To, Cc header fields, fetched
//!   only where a rule names senders or recipients) and INTERNALDATE:
//!   the first rule that matches applies ([`decide`]), else the policy
//!   where its folders include this one, else nothing. Size and types are
//!   then judged by [`super::select::judge`] with the values that apply.

use std::time::Duration;

use super::folders::glob;
use super::select::{SelectPolicy, SkipReason};
use crate::config::{PolicyConfig, RuleConfig};

/// One rule, its values filled in from the policy where it leaves them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `rule[0]`, `account[1].rule[0]`, or `policy` for the policy itself.
    pub name: String,
    /// Folder patterns, as `policy.folders`.
    pub folders: Vec<String>,
    /// Address globs, lower case; empty: any.
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub select: SelectPolicy,
    pub older_than: Option<Duration>,
    /// Its own `quota_target` (issue 25); `None`: the account's or the
    /// policy's (`JobPolicy::quota_target`).
    pub quota_target: Option<u8>,
}

impl Rule {
    /// The rule from the config; what it leaves out is the policy's.
    pub fn from_config(r: &RuleConfig, policy: &PolicyConfig) -> Rule {
        let lower = |l: &[String]| l.iter().map(|p| p.to_lowercase()).collect();
        Rule {
            name: r.name.clone(),
            folders: r.folders.clone().unwrap_or_else(|| policy.folders.clone()),
            from: lower(&r.from),
            to: lower(&r.to),
            select: SelectPolicy {
                min_size: r.min_size.unwrap_or(policy.min_size),
                include_types: r
                    .types
                    .clone()
                    .unwrap_or_else(|| policy.include_types.clone()),
                exclude_types: policy.exclude_types.clone(),
                detach_signed: policy.detach_signed,
            },
            older_than: r.older_than.or(policy.older_than),
            quota_target: r.quota_target,
        }
    }

    /// Whether the rule needs the message's addresses to decide.
    pub fn needs_addresses(&self) -> bool {
        !self.from.is_empty() || !self.to.is_empty()
    }

    fn matches(&self, addrs: &Addresses) -> bool {
        let any = |patterns: &[String], list: &[String]| {
            patterns.is_empty() || list.iter().any(|a| patterns.iter().any(|p| glob(p, a)))
        };
        any(&self.from, &addrs.from) && any(&self.to, &addrs.to)
    }
}

/// An account's rules in the order they are tried: its own, then the
/// global ones.
pub fn for_account(policy: &PolicyConfig, global: &[RuleConfig], own: &[RuleConfig]) -> Vec<Rule> {
    own.iter()
        .chain(global)
        .map(|r| Rule::from_config(r, policy))
        .collect()
}

/// What may apply in one folder: the rules whose folders include it, in
/// order, then the policy itself (as a rule named `policy`, matching every
/// message) when its folders include it.
#[derive(Debug, Clone)]
pub struct Scope<'r> {
    pub rules: Vec<&'r Rule>,
}

impl Scope<'_> {
    /// The loosest size and age among what may apply: the server's SEARCH
    /// must find every message any of them would take.
    pub fn search(&self) -> (u64, Option<Duration>) {
        let min = self.rules.iter().map(|r| r.select.min_size).min();
        let age = self
            .rules
            .iter()
            .map(|r| r.older_than)
            .try_fold(Duration::MAX, |acc, a| a.map(|a| acc.min(a)));
        (min.unwrap_or(u64::MAX), age)
    }

    pub fn needs_addresses(&self) -> bool {
        self.rules.iter().any(|r| r.needs_addresses())
    }
}

/// A message's addresses, bare and in lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub from: Vec<String>,
    /// To and Cc.
    pub to: Vec<String>,
}

impl Addresses {
    /// From the raw header fields From, To and Cc (as FETCHed with
    /// `BODY.PEEK[HEADER.FIELDS (FROM TO CC)]`).
    pub fn from_header(header: &[u8]) -> Addresses {
        let text = String::from_utf8_lossy(header);
        // Unfold: a line starting with white space continues the field.
        let unfolded = text
            .replace("\r\n", "\n")
            .replace("\n ", " ")
            .replace("\n\t", " ");
        let mut out = Addresses::default();
        for line in unfolded.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let list = match name.trim().to_ascii_lowercase().as_str() {
                "from" => &mut out.from,
                "to" | "cc" => &mut out.to,
                _ => continue,
            };
            list.extend(bare_addresses(value));
        }
        out
    }
}

/// The bare addresses in a header field's value: the words with one `@`,
/// between the characters that delimit them (`<>`, commas, quotes, white
/// space, comments). A display name that is itself an address counts too,
/// which can only make a rule match its own sender.
fn bare_addresses(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || "<>,;\"()".contains(c))
        .filter(|w| w.matches('@').count() == 1 && !w.starts_with('@') && !w.ends_with('@'))
        .map(|w| w.to_lowercase())
        .collect()
}

/// Which rule applies to a message in a folder with `scope`, from its
/// addresses and INTERNALDATE (`internal_ts`); `searched_age` is the age
/// its folder's SEARCH used, so a stricter rule's age is checked here.
/// `Err`: no rule applies, or the one that does wants older mail.
pub fn decide<'r>(
    scope: &Scope<'r>,
    addrs: &Addresses,
    internal_ts: i64,
    searched_age: Option<Duration>,
    now: i64,
) -> Result<&'r Rule, SkipReason> {
    let Some(rule) = scope.rules.iter().copied().find(|r| r.matches(addrs)) else {
        return Err(SkipReason::NoRule);
    };
    if let Some(age) = rule.older_than.filter(|a| Some(*a) != searched_age) {
        // As the server's BEFORE: before the UTC day of the cutoff.
        let cutoff = now.saturating_sub(age.as_secs().min(i64::MAX as u64) as i64);
        let day_start = cutoff - cutoff.rem_euclid(86_400);
        if internal_ts >= day_start {
            return Err(SkipReason::TooRecent(rule.name.clone()));
        }
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn policy() -> PolicyConfig {
        PolicyConfig {
            min_size: 1_000_000,
            older_than: None,
            folders: vec!["\\Sent".into()],
            include_types: vec![],
            exclude_types: vec!["application/ics".into()],
            detach_signed: false,
            link_template: None,
            quota_target: None,
        }
    }

    fn rule(n: usize) -> RuleConfig {
        RuleConfig {
            name: format!("rule[{n}]"),
            folders: None,
            from: vec![],
            to: vec![],
            min_size: None,
            older_than: None,
            types: None,
            quota_target: None,
        }
    }

    fn addrs(from: &str, to: &str) -> Addresses {
        Addresses::from_header(format!("From: {from}\r\nTo: {to}\r\n\r\n").as_bytes())
    }

    #[test]
    fn issue13_rule_values_fall_back_to_the_policy() {
        let mut r = rule(0);
        r.min_size = Some(10);
        r.from = vec!["*@Example.COM".into()];
        let got = Rule::from_config(&r, &policy());
        assert_eq!(got.folders, ["\\Sent"]);
        assert_eq!(got.from, ["*@example.com"]);
        assert_eq!(got.select.min_size, 10);
        assert_eq!(got.select.exclude_types, ["application/ics"]);
        assert_eq!(got.older_than, None);
        // The account's own rules first.
        let mut own = rule(0);
        own.name = "account[0].rule[0]".into();
        let all = for_account(&policy(), &[rule(0)], &[own]);
        assert_eq!(all[0].name, "account[0].rule[0]");
        assert_eq!(all[1].name, "rule[0]");
    }

    #[test]
    fn issue13_addresses_from_header_fields() {
        let h = b"From: \"Smith, Jo\" <Jo@Example.com>\r\nTo: a@b.org,\r\n\t(team) c@d.net\r\nCc: <e@f.io>\r\nSubject: x@y\r\n\r\n";
        let a = Addresses::from_header(h);
        assert_eq!(a.from, ["jo@example.com"]);
        assert_eq!(a.to, ["a@b.org", "c@d.net", "e@f.io"]);
        assert_eq!(Addresses::from_header(b""), Addresses::default());
    }

    #[test]
    fn issue13_first_matching_rule_applies_else_the_policy() {
        let p = policy();
        let mut boss = rule(0);
        boss.from = vec!["boss@*".into()];
        boss.min_size = Some(50_000_000);
        let mut partner = rule(1);
        partner.to = vec!["*@partner.com".into()];
        partner.min_size = Some(10_000);
        let rules: Vec<Rule> = [boss, partner]
            .iter()
            .map(|r| Rule::from_config(r, &p))
            .collect();
        let base = Rule {
            name: "policy".into(),
            ..Rule::from_config(&rule(9), &p)
        };
        let scope = Scope {
            rules: vec![&rules[0], &rules[1], &base],
        };
        assert_eq!(scope.search(), (10_000, None));
        assert!(scope.needs_addresses());
        let who = |a: &Addresses| decide(&scope, a, 0, None, 1_000_000).map(|r| r.name.clone());
        assert_eq!(
            who(&addrs("Boss@corp.com", "x@partner.com")),
            Ok("rule[0]".into())
        );
        assert_eq!(
            who(&addrs("me@corp.com", "x@PARTNER.com")),
            Ok("rule[1]".into())
        );
        assert_eq!(
            who(&addrs("me@corp.com", "x@other.com")),
            Ok("policy".into())
        );
        // A folder only a rule names: mail the rule does not match is left.
        let only = Scope {
            rules: vec![&rules[0]],
        };
        assert_eq!(
            decide(&only, &addrs("me@corp.com", ""), 0, None, 0),
            Err(SkipReason::NoRule)
        );
    }

    #[test]
    fn issue13_search_is_the_loosest_and_age_is_checked_per_message() {
        let p = policy();
        let mut old = rule(0);
        old.from = vec!["*@lists.org".into()];
        old.older_than = Some(Duration::from_secs(30 * DAY));
        let mut week = rule(1);
        week.older_than = Some(Duration::from_secs(7 * DAY));
        week.min_size = Some(5_000_000);
        let rules: Vec<Rule> = [old, week]
            .iter()
            .map(|r| Rule::from_config(r, &p))
            .collect();
        let scope = Scope {
            rules: vec![&rules[0], &rules[1]],
        };
        let (min, age) = scope.search();
        assert_eq!((min, age), (1_000_000, Some(Duration::from_secs(7 * DAY))));
        let now = 100 * DAY as i64;
        let ten_days_ago = now - 10 * DAY as i64;
        let list = addrs("news@lists.org", "me@corp.com");
        assert_eq!(
            decide(&scope, &list, ten_days_ago, age, now),
            Err(SkipReason::TooRecent("rule[0]".into()))
        );
        let forty_days_ago = now - 40 * DAY as i64;
        assert_eq!(
            decide(&scope, &list, forty_days_ago, age, now).map(|r| r.name.as_str()),
            Ok("rule[0]")
        );
        // The searched age is not checked again (the server did).
        assert_eq!(
            decide(&scope, &addrs("x@y.z", ""), ten_days_ago, age, now).map(|r| r.name.as_str()),
            Ok("rule[1]")
        );
        // One without an age: the search takes all ages.
        let any = Rule::from_config(&rule(2), &p);
        let scope = Scope {
            rules: vec![&rules[1], &any],
        };
        assert_eq!(scope.search(), (1_000_000, None));
        assert_eq!(Scope { rules: vec![] }.search().0, u64::MAX);
    }
}
