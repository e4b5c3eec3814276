//! Proves the OAuth test infrastructure of issue 10 works end to end: the
//! private OpenID provider (tests/support/oidc.rs, scripts/oidc-harness)
//! gives real tokens through the code + PKCE flow, the device flow and client
//! credentials; Dovecot (scripts/dovecot-harness --oauth2) accepts them for
//! XOAUTH2 and OAUTHBEARER and refuses expired, revoked, foreign and made-up
//! ones; and the Gmail-like and Microsoft-like layouts look as they should.
//! The SASL exchanges are raw IMAP (tests/support/sasl.rs).

mod support;

use std::time::Duration;

use support::dovecot::{Dovecot, DovecotOptions, LAYOUT_GMAIL, LAYOUT_MICROSOFT};
use support::oidc::{Oidc, OidcOptions, Outcome, USER_SCOPE};
use support::sasl::{self, RawImap};

fn dovecot_for(oidc: &Oidc) -> Dovecot {
    Dovecot::start(DovecotOptions {
        oauth2_issuer: Some(oidc.issuer.clone()),
        ..DovecotOptions::default()
    })
}

/// Logs in with `token` by `mechanism`; asserts the outcome, with the logs.
fn assert_login(
    d: &Dovecot,
    oidc: &Oidc,
    mechanism: &str,
    user: &str,
    token: &str,
    ok: bool,
) -> RawImap {
    let (imap, outcome) = sasl::login(d.imap_port, mechanism, user, token);
    assert_eq!(
        outcome.ok,
        ok,
        "{mechanism} as {user}: {outcome:?}\n--- dovecot ---\n{}\n--- provider ---\n{}",
        d.log_tail(15),
        oidc.log_tail(10)
    );
    imap
}

#[test]
fn issue10_xoauth2_and_oauthbearer_log_in_with_the_providers_tokens() {
    let oidc = Oidc::start(OidcOptions::default());
    let d = dovecot_for(&oidc);
    let (access, _refresh) = oidc.user_tokens("alice");
    assert_eq!(oidc.introspect(&access)["imap_user"], "alice");

    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let mut imap = assert_login(&d, &oidc, mechanism, "alice", &access, true);
        let (untagged, _) = imap.command_ok("SELECT INBOX");
        assert!(
            untagged.iter().any(|l| l.ends_with(" EXISTS")),
            "{untagged:?}"
        );
        imap.command_ok("LOGOUT");
    }
    // Without SASL-IR: the initial response after the server's "+".
    let mut imap = RawImap::connect(d.imap_port);
    let outcome = imap.authenticate("XOAUTH2", &sasl::xoauth2("alice", &access), false);
    assert!(outcome.ok, "{outcome:?}");

    // Another user's mailbox with alice's token: refused with the error
    // challenge, answered by an empty line.
    let (_, outcome) = sasl::login(d.imap_port, "XOAUTH2", "bob", &access);
    assert!(!outcome.ok, "{outcome:?}");
    let challenge = outcome.challenge.expect("an error challenge");
    assert!(challenge.contains("\"status\":\"401\""), "{challenge}");
    let (_, outcome) = sasl::login(d.imap_port, "OAUTHBEARER", "bob", &access);
    assert!(!outcome.ok, "{outcome:?}");
    assert!(outcome
        .challenge
        .unwrap_or_default()
        .contains("invalid_token"));

    // A made-up token, and a token used as a password, are refused.
    assert_login(&d, &oidc, "XOAUTH2", "alice", "madeUpToken123", false);
    let mut imap = RawImap::connect(d.imap_port);
    let (_, tagged) = imap.command(&format!("LOGIN alice {access}"));
    assert!(tagged.contains(" NO "), "{tagged}");
    // Passwords still work.
    let mut imap = RawImap::connect(d.imap_port);
    imap.command_ok("LOGIN alice alicepw");
    let caps = imap.capabilities();
    assert!(!caps.iter().any(|c| c == "X-GM-EXT-1"), "{caps:?}");
}

