//! SASL for OAuth2 bearer tokens, pure: the client's first message for
//! XOAUTH2 (Google's mechanism, also spoken by Microsoft) and OAUTHBEARER
//! (RFC 7628), the reply to a server's error challenge, and reading that
//! challenge (base64 JSON such as `{"status":"401","schemes":"bearer",
//! "scope":"https://mail.google.com/"}`). The exchange itself is in `oauth`.

use super::ImapError;

/// The SASL mechanism that carries the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMechanism {
    /// `AUTHENTICATE XOAUTH2`: Gmail, Microsoft 365, Outlook.com, Dovecot.
    XOAuth2,
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628): Gmail, Dovecot.
    OAuthBearer,
}

impl OAuthMechanism {
    /// The name as in `AUTHENTICATE NAME` and `AUTH=NAME`.
    pub fn name(self) -> &'static str {
        match self {
            OAuthMechanism::XOAuth2 => "XOAUTH2",
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// The client's first message, base64: XOAUTH2's
/// `user=U^Aauth=Bearer T^A^A`, or OAUTHBEARER's GS2 header `n,a=U,`
/// followed by `^Ahost=H^Aport=P^Aauth=Bearer T^A^A`.
pub(super) fn initial_response(
    mechanism: OAuthMechanism,
    user: &str,
    host: &str,
    port: u16,
    token: &str,
) -> Result<String, ImapError> {
    // Any control character would end a field early, and a space in the
    // token would make the server read a different token.
    if user.is_empty() || user.chars().any(char::is_control) {
        return Err(ImapError::Invalid(format!(
            "the user name {user:?} cannot go into an OAuth2 login (empty, or with control \
             characters)"
        )));
    }
    if token.is_empty() || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ImapError::Invalid(
            "the access token is empty or contains spaces, control or non-ASCII characters; \
             the token source must give only the token"
                .into(),
        ));
    }
    let message = match mechanism {
        OAuthMechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        OAuthMechanism::OAuthBearer => format!(
            "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01",
            saslname(user)
        ),
    };
    Ok(base64_simd::STANDARD.encode_to_string(message))
}

/// RFC 5801 `saslname`: `,` and `=` escaped in the GS2 authzid.
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// What the client sends back to an error challenge, after which the server
/// ends the exchange with a NO: an empty line for XOAUTH2 (Google's
/// documentation), `^A` (base64 `AQ==`) for OAUTHBEARER (RFC 7628 3.2.3).
pub(super) fn challenge_answer(mechanism: OAuthMechanism) -> String {
    match mechanism {
        OAuthMechanism::XOAuth2 => String::new(),
        OAuthMechanism::OAuthBearer => base64_simd::STANDARD.encode_to_string("\x01"),
    }
}

/// What a server's error challenge says, as far as slimbox uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Challenge {
    /// `status`: an HTTP status ("401", Gmail) or an RFC 6750 error code
    /// ("invalid_token", Dovecot).
    pub status: Option<String>,
    /// `scope`: the scope the token needs.
    pub scope: Option<String>,
}

/// Reads an error challenge; `None` when it is not base64 JSON with a
/// string `status` (a server may send anything there).
pub(super) fn parse_challenge(text: &str) -> Option<Challenge> {
    let bytes = base64_simd::STANDARD
        .decode_to_vec(text.trim().as_bytes())
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let status = field("status")?;
    Some(Challenge {
        status: Some(status),
        scope: field("scope"),
    })
}

/// What a refusal status means for the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusKind {
    /// Invalid, expired or revoked (401, `invalid_token`): a new token may
    /// work.
    Token,
    /// The token lacks the scope or consent (403, `insufficient_scope`).
    Scope,
    /// The request did not fit the token, e.g. a user other than the one it
    /// was issued for (400, `invalid_request`).
    Request,
    /// Anything else.
    Other,
}

/// Sorts a challenge status (RFC 7628 uses RFC 6750 error codes; Gmail
/// sends HTTP status numbers instead).
pub(super) fn status_kind(status: &str) -> StatusKind {
    match status.trim().to_ascii_lowercase().as_str() {
        "401" | "invalid_token" => StatusKind::Token,
        "403" | "insufficient_scope" => StatusKind::Scope,
        "400" | "invalid_request" => StatusKind::Request,
        _ => StatusKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b64: &str) -> String {
        String::from_utf8(base64_simd::STANDARD.decode_to_vec(b64).expect("b64")).expect("utf8")
    }

    #[test]
    fn xoauth2_message() {
        let m =
            initial_response(OAuthMechanism::XOAuth2, "a@b.c", "h", 993, "ya29.x-y_z").expect("ok");
        assert_eq!(decode(&m), "user=a@b.c\x01auth=Bearer ya29.x-y_z\x01\x01");
    }

    #[test]
    fn oauthbearer_message_escapes_the_user() {
        let m =
            initial_response(OAuthMechanism::OAuthBearer, "a=b,c", "imap.h", 143, "T").expect("ok");
        assert_eq!(
            decode(&m),
            "n,a=a=3Db=2Cc,\x01host=imap.h\x01port=143\x01auth=Bearer T\x01\x01"
        );
    }

    #[test]
    fn bad_tokens_and_users_are_refused() {
        for token in ["", "two words", "tab\there", "nl\n", "caf\u{e9}"] {
            let e = initial_response(OAuthMechanism::XOAuth2, "u", "h", 1, token).unwrap_err();
            assert!(matches!(e, ImapError::Invalid(_)), "{token:?}");
            // The message never repeats the token.
            if token.len() > 3 {
                assert!(!e.to_string().contains(token), "{e}");
            }
        }
        assert!(initial_response(OAuthMechanism::XOAuth2, "u\x01", "h", 1, "t").is_err());
        assert!(initial_response(OAuthMechanism::XOAuth2, "", "h", 1, "t").is_err());
    }

    #[test]
    fn answers_to_the_error_challenge() {
        assert_eq!(challenge_answer(OAuthMechanism::XOAuth2), "");
        assert_eq!(challenge_answer(OAuthMechanism::OAuthBearer), "AQ==");
    }

    #[test]
    fn challenges() {
        let gmail = base64_simd::STANDARD.encode_to_string(
            r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#,
        );
        let c = parse_challenge(&gmail).expect("gmail");
        assert_eq!(c.status.as_deref(), Some("401"));
        assert_eq!(c.scope.as_deref(), Some("https://mail.google.com/"));
        assert_eq!(status_kind("401"), StatusKind::Token);
        assert_eq!(status_kind("invalid_token"), StatusKind::Token);
        assert_eq!(status_kind("insufficient_scope"), StatusKind::Scope);
        assert_eq!(status_kind("400"), StatusKind::Request);
        assert_eq!(status_kind("500"), StatusKind::Other);
        for junk in [
            "",
            "not base64!",
            "bm90IGpzb24=",
            "eyJzY29wZSI6Im1haWwifQ==",
        ] {
            assert_eq!(parse_challenge(junk), None, "{junk:?}");
        }
    }
}
