//! A private OAuth2 / OpenID provider on 127.0.0.1 for the OAuth tests, and
//! helpers that get real tokens from it the way a test needs them.
//!
//! [`Oidc::start`] runs `scripts/oidc-harness start` on a fresh temporary
//! directory (installing node's `oidc-provider` first on a fresh machine);
//! dropping the [`Oidc`] stops it. It panics with the log when the provider
//! cannot start: OAuth tests never skip.
//!
//! What the provider knows (scripts/oidc-provider.mjs has the details and the
//! HTTP steps of its sign-in pages):
//! - users alice/alicepw and bob/bobpw (the Dovecot users of the same names);
//! - [`CLIENT_ID`] `slimbox`, a public native client: authorization code +
//!   PKCE (S256) with a loopback redirect URI on any port
//!   (`http://127.0.0.1:PORT/` or `.../callback`), the device flow, refresh
//!   tokens (rotated unless [`OidcOptions::keep_refresh_token`]);
//! - [`APP_CLIENT_ID`] / [`APP_CLIENT_SECRET`], a confidential client for the
//!   client credentials grant, scope [`APP_SCOPE`]; its tokens log in to any
//!   mailbox of a Dovecot started with `oauth2_issuer` (app-only access);
//! - opaque access tokens that Dovecot checks by introspection, so an expired
//!   or revoked token is refused at once. Revoking a refresh token revokes its
//!   whole grant (the access tokens too).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use url::Url;

use super::http::{Http, Response};

/// The public client slimbox signs in with (no secret; PKCE).
pub const CLIENT_ID: &str = "slimbox";
/// The scopes a user's sign-in asks for.
pub const USER_SCOPE: &str = "openid offline_access imap";
/// The confidential client for app-only access (client credentials).
pub const APP_CLIENT_ID: &str = "slimbox-app";
pub const APP_CLIENT_SECRET: &str = "slimbox-app-secret";
/// The scope an app token needs for Dovecot (stands for Microsoft's
/// `https://outlook.office365.com/.default`).
pub const APP_SCOPE: &str = "imap.app";
/// The client Dovecot introspects with (client_secret_post).
pub const INTROSPECTION_CLIENT: (&str, &str) = ("dovecot", "dovecot-secret");
/// A redirect URI of the public client; any other port works too.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// How to configure the provider.
#[derive(Debug, Clone, Default)]
pub struct OidcOptions {
    /// Access token lifetime in seconds (default 3600). A few seconds lets a
    /// test see a token expire during a run.
    pub access_ttl: Option<u64>,
    /// Refresh token lifetime in seconds (default 86400).
    pub refresh_ttl: Option<u64>,
    /// Keep the refresh token on refresh (Google's way). By default every
    /// refresh returns a new refresh token and uses up the old one
    /// (Microsoft's way); using a used-up one revokes the grant.
    pub keep_refresh_token: bool,
    /// More redirect URIs for [`CLIENT_ID`] (loopback ones match on any
    /// port); `http://127.0.0.1/`, `http://127.0.0.1/callback` and the same
    /// on `[::1]` and `localhost` are always there.
    pub redirect_uris: Vec<String>,
}

/// Tokens from the token endpoint.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    /// Absent only where the grant gives none (client credentials).
    pub refresh: Option<String>,
    pub expires_in: u64,
    /// The whole JSON answer (id_token, scope, token_type...).
    pub json: serde_json::Value,
}

/// Where a browser ends up after the sign-in pages.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Redirected away from the provider: to the client's redirect URI
    /// with `code=` (or `error=`).
    Redirect(Url),
    /// A page of the provider that is not a sign-in form (the device flow's
    /// "Sign-in Success", or an error page).
    Page(Response),
}

/// A running provider; stopped on drop.
pub struct Oidc {
    /// provider.mjs, provider.log, provider.pid, env.
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub issuer: String,
    pub port: u16,
    pub log: PathBuf,
    running: bool,
}

/// `scripts/oidc-harness` in this checkout.
pub fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oidc-harness")
}

