//! Temporary credentials from `[store] credentials_command`, renewed as they
//! expire. A command that prints an expiry (AWS `credential_process` JSON's
//! `Expiration`, or `AWS_CREDENTIAL_EXPIRATION` as `aws configure
//! export-credentials --format env` prints it) gets run again shortly
//! before that time, so a run longer than an STS token's life keeps
//! writing. Credentials without an expiry are used as printed for the
//! whole process, as before.
//!
//! What belongs here: running the command and parsing what it prints
//! (settings and expiry), and the object_store credential provider that
//! caches the credential and runs the command again. `backend` uses these
//! when it builds a store; nothing here knows about backends.

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

use super::StoreError;

/// Setting names (lowercased) that carry an expiry rather than a setting.
const EXPIRY_KEYS: [&str; 2] = ["expiration", "aws_credential_expiration"];

/// How long before the expiry a credential is renewed, at most. A short
/// lived one is renewed when half its life is left instead, so a command
/// printing two-minute tokens is not run before every request.
const RENEW_AHEAD: SignedDuration = SignedDuration::from_secs(300);

/// What a `credentials_command` printed: the settings, and when they
/// expire if it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Printed {
    pub settings: Vec<(String, String)>,
    pub expires: Option<Timestamp>,
}

impl Printed {
    /// Splits the expiry out of `pairs` (lowercased setting names).
    pub(super) fn from_pairs(pairs: Vec<(String, String)>) -> Result<Printed, String> {
        let mut settings = Vec::with_capacity(pairs.len());
        let mut expires = None;
        for (k, v) in pairs {
            if !EXPIRY_KEYS.contains(&k.as_str()) {
                settings.push((k, v));
                continue;
            }
            let t = v.parse::<Timestamp>().map_err(|e| {
                format!("its expiry {v:?} is not a time like 2030-01-01T00:00:00Z: {e}")
            })?;
            expires = Some(t);
        }
        Ok(Printed { settings, expires })
    }
}

/// Whether a credential fetched at `fetched` and expiring at `expires`
/// should be renewed at `now`.
fn renew_due(now: Timestamp, fetched: Timestamp, expires: Timestamp) -> bool {
    let life = expires.duration_since(fetched);
    let ahead = if life.is_negative() {
        SignedDuration::ZERO
    } else {
        RENEW_AHEAD.min(life / 2)
    };
    now >= expires - ahead
}

/// The AWS credential in `settings`.
fn aws_credential(settings: &[(String, String)]) -> Result<AwsCredential, String> {
    let get = |k: &str| settings.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(AwsCredential {
            key_id: id.clone(),
            secret_key: secret.clone(),
            token: get("aws_session_token").cloned(),
        }),
        _ => Err(
            "it printed an expiry but not both AWS_ACCESS_KEY_ID (AccessKeyId) and \
                  AWS_SECRET_ACCESS_KEY (SecretAccessKey)"
                .to_string(),
        ),
    }
}

struct Held {
    credential: Arc<AwsCredential>,
    fetched: Timestamp,
    expires: Timestamp,
}

/// An S3 credential from a command, run again when it is about to expire.
/// One renewal at a time: requests wait for it rather than each running
/// the command.
pub(super) struct CommandCredentials {
    command: String,
    held: tokio::sync::Mutex<Held>,
}

impl std::fmt::Debug for CommandCredentials {
    // The credential itself stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandCredentials")
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl CommandCredentials {
    /// The provider for what `command` printed when the store opened.
    pub(super) fn new(
        command: &str,
        settings: &[(String, String)],
        expires: Timestamp,
    ) -> Result<CommandCredentials, StoreError> {
        let credential = aws_credential(settings).map_err(|reason| fail(command, reason))?;
        Ok(CommandCredentials {
            command: command.to_string(),
            held: tokio::sync::Mutex::new(Held {
                credential: Arc::new(credential),
                fetched: Timestamp::now(),
                expires,
            }),
        })
    }

    async fn get(&self) -> Result<Arc<AwsCredential>, StoreError> {
        let mut held = self.held.lock().await;
        if !renew_due(Timestamp::now(), held.fetched, held.expires) {
            return Ok(held.credential.clone());
        }
        let command = self.command.clone();
        let fetched = Timestamp::now();
        let renewed = tokio::task::spawn_blocking(move || renew(&command))
            .await
            .unwrap_or_else(|e| Err(fail(&self.command, format!("it did not finish: {e}"))));
        match renewed {
            Ok((credential, expires)) => {
                tracing::debug!("store credentials renewed, valid until {expires}");
                *held = Held {
                    credential: Arc::new(credential),
                    fetched,
                    expires,
                };
            }
            // Still valid for a while: use them, and try again next time.
            Err(e) if Timestamp::now() < held.expires => {
                tracing::warn!("{e}; the current store credentials are kept until they expire");
            }
            Err(e) => return Err(e),
        }
        Ok(held.credential.clone())
    }
}

/// Runs the command again for a fresh credential and its expiry.
fn renew(command: &str) -> Result<(AwsCredential, Timestamp), StoreError> {
    let printed = run_credentials_command(command)?;
    let credential = aws_credential(&printed.settings).map_err(|r| fail(command, r))?;
    let Some(expires) = printed.expires else {
        return Err(fail(
            command,
            "it printed an expiry when the store opened but none now".to_string(),
        ));
    };
    Ok((credential, expires))
}

fn fail(command: &str, reason: String) -> StoreError {
    StoreError::CredentialsCommand {
        command: command.to_string(),
        reason,
    }
}

// object_store declares the trait with `async_trait`; this is what that
// macro expands to, written out so slimbox needs no extra dependency.
impl CredentialProvider for CommandCredentials {
    type Credential = AwsCredential;

