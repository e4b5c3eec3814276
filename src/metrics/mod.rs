//! `run --metrics-file`: what a run did, per mailbox, in the Prometheus
//! text exposition format (version 0.0.4), for node_exporter's textfile
//! collector. What belongs here: the figures of one mailbox
//! ([`MailboxFigures`]), rendering them ([`render`], pure), and writing
//! the file so that the collector never reads half of it ([`write_file`]:
//! a temporary file in the same folder, renamed over the old one).
//!
//! Every figure is a gauge of the last run, labelled
//! `mailbox="<account name>"`; the time of the last success comes from the
//! index, so a run that fails still reports the last one that did not.
//! Quota figures are there only where the server has QUOTA; reconnects
//! only where the run reconnected, and the quota target's figures only
//! where a `quota_target` applies (issue 25).

pub mod listen;
pub mod parse;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::pipeline::quota::QuotaReport;
use crate::pipeline::AccountReport;

/// What one mailbox's run comes to.
#[derive(Debug, Clone, PartialEq)]
pub struct MailboxFigures {
    /// The account's name (the `mailbox` label).
    pub mailbox: String,
    pub bytes_saved: u64,
    pub converted: u64,
    /// Messages that failed or wait in the journal, plus one when the run
    /// of the mailbox stopped on an error.
    pub failures: u64,
    pub duration_seconds: f64,
    /// Unix seconds; `None`: never.
    pub last_success: Option<i64>,
    pub quota_before: Option<QuotaReport>,
    pub quota_after: Option<QuotaReport>,
    /// How often the run lost its connection and made it again (issue
    /// 25: a run that then finished everything is a success).
    pub reconnects: u64,
    /// With a `quota_target`: where the mailbox ended against it.
    pub quota_target: Option<crate::pipeline::target::TargetEnd>,
}

impl MailboxFigures {
    /// The figures of one account's report; `last_success` from the index
    /// (after this run's own success was noted there).
    pub fn of(report: &AccountReport, duration_seconds: f64, last_success: Option<i64>) -> Self {
        let folders = &report.folders;
        let failed: usize = folders.iter().map(|f| f.failed).sum::<usize>() + report.waiting.len();
        MailboxFigures {
            mailbox: report.account.clone(),
            bytes_saved: folders
                .iter()
                .map(|f| f.bytes_before.saturating_sub(f.bytes_after))
                .sum(),
            converted: folders.iter().map(|f| f.converted as u64).sum(),
            failures: failed as u64 + u64::from(report.error.is_some()),
            duration_seconds,
            last_success,
            quota_before: report.quota_before.clone(),
            quota_after: report.quota_after.clone(),
            reconnects: report.reconnects as u64,
            quota_target: report.quota_target.clone(),
        }
    }
}

/// Errors writing the metrics file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot write the metrics file {}: {source}; check that its folder exists and is writable", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MetricsError {
    /// A full disk or a busy file system may be better next run; the
    /// run itself is not retried for it.
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// One gauge family: name, help, and the value of one mailbox (none: the
/// mailbox has no sample).
type Family = (
    &'static str,
    &'static str,
    fn(&MailboxFigures) -> Vec<(Option<&'static str>, f64)>,
);

const FAMILIES: [Family; 10] = [
    (
        "slimbox_last_run_bytes_saved",
        "Bytes the last run removed from the mailbox's messages.",
        |m| vec![(None, m.bytes_saved as f64)],
    ),
    (
        "slimbox_last_run_messages_converted",
        "Messages the last run converted.",
        |m| vec![(None, m.converted as f64)],
    ),
    (
        "slimbox_last_run_failures",
        "Messages the last run could not convert or left waiting, plus one if it stopped on an error.",
        |m| vec![(None, m.failures as f64)],
    ),
    (
        "slimbox_last_run_duration_seconds",
        "How long the last run of the mailbox took.",
        |m| vec![(None, m.duration_seconds)],
    ),
    (
        "slimbox_last_run_reconnects",
        "How often the last run lost its connection and reconnected (absent: never).",
        // Only where it happened, as the quota lines only where there is a
        // quota: most runs never reconnect.
        |m| {
            (m.reconnects > 0)
                .then_some((None, m.reconnects as f64))
                .into_iter()
                .collect()
        },
    ),
    (
        "slimbox_last_success_timestamp_seconds",
        "When a run of the mailbox last ended without trouble (unix time).",
        |m| m.last_success.map(|t| (None, t as f64)).into_iter().collect(),
    ),
    (
        "slimbox_quota_used_bytes",
        "Storage the mailbox's quota root used before and after the last run (GETQUOTAROOT).",
        |m| {
            [("before", &m.quota_before), ("after", &m.quota_after)]
                .into_iter()
                .filter_map(|(phase, q)| Some((Some(phase), q.as_ref()?.used_bytes? as f64)))
                .collect()
        },
    ),
    (
        "slimbox_quota_limit_bytes",
        "The storage limit of the mailbox's quota root (GETQUOTAROOT).",
        |m| {
            let q = m.quota_after.as_ref().or(m.quota_before.as_ref());
            q.and_then(|q| q.limit_bytes)
                .map(|l| (None, l as f64))
                .into_iter()
                .collect()
        },
    ),
    (
        "slimbox_quota_target_bytes",
        "The mailbox's quota target (quota_target of its quota) in bytes.",
        |m| {
            m.quota_target
                .as_ref()
                .map(|t| (None, t.target_bytes as f64))
                .into_iter()
                .collect()
        },
    ),
    (
        "slimbox_quota_target_reached",
        "1 if the last run left the mailbox at or under its quota target, else 0.",
        |m| {
            m.quota_target
                .as_ref()
                .and_then(|t| t.reached)
                .map(|r| (None, f64::from(u8::from(r))))
                .into_iter()
                .collect()
        },
    ),
];

/// The exposition: HELP and TYPE once per family, then a sample per
/// mailbox; a family without samples (no server with QUOTA) is left out.
pub fn render(mailboxes: &[MailboxFigures]) -> String {
    let mut out = String::new();
    for (name, help, values) in FAMILIES {
        let samples: Vec<String> = mailboxes
            .iter()
            .flat_map(|m| {
                values(m).into_iter().map(move |(phase, v)| {
                    let mut labels = format!("mailbox=\"{}\"", escape_label(&m.mailbox));
                    if let Some(p) = phase {
                        let _ = write!(labels, ",phase=\"{p}\"");
                    }
                    format!("{name}{{{labels}}} {}\n", number(v))
                })
            })
            .collect();
        if samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        out.extend(samples);
    }
    out
}

/// A label value as the format wants it: backslash, double quote and line
/// feed escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, others as Rust prints them.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Writes `text` to `path` whole or not at all: to a temporary file in the
/// same folder (a rename is atomic only within one file system), flushed,
/// then renamed over `path`. The textfile collector skips files that do
/// not end in `.prom`, so the temporary one is never read.
pub fn write_file(path: &Path, text: &str) -> Result<(), MetricsError> {
    let err = |source| MetricsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".slimbox-metrics")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Readable by the collector, whoever it runs as (a tempfile is 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o644);
        tmp.as_file().set_permissions(mode).map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests;
