//! [`ServiceError`]: why an operation of the service could not be done,
//! each variant naming the thing and, through the module's own error, the
//! fix.

use super::claims::ClaimError;

/// Why an operation of the service could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
    #[error(transparent)]
    Store(Box<crate::store::StoreError>),
    #[error(transparent)]
    Index(Box<crate::index::IndexError>),
    #[error(transparent)]
    Claim(Box<ClaimError>),
    #[error(transparent)]
    Link(Box<crate::links::LinkError>),
    #[error(transparent)]
    Signin(Box<crate::signin::SigninError>),
    #[error(transparent)]
    Imap(Box<crate::imap::ImapError>),
    #[error(transparent)]
    Pipeline(Box<crate::pipeline::PipelineError>),
    #[error(transparent)]
    Audit(Box<crate::audit::AuditError>),
    #[error(transparent)]
    Rebuild(Box<crate::rebuild::RebuildError>),
    #[error(transparent)]
    Restore(Box<crate::restore::RestoreError>),
    #[error(transparent)]
    Copy(Box<crate::store::copy::CopyError>),
    #[error(transparent)]
    Edit(Box<crate::config::EditError>),
    #[error(transparent)]
    Retention(Box<super::gc::RetentionError>),
    /// The config check lets no such account through; a config built in
    /// code may still have one.
    #[error("no password source (the config check should have refused this account)")]
    NoPasswordSource,
    /// An account name that is not in the config.
    #[error("no account {account:?} in the config; its accounts are: {}", .known.join(", "))]
    NoAccount { account: String, known: Vec<String> },
    /// `reattach` found no message to put back.
    #[error(
        "no processed message matches (already reattached ones are not listed); `slimbox list` \
         shows what there is"
    )]
    NothingToReattach,
    /// `link` was given something else than a SHA-256.
    #[error("{given:?} is not a SHA-256: write its 64 hex digits")]
    NotSha256 { given: String },
    /// `link` was given a SHA-256 the index does not know.
    #[error(
        "no detached file has SHA-256 {sha256} in the index {}; look it up with \
         `slimbox list`, or run `slimbox index rebuild` if the index was lost",
        .index
    )]
    UnknownFile { sha256: String, index: String },
    /// `store where` was given a SHA-256 the store does not hold.
    #[error(
        "object {sha256} is not in the store {store}; `slimbox verify` says which messages \
         miss their objects"
    )]
    ObjectNotStored { sha256: String, store: String },
    /// `store copy` needs the config's file, to point it at the new store.
    #[error("the config was not read from a file")]
    NoConfigFile,
    /// `store copy`: the new store cannot be opened.
    #[error("the destination {to}")]
    Destination {
        to: String,
        #[source]
        error: Box<ServiceError>,
    },
    /// `store copy`: a mailbox is held by another slimbox.
    #[error(
        "account {account}: the store cannot be moved while slimbox works on its mailbox; \
         wait for it to finish, then run store copy again"
    )]
    StoreInUse {
        account: String,
        #[source]
        error: Box<ClaimError>,
    },
    /// Signing needs the links secret, and it could not be read.
    #[error("cannot sign the {what}: {}", chain(.error))]
    Sign {
        what: &'static str,
        error: crate::links::LinkError,
    },
    /// What went wrong with one account. Its text carries the whole chain
    /// of `error` (named so, not `source`, so that printers that follow
    /// sources do not say it twice).
    #[error("account {account}: {}", chain(.error.as_ref()))]
    Account {
        account: String,
        error: Box<ServiceError>,
    },
    /// `index migrate` on a config whose index is a database already.
    #[error(
        "the index is the database {url} already; `index migrate` copies a SQLite index \
         into a database: run it with the config that names the SQLite file"
    )]
    AlreadyDatabase { url: String },
    /// A mailbox's work on a thread of its own stopped abnormally.
    #[error("{0}")]
    Thread(String),
}

// Boxed: the errors of the modules below are large, and a service
// result is passed around often.
impl From<crate::config::ConfigError> for ServiceError {
    fn from(e: crate::config::ConfigError) -> Self {
        ServiceError::Config(Box::new(e))
    }
}

