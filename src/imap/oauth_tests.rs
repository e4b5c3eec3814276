//! OAuth2 logins against the scripted server of `mock_tests`: SASL-IR or
//! the `+` continuation, the error challenge answered and reported, one
//! more try with a new token and never more, and the paths no live server
//! takes (Gmail's numeric statuses, Microsoft's NO without a challenge).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::mock_tests::{cfg, start, Step};
use super::{ImapAuth, ImapConfig, ImapError, OAuthMechanism, Session};
use crate::signin::{SigninError, TokenFuture, TokenSource};

/// Hands out the tokens given, in order, and records each call's `force_new`.
#[derive(Debug)]
struct Tokens {
    queue: Mutex<VecDeque<Result<String, SigninError>>>,
    calls: Mutex<Vec<bool>>,
}

impl Tokens {
    fn new(tokens: &[&str]) -> Arc<Tokens> {
        Arc::new(Tokens {
            queue: Mutex::new(tokens.iter().map(|t| Ok(t.to_string())).collect()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn failing(error: SigninError) -> Arc<Tokens> {
        Arc::new(Tokens {
            queue: Mutex::new(VecDeque::from([Err(error)])),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<bool> {
        self.calls.lock().expect("lock").clone()
    }
}

impl TokenSource for Tokens {
    fn token(&self, force_new: bool) -> TokenFuture<'_> {
        self.calls.lock().expect("lock").push(force_new);
        let next = self.queue.lock().expect("lock").pop_front();
        Box::pin(async move { next.expect("the test gave no more tokens") })
    }
}

fn oauth_cfg(port: u16, mechanism: OAuthMechanism, tokens: &Arc<Tokens>) -> ImapConfig {
    let mut c = cfg(port, "unused");
    c.user = "alice@example.com".into();
    c.auth = ImapAuth::OAuth {
        mechanism,
        tokens: tokens.clone(),
    };
    c
}

fn b64(s: &str) -> String {
    base64_simd::STANDARD.encode_to_string(s)
}

fn xoauth2(token: &str) -> String {
    b64(&format!(
        "user=alice@example.com\x01auth=Bearer {token}\x01\x01"
    ))
}

/// Gmail's error challenge for a token it does not take.
fn gmail_401() -> String {
    format!(
        "+ {}",
        b64(r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#)
    )
}

const GREETING: &str =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER] fake";

#[tokio::test]
async fn issue10_xoauth2_with_sasl_ir() {
    let tokens = Tokens::new(&["ya29.first"]);
    let (port, server) = start(
        GREETING,
        vec![
            Step::new(
                format!("AUTHENTICATE XOAUTH2 {}", xoauth2("ya29.first")),
                "{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] logged in",
            ),
            Step::new("LOGOUT", "* BYE bye\n{tag} OK"),
        ],
    )
    .await;
    let cfg = oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens);
    let s = Session::connect(&cfg).await.expect("connect");
    assert!(s.has_capability("UIDPLUS"));
    s.logout().await.expect("logout");
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false]);
    // The config's Debug shows neither the token nor a password.
    assert!(!format!("{cfg:?}").contains("ya29"), "{cfg:?}");
}

#[tokio::test]
async fn issue10_oauthbearer_after_the_continuation_without_sasl_ir() {
    let tokens = Tokens::new(&["tok"]);
    // The whole message names the server's port, known only once it runs
    // (the sasl tests check all of it): the part before it must match.
    let head = "n,a=alice@example.com,\x01host=127.0.0.1\x01port=";
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] fake",
        vec![
            Step::new("AUTHENTICATE OAUTHBEARER", "+ "),
            Step::new(b64(&head[..head.len() / 3 * 3]), "{tag} OK in").prefix(),
            Step::new("CAPABILITY", "* CAPABILITY IMAP4rev1 UIDPLUS\n{tag} OK"),
        ],
    )
    .await;
    let cfg = oauth_cfg(port, OAuthMechanism::OAuthBearer, &tokens);
    let s = Session::connect(&cfg).await.expect("connect");
    assert!(s.has_capability("UIDPLUS"));
    server.await.expect("join").expect("script");
}

#[tokio::test]
async fn issue10_refused_token_is_replaced_once() {
    // Gmail refuses the first token (expired) with its JSON challenge; the
    // client answers with an empty line, reads the NO, asks for a new token
    // (force_new) and logs in with it on the same connection.
    let tokens = Tokens::new(&["ya29.OLD", "ya29.NEW"]);
    let (port, server) = start(
        GREETING,
        vec![
            Step::new(
                format!("AUTHENTICATE XOAUTH2 {}", xoauth2("ya29.OLD")),
                &gmail_401(),
            ),
            Step::new(
                "",
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
            ),
            Step::new(
                format!("AUTHENTICATE XOAUTH2 {}", xoauth2("ya29.NEW")),
                "{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] alice authenticated (Success)",
            ),
        ],
    )
    .await;
    let s = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect("connect with the new token");
    assert!(s.has_capability("UIDPLUS"));
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false, true]);
}

