//! Who may see a mailbox's page, and whether a "put back" POST comes from
//! one of our pages. Pure decisions on what a request carries, so every
//! rule is unit-tested here, including the ones a loopback test server
//! cannot show (a peer on another machine).
//!
//! - A page needs a page link signed for that very mailbox (`slimbox page`
//!   or `slimbox link --page`). A request without one gets 401 and a page
//!   saying how to get one; a bad, expired or other mailbox's one a bare 403.
//! - Open without a link only where the config opts in (`[serve]
//!   open_on_loopback = true`), and then only when the server listens on a
//!   loopback address, the peer is loopback, the request names a loopback
//!   host (so a web page that rebinds its own name to 127.0.0.1 gets
//!   nothing) and came through no proxy (no `Forwarded`/`X-Forwarded-For`/
//!   `X-Real-IP`). Off by default: any local process (another user, a web
//!   app with an SSRF bug, a TCP forwarder) would get every mailbox.
//!   A signature that is present is always checked, open or not.
//! - A POST needs no foreign `Origin` and a form token of this mailbox's
//!   page under the same page link, not older than the server's limit.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, StatusCode};

use crate::links::{Refused, Secret, TokenRefused};

/// Whether this request may see pages without a signed link.
pub(super) fn is_open(listen_loopback: bool, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(is_loopback_host);
    listen_loopback && peer.is_some_and(|p| p.to_canonical().is_loopback()) && !proxied && host
}

/// `Host` (with or without a port) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:8025
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The account a request for `/m/<raw_account>` may see, or the status to
/// answer: 401 for a missing signature (answered with how to get a link),
/// 403 for a bad, expired or other mailbox's signature, 404 for a mailbox
/// this server does not serve.
pub(super) fn page_account(
    secret: &Secret,
    open: bool,
    raw_account: &str,
    sig: Option<&str>,
    exp: Option<&str>,
    now: u64,
    accounts: &[String],
) -> Result<String, StatusCode> {
    let account = match (sig, open) {
        (None, false) => return Err(StatusCode::UNAUTHORIZED),
        (None, true) => percent_encoding::percent_decode_str(raw_account)
            .decode_utf8()
            .map_err(|_| StatusCode::NOT_FOUND)?
            .into_owned(),
        _ => secret
            .check_page(raw_account, sig, exp, now)
            .map_err(|r| match r {
                Refused::BadName | Refused::BadHash => StatusCode::NOT_FOUND,
                Refused::BadSignature | Refused::Expired => StatusCode::FORBIDDEN,
            })?,
    };
    if !accounts.contains(&account) {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(account)
}

/// What a POST's form token must match: the mailbox, the page link's
/// signature it came with (empty when open), the time and the age limit.
pub(super) struct TokenCheck<'a> {
    pub account: &'a str,
    pub page_sig: &'a str,
    pub now: u64,
    pub max_age: u64,
}