#[test]
fn issue10_an_expired_or_revoked_token_is_refused_and_refresh_gives_a_new_one() {
    let oidc = Oidc::start(OidcOptions {
        access_ttl: Some(2),
        ..OidcOptions::default()
    });
    let d = dovecot_for(&oidc);
    let (access, refresh) = oidc.user_tokens("bob");
    assert_login(&d, &oidc, "XOAUTH2", "bob", &access, true);
    std::thread::sleep(Duration::from_millis(3200));
    assert_eq!(oidc.introspect(&access)["active"], false);
    assert_login(&d, &oidc, "XOAUTH2", "bob", &access, false);

    // Refreshing gives a working token and (rotation) a new refresh token;
    // the old refresh token is used up.
    let fresh = oidc.refresh(&refresh).expect("refresh");
    assert_eq!(fresh.expires_in, 2);
    assert_login(&d, &oidc, "OAUTHBEARER", "bob", &fresh.access, true);
    let new_refresh = fresh.refresh.expect("a rotated refresh token");
    assert_ne!(new_refresh, refresh);
    let again = oidc
        .refresh(&new_refresh)
        .expect("refresh with the new token");
    let err = oidc.refresh(&refresh).expect_err("a used-up refresh token");
    assert_eq!(err["error"], "invalid_grant", "{err}");

    // Revoking the refresh token ends the grant: its access token is refused too.
    let (access, refresh) = oidc.user_tokens("bob");
    assert_login(&d, &oidc, "XOAUTH2", "bob", &access, true);
    oidc.revoke(&refresh);
    assert_login(&d, &oidc, "XOAUTH2", "bob", &access, false);
    let err = oidc.refresh(&refresh).expect_err("a revoked refresh token");
    assert_eq!(err["error"], "invalid_grant", "{err}");
    drop(again);
}

#[test]
fn issue10_refresh_token_kept_when_rotation_is_off() {
    let oidc = Oidc::start(OidcOptions {
        keep_refresh_token: true,
        ..OidcOptions::default()
    });
    let (_, refresh) = oidc.user_tokens("alice");
    let first = oidc.refresh(&refresh).expect("refresh");
    assert!(first.refresh.is_none() || first.refresh.as_deref() == Some(refresh.as_str()));
    oidc.refresh(&refresh)
        .expect("the same refresh token works again");
}

#[test]
fn issue10_app_token_logs_in_to_any_mailbox() {
    let oidc = Oidc::start(OidcOptions::default());
    let d = dovecot_for(&oidc);
    let app = oidc.client_credentials();
    for user in ["alice", "bob"] {
        let mut imap = assert_login(&d, &oidc, "XOAUTH2", user, &app, true);
        imap.command_ok("SELECT INBOX");
    }
    // A user's token is no app token.
    let (alice, _) = oidc.user_tokens("alice");
    assert_login(&d, &oidc, "XOAUTH2", "bob", &alice, false);
}

#[test]
fn issue10_device_flow_and_denied_consent() {
    let oidc = Oidc::start(OidcOptions {
        redirect_uris: vec!["http://127.0.0.1/oauth2/cb".to_string()],
        ..OidcOptions::default()
    });
    let d = dovecot_for(&oidc);
    let start = oidc.device_authorization(USER_SCOPE);
    let device_code = start["device_code"].as_str().expect("device_code");
    let user_code = start["user_code"].as_str().expect("user_code");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
        ("client_id", support::oidc::CLIENT_ID),
    ];
    let pending = oidc
        .token_request(&form, None)
        .expect_err("pending before approval");
    assert_eq!(pending["error"], "authorization_pending", "{pending}");
    let page = oidc.approve_device(user_code, "bob", "bobpw", true);
    assert!(page.body.contains("Sign-in Success"), "{}", page.body);
    let tokens = oidc
        .token_request(&form, None)
        .expect("tokens after approval");
    assert!(tokens.refresh.is_some(), "{}", tokens.json);
    assert_login(&d, &oidc, "XOAUTH2", "bob", &tokens.access, true);

    // Consent refused in the code flow (on a redirect URI added to the
    // client, any port): the redirect carries access_denied.
    let state = support::oidc::random_token();
    let challenge = support::oidc::pkce_challenge(&support::oidc::random_token());
    let url = oidc.authorization_url(
        "http://127.0.0.1:4567/oauth2/cb",
        &state,
        &challenge,
        USER_SCOPE,
    );
    let Outcome::Redirect(back) = oidc.sign_in(&url, "alice", "alicepw", false) else {
        panic!("denied consent should redirect to the client");
    };
    assert_eq!(back.port(), Some(4567), "{back}");
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "error" && v == "access_denied"),
        "{back}"
    );
}