#[tokio::test]
async fn issue10_token_refused_twice_is_reported_not_retried() {
    let tokens = Tokens::new(&["ya29.OLD", "ya29.STILLBAD"]);
    let (port, server) = start(
        GREETING,
        vec![
            Step::new(
                format!("AUTHENTICATE XOAUTH2 {}", xoauth2("ya29.OLD")),
                &gmail_401(),
            ),
            Step::new(
                "",
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
            ),
            Step::new(
                format!("AUTHENTICATE XOAUTH2 {}", xoauth2("ya29.STILLBAD")),
                &gmail_401(),
            ),
            Step::new(
                "",
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
            ),
        ],
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect_err("refused");
    match &err {
        ImapError::TokenRejected {
            user,
            status,
            scope,
            detail,
        } => {
            assert_eq!(user, "alice@example.com");
            assert_eq!(status.as_deref(), Some("401"));
            assert_eq!(scope.as_deref(), Some("https://mail.google.com/"));
            assert!(detail.contains("Invalid credentials"), "{detail}");
        }
        other => panic!("expected TokenRejected, got {other:?}"),
    }
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains("status 401")
            && msg.contains("slimbox login")
            && msg.contains("token_command"),
        "{msg}"
    );
    assert!(!msg.contains("ya29"), "{msg}");
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false, true], "one new token, no loop");
}

#[tokio::test]
async fn issue10_oauthbearer_missing_scope_answered_with_ctrl_a_and_not_retried() {
    let tokens = Tokens::new(&["tok"]);
    let challenge = b64(r#"{"status":"insufficient_scope","scope":"mail"}"#);
    let (port, server) = start(
        GREETING,
        vec![
            Step::new("AUTHENTICATE OAUTHBEARER ", &format!("+ {challenge}")).prefix(),
            Step::new(
                "AQ==",
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.",
            ),
        ],
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::OAuthBearer, &tokens))
        .await
        .expect_err("refused");
    match &err {
        ImapError::TokenRejected { status, scope, .. } => {
            assert_eq!(status.as_deref(), Some("insufficient_scope"));
            assert_eq!(scope.as_deref(), Some("mail"));
        }
        other => panic!("expected TokenRejected, got {other:?}"),
    }
    assert!(err.to_string().contains("scope mail"), "{err}");
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false]);
}

#[tokio::test]
async fn issue10_no_without_challenge_gets_one_new_token_then_names_imap_disabled() {
    // Microsoft: a plain NO, whether the token expired or IMAP is off for
    // the mailbox. One new token is tried; then the error names both fixes.
    let tokens = Tokens::new(&["a", "b"]);
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR] Microsoft Exchange",
        vec![
            Step::new("AUTHENTICATE XOAUTH2 ", "{tag} NO AUTHENTICATE failed.").prefix(),
            Step::new("AUTHENTICATE XOAUTH2 ", "{tag} NO AUTHENTICATE failed.").prefix(),
        ],
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ImapError::TokenRejected { status: None, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("AUTHENTICATE failed.") && msg.contains("IMAP is disabled"),
        "{msg}"
    );
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false, true]);
}

#[tokio::test]
async fn issue10_bad_and_unavailable_are_not_token_refusals() {
    let tokens = Tokens::new(&["t"]);
    let (port, server) = start(
        GREETING,
        vec![Step::new("AUTHENTICATE XOAUTH2 ", "{tag} BAD Invalid SASL argument.").prefix()],
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect_err("bad");
    assert!(matches!(err, ImapError::Bad { ref command, .. } if command == "AUTHENTICATE XOAUTH2"));
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false]);

    let tokens = Tokens::new(&["t"]);
    let (port, server) = start(
        GREETING,
        vec![Step::new(
            "AUTHENTICATE XOAUTH2 ",
            "{tag} NO [UNAVAILABLE] Temporary authentication failure.",
        )
        .prefix()],
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect_err("unavailable");
    assert!(
        matches!(err, ImapError::Unavailable { .. }) && err.is_transient(),
        "{err:?}"
    );
    server.await.expect("join").expect("script");
    assert_eq!(tokens.calls(), [false]);
}

#[tokio::test]
async fn issue10_mechanism_not_offered() {
    let tokens = Tokens::new(&["t"]);
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] fake",
        Vec::<Step>::new(),
    )
    .await;
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::OAuthBearer, &tokens))
        .await
        .expect_err("not offered");
    let msg = err.to_string();
    assert!(
        matches!(err, ImapError::Mechanism { .. })
            && msg.contains("OAUTHBEARER")
            && msg.contains("PLAIN, XOAUTH2")
            && msg.contains("auth"),
        "{msg}"
    );
    server.await.expect("join").expect("script");
}

#[tokio::test]
async fn issue10_token_source_failure_before_connecting() {
    let tokens = Tokens::failing(SigninError::CommandEmpty {
        command: "get-token".into(),
    });
    // A port nothing listens on: the token is asked for first, so the
    // error is the token's, not a refused connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let err = Session::connect(&oauth_cfg(port, OAuthMechanism::XOAuth2, &tokens))
        .await
        .expect_err("no token");
    assert!(matches!(err, ImapError::Token { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("get-token"), "{err}");
}