    fn get_credential<'a, 'async_trait>(
        &'a self,
    ) -> Pin<Box<dyn Future<Output = object_store::Result<Arc<AwsCredential>>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.get().await.map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })
        })
    }
}

/// Runs `sh -c cmd` (when the store opens, and again as what it printed
/// expires, see `backend::credentials` and [`CommandCredentials`]) and parses what it prints.
pub(super) fn run_credentials_command(cmd: &str) -> Result<Printed, StoreError> {
    let fail = |reason: String| fail(cmd, reason);
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("it could not be started: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(fail(format!("it failed ({}): {}", out.status, err.trim())));
    }
    let text =
        String::from_utf8(out.stdout).map_err(|_| fail("it printed non-UTF-8 output".into()))?;
    parse_printed(&text).map_err(fail)
}

/// What a `credentials_command` may print: either
/// - `KEY=VALUE` lines (an `export ` prefix, quotes and `#` comments are
///   fine: `aws configure export-credentials --format env` works as is), or
/// - a JSON object: AWS's `credential_process` form (`AccessKeyId`,
///   `SecretAccessKey`, `SessionToken`) or `{"KEY": "VALUE", …}`.
///
/// KEYs are object_store's setting names, e.g. `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AZURE_STORAGE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_SAS_KEY`, `GOOGLE_SERVICE_ACCOUNT_KEY`. An expiry
/// (`Expiration`, `AWS_CREDENTIAL_EXPIRATION`) is not a setting: it is
/// left out here (see `backend::credentials` for what it does).
pub fn parse_credentials(text: &str) -> Result<Vec<(String, String)>, String> {
    Ok(parse_printed(text)?.settings)
}

/// [`parse_credentials`], with the expiry.
fn parse_printed(text: &str) -> Result<Printed, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("it printed nothing".to_string());
    }
    if trimmed.starts_with('{') {
        return Printed::from_pairs(parse_json_credentials(trimmed)?);
    }
    let mut out = Vec::new();
    for line in trimmed.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "a line is neither KEY=VALUE nor a comment: {:?}",
                first_word(line)
            ));
        };
        let v = v.trim();
        let v = strip_quotes(v);
        out.push((k.trim().to_ascii_lowercase(), v.to_string()));
    }
    Printed::from_pairs(out)
}

