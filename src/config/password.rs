//! [`PasswordSource`]: where an account's password comes from, and fetching
//! it (environment variable, command, or inline in the file).

use std::fmt;

use super::ConfigError;

/// Where an account's password comes from: exactly one of `password_env`,
/// `password_command` or `password`.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The name of an environment variable.
    Env(String),
    /// A shell command whose standard output is the password.
    Command(String),
    /// The password itself, written in the file.
    Inline(String),
}

// Written by hand so that `{:?}` of a Config (logs, panics) never shows an
// inline password.
impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            PasswordSource::Command(cmd) => f.debug_tuple("Command").field(cmd).finish(),
            PasswordSource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

impl PasswordSource {
    /// Fetches the password: reads the variable, runs the command (via
    /// `sh -c`, standard output minus its trailing newline) or returns the
    /// inline value.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        match self {
            PasswordSource::Inline(p) => Ok(p.clone()),
            PasswordSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(ConfigError::PasswordEnvEmpty { var: var.clone() }),
                Err(std::env::VarError::NotPresent) => {
                    Err(ConfigError::PasswordEnvUnset { var: var.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(ConfigError::PasswordEnvNotUnicode { var: var.clone() })
                }
            },
            PasswordSource::Command(cmd) => run_password_command(cmd),
        }
    }
}

fn run_password_command(cmd: &str) -> Result<String, ConfigError> {
    // stdin stays inherited so that tools which prompt (a gpg pinentry on
    // the terminal) still work; stderr is captured to explain a failure.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .output()
        .map_err(|source| ConfigError::PasswordCommandSpawn {
            command: cmd.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(ConfigError::PasswordCommandFailed {
            command: cmd.to_string(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let Ok(mut text) = String::from_utf8(out.stdout) else {
        return Err(ConfigError::PasswordCommandOutput {
            command: cmd.to_string(),
            problem: "printed something that is not UTF-8 text",
        });
    };
    // Only the line ending goes: spaces may be part of a password.
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(ConfigError::PasswordCommandOutput {
            command: cmd.to_string(),
            problem: "printed nothing",
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_password_is_redacted_in_debug() {
        let shown = format!("{:?}", PasswordSource::Inline("hunter2".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn password_env_resolves() {
        // A variable of our own, so no other test can be affected.
        let var = "SLIMBOX_CONFIG_TEST_PASSWORD_RESOLVES";
        let src = PasswordSource::Env(var.into());
        let msg = src.resolve().expect_err("unset").to_string();
        assert!(msg.contains(var), "{msg}");
        // Changing the process environment is fine here: no other test reads
        // this variable.
        std::env::set_var(var, "s3cret");
        assert_eq!(src.resolve().expect("set"), "s3cret");
        std::env::remove_var(var);
    }

    #[cfg(unix)]
    #[test]
    fn password_command_resolves() {
        let src = PasswordSource::Command("printf secret".into());
        assert_eq!(src.resolve().expect("printf"), "secret");
        let src = PasswordSource::Command("echo 'two words '".into());
        assert_eq!(src.resolve().expect("echo"), "two words ");
        let src = PasswordSource::Command("echo no such entry >&2; exit 3".into());
        let msg = src.resolve().expect_err("fails").to_string();
        assert!(
            msg.contains("no such entry") && msg.contains("exit"),
            "{msg}"
        );
        let src = PasswordSource::Command("true".into());
        assert!(src.resolve().is_err());
    }
}
