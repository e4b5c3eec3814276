//! Logging in with an OAuth2 bearer token: `AUTHENTICATE XOAUTH2` or
//! `AUTHENTICATE OAUTHBEARER`, with the first message on the command line
//! when the server has SASL-IR, else after its `+`; a refusal read from
//! the server's error challenge; and one more try with a new token when the
//! server refused the last as invalid or expired.
//!
//! Tokens never reach a log or an error: commands are labelled
//! `AUTHENTICATE <MECHANISM>` only.

use super::command::Command;
use super::conn::{Completion, Conn};
use super::sasl::{challenge_answer, initial_response, parse_challenge, status_kind, StatusKind};
use super::{ImapAuth, ImapError, OAuthMechanism};
use crate::signin::TokenSource;

/// What [`Session::connect`](super::Session::connect) logs in with, fetched
/// before it connects: a token command that asks for a passphrase must not
/// keep an unauthenticated connection waiting (servers drop those).
pub(super) enum Credentials<'a> {
    Password(&'a str),
    PlainAs {
        authcid: &'a str,
        password: &'a str,
    },
    Token {
        mechanism: OAuthMechanism,
        tokens: &'a dyn TokenSource,
        token: String,
    },
}

/// The credentials of `auth`: for OAuth, a token asked of its source.
pub(super) async fn credentials<'a>(
    auth: &'a ImapAuth,
    user: &str,
) -> Result<Credentials<'a>, ImapError> {
    Ok(match auth {
        ImapAuth::Password(p) => Credentials::Password(p),
        ImapAuth::PlainAs { authcid, password } => Credentials::PlainAs { authcid, password },
        ImapAuth::OAuth { mechanism, tokens } => Credentials::Token {
            mechanism: *mechanism,
            tokens: tokens.as_ref(),
            token: token(tokens.as_ref(), user, false).await?,
        },
    })
}

async fn token(tokens: &dyn TokenSource, user: &str, force_new: bool) -> Result<String, ImapError> {
    tokens
        .token(force_new)
        .await
        .map_err(|error| ImapError::Token {
            user: user.to_string(),
            error,
        })
}

/// Where the login goes: OAUTHBEARER names the host and port.
pub(super) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
}

/// Logs in with `token`. When the server refuses it as invalid or expired
/// (or gives no reason), asks `tokens` for a new one (`force_new`) and tries
/// once more on the same connection: a token that expired between its
/// source's check and the login is replaced, but a refused one is never
/// tried in a loop.
pub(super) async fn authenticate(
    conn: &mut Conn,
    target: &Target<'_>,
    mechanism: OAuthMechanism,
    tokens: &dyn TokenSource,
    first: String,
) -> Result<(), ImapError> {
    let cap = format!("AUTH={}", mechanism.name());
    if !conn.has(&cap) {
        let mut offered: Vec<&str> = conn
            .caps
            .iter()
            .filter_map(|c| c.strip_prefix("AUTH="))
            .collect();
        offered.sort_unstable();
        return Err(ImapError::Mechanism {
            host: target.host.to_string(),
            mechanism: mechanism.name(),
            offered: match offered.is_empty() {
                true => "no SASL mechanism".to_string(),
                false => offered.join(", "),
            },
        });
    }
    match attempt(conn, target, mechanism, &first).await {
        Err(ImapError::TokenRejected { status, .. }) if worth_a_new_token(status.as_deref()) => {
            tracing::info!(
                user = %target.user,
                status = status.as_deref().unwrap_or("none"),
                "the server refused the access token; asking its source for a new one"
            );
            let fresh = token(tokens, target.user, true).await?;
            attempt(conn, target, mechanism, &fresh).await
        }
        other => other,
    }
}

/// A refusal a new token may cure: an invalid or expired token (401,
/// `invalid_token`), or one without a challenge (Microsoft says only `NO
/// AUTHENTICATE failed.`). Missing scope or a wrong user is not.
fn worth_a_new_token(status: Option<&str>) -> bool {
    status.is_none_or(|s| status_kind(s) == StatusKind::Token)
}

/// One AUTHENTICATE exchange.
async fn attempt(
    conn: &mut Conn,
    target: &Target<'_>,
    mechanism: OAuthMechanism,
    token: &str,
) -> Result<(), ImapError> {
    let first = initial_response(mechanism, target.user, target.host, target.port, token)?;
    let label = format!("AUTHENTICATE {}", mechanism.name());
    // `new` sets the label; what `raw` and `continuation` add stays out of it.
    let cmd = Command::new(&label);
    let cmd = match conn.has("SASL-IR") {
        true => cmd.raw(" ").raw(&first),
        false => cmd.continuation(first),
    };
    // NOTE: a server that refuses the token does not answer NO at once: it
    // sends a `+` challenge with base64 JSON saying why (Gmail:
    // {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"};
    // Dovecot: {"status":"invalid_token",...}) and waits for the client's
    // answer (an empty line for XOAUTH2, ^A for OAUTHBEARER) before its NO.
    let cmd = cmd.on_challenge(challenge_answer(mechanism));
    // Forget the pre-login capabilities: the server announces new ones with
    // the completion, or they are asked for below.
    let before = std::mem::take(&mut conn.caps);
    let done = conn.run(cmd, |_| {}).await?;
    match done.completion {
        Completion::Ok => {
            if conn.caps.is_empty() {
                conn.refresh_capabilities().await?;
            }
            Ok(())
        }
        Completion::Bad => {
            conn.caps = before;
            Err(ImapError::Bad {
                command: label,
                text: done.text,
            })
        }
        Completion::No => {
            conn.caps = before;
            if done.text.to_ascii_uppercase().contains("[UNAVAILABLE]") {
                return Err(ImapError::Unavailable { text: done.text });
            }
            let challenge = done.challenge.as_deref().and_then(parse_challenge);
            let (status, scope) = challenge.map(|c| (c.status, c.scope)).unwrap_or_default();
            Err(ImapError::TokenRejected {
                user: target.user.to_string(),
                status,
                scope,
                detail: done.text,
            })
        }
    }
}
