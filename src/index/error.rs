//! The index's errors, for both kinds of database.

/// Errors of the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot open the index {path}: {source}; check the folder exists and is writable, or set [index] path in the config")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the folder for the index {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the index {path}: {source}; check that this user may write its folder")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the index {path} has schema version {found}, newer than this slimbox understands ({known}); upgrade slimbox")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error(
        "the index {index} belongs to the store {bound}, not to {store}, the store this config \
         names; if the store moved, move it with `slimbox store copy`, which also rebinds the \
         index; otherwise point [index] path at {store}'s own index"
    )]
    OtherStore {
        index: String,
        bound: String,
        store: String,
    },
    #[error("index query failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("a journal record in the index is damaged: {0}")]
    Record(#[from] serde_json::Error),
    #[error("the PostgreSQL index url {url} is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to the PostgreSQL index at {host}: {source}; check that the server runs, listens there and accepts this host, user and password ([index] url and its password)")]
    Connect {
        host: String,
        source: tokio_postgres::Error,
    },
    #[error("the TLS connection to the PostgreSQL index at {host} failed: {reason}; set [index] ca_file to the certificate (PEM) of the CA that signed the server's certificate (or the server's own self-signed one), or, on a trusted network only, add sslmode=disable to [index] url")]
    Tls { host: String, reason: String },
    #[error("cannot read the CA certificate {path} for the PostgreSQL index: {reason}; point [index] ca_file at a PEM file")]
    CaFile { path: String, reason: String },
    #[error("PostgreSQL index query failed: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("the connection to the PostgreSQL index at {host} was lost{during}; the next call connects again")]
    Lost { host: String, during: &'static str },
    #[error("the PostgreSQL index's connection thread stopped: {0}")]
    Thread(String),
    #[error("index column {column} holds {found}, not {expected}")]
    Column {
        column: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "the target index is not empty (its table {table} has rows); copy into a new, empty index"
    )]
    TargetNotEmpty { table: &'static str },
}

impl IndexError {
    /// A busy or locked database, a lost or refused connection, and a
    /// serialization failure or deadlock may work on a retry; nothing else
    /// will.
    pub fn is_transient(&self) -> bool {
        use tokio_postgres::error::SqlState;
        let pg_transient = |e: &tokio_postgres::Error| {
            if e.is_closed() {
                return true;
            }
            match e.code() {
                Some(c) => [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::CONNECTION_FAILURE,
                ]
                .contains(c),
                None => false,
            }
        };
        match self {
            IndexError::Sql(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            // No answer from the server (refused, reset, timed out) or one
            // that says it cannot take us now; a refused login is final.
            IndexError::Connect { source, .. } => {
                source.as_db_error().is_none() || pg_transient(source)
            }
            IndexError::Pg(e) => pg_transient(e),
            IndexError::Lost { .. } => true,
            _ => false,
        }
    }
}
