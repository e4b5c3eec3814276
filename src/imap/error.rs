//! Errors of the IMAP layer, worded for the person running slimbox: each names
//! the server, user, command or folder involved and says what to do about it.
//! [`ImapError::is_transient`] tells callers whether retrying (on a fresh
//! connection) can help.

/// Everything that can go wrong talking to an IMAP server.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The configuration cannot work (no TLS to a remote host, unreadable CA file, ...).
    #[error("IMAP configuration problem: {0}")]
    Config(String),

    /// The TCP connection could not be made.
    #[error(
        "cannot connect to IMAP server {host}:{port}: {source}; check the host name and port, \
         and that the server is reachable from here"
    )]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },

    /// TLS could not be established or the certificate was not trusted.
    #[error(
        "TLS with IMAP server {host} failed: {reason}; check that the TLS mode matches the port \
         (implicit TLS is usually 993, STARTTLS 143), and if the server uses a private CA or a \
         self-signed certificate, point ca_file at its PEM certificate"
    )]
    Tls { host: String, reason: String },

    /// The server rejected the credentials.
    #[error(
        "IMAP server rejected the login of {user:?}: {text}; check the user name and password \
         (for a master user, log in as \"user*master\")"
    )]
    Auth { user: String, text: String },

    /// No access token to log in with: the token source failed.
    #[error("cannot get an access token for {user:?}: {error}")]
    Token {
        user: String,
        error: crate::signin::SigninError,
    },

    /// The server refused the OAuth2 login (token, user or mailbox). `status`
    /// is what its error challenge said, if it sent one; `detail` the text
    /// of its NO.
    #[error(
        "the server refused the access token for {user:?}{}: {detail}; {}",
        status.as_ref().map(|s| format!(" (status {s})")).unwrap_or_default(),
        token_hint(status.as_deref(), scope.as_deref())
    )]
    TokenRejected {
        user: String,
        status: Option<String>,
        scope: Option<String>,
        detail: String,
    },

    /// The server does not offer the SASL mechanism `auth` asks for.
    #[error(
        "IMAP server {host} does not offer AUTHENTICATE {mechanism} (it offers: {offered}); set \
         auth in the config to one it offers"
    )]
    Mechanism {
        host: String,
        mechanism: &'static str,
        offered: String,
    },

    /// The server said NO to a command.
    #[error("IMAP server refused {command}: {text}")]
    No { command: String, text: String },

    /// The server said BAD: it did not understand a command slimbox sent.
    #[error(
        "IMAP server rejected {command} as malformed or unsupported: {text}; this is a slimbox \
         bug or a server incompatibility, please report it with the server's name and version"
    )]
    Bad { command: String, text: String },

    /// The mailbox is over its quota.
    #[error(
        "the mailbox is over its quota: {text}; free some space on the server (empty Trash, \
         delete or detach large mail) and run again"
    )]
    OverQuota { text: String },

    /// The server refused an APPEND as larger than it accepts (`[TOOBIG]`,
    /// RFC 4469 / RFC 7889's APPENDLIMIT).
    #[error(
        "the server refused the message as too large ({text}); it takes nothing over its \
         APPEND limit, so slimbox leaves this message as it is"
    )]
    TooBig { text: String },

    /// The server said something slimbox cannot make sense of.
    #[error(
        "IMAP protocol error: {0}; the connection is no longer usable, reconnect (and report \
         it if it happens again)"
    )]
    Protocol(String),

    /// Reading or writing the connection failed.
    #[error("I/O error on the IMAP connection: {0}; retrying on a new connection may help")]
    Io(#[source] std::io::Error),

    /// The server did not answer in time.
    #[error(
        "IMAP server did not answer for {secs} s during {what}; the server or the network is \
         slow or down, retry later"
    )]
    Timeout { what: String, secs: u64 },

    /// The server closed the connection (`BYE`) or is temporarily unavailable.
    #[error("IMAP server is unavailable: {text}; retry later")]
    Unavailable { text: String },

    /// The server turns the connection or command away for now: too many
    /// connections or commands (`NO [LIMIT]`, RFC 5530). Trying again after
    /// a pause may work; `crate::fleet` does, later in the run.
    #[error(
        "IMAP server is limiting this client: {text}; fewer connections at once \
         (max_connections) or a later retry helps"
    )]
    Throttled { text: String },

    /// An argument cannot be expressed in IMAP (a flag with spaces, a bad date, ...).
    #[error("cannot send this to the IMAP server: {0}")]
    Invalid(String),

    /// The session was used in a way the IMAP protocol does not allow.
    #[error("IMAP session misuse: {0}; this is a slimbox bug, please report it")]
    Usage(String),
}

