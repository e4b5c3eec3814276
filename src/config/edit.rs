//! Changing the config file in place: today, pointing `[store] url` at
//! another store (after `slimbox store copy`).
//!
//! What belongs here: edits that keep the rest of the file byte for byte
//! (comments, order, spacing), made with `toml_edit`, checked by parsing
//! the result as a config before it replaces the file atomically. Deciding
//! when to edit belongs to the caller.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::check::parse_with_env;
use super::{Config, ConfigError, Env};

/// What [`StoreEdit::write`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrlChange {
    /// `[store] url` as it was written before.
    pub old_url: String,
    /// As it is written now.
    pub new_url: String,
    /// Keys of the old `[store]` other than `url` that were removed: they
    /// described the old store (its endpoint, its credentials).
    pub dropped: Vec<String>,
    /// Set when `[index] path` was added, pinning the index where it was:
    /// its default depends on the store (beside a local store's folder),
    /// and the index must not move with the objects.
    pub pinned_index: Option<PathBuf>,
}

/// The config file with a new `[store]`, checked as a config but not yet
/// written: the caller opens the new store from [`StoreEdit::config`],
/// and writes the file only once the objects are there.
#[derive(Debug)]
pub struct StoreEdit {
    path: PathBuf,
    /// The file as it was read, to notice a change made meanwhile.
    before: String,
    text: String,
    /// The config as it will be once written.
    pub config: Config,
    pub change: StoreUrlChange,
}

/// Everything that can go wrong editing the config file.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file as it is, or as it would be, is not a valid config.
    #[error("{0}")]
    Config(#[from] ConfigError),

    /// The edit could not be made (the message says why and what to do).
    #[error("cannot change {}: {problem}", path.display())]
    Edit { path: PathBuf, problem: String },

    /// The new file could not be written.
    #[error(
        "cannot write {}: {source}; the file is unchanged: check that its folder is \
         writable, then run the command again or set [store] url by hand",
        path.display()
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl EditError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            EditError::Write { source, .. } => {
                !matches!(source.kind(), std::io::ErrorKind::PermissionDenied)
            }
            EditError::Config(_) | EditError::Edit { .. } => false,
        }
    }
}

/// Prepares the config file at `path` with `[store] url` set to `url`
/// and the other keys of `[store]` set to `settings` (`key`, value as
/// written on the command line: TOML if it parses as a TOML value, such
/// as `true`, else a string); the old store's other keys are removed.
/// Every other byte of the file is kept; `[index] path` is added when its
/// default would otherwise move. Nothing is written yet.
pub fn edit_store(
    path: &Path,
    url: &str,
    settings: &[(String, String)],
) -> Result<StoreEdit, EditError> {
    let before = read(path)?;
    let env = |k: &str| std::env::var_os(k);
    let (text, config, change) = edit_text(&before, path, url, settings, &env)?;
    Ok(StoreEdit {
        path: path.to_path_buf(),
        before,
        text,
        config,
        change,
    })
}

/// Points `[store] url` at `url` at once (see [`edit_store`]).
pub fn set_store_url(path: &Path, url: &str) -> Result<StoreUrlChange, EditError> {
    edit_store(path, url, &[])?.write()
}

impl StoreEdit {
    /// Writes the file atomically (a crash leaves the old file or the new
    /// one), unless it was changed since it was read: that change would
    /// be lost.
    pub fn write(self) -> Result<StoreUrlChange, EditError> {
        if read(&self.path)? != self.before {
            return Err(EditError::Edit {
                path: self.path,
                problem: format!(
                    "it was changed while the store was copied; set [store] url = {:?} by \
                     hand (the objects are all there)",
                    self.change.new_url
                ),
            });
        }
        write_atomic(&self.path, self.text.as_bytes()).map_err(|source| EditError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.change)
    }
}