impl Oidc {
    /// Starts a fresh provider. Panics (never skips) with the harness output
    /// and the log when it cannot; the directory is then kept.
    pub fn start(opts: OidcOptions) -> Oidc {
        let dir = tempfile::Builder::new()
            .prefix("slimbox-oidc-")
            .tempdir()
            .expect("cannot create a temporary directory for the OpenID provider");
        let log = dir.path().join("provider.log");
        let script = harness_script();
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg("start").arg(dir.path());
        if let Some(s) = opts.access_ttl {
            cmd.arg("--access-ttl").arg(s.to_string());
        }
        if let Some(s) = opts.refresh_ttl {
            cmd.arg("--refresh-ttl").arg(s.to_string());
        }
        if opts.keep_refresh_token {
            cmd.arg("--no-rotate");
        }
        for uri in &opts.redirect_uris {
            cmd.arg("--redirect-uri").arg(uri);
        }
        // A test killed before its drop leaves no provider behind.
        cmd.arg("--watch-pid").arg(std::process::id().to_string());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let issuer = stdout
            .lines()
            .find_map(|l| l.strip_prefix("ISSUER="))
            .map(str::to_string);
        let port = issuer
            .as_deref()
            .and_then(|i| i.rsplit(':').next()?.parse::<u16>().ok());
        let (Some(issuer), Some(port), true) = (issuer, port, out.status.success()) else {
            let tail = log_tail(&log, 30);
            let _ = Command::new("bash")
                .arg(&script)
                .arg("stop")
                .arg(dir.path())
                .output();
            let kept = dir.keep();
            panic!(
                "the OpenID provider did not start ({} start {} exited with {}).\n\
                 --- harness stdout ---\n{stdout}\n--- harness stderr ---\n{}\n\
                 --- {} ---\n{tail}",
                script.display(),
                kept.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                kept.join("provider.log").display(),
            );
        };
        Oidc {
            dir,
            issuer,
            port,
            log,
            running: true,
        }
    }

