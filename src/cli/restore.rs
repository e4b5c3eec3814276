//! `slimbox restore`: detached files back onto the disk.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::job;
use super::list::FilterArgs;
use crate::index::{Index, PartFilter};
use crate::store::parse_hex;

/// Write detached files, with their original names, into a folder.
///
/// Choose them by SHA-256 (or a prefix of at least 4 hex digits), by
/// --message-id, or by the filters of `slimbox list`. Every object is checked
/// against its SHA-256 on the way. Names are made safe (no path separators,
/// no `..`, no control characters, no reserved device names); two files
/// with the same name get a numbered suffix; nothing is written outside the
/// folder, and an existing file is never overwritten without --force.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// SHA-256 of the file, or a prefix of it.
    sha256: Option<String>,
    /// All attachments of the message with this Message-ID.
    #[arg(long)]
    message_id: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// The folder to write into (created if missing).
    #[arg(long)]
    to: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

/// Names Windows reserves for devices, with or without an extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A file name that is safe to create in any folder on any system: one path
/// component, no control characters, no characters Windows forbids, not `.`
/// or `..`, not a device name, at most 200 bytes (keeping the extension).
pub fn safe_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c if c.is_control() => '_',
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => '_',
            c => c,
        })
        .collect();
    s = s.trim_matches(|c: char| c == ' ' || c == '.').to_string();
    if s.is_empty() {
        s = "attachment".into();
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s = format!("_{s}");
    }
    const MAX: usize = 200;
    if s.len() > MAX {
        let ext = match s.rfind('.') {
            Some(i) if s.len() - i <= 16 => s[i..].to_string(),
            _ => String::new(),
        };
        let mut stem_end = MAX - ext.len();
        while !s.is_char_boundary(stem_end) {
            stem_end -= 1;
        }
        s = format!("{}{ext}", &s[..stem_end]);
    }
    s
}

/// `name (2).ext`, `name (3).ext`, ...
fn numbered(name: &str, n: usize) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

#[derive(serde::Serialize)]
struct Written {
    path: String,
    sha256: String,
    size: u64,
}

pub async fn run(args: RestoreArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = job::load_config(config_path.as_deref())?;
    let store = job::open_store(&config)?;
    let index = Index::open(&config.index.path)?;
    let mut filter: PartFilter = args.filter.to_filter();
    filter.include_reattached = true;
    if let Some(h) = &args.sha256 {
        let h = h.trim().to_ascii_lowercase();
        if h.len() < 4 || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{h:?} is not a SHA-256 or a prefix of one (4 to 64 hex digits)");
        }
        filter.sha256_prefix = Some(h);
    }
    filter.message_id = args.message_id.clone();
    if args.sha256.is_none()
        && args.message_id.is_none()
        && filter.name_glob.is_none()
        && filter.from.is_none()
        && filter.since.is_none()
        && filter.until.is_none()
        && filter.larger.is_none()
        && filter.account.is_none()
    {
        bail!(
            "say what to restore: a SHA-256 (or prefix), --message-id, or filters such as --name"
        );
    }
    let mut rows = index.find_parts(&filter)?;
    // Each (file, name) once: the same file in several messages is written once.
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert((r.sha256.clone(), r.filename.clone())));
    if let Some(prefix) = &args.sha256 {
        let distinct: HashSet<&str> = rows.iter().map(|r| r.sha256.as_str()).collect();
        if distinct.len() > 1 {
            let mut list: Vec<&str> = distinct.into_iter().collect();
            list.sort();
            bail!(
                "{prefix} matches {} files; give more digits:\n  {}",
                list.len(),
                list.join("\n  ")
            );
        }
        if rows.is_empty() {
            // Not in the index (lost or never indexed), but maybe in the store.
            if let Some(h) = parse_hex(prefix) {
                if store.exists(&h).await? {
                    rows.push(crate::index::PartRow {
                        message: 0,
                        account: String::new(),
                        folder: String::new(),
                        uidvalidity: 0,
                        uid: None,
                        message_id: None,
                        date: None,
                        from: None,
                        subject: None,
                        filename: format!("{}.bin", &prefix[..16]),
                        content_type: "application/octet-stream".into(),
                        size: store.size(&h).await?.unwrap_or(0),
                        sha256: prefix.to_ascii_lowercase(),
                        part_path: String::new(),
                        reattached: false,
                    });
                }
            }
        }
    }
    if rows.is_empty() {
        bail!("nothing in the index matches; `slimbox list` shows what there is");
    }
    std::fs::create_dir_all(&args.to)
        .with_context(|| format!("cannot create {}", args.to.display()))?;
    let dir = args
        .to
        .canonicalize()
        .with_context(|| format!("cannot open {}", args.to.display()))?;
    let total: u64 = rows.iter().map(|r| r.size).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} restoring [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut used: HashSet<String> = HashSet::new();
    let mut written = Vec::new();
    let mut problems = Vec::new();
    for r in &rows {
        let Some(hash) = parse_hex(&r.sha256) else {
            problems.push(format!(
                "{}: the index holds a damaged hash {:?}",
                r.filename, r.sha256
            ));
            continue;
        };
        let base = safe_file_name(&r.filename);
        let mut name = base.clone();
        let mut n = 1;
        while used.contains(&name.to_lowercase()) {
            n += 1;
            name = numbered(&base, n);
        }
        used.insert(name.to_lowercase());
        let path = dir.join(&name);
        // One component below DIR, by construction; checked all the same.
        if path.parent() != Some(dir.as_path()) {
            problems.push(format!("{name:?} would leave {}; skipped", dir.display()));
            continue;
        }
        if !args.force && path.symlink_metadata().is_ok() {
            problems.push(format!(
                "{} exists; not overwritten (use --force, or restore into another folder)",
                path.display()
            ));
            continue;
        }
        let data = match store.get(&hash).await {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{}: {e}", r.filename));
                continue;
            }
        };
        write_file(&dir, &path, &data, args.force)?;
        bar.inc(r.size);
        written.push(Written {
            path: path.display().to_string(),
            sha256: r.sha256.clone(),
            size: data.len() as u64,
        });
    }
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else {
        for w in &written {
            println!("{}  {}", &w.sha256[..12], w.path);
        }
    }
    for p in &problems {
        eprintln!("slimbox: {p}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes a file atomically in `dir`: a temporary file, synced, then linked
/// into place (never replacing anything unless `force`).
fn write_file(dir: &Path, path: &Path, data: &[u8], force: bool) -> anyhow::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let r = if force {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    r.map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_safe_component() {
        for (input, want) in [
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..\\win.ini", "_win.ini"),
            ("a\r\nb.txt", "a__b.txt"),
            ("..", "attachment"),
            ("", "attachment"),
            ("CON.txt", "_CON.txt"),
            ("nul", "_nul"),
            ("what?.pdf", "what_.pdf"),
        ] {
            assert_eq!(safe_file_name(input), want, "{input:?}");
        }
        let long = format!("{}.pdf", "é".repeat(300));
        let s = safe_file_name(&long);
        assert!(s.len() <= 200 && s.ends_with(".pdf"));
        assert_eq!(numbered("a.pdf", 2), "a (2).pdf");
        assert_eq!(numbered("noext", 3), "noext (3)");
    }
}
