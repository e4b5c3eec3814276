//! `slimbox login` and the token sources against a real OpenID provider
//! (node's oidc-provider on 127.0.0.1, tests/support/oidc.rs): the test plays
//! the browser over HTTP, following the address slimbox prints, filling in
//! the provider's sign-in and consent pages, and delivering the redirect to
//! slimbox's loopback listener; for the device flow it enters the printed
//! code on the provider's /device pages.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use slimbox::signin::{oauth_source, IdentityProvider};
use support::cli::slimbox_with;
use support::oidc::{Oidc, OidcOptions, Outcome, APP_CLIENT_ID, APP_CLIENT_SECRET, APP_SCOPE};

/// A config for user `alice` signing in at `oidc`, in a fresh folder.
fn user_config(oidc: &Oidc, dir: &Path) -> PathBuf {
    user_config_at(oidc, dir, 143)
}

/// [`user_config`] for an IMAP server on `port` of 127.0.0.1.
fn user_config_at(oidc: &Oidc, dir: &Path, port: u16) -> PathBuf {
    let text = format!(
        r#"[store]
url = "{store}"

[[account]]
name = "me"
host = "127.0.0.1"
port = {port}
tls = "none"
user = "alice"
auth = "xoauth2"

[account.oauth]
client_id = "slimbox"
authorize_url = "{auth}"
token_url = "{token}"
device_url = "{device}"
scopes = ["openid", "offline_access", "imap"]

[[account]]
name = "app"
host = "127.0.0.1"
port = {port}
tls = "none"
user = "bob"
auth = "xoauth2"

[account.oauth]
client_id = "{APP_CLIENT_ID}"
client_secret = "{APP_CLIENT_SECRET}"
app_only = true
token_url = "{token}"
scopes = ["{APP_SCOPE}"]
"#,
        store = dir.join("store").display(),
        auth = oidc.authorization_endpoint(),
        token = oidc.token_endpoint(),
        device = oidc.device_authorization_endpoint(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The default token file of account `me`: beside the index.
fn token_file(dir: &Path) -> PathBuf {
    dir.join("tokens/me.json")
}

fn stored(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(token_file(dir)).expect("token file")).expect("json")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// `slimbox login`, running, with its stdout read line by line.
struct LoginRun {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LoginRun {
    fn start(config: &Path, args: &[&str]) -> LoginRun {
        let mut child = slimbox_with(config)
            .arg("login")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start slimbox login");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LoginRun {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (trimmed) after which `pick` finds what it wants.
    fn wait_for(&mut self, what: &str, pick: impl Fn(&[String]) -> Option<String>) -> String {
        loop {
            if let Some(found) = pick(&self.seen) {
                return found;
            }
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => self.seen.push(line.trim().to_string()),
                Err(_) => panic!(
                    "slimbox login printed no {what}; it printed: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for the end; returns (success, stdout, stderr).
    fn finish(mut self) -> (bool, String, String) {
        let status = wait_timeout(&mut self.child, Duration::from_secs(60));
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let mut stdout = self.seen.join("\n");
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            stdout.push('\n');
            stdout.push_str(&l);
        }
        (status, stdout, stderr)
    }
}

impl Drop for LoginRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        assert!(
            start.elapsed() < limit,
            "slimbox login did not end within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The address `slimbox login` asks to open.
fn printed_url(lines: &[String]) -> Option<String> {
    lines.iter().find(|l| l.starts_with("http")).cloned()
}

/// Runs `slimbox login me --no-browser`, plays the browser as `user`
/// (consenting or not); returns the outcome of the command.
fn login_in_browser(config: &Path, oidc: &Oidc, consent: bool) -> (bool, String, String) {
    let mut run = LoginRun::start(config, &["me", "--no-browser"]);
    let url = run.wait_for("sign-in address", printed_url);
    assert!(url.starts_with(&oidc.authorization_endpoint()), "{url}");
    let parsed = url::Url::parse(&url).expect("printed URL");
    let param = |k: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("state").is_some_and(|s| s.len() >= 16), "{url}");
    let redirect = param("redirect_uri").expect("redirect_uri");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");

    let Outcome::Redirect(back) = oidc.sign_in(&url, "alice", "alicepw", consent) else {
        panic!(
            "the sign-in did not come back to slimbox\n{}",
            oidc.log_tail(20)
        );
    };
    assert!(back.as_str().starts_with(&redirect), "{back} vs {redirect}");
    let page = oidc.deliver(&back);
    assert_eq!(page.status, 200, "{}", page.body);
    run.finish()
}

#[test]
fn issue10_login_code_pkce_flow_keeps_a_private_refresh_token() {
    let oidc = Oidc::start(OidcOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());

    let (ok, stdout, stderr) = login_in_browser(&config, &oidc, true);
    assert!(
        ok,
        "slimbox login failed\n{stdout}\n{stderr}\n{}",
        oidc.log_tail(20)
    );
    assert!(stdout.contains("Signed in: account me"), "{stdout}");
    let file = token_file(dir.path());
    assert!(stdout.contains(&file.display().to_string()), "{stdout}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().expect("dir")), 0o700);
    let tokens = stored(dir.path());
    assert!(tokens["refresh_token"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    let access = tokens["access_token"].as_str().expect("access token");
    let info = oidc.introspect(access);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["imap_user"], "alice", "{info}");
}

#[test]
fn issue10_login_declined_consent_names_the_fix_and_writes_nothing() {
    let oidc = Oidc::start(OidcOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());
    let (ok, stdout, stderr) = login_in_browser(&config, &oidc, false);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("access_denied") && stderr.contains("run `slimbox login me` again"),
        "{stderr}"
    );
    assert!(!token_file(dir.path()).exists());
}

#[test]
fn issue10_login_device_flow() {
    let oidc = Oidc::start(OidcOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());

    let mut run = LoginRun::start(&config, &["me", "--device"]);
    let code = run.wait_for("user code", |lines| {
        let i = lines.iter().position(|l| l.contains("enter the code"))?;
        lines[i + 1..].iter().find(|l| !l.is_empty()).cloned()
    });
    assert!(
        run.seen.iter().any(|l| l.starts_with(&oidc.url("/device"))),
        "{:?}",
        run.seen
    );
    let page = oidc.approve_device(&code, "alice", "alicepw", true);
    assert!(page.body.contains("Sign-in Success"), "{}", page.body);
    let (ok, stdout, stderr) = run.finish();
    assert!(ok, "{stdout}\n{stderr}\n{}", oidc.log_tail(20));
    assert!(stdout.contains("Signed in: account me"), "{stdout}");
    assert_eq!(mode(&token_file(dir.path())), 0o600);
    let access = stored(dir.path())["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    assert_eq!(oidc.introspect(&access)["imap_user"], "alice");
}

fn account(config: &Path, name: &str) -> slimbox::config::AccountConfig {
    let c = slimbox::config::load(Some(config)).expect("config");
    c.account(Some(name)).expect("account")[0].clone()
}

/// A token that expires is refreshed by the token source (as in the
/// middle of a run), the rotated refresh token is saved; a revoked one
/// gives the error that says to log in again, and the file stays.
#[test]
fn issue10_tokens_refresh_on_expiry_and_revocation_says_login() {
    let oidc = Oidc::start(OidcOptions {
        access_ttl: Some(6),
        ..OidcOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());
    let (ok, stdout, stderr) = login_in_browser(&config, &oidc, true);
    assert!(ok, "{stdout}\n{stderr}");
    let first_refresh = stored(dir.path())["refresh_token"].clone();

    let me = account(&config, "me");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let source = oauth_source(&me, IdentityProvider::Generic).expect("source");
    let t1 = rt.block_on(source.token(false)).expect("token");
    let t2 = rt.block_on(source.token(false)).expect("token again");
    assert_eq!(t1, t2, "a fresh token is reused");

    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(oidc.introspect(&t2)["active"], false);
    let t3 = rt.block_on(source.token(false)).expect("refreshed token");
    assert_ne!(t3, t2);
    assert_eq!(oidc.introspect(&t3)["active"], true);
    let tokens = stored(dir.path());
    assert_ne!(tokens["refresh_token"], first_refresh, "rotation saved");
    assert_eq!(tokens["access_token"], t3.as_str());
    assert_eq!(mode(&token_file(dir.path())), 0o600);

    // Forced: a new token even though the last is fresh (the server refused it).
    let t4 = rt.block_on(source.token(true)).expect("forced");
    assert_ne!(t4, t3);

    // A second source (another slimbox) reads the rotated token from the file.
    let other = oauth_source(&me, IdentityProvider::Generic).expect("source");
    assert_eq!(rt.block_on(other.token(false)).expect("from file"), t4);

    oidc.revoke(stored(dir.path())["refresh_token"].as_str().expect("rt"));
    let before = std::fs::read(token_file(dir.path())).expect("read");
    let err = rt.block_on(source.token(true)).expect_err("revoked");
    let msg = err.to_string();
    assert!(
        msg.contains("expired or was revoked") && msg.contains("run `slimbox login me`"),
        "{msg}"
    );
    assert!(!err.is_transient());
    assert_eq!(std::fs::read(token_file(dir.path())).expect("read"), before);
}

#[test]
fn issue10_not_signed_in_says_login() {
    let oidc = Oidc::start(OidcOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let source = oauth_source(&account(&config, "me"), IdentityProvider::Generic).expect("source");
    let msg = rt
        .block_on(source.token(false))
        .expect_err("no token file")
        .to_string();
    assert!(msg.contains("run `slimbox login me`"), "{msg}");
}

#[test]
fn issue10_app_only_client_credentials_get_a_token() {
    let oidc = Oidc::start(OidcOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config(&oidc, dir.path());

    let out = slimbox_with(&config)
        .args(["login", "app"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("app-only access"), "{stdout}");
    assert!(!dir.path().join("tokens").exists(), "nothing stored");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let source = oauth_source(&account(&config, "app"), IdentityProvider::Generic).expect("source");
    let t1 = rt.block_on(source.token(false)).expect("app token");
    let info = oidc.introspect(&t1);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(rt.block_on(source.token(false)).expect("cached"), t1);
    assert_ne!(rt.block_on(source.token(true)).expect("forced"), t1);
}

/// The whole chain: `slimbox login`, then `scan` logs in to a Dovecot that
/// checks the provider's tokens, with the token from the file; and the
/// app-only account logs in to its target mailbox without any user's
/// sign-in.
#[test]
fn issue10_signed_in_and_app_only_accounts_log_in_to_their_mailboxes() {
    use support::dovecot::{Dovecot, DovecotOptions};
    let oidc = Oidc::start(OidcOptions::default());
    let dovecot = Dovecot::start(DovecotOptions {
        oauth2_issuer: Some(oidc.issuer.clone()),
        ..DovecotOptions::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = user_config_at(&oidc, dir.path(), dovecot.imap_port);
    let (ok, stdout, stderr) = login_in_browser(&config, &oidc, true);
    assert!(ok, "slimbox login failed\n{stdout}\n{stderr}");
    for account in ["me", "app"] {
        let out = slimbox_with(&config)
            .args(["scan", "--account", account, "--json"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "scan {account}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
