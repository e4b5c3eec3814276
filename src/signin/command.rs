//! [`CommandTokenSource`]: an account's `token_command`, a shell command
//! that prints an access token on its first line (an IT helper, a vault, a
//! script around another OAuth2 client).

use std::process::Stdio;

use super::{SigninError, TokenFuture, TokenSource};

/// Set to `1` in the command's environment when the server refused the
/// token it printed last, so a command that caches tokens knows to get a
/// new one.
pub const FORCE_NEW_ENV: &str = "SLIMBOX_TOKEN_FORCE_NEW";

/// Runs `command` with `sh -c` each time a token is needed (every
/// connection), like `password_command`; slimbox keeps no token of its own.
#[derive(Debug, Clone)]
pub struct CommandTokenSource {
    command: String,
}

impl CommandTokenSource {
    pub fn new(command: impl Into<String>) -> Self {
        CommandTokenSource {
            command: command.into(),
        }
    }

    async fn run(&self, force_new: bool) -> Result<String, SigninError> {
        let fail = |reason: String| SigninError::Command {
            command: self.command.clone(),
            reason,
        };
        // stdin stays inherited so that a helper which prompts (a vault's
        // passphrase) still works; stderr is captured to explain a failure.
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&self.command)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if force_new {
            cmd.env(FORCE_NEW_ENV, "1");
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| fail(format!("it could not be started with `sh -c` ({e})")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(fail(match stderr.is_empty() {
                true => format!("it ended with {} and printed no error", out.status),
                false => format!("it ended with {}, saying: {stderr}", out.status),
            }));
        }
        first_line_token(&out.stdout).map_err(|problem| match problem {
            None => SigninError::CommandEmpty {
                command: self.command.clone(),
            },
            Some(reason) => fail(reason.to_string()),
        })
    }
}

impl TokenSource for CommandTokenSource {
    fn token(&self, force_new: bool) -> TokenFuture<'_> {
        Box::pin(self.run(force_new))
    }
}

/// The token on the first line of `stdout`, without surrounding white
/// space. `Err(None)`: nothing there; `Err(Some(why))`: not a token.
fn first_line_token(stdout: &[u8]) -> Result<String, Option<&'static str>> {
    let line = stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(Some("its first line is not UTF-8 text"));
    };
    let token = line.trim();
    if token.is_empty() {
        return Err(None);
    }
    // Bearer tokens are printable ASCII without spaces (RFC 6750 b64token
    // and JWTs alike); anything else is a message, not a token. The line
    // itself is not repeated: it may be a secret after all.
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(Some(
            "its first line is not an access token (it has spaces, control or non-ASCII \
             characters); it must print only the token there",
        ));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_only() {
        assert_eq!(
            first_line_token(b"  ya29.abc-_~+/=  \r\nexpires 3600\n").as_deref(),
            Ok("ya29.abc-_~+/=")
        );
        assert_eq!(first_line_token(b""), Err(None));
        assert_eq!(first_line_token(b"\nsecond line\n"), Err(None));
        assert!(matches!(first_line_token(b"two words\n"), Err(Some(_))));
        assert!(matches!(first_line_token(b"\xff\xfe\n"), Err(Some(_))));
    }

    #[tokio::test]
    async fn runs_the_command_each_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = dir.path().join("count");
        // Prints token-1, token-2, ...; and "forced" when asked for a new one.
        let script = format!(
            "n=$(($(cat {c} 2>/dev/null || echo 0) + 1)); echo $n > {c}; \
             echo \"token-$n${{{FORCE_NEW_ENV}:+-forced}}\"; echo second line",
            c = count.display()
        );
        let src = CommandTokenSource::new(script);
        assert_eq!(src.token(false).await.expect("first"), "token-1");
        assert_eq!(src.token(true).await.expect("forced"), "token-2-forced");
        assert_eq!(src.token(false).await.expect("third"), "token-3");
    }

    #[tokio::test]
    async fn failures_name_the_command_and_the_fix() {
        let src = CommandTokenSource::new("echo vault is sealed >&2; exit 3");
        let e = src.token(false).await.unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("vault is sealed") && s.contains("exit") && s.contains("token_command"),
            "{s}"
        );
        assert!(!e.is_transient());
        let e = CommandTokenSource::new("true")
            .token(false)
            .await
            .unwrap_err();
        assert!(matches!(e, SigninError::CommandEmpty { .. }), "{e:?}");
        assert!(e.to_string().contains("printed nothing"), "{e}");
        let e = CommandTokenSource::new("echo error: no such account")
            .token(false)
            .await
            .unwrap_err();
        assert!(matches!(e, SigninError::Command { .. }), "{e:?}");
        assert!(e.to_string().contains("not an access token"), "{e}");
    }
}
