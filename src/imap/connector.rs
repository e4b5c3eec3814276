//! [`Connector`]: how a job makes fresh sessions with one account (at the
//! start, for fetching ahead, again after a lost connection, for the owner
//! report). Here, beside [`Session`], so that every module above IMAP (the
//! pipeline, the owner report, the fleet's gate) shares it without
//! importing each other.

use std::future::Future;

use super::{ImapConfig, ImapError, Session};

/// Makes a fresh IMAP session for one account. An OAuth sign-in refreshes
/// its token here.
pub trait Connector {
    fn connect(&self) -> impl Future<Output = Result<Session, ImapError>> + Send;
}

impl Connector for ImapConfig {
    fn connect(&self) -> impl Future<Output = Result<Session, ImapError>> + Send {
        Session::connect(self)
    }
}
