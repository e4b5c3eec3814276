//! Helpers shared by integration tests (`mod support;`).

pub mod cli;
pub mod clients;
pub mod dovecot;
pub mod http;
pub mod imap4d;
pub mod mailbox;
pub mod objstore;
pub mod oidc;
pub mod pg;
pub mod roundcube;
pub mod sasl;
pub mod serve;
pub mod smtp;
pub mod thunderbird;
pub mod workers;
