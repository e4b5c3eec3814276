//! Issue 10, live: `slimbox scan` and `run` logging in with XOAUTH2 and
//! OAUTHBEARER to a private Dovecot that checks the tokens of a real OpenID
//! provider (node's oidc-provider) by introspection. The tokens come from a
//! `token_command` the test writes: a small script that refreshes alice's
//! grant at the provider, as a user's helper would.
//!
//! - both mechanisms scan and run, and no token reaches the log;
//! - a token that expires during a run (3 s lifetime, Dovecot restarted
//!   while the run waits) is refused at the reconnect, replaced once
//!   (`SLIMBOX_TOKEN_FORCE_NEW=1`), and the same run finishes;
//! - a revoked token, and bob's token for alice's mailbox, end the run with
//!   the clear error and exit status 1, the mailbox untouched.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};
use support::oidc::{Oidc, OidcOptions};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A provider whose refresh tokens can be used again (the script refreshes
/// at every call), and a Dovecot taking its tokens.
fn servers(access_ttl: Option<u64>) -> (Oidc, Dovecot) {
    let oidc = Oidc::start(OidcOptions {
        access_ttl,
        keep_refresh_token: true,
        ..OidcOptions::default()
    });
    let d = Dovecot::start(DovecotOptions {
        oauth2_issuer: Some(oidc.issuer.clone()),
        ..DovecotOptions::default()
    });
    (oidc, d)
}

/// Writes the token helper into `dir`: each call appends `force=0|1` to
/// `dir/calls` and prints a new access token for alice, refreshed with the
/// refresh token in `dir/refresh`. With `cache`, it prints the last token
/// again until slimbox asks for a new one (`SLIMBOX_TOKEN_FORCE_NEW`).
fn token_script(dir: &Path, issuer: &str, refresh: &str, cache: bool) -> PathBuf {
    std::fs::write(dir.join("refresh"), refresh).expect("write refresh token");
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
set -e
echo "force=${{SLIMBOX_TOKEN_FORCE_NEW:-0}}" >> "{d}/calls"
if [ {cache} = 1 ] && [ -z "$SLIMBOX_TOKEN_FORCE_NEW" ] && [ -s "{d}/cached" ]; then
  cat "{d}/cached"
  exit 0
fi
node -e '
const [issuer, refresh] = process.argv.slice(1);
const body = new URLSearchParams({{grant_type: "refresh_token", client_id: "slimbox", refresh_token: refresh}});
fetch(issuer + "/token", {{method: "POST", body}}).then(async (r) => {{
  const j = await r.json();
  if (!j.access_token) {{ console.error("refresh failed: " + JSON.stringify(j)); process.exit(1); }}
  console.log(j.access_token);
}});' "{issuer}" "$(cat "{d}/refresh")" > "{d}/cached.new"
mv "{d}/cached.new" "{d}/cached"
cat "{d}/cached"
"#,
        cache = u8::from(cache),
    );
    let path = dir.join("token.sh");
    std::fs::write(&path, script).expect("write token script");
    path
}

/// The slimbox config of `mailbox::write_config`, logging in with `auth`
/// and `token_command` instead of the password.
fn token_config(d: &Dovecot, dir: &Path, auth: &str, command: &str) -> PathBuf {
    let path = mailbox::write_config(d, dir, "100KiB");
    let text = std::fs::read_to_string(&path).expect("read config");
    let login = format!(
        "auth = \"{auth}\"\ntoken_command = {}",
        toml_string(command)
    );
    let text = text.replace("password_env = \"SLIMBOX_TEST_PASSWORD\"", &login);
    assert!(text.contains("token_command"), "{text}");
    std::fs::write(&path, text).expect("write config");
    path
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn seed_attachments(d: &Dovecot, n: u64) -> Vec<Vec<u8>> {
    let originals: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            mailbox::with_attachment(
                &format!("oauth{i}"),
                "Token login",
                "t.pdf",
                "application/pdf",
                mailbox::noise(300_000, 70 + i),
            )
        })
        .collect();
    rt().block_on(async {
        for o in &originals {
            mailbox::seed(d, "Sent", o, &["\\Seen"], DATE).await;
        }
    });
    originals
}

fn all_converted(d: &Dovecot, dir: &Path, originals: &[Vec<u8>], what: &str) {
    let after = rt().block_on(mailbox::snapshot(d, "Sent"));
    assert_eq!(after.len(), originals.len(), "{what}: each message once");
    let mut rebuilt: Vec<Vec<u8>> = after
        .values()
        .map(|s| {
            assert!(slimbox::mime::is_processed(&s.bytes), "{what}: converted");
            mailbox::reattach_from_disk(&dir.join("store"), &s.bytes)
        })
        .collect();
    rebuilt.sort();
    let mut want = originals.to_vec();
    want.sort();
    assert!(rebuilt == want, "{what}: every original rebuilds");
}

