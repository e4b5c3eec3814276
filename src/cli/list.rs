//! `slimbox list`: what was detached, newest first.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::job;
use crate::index::{Index, PartFilter};
use crate::units::{human_size, parse_size};

/// Filters shared by `list`, `restore` and `reattach --all`.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Only this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Sender address contains this.
    #[arg(long)]
    pub from: Option<String>,
    /// File name matches this glob (`*.pdf`, `report-??.xlsx`).
    #[arg(long)]
    pub name: Option<String>,
    /// Messages dated on or after this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_day)]
    pub since: Option<i64>,
    /// Messages dated before this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_day)]
    pub until: Option<i64>,
    /// Attachments of at least this size (bytes, 64KiB, 1MB, ...).
    #[arg(long, value_parser = parse_size)]
    pub larger: Option<u64>,
}

impl FilterArgs {
    pub fn to_filter(&self) -> PartFilter {
        PartFilter {
            account: self.account.clone(),
            from: self.from.clone(),
            name_glob: self.name.clone(),
            since: self.since,
            until: self.until,
            larger: self.larger,
            ..PartFilter::default()
        }
    }
}

/// `YYYY-MM-DD` to Unix seconds at 00:00 UTC.
pub fn parse_day(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a date: write YYYY-MM-DD, e.g. 2024-03-31");
    let mut it = s.trim().splitn(3, '-');
    let (y, m, d) = (
        it.next()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(bad)?,
        it.next()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(bad)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

/// Unix seconds as `YYYY-MM-DD`.
pub fn format_day(ts: Option<i64>) -> String {
    match ts {
        Some(t) => {
            let d = mail_parser::DateTime::from_timestamp(t);
            format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
        }
        None => "-".into(),
    }
}

/// List what was detached, newest first: date, sender, file, size, SHA-256.
///
/// Reads only the local index; the server is not contacted.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Print JSON (full SHA-256 and all fields).
    #[arg(long)]
    json: bool,
}

pub fn run(args: ListArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let index = Index::open(&config.index.path)?;
    let rows = index.find_parts(&args.filter.to_filter())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format_day(r.date),
                r.from.clone().unwrap_or_default(),
                crate::mime::safe_name(&r.filename),
                human_size(r.size),
                r.sha256.chars().take(12).collect(),
                format!("{} {}", r.account, r.folder),
            ]
        })
        .collect();
    job::print_table(&["date", "from", "file", "size", "sha256", "where"], &table);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-01"), Ok(0));
        assert_eq!(parse_day("2024-03-01"), Ok(1_709_251_200));
        assert_eq!(format_day(Some(1_709_251_200)), "2024-03-01");
        assert!(parse_day("2024-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