impl ImapError {
    /// True when the same operation may succeed if retried, typically on a new
    /// connection: network trouble, timeouts, a server going away. Auth,
    /// configuration, NO, BAD and quota errors need a human.
    pub fn is_transient(&self) -> bool {
        match self {
            ImapError::Connect { .. }
            | ImapError::Io(_)
            | ImapError::Timeout { .. }
            | ImapError::Unavailable { .. }
            | ImapError::Throttled { .. } => true,
            ImapError::Token { error, .. } => error.is_transient(),
            ImapError::Config(_)
            | ImapError::TokenRejected { .. }
            | ImapError::Mechanism { .. }
            | ImapError::Tls { .. }
            | ImapError::Auth { .. }
            | ImapError::No { .. }
            | ImapError::Bad { .. }
            | ImapError::OverQuota { .. }
            | ImapError::TooBig { .. }
            | ImapError::Protocol(_)
            | ImapError::Invalid(_)
            | ImapError::Usage(_) => false,
        }
    }

    /// True when the server turned the connection or login away for now:
    /// a limit (`[LIMIT]`: Dovecot 2.3's answer to a login past
    /// `mail_max_userip_connections`), `[UNAVAILABLE]`, or a BYE (a server
    /// going away). Decided by response code and status, never by the text.
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            ImapError::Throttled { .. } | ImapError::Unavailable { .. }
        )
    }
}

/// What to do about a refused token, from the status of the server's error
/// challenge (never from its wording).
fn token_hint(status: Option<&str>, scope: Option<&str>) -> String {
    use super::sasl::{status_kind, StatusKind};
    let again = "run `slimbox login ACCOUNT` again, or check token_command";
    match status.map(status_kind) {
        Some(StatusKind::Token) => format!(
            "the token is invalid, expired or revoked, or was issued for another user: {again}, \
             and that user in the config is the mailbox the token was issued for"
        ),
        Some(StatusKind::Scope) => format!(
            "the token lacks the permission for mail{}: sign in again granting mail access \
             ({again})",
            scope.map(|s| format!(" (scope {s})")).unwrap_or_default()
        ),
        Some(StatusKind::Request) => format!(
            "check that user in the config is the mailbox the token was issued for, then {again}"
        ),
        Some(StatusKind::Other) | None => format!(
            "if the server's text says so, IMAP is disabled for this mailbox (enable it: Gmail \
             settings, or the Microsoft 365 admin center); otherwise check that user in the \
             config is the mailbox the token was issued for, and {again}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transience() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(ImapError::Io(io()).is_transient());
        assert!(ImapError::Connect {
            host: "h".into(),
            port: 993,
            source: io()
        }
        .is_transient());
        assert!(ImapError::Timeout {
            what: "FETCH".into(),
            secs: 1
        }
        .is_transient());
        assert!(!ImapError::Auth {
            user: "u".into(),
            text: "no".into()
        }
        .is_transient());
        assert!(!ImapError::OverQuota { text: "q".into() }.is_transient());
        let limit = ImapError::Throttled {
            text: "[LIMIT] too many".into(),
        };
        assert!(limit.is_transient() && limit.is_throttled());
        assert!(!ImapError::Io(io()).is_throttled());
        assert!(!ImapError::Config("x".into()).is_transient());
        assert!(!ImapError::No {
            command: "SELECT".into(),
            text: "t".into()
        }
        .is_transient());
        assert!(!ImapError::Bad {
            command: "X".into(),
            text: "t".into()
        }
        .is_transient());
    }

    #[test]
    fn token_errors_say_what_to_do() {
        let e = ImapError::TokenRejected {
            user: "a@b.c".into(),
            status: Some("401".into()),
            scope: None,
            detail: "[AUTHENTICATIONFAILED] Invalid credentials".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("(status 401)")
                && s.contains("slimbox login")
                && s.contains("token_command"),
            "{s}"
        );
        assert!(!e.is_transient());
        let e = ImapError::TokenRejected {
            user: "a@b.c".into(),
            status: None,
            scope: None,
            detail: "AUTHENTICATE failed.".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("IMAP is disabled") && s.contains("AUTHENTICATE failed."),
            "{s}"
        );
        let e = ImapError::TokenRejected {
            user: "a".into(),
            status: Some("insufficient_scope".into()),
            scope: Some("mail".into()),
            detail: "no".into(),
        };
        assert!(e.to_string().contains("scope mail"), "{e}");
        let e = ImapError::Token {
            user: "a".into(),
            error: crate::signin::SigninError::CommandEmpty {
                command: "get-token".into(),
            },
        };
        assert!(
            e.to_string().contains("get-token") && !e.is_transient(),
            "{e}"
        );
    }

    #[test]
    fn messages_name_the_thing_and_the_fix() {
        let e = ImapError::Auth {
            user: "alice".into(),
            text: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
        };
        let s = e.to_string();
        assert!(s.contains("alice") && s.contains("password"), "{s}");
        let e = ImapError::Tls {
            host: "mail.example.com".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("mail.example.com") && s.contains("ca_file"),
            "{s}"
        );
    }
}