fn parse_json_credentials(text: &str) -> Result<Vec<(String, String)>, String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("it printed JSON that is not an object of strings: {e}"))?;
    let mut out = Vec::new();
    for (k, v) in map {
        let key = match k.as_str() {
            "AccessKeyId" => "aws_access_key_id".to_string(),
            "SecretAccessKey" => "aws_secret_access_key".to_string(),
            "SessionToken" => "aws_session_token".to_string(),
            // credential_process bookkeeping, not a setting.
            "Version" => continue,
            "Expiration" => "expiration".to_string(),
            other => other.to_ascii_lowercase(),
        };
        match v {
            serde_json::Value::String(s) => out.push((key, s)),
            _ => return Err(format!("the value of {k:?} is not a string")),
        }
    }
    Ok(out)
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// A secret may follow: show only what stands before `=` or a space.
fn first_word(line: &str) -> &str {
    line.split([' ', '=', ':']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn issue11_expiry_is_split_from_the_settings() {
        let p = Printed::from_pairs(vec![
            ("aws_access_key_id".into(), "a".into()),
            ("expiration".into(), "2030-01-01T00:00:00+00:00".into()),
        ])
        .unwrap();
        assert_eq!(p.settings, [("aws_access_key_id".into(), "a".into())]);
        assert_eq!(p.expires, Some(t("2030-01-01T00:00:00Z")));
        let e = Printed::from_pairs(vec![("aws_credential_expiration".into(), "soon".into())])
            .unwrap_err();
        assert!(e.contains("soon"), "{e}");
    }

    #[test]
    fn issue11_renewal_is_due_shortly_before_expiry() {
        let fetched = t("2030-01-01T00:00:00Z");
        let hour = t("2030-01-01T01:00:00Z");
        // An hour's token: renewed five minutes ahead.
        assert!(!renew_due(t("2030-01-01T00:54:59Z"), fetched, hour));
        assert!(renew_due(t("2030-01-01T00:55:00Z"), fetched, hour));
        // A two-minute token: renewed at half its life.
        let short = t("2030-01-01T00:02:00Z");
        assert!(!renew_due(t("2030-01-01T00:00:59Z"), fetched, short));
        assert!(renew_due(t("2030-01-01T00:01:00Z"), fetched, short));
        // Printed already expired: renewed at once.
        assert!(renew_due(fetched, fetched, t("2029-01-01T00:00:00Z")));
    }

    /// A command that counts its runs in `dir/count` and prints the
    /// expiry written in `dir/expiry`.
    fn counting_command(dir: &std::path::Path) -> String {
        let d = dir.display();
        format!(
            "n=$(cat {d}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {d}/count; \
             printf '{{\"Version\": 1, \"AccessKeyId\": \"id%s\", \"SecretAccessKey\": \"s\", \
             \"SessionToken\": \"t\", \"Expiration\": \"%s\"}}' $n \"$(cat {d}/expiry)\""
        )
    }

    fn runs(dir: &std::path::Path) -> u32 {
        std::fs::read_to_string(dir.join("count"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn issue11_the_command_runs_again_when_its_credentials_expire() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = counting_command(dir.path());
        let expiry = dir.path().join("expiry");
        // Printed already expired (a clock ahead, or a slow start).
        std::fs::write(&expiry, "2000-01-01T00:00:00Z").unwrap();
        let printed = run_credentials_command(&cmd).unwrap();
        let p = CommandCredentials::new(&cmd, &printed.settings, printed.expires.unwrap()).unwrap();
        assert_eq!(runs(dir.path()), 1);
        let c = p.get_credential().await.unwrap();
        assert_eq!((c.key_id.as_str(), runs(dir.path())), ("id2", 2));
        let c = p.get_credential().await.unwrap();
        assert_eq!((c.key_id.as_str(), runs(dir.path())), ("id3", 3));
        // Good for a long time: no more runs.
        std::fs::write(&expiry, "2100-01-01T00:00:00Z").unwrap();
        for _ in 0..5 {
            let c = p.get_credential().await.unwrap();
            assert_eq!(c.key_id, "id4");
            assert_eq!(c.token.as_deref(), Some("t"));
        }
        assert_eq!(runs(dir.path()), 4);
    }

    #[tokio::test]
    async fn issue11_a_failed_renewal_keeps_valid_credentials_and_reports_expired_ones() {
        let fresh = vec![
            ("aws_access_key_id".to_string(), "old".to_string()),
            ("aws_secret_access_key".to_string(), "s".to_string()),
        ];
        let failing = "echo 'sts: throttled' >&2; exit 2";
        // Due for renewal (30 s left of a minute) but still valid.
        let soon = Timestamp::now() + SignedDuration::from_secs(30);
        let p = CommandCredentials::new(failing, &fresh, soon).unwrap();
        p.held.lock().await.fetched = Timestamp::now() - SignedDuration::from_secs(30);
        assert_eq!(p.get_credential().await.unwrap().key_id, "old");
        // Expired: the error names the command and what it said.
        let past = Timestamp::now() - SignedDuration::from_secs(1);
        let p = CommandCredentials::new(failing, &fresh, past).unwrap();
        let e = p.get_credential().await.unwrap_err().to_string();
        assert!(
            e.contains("throttled") && e.contains("credentials_command"),
            "{e}"
        );
    }

    #[test]
    fn credentials_as_env_lines() {
        let text = "# from aws\nexport AWS_ACCESS_KEY_ID=AKIA1\nexport AWS_SECRET_ACCESS_KEY=\"s/e=c\"\n\nAWS_SESSION_TOKEN='tok'\n";
        assert_eq!(
            parse_credentials(text).unwrap(),
            vec![
                ("aws_access_key_id".into(), "AKIA1".into()),
                ("aws_secret_access_key".into(), "s/e=c".into()),
                ("aws_session_token".into(), "tok".into()),
            ]
        );
    }

    #[test]
    fn credentials_as_json() {
        let process = r#"{"Version": 1, "AccessKeyId": "AKIA2", "SecretAccessKey": "sec",
            "SessionToken": "tok", "Expiration": "2030-01-01T00:00:00Z"}"#;
        let mut got = parse_credentials(process).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("aws_access_key_id".into(), "AKIA2".into()),
                ("aws_secret_access_key".into(), "sec".into()),
                ("aws_session_token".into(), "tok".into()),
            ]
        );
        let flat = parse_credentials(r#"{"AZURE_STORAGE_ACCOUNT_KEY": "k=="}"#).unwrap();
        assert_eq!(
            flat,
            vec![("azure_storage_account_key".into(), "k==".into())]
        );
    }

    #[test]
    fn bad_credentials_output_is_refused_without_the_secret() {
        assert!(parse_credentials("  \n").is_err());
        let e = parse_credentials("hunter2 secret").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(parse_credentials(r#"{"AccessKeyId": 5}"#).is_err());
    }
}
