//! IMAP access for slimbox: the only module that talks to async-imap.
//!
//! [`Session::connect`] opens a verified TLS (rustls, ring provider) or
//! STARTTLS connection, logs in and caches the server's capabilities; the
//! session then lists folders with their special uses, selects or examines
//! them, finds candidate messages with a server-side search, fetches metadata,
//! a few header fields ([`HeaderMeta`]) and whole messages by UID, reads the
//! quota ([`QuotaUsage`], GETQUOTAROOT), appends with flags and internal date (returning
//! the APPENDUID), sets flags, and removes messages by UID sets, a batch in one
//! round of commands (`UID EXPUNGE` of exactly those UIDs with UIDPLUS, else
//! `UID MOVE` to the trash, else only the `\Deleted` flag, reported as such),
//! never expunging anything else; `UID MOVE` of a set on its own is there for
//! Gmail, where only a move to the trash removes a message from All Mail.
//!
//! Layout:
//! - `session`: [`Session`], connecting, capabilities, logging out;
//! - `login`: LOGIN and AUTHENTICATE PLAIN (and the OAuth ones of `oauth`);
//! - `mailbox`: LIST, SELECT/EXAMINE, UID SEARCH;
//! - `fetch`: metadata, header fields and whole messages by UID;
//! - `attrs`: FETCH answers to plain data ([`MessageMeta`], [`HeaderMeta`],
//!   [`FlagState`]), the one place that reads FETCH attributes;
//! - `append`: APPEND, the server's APPENDLIMIT, setting flags;
//! - `remove`: expunging or moving exactly the messages named (COPYUID);
//! - `condstore`: flags as they are now (MODSEQ), conditional removal;
//! - `conn`: tags, literals, reading until the tagged completion, capabilities;
//! - `transport`: TCP/TLS stream with an idle timeout, trust roots;
//! - `command`: quoting, literals, UID sets, flag checks;
//! - `oauth`, `sasl`: logging in with an OAuth2 token (XOAUTH2, OAUTHBEARER);
//! - `structure`: BODYSTRUCTURE to leaf parts;
//! - `quota`: GETQUOTAROOT and its responses to plain data;
//! - `mime_params`, `utf7`, `datetime`: pure codecs with unit tests;
//! - `error`: [`ImapError`].
//!
//! Server quirks are marked `NOTE:` where they are handled.

mod append;
mod attrs;
mod command;
mod condstore;
mod conn;
pub mod datetime;
mod error;
mod fetch;
mod labels;
mod login;
mod mailbox;
pub mod mime_params;
#[cfg(test)]
pub(crate) mod mock_tests;
mod oauth;
#[cfg(test)]
mod oauth_tests;
mod quota;
mod remove;
mod sasl;
mod session;
mod structure;
mod transport;
mod usage;
pub mod utf7;

use std::path::PathBuf;
use std::sync::Arc;

pub use attrs::{FlagState, HeaderMeta};
pub use command::quote as quote_string;
pub use error::ImapError;
pub use quota::QuotaUsage;
pub use sasl::OAuthMechanism;
pub use session::Session;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, usually port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS before login (usually port 143).
    StartTls,
    /// No TLS at all: only allowed to loopback hosts (127.0.0.0/8, ::1,
    /// localhost); anything else is an [`ImapError::Config`].
    None,
}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra trust roots (PEM), in addition to the system's.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub auth: ImapAuth,
}

/// How to log in.
#[derive(Clone)]
pub enum ImapAuth {
    /// LOGIN (or AUTHENTICATE PLAIN where LOGIN is disabled).
    Password(String),
    /// AUTHENTICATE PLAIN as `authcid` (an administrator) with its
    /// password, acting for the config's `user` (the authorization
    /// identity, RFC 4616): a master-user login without `user*admin`.
    PlainAs { authcid: String, password: String },
    /// AUTHENTICATE with a bearer token asked of `tokens` at each connect
    /// (and once more, forcing a new one, when the server refused it).
    OAuth {
        mechanism: OAuthMechanism,
        tokens: Arc<dyn crate::signin::TokenSource>,
    },
}

// Hand-written so the password never reaches a log.
impl std::fmt::Debug for ImapAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImapAuth::Password(_) => f.write_str("Password(<redacted>)"),
            ImapAuth::PlainAs { authcid, .. } => f
                .debug_struct("PlainAs")
                .field("authcid", authcid)
                .finish_non_exhaustive(),
            ImapAuth::OAuth { mechanism, tokens } => f
                .debug_struct("OAuth")
                .field("mechanism", mechanism)
                .field("tokens", tokens)
                .finish(),
        }
    }
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("user", &self.user)
            .field("auth", &self.auth)
            .finish()
    }
}