    /// `ISSUER/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn authorization_endpoint(&self) -> String {
        self.url("/auth")
    }

    pub fn token_endpoint(&self) -> String {
        self.url("/token")
    }

    pub fn device_authorization_endpoint(&self) -> String {
        self.url("/device/auth")
    }

    pub fn revocation_endpoint(&self) -> String {
        self.url("/token/revocation")
    }

    pub fn introspection_endpoint(&self) -> String {
        self.url("/token/introspection")
    }

    /// The last `lines` lines of the provider's log (for assertion messages).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Signs `user` in through the code + PKCE flow over HTTP, as slimbox's
    /// `login` and a browser would together, and returns
    /// `(access token, refresh token)`.
    pub fn user_tokens(&self, user: &str) -> (String, String) {
        let t = self.user_tokens_full(user, &password_of(user), USER_SCOPE);
        let refresh = t.refresh.expect("the provider gave no refresh token");
        (t.access, refresh)
    }

    /// The code + PKCE flow with any password and scope; panics when the
    /// sign-in does not end with a code.
    pub fn user_tokens_full(&self, user: &str, password: &str, scope: &str) -> Tokens {
        let verifier = random_token();
        let state = random_token();
        let auth = self.authorization_url(REDIRECT_URI, &state, &pkce_challenge(&verifier), scope);
        let Outcome::Redirect(back) = self.sign_in(&auth, user, password, true) else {
            panic!("the sign-in of {user} ended on a provider page, not at the redirect URI");
        };
        let query = |key: &str| {
            back.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(query("state").as_deref(), Some(state.as_str()), "{back}");
        let code = query("code").unwrap_or_else(|| panic!("no code in the redirect {back}"));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier.as_str()),
        ];
        self.token_request(&form, None)
            .unwrap_or_else(|e| panic!("exchanging the code failed: {e}"))
    }

    /// The authorization URL a client opens for the code + PKCE flow.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
        scope: &str,
    ) -> String {
        let mut url = Url::parse(&self.authorization_endpoint()).expect("issuer URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Plays the browser from `start_url` (an authorization URL, e.g. the one
    /// `slimbox login` prints): signs in as `user` and grants consent
    /// (`consent = false` denies it), following the provider's redirects
    /// until one leaves the provider. The redirect to the client is not
    /// followed: see [`Oidc::deliver`]. Panics when the password is refused.
    pub fn sign_in(&self, start_url: &str, user: &str, password: &str, consent: bool) -> Outcome {
        let mut http = Http::new();
        let first = http.get(start_url);
        self.browse(&mut http, first, user, password, consent)
    }

    /// Follows a redirect to the client as the browser would (a GET), e.g. to
    /// hand the code to `slimbox login`'s loopback listener; returns its answer.
    pub fn deliver(&self, redirect: &Url) -> Response {
        Http::new().get(redirect.as_str())
    }

    /// Approves (or with `confirm = false` aborts) a device-flow user code
    /// on the provider's /device pages, signing in as `user`. Returns the last
    /// page (`<h1>Sign-in Success</h1>` when approved).
    pub fn approve_device(
        &self,
        user_code: &str,
        user: &str,
        password: &str,
        confirm: bool,
    ) -> Response {
        let mut http = Http::new();
        let page = http.get(&self.url("/device"));
        let xsrf = page
            .input_value("xsrf")
            .unwrap_or_else(|| panic!("no xsrf on /device: {}", page.body));
        let page = http.post_form(
            &self.url("/device"),
            &[("xsrf", &xsrf), ("user_code", user_code)],
            None,
        );
        let xsrf = page
            .input_value("xsrf")
            .unwrap_or_else(|| panic!("user code {user_code} not taken by /device: {}", page.body));
        let choice = if confirm { "confirm" } else { "abort" };
        let form = [
            ("xsrf", xsrf.as_str()),
            ("user_code", user_code),
            (choice, "yes"),
        ];
        let next = http.post_form(&self.url("/device"), &form, None);
        match self.browse(&mut http, next, user, password, true) {
            Outcome::Page(page) => page,
            Outcome::Redirect(url) => panic!("the device flow left the provider for {url}"),
        }
    }

    /// Starts the device flow for the public client: the JSON answer with
    /// device_code, user_code, verification_uri, interval.
    pub fn device_authorization(&self, scope: &str) -> serde_json::Value {
        let form = [("client_id", CLIENT_ID), ("scope", scope)];
        let resp = Http::new().post_form(&self.device_authorization_endpoint(), &form, None);
        assert_eq!(resp.status, 200, "device authorization: {}", resp.body);
        resp.json()
    }

    /// Gets an app token with the client credentials grant (scope [`APP_SCOPE`]).
    pub fn client_credentials(&self) -> String {
        let form = [("grant_type", "client_credentials"), ("scope", APP_SCOPE)];
        self.token_request(&form, Some((APP_CLIENT_ID, APP_CLIENT_SECRET)))
            .unwrap_or_else(|e| panic!("client credentials grant failed: {e}"))
            .access
    }

    /// Uses a refresh token; `Err` carries the provider's error JSON (e.g.
    /// `invalid_grant` for a revoked or used-up one).
    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, serde_json::Value> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ];
        self.token_request(&form, None)
    }

    /// Revokes a token of the public client (a refresh token revokes its grant).
    pub fn revoke(&self, token: &str) {
        let form = [("token", token), ("client_id", CLIENT_ID)];
        let resp = Http::new().post_form(&self.revocation_endpoint(), &form, None);
        assert_eq!(resp.status, 200, "revocation failed: {}", resp.body);
    }

    /// What the provider tells Dovecot about a token (`active`, `imap_user`,
    /// `scope`, `exp`...).
    pub fn introspect(&self, token: &str) -> serde_json::Value {
        let (id, secret) = INTROSPECTION_CLIENT;
        let form = [
            ("token", token),
            ("client_id", id),
            ("client_secret", secret),
        ];
        let resp = Http::new().post_form(&self.introspection_endpoint(), &form, None);
        assert_eq!(resp.status, 200, "introspection failed: {}", resp.body);
        resp.json()
    }

    /// POSTs to the token endpoint: the tokens, or the error JSON.
    pub fn token_request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Tokens, serde_json::Value> {
        let resp = Http::new().post_form(&self.token_endpoint(), form, basic);
        let json = resp.json();
        if resp.status != 200 {
            return Err(json);
        }
        let access = json["access_token"].as_str().map(str::to_string);
        let access = access.unwrap_or_else(|| panic!("no access_token in {json}"));
        Ok(Tokens {
            access,
            refresh: json["refresh_token"].as_str().map(str::to_string),
            expires_in: json["expires_in"].as_u64().unwrap_or(0),
            json,
        })
    }

    /// Follows redirects inside the provider and fills in its sign-in pages.
    fn browse(
        &self,
        http: &mut Http,
        mut resp: Response,
        user: &str,
        password: &str,
        consent: bool,
    ) -> Outcome {
        for _ in 0..30 {
            if let Some(next) = resp.location() {
                if !next.as_str().starts_with(&format!("{}/", self.issuer)) {
                    return Outcome::Redirect(next);
                }
                resp = http.get(next.as_str());
                continue;
            }
            let path = resp.url.path().to_string();
            if resp.status != 200 || !path.starts_with("/interaction/") {
                return Outcome::Page(resp);
            }
            let here = self.url(&path);
            resp = if resp.body.contains("id=\"login\"") {
                if resp.body.contains("id=\"message\"") {
                    panic!("the provider refused {user}'s password: {}", resp.body);
                }
                let form = [("login", user), ("password", password)];
                http.post_form(&format!("{here}/login"), &form, None)
            } else if resp.body.contains("id=\"consent\"") {
                let action = if consent { "confirm" } else { "abort" };
                http.post_form(&format!("{here}/{action}"), &[], None)
            } else {
                return Outcome::Page(resp);
            };
        }
        panic!(
            "the sign-in pages went round in circles (last: {})",
            resp.url
        );
    }

    /// Stops the provider. Safe to call more than once.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let out = Command::new("bash")
            .arg(harness_script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
        let problem = match out {
            Ok(out) if out.status.success() => return,
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => format!("cannot run {}: {e}", harness_script().display()),
        };
        let msg = format!(
            "stopping the OpenID provider in {} failed: {problem}",
            self.dir.path().display()
        );
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The password of a test user (alice/alicepw, bob/bobpw).
pub fn password_of(user: &str) -> String {
    format!("{user}pw")
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(Sha256::digest(verifier.as_bytes()))
}

/// 43 random URL-safe characters (a PKCE verifier, a state).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    std::io::Read::read_exact(&mut f, &mut bytes).expect("read /dev/urandom");
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
