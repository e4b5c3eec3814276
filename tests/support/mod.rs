//! Helpers shared by integration tests (`mod support;`).

pub mod dovecot;
pub mod imap4d;
pub mod mailbox;
