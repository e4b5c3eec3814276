//! slimbox: move large attachments out of mail into content-addressed storage,
//! and give every byte back on demand.
pub mod mime;
pub mod store;
