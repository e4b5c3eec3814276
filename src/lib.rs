//! slimbox: move large attachments out of mail into content-addressed storage,
//! and give every byte back on demand.
//!
//! Modules:
//! - `audit`: the checks behind `slimbox verify` (index, store and server agree);
//! - `config`: the TOML configuration file, checked, and password sources;
//! - `dates`: the clock, and dates that belong to no protocol;
//! - `desktop`: the person's web browser, started on a URL;
//! - `eml`: single messages as files, detached into a store and rebuilt from it;
//! - `fleet`: `run --all`, every mailbox of the config at a bounded concurrency;
//! - `imap`: the only module that speaks IMAP (TLS, folders, fetch, append, removal);
//! - `index`: the SQLite index of what was moved, and the journal of what is in flight;
//! - `lock`: one slimbox per mailbox at a time (who holds a mailbox, and taking it over);
//! - `links`: signed links to files and to self-service pages (formats, secret, checks);
//! - `metrics`: the Prometheus text file a run writes;
//! - `mime`: the pure detach/reattach engine on raw message bytes;
//! - `notify`: the owner report, what a run moved told to the mailbox owner;
//! - `pipeline`: the main job on a mailbox, which owns the safety order;
//! - `queue`: the work queue in PostgreSQL: leases, connection slots, jobs;
//! - `private`: files and folders created with their own modes, whatever the umask;
//! - `readable`: the readable copies of a local store that `file://` links open;
//! - `rebuild`: a lost index written again from the converted messages on the servers;
//! - `restore`: detached files back onto a disk, safely named;
//! - `service`: the one front door to the work on mailboxes (run, scan, put back, ...);
//! - `serve`: `slimbox serve`, the HTTP server behind links and self-service pages;
//! - `signin`: OAuth2 access tokens (token commands, `slimbox login`, app-only);
//! - `store`: the content-addressed object store;
//! - `cli`: the commands, one file each;
//! - `units`: human sizes (`64KiB`, `1 MiB`).
pub mod audit;
pub mod cli;
pub mod config;
pub mod dates;
pub mod desktop;
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
pub mod private;
pub mod queue;
pub mod readable;
pub mod rebuild;
pub mod restore;
pub mod serve;
pub mod service;
pub mod signin;
pub mod store;
pub mod units;