/// A mailbox on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Decoded UTF-8 name, for people.
    pub name: String,
    /// The name as the server spells it (modified UTF-7), for commands.
    pub raw_name: String,
    /// Special uses such as `"\\Sent"`, `"\\Archive"`, `"\\Trash"`.
    pub special_use: Vec<String>,
    /// Hierarchy delimiter, if the server has one.
    pub delimiter: Option<String>,
}

impl Folder {
    /// A folder known by its UTF-8 name (e.g. "INBOX"), without LIST data.
    pub fn from_name(name: &str) -> Folder {
        Folder {
            name: name.to_string(),
            raw_name: utf7::encode(name),
            special_use: Vec::new(),
            delimiter: None,
        }
    }

    /// True if the folder has special use `attr` (e.g. `"\\Sent"`), case-insensitive.
    pub fn has_special_use(&self, attr: &str) -> bool {
        self.special_use
            .iter()
            .any(|s| s.eq_ignore_ascii_case(attr))
    }
}

/// What SELECT or EXAMINE reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub exists: u32,
}

/// One leaf of a message's MIME tree, from BODYSTRUCTURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    /// IMAP section, "1", "2.1"; a single-part message is "1".
    pub path: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Lower-case Content-Transfer-Encoding ("base64", "7bit", ...).
    pub encoding: String,
    /// Size in encoded octets.
    pub size: u64,
    /// Lower-case disposition type ("attachment", "inline").
    pub disposition: Option<String>,
    /// Decoded file name (RFC 2231 / RFC 2047), from Content-Disposition or
    /// else the Content-Type `name`.
    pub filename: Option<String>,
    pub content_id: Option<String>,
}

/// What slimbox needs to know about a message before fetching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u64,
    /// Flags as on the server (`"\\Seen"`, `"$Label1"`), never `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE as the server sent it, e.g. "23-Nov-2026 12:00:00 +0100".
    pub internal_date: String,
    /// The same instant in unix seconds.
    pub internal_ts: i64,
    /// Lower-case `type/subtype` of the whole message.
    pub top_type: String,
    /// Leaf parts in order; containers left out; message/rfc822 parts are leaves.
    pub leaves: Vec<BodyPart>,
}

/// How [`Session::delete_uid`] got rid of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Flagged \Deleted and expunged by UID (UIDPLUS).
    Expunged,
    /// Moved to this trash folder (MOVE, no UIDPLUS); the name is the decoded one.
    MovedToTrash(String),
    /// Only flagged \Deleted: the server has neither UIDPLUS nor MOVE (or no
    /// trash was given); the user's client will expunge it eventually.
    FlaggedOnly,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_password() {
        let cfg = ImapConfig {
            host: "h".into(),
            port: 993,
            tls: TlsMode::Implicit,
            ca_file: None,
            user: "alice".into(),
            auth: ImapAuth::Password("hunter2".into()),
        };
        let s = format!("{cfg:?}");
        assert!(!s.contains("hunter2") && s.contains("alice"), "{s}");
    }

    #[test]
    fn folder_from_name_encodes() {
        let f = Folder::from_name("Entw\u{fc}rfe");
        assert_eq!(f.raw_name, "Entw&APw-rfe");
        assert!(!f.has_special_use("\\Drafts"));
    }

    #[tokio::test]
    async fn plain_text_only_to_loopback() {
        let cfg = ImapConfig {
            host: "mail.example.com".into(),
            port: 143,
            tls: TlsMode::None,
            ca_file: None,
            user: "alice".into(),
            auth: ImapAuth::Password("pw".into()),
        };
        let err = Session::connect(&cfg).await.unwrap_err();
        assert!(matches!(err, ImapError::Config(_)), "{err:?}");
        assert!(!err.is_transient());
    }

    #[test]
    fn session_futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let cfg = ImapConfig {
            host: "127.0.0.1".into(),
            port: 1,
            tls: TlsMode::None,
            ca_file: None,
            user: "u".into(),
            auth: ImapAuth::Password("p".into()),
        };
        let fut = Session::connect(&cfg);
        assert_send(&fut);
        fn session_ops_send(s: &mut Session, f: &Folder) {
            assert_send(&s.fetch_meta(&[1]));
            assert_send(&s.append(f, &[], "", b"x"));
            assert_send(&s.delete_uid(1, Some(f)));
        }
        let _ = session_ops_send;
    }
}