fn read(path: &Path) -> Result<String, EditError> {
    std::fs::read_to_string(path).map_err(|source| {
        EditError::Config(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// The edit itself, on text; `env` as for parsing.
fn edit_text(
    text: &str,
    path: &Path,
    url: &str,
    settings: &[(String, String)],
    env: Env,
) -> Result<(String, Config, StoreUrlChange), EditError> {
    let edit_err = |problem: String| EditError::Edit {
        path: path.to_path_buf(),
        problem,
    };
    let before = parse_with_env(text, Some(path), env)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| edit_err(e.to_string()))?;
    let (old_url, dropped) = set_store(&mut doc, url, settings).map_err(edit_err)?;

    let mut pinned_index = None;
    if parse_with_env(&doc.to_string(), Some(path), env)?
        .index
        .path
        != before.index.path
    {
        let index = before.index.path.to_str().ok_or_else(|| {
            edit_err(format!(
                "the index {} must stay where it is, and its path is not valid UTF-8 to \
                 write as [index] path; set [store] url = {url:?} and [index] path by hand",
                before.index.path.display()
            ))
        })?;
        pin_index(&mut doc, index);
        pinned_index = Some(before.index.path.clone());
    }
    let new_text = doc.to_string();
    let after = parse_with_env(&new_text, Some(path), env)?;
    if after.store.url != url || after.index.path != before.index.path {
        return Err(edit_err(format!(
            "the edited file would name the store {} and the index {} instead of {url} and \
             {}; set [store] url by hand",
            after.store.url,
            after.index.path.display(),
            before.index.path.display()
        )));
    }
    let change = StoreUrlChange {
        old_url,
        new_url: url.to_string(),
        dropped,
        pinned_index,
    };
    Ok((new_text, after, change))
}

/// Sets `[store]` to `url` and `settings`; returns the old url and the
/// old keys removed.
fn set_store(
    doc: &mut DocumentMut,
    url: &str,
    settings: &[(String, String)],
) -> Result<(String, Vec<String>), String> {
    let store = doc
        .get_mut("store")
        .and_then(Item::as_table_like_mut)
        .ok_or("it has no [store] table to change")?;
    let value = store
        .get_mut("url")
        .and_then(Item::as_value_mut)
        .ok_or("it has no [store] url to change")?;
    let old_url = value.as_str().unwrap_or_default().to_string();
    replace_keeping_decor(value, url);
    // Encryption goes with the store unless the copy says otherwise
    // (`--set encryption=none` for a plain copy): a copy that silently
    // wrote every attachment in plain bytes would undo what it was for.
    let is_crypt = |k: &str| k.starts_with("encryption");
    let keep_crypt = !settings.iter().any(|(s, _)| is_crypt(s));
    let dropped: Vec<String> = store
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| k != "url" && !settings.iter().any(|(s, _)| s == k))
        .filter(|k| !(keep_crypt && is_crypt(k)))
        .collect();
    for key in &dropped {
        store.remove(key);
    }
    for (key, raw) in settings {
        if key == "url" {
            return Err("the store's url is --to, not a setting".to_string());
        }
        // `true`, `5`, `"quoted"` are TOML; anything else is a string.
        let value = raw
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(raw.as_str()));
        match store.get_mut(key).and_then(Item::as_value_mut) {
            Some(old) => replace_value_keeping_decor(old, value),
            None => {
                store.insert(key, Item::Value(value));
            }
        }
    }
    Ok((old_url, dropped))
}

/// Replaces a string value, keeping the spaces and comment around it.
fn replace_keeping_decor(value: &mut Value, new: &str) {
    replace_value_keeping_decor(value, Value::from(new));
}

fn replace_value_keeping_decor(value: &mut Value, new: Value) {
    let decor = value.decor().clone();
    *value = new;
    *value.decor_mut() = decor;
}

/// Sets `[index] path`, adding the table right after `[store]` if needed.
fn pin_index(doc: &mut DocumentMut, index: &str) {
    if let Some(table) = doc.get_mut("index").and_then(Item::as_table_like_mut) {
        table.insert("path", toml_edit::value(index));
        return;
    }
    let store_position = doc
        .get("store")
        .and_then(Item::as_table)
        .and_then(Table::position);
    let mut table = Table::new();
    // The same position as [store]: printed right after it, since the new
    // table comes later in the document's order.
    table.set_position(store_position);
    table.insert("path", toml_edit::value(index));
    doc.insert("index", Item::Table(table));
}

/// A temporary file in the same folder, synced, renamed over the target
/// (keeping the target's permissions: a config may hold a password).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file()
        .set_permissions(std::fs::metadata(path)?.permissions())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{env_of, ACCOUNT};
    use super::*;

    fn edit(text: &str, url: &str) -> Result<(String, StoreUrlChange), EditError> {
        edit_with(text, url, &[])
    }

    fn edit_with(
        text: &str,
        url: &str,
        settings: &[(&str, &str)],
    ) -> Result<(String, StoreUrlChange), EditError> {
        let env = env_of(&[("HOME", "/home/me"), ("XDG_DATA_HOME", "/xdg")]);
        let settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = Path::new("/etc/slimbox/config.toml");
        edit_text(text, path, url, &settings, &env).map(|(t, _, c)| (t, c))
    }

    #[test]
    fn only_the_url_changes_when_the_index_is_set() {
        let text = format!(
            "# my config\n[store]\nurl   =  'old/store'   # where it goes\n\n\
             [index]\npath = \"/srv/i.sqlite\"\n{ACCOUNT}\n# the end\n"
        );
        let (new, change) = edit(&text, "s3://bucket/att").expect("edit");
        assert_eq!(
            new,
            text.replace("'old/store'", "\"s3://bucket/att\""),
            "{new}"
        );
        assert_eq!(change.old_url, "old/store");
        assert_eq!(change.pinned_index, None);
    }

    #[test]
    fn a_default_index_is_pinned_right_after_the_store() {
        let text = format!("[store]\nurl = \"/data/store\"\n{ACCOUNT}");
        let (new, change) = edit(&text, "s3://bucket").expect("edit");
        assert_eq!(
            change.pinned_index,
            Some(PathBuf::from("/data/index.sqlite"))
        );
        let expected = format!(
            "[store]\nurl = \"s3://bucket\"\n\n[index]\npath = \"/data/index.sqlite\"\n{ACCOUNT}"
        );
        assert_eq!(new, expected);

        // An [index] table without a path gets one, in place.
        let text = format!("[store]\nurl = \"/data/store\"\n[index]\n{ACCOUNT}");
        let (new, _) = edit(&text, "/other/store").expect("edit");
        assert!(
            new.starts_with(
                "[store]\nurl = \"/other/store\"\n[index]\npath = \"/data/index.sqlite\"\n"
            ),
            "{new}"
        );
    }

    #[test]
    fn issue24_encryption_goes_with_the_store_unless_the_copy_says_otherwise() {
        let text = format!(
            "[store]\nurl = \"memory:///a\"\nencryption = \"age\"\n\
             encryption_key_env = \"K\"\n[links]\nbase_url = \"https://f.example\"\n{ACCOUNT}"
        );
        let (new, change) = edit(&text, "memory:///b").expect("edit");
        assert!(change.dropped.is_empty(), "{:?}", change.dropped);
        assert_eq!(new, text.replace("memory:///a", "memory:///b"));

        let (new, change) =
            edit_with(&text, "memory:///b", &[("encryption", "none")]).expect("edit to plain");
        assert_eq!(change.dropped, vec!["encryption_key_env".to_string()]);
        assert!(new.contains("encryption = \"none\""), "{new}");
    }

    #[test]
    fn an_index_that_stays_put_is_not_pinned() {
        // Remote to remote: the default (the data folder) does not move.
        let text = format!("[store]\nurl = \"memory:///a\"\n{ACCOUNT}");
        let (new, change) = edit(&text, "memory:///b").expect("edit");
        assert_eq!(change.pinned_index, None);
        assert_eq!(new, text.replace("memory:///a", "memory:///b"));
    }

    #[test]
    fn the_example_configs_change_only_in_the_url_line() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for name in ["personal.toml", "it-nightly.toml", "local-test.toml"] {
            let text = std::fs::read_to_string(dir.join(name)).expect("example");
            let (new, change) = edit(&text, "s3://bucket/slimbox").expect(name);
            let pin = change
                .pinned_index
                .map(|p| format!("\n[index]\npath = \"{}\"\n", p.display()))
                .unwrap_or_default();
            let new = new.replacen(&pin, "", 1);
            let old_lines: Vec<&str> = text.lines().collect();
            let new_lines: Vec<&str> = new.lines().collect();
            assert_eq!(old_lines.len(), new_lines.len(), "{name}:\n{new}");
            let changed: Vec<(&str, &str)> = old_lines
                .iter()
                .zip(&new_lines)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (*a, *b))
                .collect();
            assert_eq!(changed.len(), 1, "{name}: {changed:?}");
            assert!(changed[0].0.starts_with("url = "), "{name}: {changed:?}");
            assert!(
                changed[0].1.starts_with("url = \"s3://bucket/slimbox\""),
                "{name}: {changed:?}"
            );
            assert_eq!(text.ends_with('\n'), new.ends_with('\n'), "{name}");
        }
    }

    #[test]
    fn settings_are_checked_as_the_config_would_be() {
        let text = format!("[store]\nurl = \"/data/store\"\n{ACCOUNT}");
        let err = edit_with(&text, "/other", &[("no_such_key", "1")]).expect_err("unknown");
        assert!(matches!(err, EditError::Config(_)), "{err}");
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let err = edit_with(&text, "/other", &[("url", "/x")]).expect_err("url");
        assert!(err.to_string().contains("--to"), "{err}");
    }

    #[test]
    fn a_file_changed_meanwhile_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        let text = format!("[store]\nurl = \"store\"\n{ACCOUNT}");
        std::fs::write(&path, &text).expect("write");
        let edit = edit_store(&path, "/new/store", &[]).expect("edit");
        assert_eq!(edit.config.store.url, "/new/store");
        let changed = format!("{text}# a note\n");
        std::fs::write(&path, &changed).expect("write");
        let err = edit.write().expect_err("changed");
        assert!(err.to_string().contains("changed while"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), changed);
    }

    #[test]
    fn a_file_that_is_not_a_config_is_left_alone() {
        let err = edit("[store]\nurl = 1\n", "/x").expect_err("invalid");
        assert!(matches!(err, EditError::Config(_)), "{err}");
        assert!(!err.is_transient());
    }

    #[test]
    fn the_file_is_replaced_with_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        let index = dir.path().join("index.sqlite");
        let text = format!(
            "[store]\nurl = \"store\"\n[index]\npath = {:?}\n{ACCOUNT}",
            index.to_str().expect("utf-8")
        );
        std::fs::write(&path, &text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let change = set_store_url(&path, "/new/store").expect("set");
        assert_eq!(change.old_url, "store");
        let new = std::fs::read_to_string(&path).expect("read");
        assert_eq!(new, text.replace("\"store\"", "\"/new/store\""));
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
