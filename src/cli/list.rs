//! `slimbox list`: what was detached, newest first.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::print::{self, print_table};
use crate::dates::{self, parse_day};
use crate::index::PartFilter;
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

/// Unix seconds as `YYYY-MM-DD`, or `-` for a message without a date.
pub fn format_day(ts: Option<i64>) -> String {
    ts.map_or_else(|| "-".into(), dates::format_day)
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
    let service = print::open(config_path.as_deref())?;
    let rows = service.find_parts(&args.filter.to_filter())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format_day(r.date),
                crate::mime::display::shown(r.from.as_deref().unwrap_or_default()),
                crate::mime::safe_name(&r.filename),
                human_size(r.size),
                r.sha256.chars().take(12).collect(),
                format!("{} {}", r.account, r.folder),
            ]
        })
        .collect();
    print_table(&["date", "from", "file", "size", "sha256", "where"], &table);
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