impl From<crate::store::StoreError> for ServiceError {
    fn from(e: crate::store::StoreError) -> Self {
        ServiceError::Store(Box::new(e))
    }
}

impl From<crate::index::IndexError> for ServiceError {
    fn from(e: crate::index::IndexError) -> Self {
        ServiceError::Index(Box::new(e))
    }
}

impl From<ClaimError> for ServiceError {
    fn from(e: ClaimError) -> Self {
        ServiceError::Claim(Box::new(e))
    }
}

impl From<crate::links::LinkError> for ServiceError {
    fn from(e: crate::links::LinkError) -> Self {
        ServiceError::Link(Box::new(e))
    }
}

impl From<crate::signin::SigninError> for ServiceError {
    fn from(e: crate::signin::SigninError) -> Self {
        ServiceError::Signin(Box::new(e))
    }
}

impl From<crate::imap::ImapError> for ServiceError {
    fn from(e: crate::imap::ImapError) -> Self {
        ServiceError::Imap(Box::new(e))
    }
}

impl From<crate::pipeline::PipelineError> for ServiceError {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        ServiceError::Pipeline(Box::new(e))
    }
}

impl From<crate::audit::AuditError> for ServiceError {
    fn from(e: crate::audit::AuditError) -> Self {
        ServiceError::Audit(Box::new(e))
    }
}

impl From<crate::rebuild::RebuildError> for ServiceError {
    fn from(e: crate::rebuild::RebuildError) -> Self {
        ServiceError::Rebuild(Box::new(e))
    }
}

impl From<crate::restore::RestoreError> for ServiceError {
    fn from(e: crate::restore::RestoreError) -> Self {
        ServiceError::Restore(Box::new(e))
    }
}

impl From<crate::store::copy::CopyError> for ServiceError {
    fn from(e: crate::store::copy::CopyError) -> Self {
        ServiceError::Copy(Box::new(e))
    }
}

impl From<crate::config::EditError> for ServiceError {
    fn from(e: crate::config::EditError) -> Self {
        ServiceError::Edit(Box::new(e))
    }
}

impl ServiceError {
    /// The error as said about `account`: wrapped once, never twice.
    pub fn in_account(self, account: &str) -> ServiceError {
        match self {
            e @ ServiceError::Account { .. } => e,
            e => ServiceError::Account {
                account: account.to_string(),
                error: Box::new(e),
            },
        }
    }

    /// The server turned a connection away for now (a limit, BYE,
    /// `[UNAVAILABLE]`): worth another try later.
    pub fn is_throttled(&self) -> bool {
        match self {
            ServiceError::Imap(e) => e.is_throttled(),
            ServiceError::Pipeline(e) => e.is_throttled(),
            ServiceError::Account { error, .. } => error.is_throttled(),
            _ => false,
        }
    }

    /// Worth trying again (a lost connection, a server that restarts, a
    /// throttled one); a wrong config or a broken store is not.
    pub fn is_transient(&self) -> bool {
        match self {
            ServiceError::Imap(e) => e.is_transient(),
            ServiceError::Pipeline(e) => e.is_transient(),
            ServiceError::Account { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// Another process works on the mailbox.
    pub fn is_busy(&self) -> bool {
        match self {
            ServiceError::Claim(e) => e.is_busy(),
            ServiceError::Account { error, .. } => error.is_busy(),
            _ => false,
        }
    }

    /// The whole chain, as one line (see [`chain`]).
    pub fn text(&self) -> String {
        chain(self)
    }
}

/// An error and its sources joined with ": ", as reports and the command
/// line show them; a source whose text the line says already is left out
/// (many errors name their source in their own text).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_error_says_its_chain_once() {
        let io = std::io::Error::other("refused");
        let e = ServiceError::from(crate::imap::ImapError::Io(io)).in_account("alice");
        let e = e.in_account("bob");
        assert!(e.to_string().starts_with("account alice: "), "{e}");
        // No source: printers that follow sources do not repeat it.
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.text(), e.to_string());
    }
}
