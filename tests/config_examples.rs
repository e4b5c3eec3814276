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

/// The IT examples (systemd, cron): each command line parses as slimbox's
/// own, and the config it names is one of `config/`.
#[test]
fn issue13_the_it_examples_name_real_configs_and_valid_commands() {
    use clap::Parser;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for file in ["examples/systemd/slimbox.service", "examples/cron/slimbox"] {
        let text = std::fs::read_to_string(root.join(file)).expect("example");
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some(at) = line.find("/usr/local/bin/slimbox ") else {
                continue;
            };
            let words: Vec<&str> = line[at..]
                .split_whitespace()
                .take_while(|w| !w.starts_with(">>") && *w != "||" && *w != "&&")
                .collect();
            slimbox::cli::Cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("{file}: {words:?} does not parse:\n{e}"));
            let config = words[words
                .iter()
                .position(|w| *w == "--config")
                .expect("--config")
                + 1];
            let name = config.strip_prefix("/etc/slimbox/").expect("/etc/slimbox/");
            assert!(
                root.join("config").join(name).is_file(),
                "{file}: no config/{name}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "one command line in each example");
    let k8s = std::fs::read_to_string(root.join("examples/kubernetes/slimbox.yaml")).expect("yaml");
    for named in ["config/kubernetes.toml", "config/kubernetes-accounts.csv"] {
        assert!(k8s.contains(named), "the CronJob example names {named}");
        assert!(root.join(named).is_file(), "{named}");
    }
}

/// The workers' Kubernetes example: its config is one of `config/`, and
/// the command lines of its worker and its CronJob parse as slimbox's own.
#[test]
fn issue22_the_workers_example_names_a_real_config_and_valid_commands() {
    use clap::Parser;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml =
        std::fs::read_to_string(root.join("examples/kubernetes/workers.yaml")).expect("yaml");
    assert!(yaml.contains("config/kubernetes-workers.toml"));
    assert!(root.join("config/kubernetes-workers.toml").is_file());
    for runs in [
        "- worker",
        "\"enqueue\", \"--all\"",
        "\"serve\", \"--listen\"",
    ] {
        assert!(yaml.contains(runs), "workers.yaml runs {runs}");
    }
    for args in [
        &[
            "--config",
            "/etc/slimbox/config.toml",
            "worker",
            "--concurrency",
            "4",
            "--metrics-listen",
            "0.0.0.0:9898",
        ][..],
        &["--config", "/etc/slimbox/config.toml", "enqueue", "--all"][..],
        &[
            "--config",
            "/etc/slimbox/config.toml",
            "serve",
            "--listen",
            "0.0.0.0:8025",
        ][..],
    ] {
        slimbox::cli::Cli::try_parse_from(std::iter::once("slimbox").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?} does not parse:\n{e}"));
    }
    let text = std::fs::read_to_string(root.join("config/kubernetes-workers.toml")).unwrap();
    let config =
        slimbox::config::parse(&text, Some(&root.join("config/kubernetes-workers.toml"))).unwrap();
    assert!(
        config.index.database.is_some(),
        "the workers' config has a PostgreSQL index"
    );
}
