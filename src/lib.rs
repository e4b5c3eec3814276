//! slimbox: move large attachments out of mail into content-addressed storage,
//! and give every byte back on demand.
//!
//! `mime` is the pure detach/reattach engine, `store` the content-addressed
//! object store, `cli` the commands. `units` parses human sizes.
pub mod audit;
pub mod cli;
pub mod config;
pub mod imap;
pub mod index;
pub mod mime;
pub mod pipeline;
pub mod store;
pub mod units;
