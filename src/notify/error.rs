use crate::imap::ImapError;

/// Why an owner report could not be written or delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "the owner report's address {address:?} is not an email address; set the account's \
         `email` (or [owner_report] from) to one like \"Alice <alice@example.com>\""
    )]
    Address { address: String },
    #[error("the owner report could not be built: {0}")]
    Build(String),
    #[error("the owner report could not be put into INBOX: {0}")]
    Imap(#[from] ImapError),
}

impl NotifyError {
    /// Only the server's side can get better by itself.
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Imap(e) => e.is_transient(),
            _ => false,
        }
    }
}
