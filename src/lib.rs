//! slimbox: move large attachments out of mail into content-addressed storage,
//! and give every byte back on demand.
//!
//! Modules:
//! - `audit`: the checks behind `slimbox verify` (index, store and server agree);
//! - `config`: the TOML configuration file, checked, and password sources;
//! - `dates`: the clock, and dates that belong to no protocol;
//! - `eml`: single messages as files, detached into a store and rebuilt from it;
//! - `imap`: the only module that speaks IMAP (TLS, folders, fetch, append, removal);
//! - `index`: the SQLite index of what was moved, and the journal of what is in flight;
//! - `lock`: one slimbox per mailbox at a time (who holds a mailbox, and taking it over);
//! - `links`: signed links to files and to self-service pages (formats, secret, checks);
//! - `mime`: the pure detach/reattach engine on raw message bytes;
//! - `notify`: the owner report, what a run moved told to the mailbox owner;
//! - `pipeline`: the main job on a mailbox, which owns the safety order;
//! - `rebuild`: a lost index written again from the converted messages on the servers;
//! - `restore`: detached files back onto a disk, safely named;
//! - `signin`: OAuth2 access tokens (token commands, `slimbox login`, app-only);
//! - `store`: the content-addressed object store;
//! - `cli`: the commands, one file each;
//! - `units`: human sizes (`64KiB`, `1 MiB`).
pub mod audit;
pub mod cli;
pub mod config;
pub mod dates;
pub mod eml;
pub mod fleet;
pub mod imap;
pub mod index;
pub mod links;
pub mod lock;
pub mod metrics;
pub mod mime;
pub mod notify;
pub mod pipeline;
pub mod readable;
pub mod rebuild;
pub mod restore;
pub mod serve;
pub mod signin;
pub mod store;
pub mod units;