/// A POST is ours when its `Origin` (or, without one, its `Referer`) names
/// the host it was sent to, and it carries a form token of this page (see
/// [`TokenCheck`]). Without either header the token alone decides (old
/// browsers, curl).
pub(super) fn post_is_ours(
    secret: &Secret,
    headers: &HeaderMap,
    check: &TokenCheck,
    token: &str,
) -> bool {
    let text = |h| {
        headers
            .get(h)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    let host = text(header::HOST);
    let from = text(header::ORIGIN).or_else(|| text(header::REFERER));
    let same = match from {
        None => true,
        Some(from) => url::Url::parse(from).ok().is_some_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let origin_host = format!("{}{port}", u.host_str().unwrap_or(""));
            host.is_some_and(|h| h.eq_ignore_ascii_case(&origin_host))
        }),
    };
    if !same {
        return false;
    }
    let t = check;
    match secret.check_form_token(t.account, t.page_sig, token, t.now, t.max_age) {
        Ok(()) => true,
        Err(why @ (TokenRefused::BadToken | TokenRefused::Expired)) => {
            tracing::info!("refused a put-back form token: {why:?}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    const LO: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn open_only_on_loopback_from_loopback_by_a_loopback_name() {
        let local = headers(&[("host", "127.0.0.1:8025")]);
        assert!(is_open(true, LO, &local));
        assert!(is_open(
            true,
            Some("::1".parse().unwrap()),
            &headers(&[("host", "[::1]:8025")])
        ));
        assert!(is_open(true, LO, &headers(&[("host", "localhost:8025")])));
        // Listening on all interfaces, or a peer on another machine.
        assert!(!is_open(false, LO, &local));
        assert!(!is_open(true, Some("192.0.2.7".parse().unwrap()), &local));
        assert!(!is_open(true, None, &local));
        // A name rebound to 127.0.0.1, a missing Host, a proxy in between.
        assert!(!is_open(
            true,
            LO,
            &headers(&[("host", "evil.example:8025")])
        ));
        assert!(!is_open(true, LO, &HeaderMap::new()));
        let proxied = headers(&[("host", "127.0.0.1"), ("x-forwarded-for", "192.0.2.7")]);
        assert!(!is_open(true, LO, &proxied));
    }

    #[test]
    fn page_links_open_their_own_mailbox_only() {
        let s = Secret::from_bytes(&[1; 32]);
        let accounts = vec!["alice".to_string(), "bob".to_string()];
        let sig_of = |link: String| {
            link.split("sig=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_string()
        };
        let alice = sig_of(s.page_link("http://h", "alice", None));
        let check = |open, acct: &str, sig: Option<&str>, exp: Option<&str>| {
            page_account(&s, open, acct, sig, exp, 1_000, &accounts)
        };
        assert_eq!(
            check(false, "alice", Some(&alice), None),
            Ok("alice".into())
        );
        // Alice's link used for Bob's page, with or without being open.
        assert_eq!(
            check(false, "bob", Some(&alice), None),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            check(true, "bob", Some(&alice), None),
            Err(StatusCode::FORBIDDEN)
        );
        // Tampered, missing, expired, an expiry added to a lasting link.
        let mut bad = alice.clone();
        bad.replace_range(0..1, if bad.starts_with('A') { "B" } else { "A" });
        assert_eq!(
            check(false, "alice", Some(&bad), None),
            Err(StatusCode::FORBIDDEN)
        );
        // No signature at all: 401, so the page can say how to get one.
        assert_eq!(
            check(false, "alice", None, None),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            check(false, "carol", None, None),
            Err(StatusCode::UNAUTHORIZED)
        );
        let old = sig_of(s.page_link("http://h", "alice", Some(999)));
        assert_eq!(
            check(false, "alice", Some(&old), Some("999")),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            check(false, "alice", Some(&alice), Some("5000")),
            Err(StatusCode::FORBIDDEN)
        );
        // Open: no signature needed, but only for a mailbox served here.
        assert_eq!(check(true, "bob", None, None), Ok("bob".into()));
        assert_eq!(check(true, "carol", None, None), Err(StatusCode::NOT_FOUND));
        let carol = sig_of(s.page_link("http://h", "carol", None));
        assert_eq!(
            check(false, "carol", Some(&carol), None),
            Err(StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn a_post_needs_the_token_and_no_foreign_origin() {
        let s = Secret::from_bytes(&[2; 32]);
        let t = s.form_token("alice", "SIG", 1_000);
        let alice = TokenCheck {
            account: "alice",
            page_sig: "SIG",
            now: 1_010,
            max_age: 3600,
        };
        let ours = headers(&[
            ("host", "files.example.com"),
            ("origin", "https://files.example.com"),
        ]);
        assert!(post_is_ours(&s, &ours, &alice, &t));
        let bob = TokenCheck {
            account: "bob",
            ..alice
        };
        assert!(!post_is_ours(&s, &ours, &bob, &t));
        let other_link = TokenCheck {
            page_sig: "OTHER",
            ..alice
        };
        assert!(!post_is_ours(&s, &ours, &other_link, &t));
        let later = TokenCheck {
            now: 1_000 + 3601,
            ..alice
        };
        assert!(!post_is_ours(&s, &ours, &later, &t));
        assert!(!post_is_ours(&s, &ours, &alice, "forged"));
        let cross = headers(&[
            ("host", "files.example.com"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!post_is_ours(&s, &cross, &alice, &t));
        let null = headers(&[("host", "files.example.com"), ("origin", "null")]);
        assert!(!post_is_ours(&s, &null, &alice, &t));
        let port = headers(&[
            ("host", "127.0.0.1:8025"),
            ("referer", "http://127.0.0.1:8025/m/alice"),
        ]);
        assert!(post_is_ours(&s, &port, &alice, &t));
        let other_port = headers(&[
            ("host", "127.0.0.1:8025"),
            ("origin", "http://127.0.0.1:9999"),
        ]);
        assert!(!post_is_ours(&s, &other_port, &alice, &t));
        assert!(post_is_ours(&s, &headers(&[("host", "h")]), &alice, &t));
    }
}