#[test]
fn issue10_scan_and_run_with_xoauth2_and_oauthbearer() {
    let (oidc, d) = servers(None);
    let dir = tempfile::tempdir().unwrap();
    let (_, refresh) = oidc.user_tokens("alice");
    let script = token_script(dir.path(), &oidc.issuer, &refresh, false);
    let originals = seed_attachments(&d, 2);

    let command = format!("sh {}", script.display());
    let config = token_config(&d, dir.path(), "xoauth2", &command);
    let out = slimbox(&config)
        .args(["-v", "scan"])
        .env("RUST_LOG", "debug")
        .output()
        .expect("scan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scan with XOAUTH2: {stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Sent"),
        "{stderr}"
    );
    let token = std::fs::read_to_string(dir.path().join("cached")).expect("a token was made");
    assert!(!stderr.contains(token.trim()), "the token is in the log");
    assert!(stderr.contains("AUTHENTICATE XOAUTH2"), "{stderr}");

    let config = token_config(&d, dir.path(), "oauthbearer", &command);
    let out = slimbox(&config)
        .args(["-v", "run", "--json"])
        .env("RUST_LOG", "debug")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run with OAUTHBEARER: {stderr}");
    let token = std::fs::read_to_string(dir.path().join("cached")).expect("token");
    assert!(!stderr.contains(token.trim()), "the token is in the log");
    assert!(stderr.contains("AUTHENTICATE OAUTHBEARER"), "{stderr}");
    all_converted(&d, dir.path(), &originals, "run with OAUTHBEARER");
    // A token per connection, none refused.
    let calls = calls(dir.path());
    assert!(
        calls.len() >= 2 && calls.iter().all(|c| c == "force=0"),
        "{calls:?}"
    );
}

#[test]
fn issue10_token_expiring_during_a_run_is_replaced_and_the_run_finishes() {
    const TTL: u64 = 3;
    let (oidc, mut d) = servers(Some(TTL));
    let dir = tempfile::tempdir().unwrap();
    let (_, refresh) = oidc.user_tokens("alice");
    // The helper caches its token, as real ones do, so the reconnect offers
    // the expired one first.
    let script = token_script(dir.path(), &oidc.issuer, &refresh, true);
    let originals = seed_attachments(&d, 4);
    let config = token_config(
        &d,
        dir.path(),
        "xoauth2",
        &format!("sh {}", script.display()),
    );

    let go = dir.path().join("go");
    let mut child = slimbox(&config)
        .args(["-v", "run", "--json"])
        .env("SLIMBOX_TEST_PAUSE_AT", "verified")
        .env("SLIMBOX_TEST_PAUSE_FILE", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn slimbox");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let paused = lines
        .by_ref()
        .any(|l| l.unwrap_or_default().contains("paused at verified"));
    assert!(paused, "slimbox never reached verified");
    // The token expires while the run waits; the restart drops its
    // connection, so it must log in again.
    std::thread::sleep(std::time::Duration::from_secs(TTL + 2));
    d.restart();
    std::fs::write(&go, b"").unwrap();
    let log: Vec<String> = lines.map(|l| l.unwrap_or_default()).collect();
    let out = child.wait_with_output().expect("wait");
    let log = log.join("\n");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); log:\n{log}"));
    assert!(report[0]["error"].is_null(), "{report:#}\n{log}");
    // Issue 25: it reconnected and finished everything: exit 0, a warning.
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{log}");
    assert!(log.contains("reconnected and finished everything"), "{log}");
    assert!(
        report[0]["reconnects"].as_u64().unwrap_or(0) >= 1,
        "{report:#}\n{log}"
    );
    let calls = calls(dir.path());
    assert!(
        calls.iter().any(|c| c == "force=1"),
        "the expired token was replaced: {calls:?}\n{log}"
    );
    assert!(log.contains("refused the access token"), "{log}");
    all_converted(&d, dir.path(), &originals, "expired token");
}

#[test]
fn issue10_revoked_or_foreign_token_is_refused_clearly_and_changes_nothing() {
    let (oidc, d) = servers(None);
    let dir = tempfile::tempdir().unwrap();
    seed_attachments(&d, 1);
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));

    let (revoked, refresh) = oidc.user_tokens("alice");
    oidc.revoke(&refresh);
    assert_eq!(oidc.introspect(&revoked)["active"], false);
    let (bobs, _) = oidc.user_tokens("bob");

    for (what, token, auth, status) in [
        ("revoked", &revoked, "xoauth2", "status 401"),
        ("revoked", &revoked, "oauthbearer", "status invalid_token"),
        ("bob's", &bobs, "xoauth2", "status 401"),
    ] {
        let config = token_config(&d, dir.path(), auth, &format!("echo {token}"));
        let out = slimbox(&config).arg("run").output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what} {auth}: {stderr}");
        assert!(
            stderr.contains("refused the access token")
                && stderr.contains(status)
                && stderr.contains("slimbox login")
                && stderr.contains("token_command"),
            "{what} {auth}: {stderr}"
        );
        assert!(
            !stderr.contains(token.as_str()),
            "{what}: token in the error"
        );
    }
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(before, after, "the mailbox is untouched");
    assert!(
        !dir.path().join("store").join("sha256").exists(),
        "nothing was stored"
    );
}
