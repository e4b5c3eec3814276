//! Every example config in `config/` must parse and configure at least one
//! account. The folder is listed at run time, so a new example is checked
//! without touching this file.

use std::path::{Path, PathBuf};

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_parses_and_has_an_account() {
    let files = example_files();
    assert!(!files.is_empty(), "no *.toml files in config/");
    for path in files {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let config = slimbox::config::parse(&text, Some(&path))
            .unwrap_or_else(|e| panic!("{} does not parse:\n{e}", path.display()));
        assert!(
            !config.accounts.is_empty(),
            "{} has no [[account]]",
            path.display()
        );
        assert_eq!(config.path.as_deref(), Some(path.as_path()));
    }
}
