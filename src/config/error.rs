//! [`ConfigError`]: everything that can go wrong finding, reading or
//! checking a config, or fetching a password.

use std::path::PathBuf;

use super::MINIMAL_EXAMPLE;

/// Everything that can go wrong finding, reading, checking a config or
/// fetching a password. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no slimbox config file found (looked for {}); create one there, pass \
         --config FILE or set $SLIMBOX_CONFIG. A minimal config:\n\n{MINIMAL_EXAMPLE}",
        show_paths(.looked)
    )]
    NotFound { looked: Vec<PathBuf> },

    #[error(
        "config file {} (given by {origin}) does not exist; check the path, or \
         create it, for example:\n\n{MINIMAL_EXAMPLE}",
        .path.display()
    )]
    Missing { path: PathBuf, origin: &'static str },

    #[error(
        "cannot find a config file: neither $XDG_CONFIG_HOME nor $HOME is set; \
         pass --config FILE or set $SLIMBOX_CONFIG"
    )]
    NoConfigDir,

    #[error("cannot read config file {}: {source}; check that it is a readable file", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// toml's own message: it shows the line, column and offending key.
    #[error("{file} is not a valid slimbox config:\n{message}")]
    Syntax { file: String, message: String },

    #[error("{file}: {key}: {problem}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
    },

    #[error("no account named {name:?} in {file}; the accounts are: {}", .known.join(", "))]
    UnknownAccount {
        name: String,
        file: String,
        known: Vec<String>,
    },

    #[error(
        "environment variable ${var} (password_env) is not set; export it before \
         running slimbox, or use password_command instead"
    )]
    PasswordEnvUnset { var: String },

    #[error(
        "environment variable ${var} (password_env) is empty; set it to the \
         password, or use password_command instead"
    )]
    PasswordEnvEmpty { var: String },

    #[error("environment variable ${var} (password_env) is not valid UTF-8; set it to the password as text")]
    PasswordEnvNotUnicode { var: String },

    #[error("password_command `{command}` could not be started: {source}; slimbox runs it with `sh -c`, check that sh is installed")]
    PasswordCommandSpawn {
        command: String,
        source: std::io::Error,
    },

    #[error("password_command `{command}` failed ({status}): {stderr}; run it by hand to see what is wrong")]
    PasswordCommandFailed {
        command: String,
        status: String,
        stderr: String,
    },

    #[error(
        "password_command `{command}` {problem}; it must print the password on standard output"
    )]
    PasswordCommandOutput {
        command: String,
        problem: &'static str,
    },
}

fn show_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