fn list(imap: &mut RawImap) -> Vec<String> {
    imap.command_ok("LIST \"\" \"*\"").0
}

#[test]
fn issue10_gmail_layout_lists_gmail_folders_and_announces_x_gm_ext_1() {
    let oidc = Oidc::start(OidcOptions::default());
    let d = Dovecot::start(DovecotOptions {
        oauth2_issuer: Some(oidc.issuer.clone()),
        layout: Some(LAYOUT_GMAIL),
        ..DovecotOptions::default()
    });
    let (access, _) = oidc.user_tokens("alice");
    let mut imap = assert_login(&d, &oidc, "XOAUTH2", "alice", &access, true);
    let caps = imap.capabilities();
    assert!(caps.iter().any(|c| c == "X-GM-EXT-1"), "{caps:?}");
    assert!(caps.iter().any(|c| c == "SPECIAL-USE"), "{caps:?}");
    let lines = list(&mut imap);
    for (flag, name) in [
        ("\\All", "\"[Gmail]/All Mail\""),
        ("\\Trash", "[Gmail]/Trash"),
        ("\\Sent", "\"[Gmail]/Sent Mail\""),
        ("\\Important", "[Gmail]/Important"),
        ("\\Flagged", "[Gmail]/Starred"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(flag) && l.ends_with(name)),
            "{name} with {flag} in {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.ends_with(" Trash") || l.ends_with(" Sent")),
        "{lines:#?}"
    );
}

#[test]
fn issue10_microsoft_layout_has_sent_items_and_no_special_use() {
    let d = Dovecot::start(DovecotOptions {
        layout: Some(LAYOUT_MICROSOFT),
        quota_bytes: Some(10_000_000),
        ..DovecotOptions::default()
    });
    let mut imap = RawImap::connect(d.imap_port);
    imap.command_ok("LOGIN alice alicepw");
    let caps = imap.capabilities();
    assert!(
        !caps.iter().any(|c| c == "SPECIAL-USE" || c == "QUOTA"),
        "{caps:?}"
    );
    assert!(caps.iter().any(|c| c == "IMAP4REV1"), "{caps:?}");
    let lines = list(&mut imap);
    for name in ["\"Sent Items\"", "Archive", "\"Deleted Items\""] {
        assert!(
            lines.iter().any(|l| l.ends_with(name)),
            "{name} in {lines:#?}"
        );
    }
    for flag in [
        "\\Sent",
        "\\Trash",
        "\\Archive",
        "\\Junk",
        "\\Drafts",
        "\\All",
    ] {
        assert!(
            !lines.iter().any(|l| l.contains(flag)),
            "{flag} in {lines:#?}"
        );
    }
    let (special, _) = imap.command_ok("LIST (SPECIAL-USE) \"\" \"*\"");
    assert!(special.is_empty(), "{special:#?}");
}

fn message(body_bytes: usize) -> Vec<u8> {
    let mut m = b"From: a@example.test\r\nSubject: size\r\n\r\n".to_vec();
    m.extend(std::iter::repeat_n(b'x', body_bytes));
    m.extend_from_slice(b"\r\n");
    m
}

#[test]
fn issue10_append_limit_is_enforced_and_announced_except_on_microsoft() {
    for (layout, announced) in [(LAYOUT_GMAIL, true), (LAYOUT_MICROSOFT, false)] {
        let d = Dovecot::start(DovecotOptions {
            layout: Some(layout),
            append_limit: Some(20_000),
            ..DovecotOptions::default()
        });
        let mut imap = RawImap::connect(d.imap_port);
        imap.command_ok("LOGIN alice alicepw");
        let caps = imap.capabilities();
        assert_eq!(
            caps.iter().any(|c| c == "APPENDLIMIT=20000"),
            announced,
            "{layout}: {caps:?}"
        );
        let small = imap.append("INBOX", &message(1_000));
        assert!(small.contains(" OK "), "{layout}: {small}");
        let big = imap.append("INBOX", &message(30_000));
        assert!(big.contains(" NO [LIMIT]"), "{layout}: {big}");
    }
}
