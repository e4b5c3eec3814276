//! A strict reader of the text exposition format, as far as slimbox writes
//! it (gauges, labels, no timestamps): what the tests read the metrics file
//! back with, to check it is well formed and holds the run's figures.

use std::collections::{BTreeMap, HashSet};

/// One sample: its metric name, labels, and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses an exposition; `Err` names the line and what is wrong with it.
/// Checked: metric and label names, HELP and TYPE once per family and
/// before its samples, each family's samples together, label escapes, no
/// series twice, the file ending in a line feed.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line does not end in a line feed".into());
    }
    let mut typed: HashSet<String> = HashSet::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let seen = match kind {
                "HELP" => &mut helped,
                "TYPE" => {
                    let t = words.next().unwrap_or("");
                    if !["gauge", "counter", "untyped"].contains(&t) {
                        return Err(at(format!("unknown type {t:?}")));
                    }
                    &mut typed
                }
                _ => continue,
            };
            check_name(name).map_err(at)?;
            if !seen.insert(name.to_string()) || done.contains(name) {
                return Err(at(format!("{kind} for {name} twice or after its samples")));
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let s = sample(line).map_err(at)?;
        if !typed.contains(&s.name) {
            return Err(at(format!("{} has no TYPE line before it", s.name)));
        }
        if current.as_deref() != Some(s.name.as_str()) {
            if let Some(c) = current.replace(s.name.clone()) {
                done.insert(c);
            }
            if done.contains(&s.name) {
                return Err(at(format!("{}'s samples are not together", s.name)));
            }
        }
        if !series.insert(format!("{}{:?}", s.name, s.labels)) {
            return Err(at("the same series twice".into()));
        }
        out.push(s);
    }
    Ok(out)
}

fn check_name(n: &str) -> Result<(), String> {
    let ok = n.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if n.is_empty() || !ok {
        return Err(format!("{n:?} is not a metric name"));
    }
    Ok(())
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(r)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("{v:?} is not a number"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"}` and what follows the brace.
fn label_set(mut r: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = r.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = r.find('=').ok_or("a label without =")?;
        let key = &r[..eq];
        if key.is_empty() || key.contains(':') {
            return Err(format!("{key:?} is not a label name"));
        }
        check_name(key)?;
        let mut chars = r[eq + 1..].char_indices();
        if chars.next().map(|c| c.1) != Some('"') {
            return Err(format!("label {key}'s value is not quoted"));
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(format!("a bad escape in label {key}")),
                },
                Some((j, '"')) => break eq + 1 + j + 1,
                Some((_, c)) => value.push(c),
                None => return Err(format!("label {key}'s value is not closed")),
            }
        };
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        r = &r[end..];
        r = r.strip_prefix(',').unwrap_or(r);
    }
}
