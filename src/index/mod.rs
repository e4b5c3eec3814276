//! The index and journal: what slimbox moved, from where, to which
//! objects; what is in flight (the journal the safety order writes before it
//! touches the server); and what it decided to leave alone.
//!
//! Two kinds of database behind one interface (`db.rs`): a SQLite file
//! (the default) or a PostgreSQL database shared by many hosts (`pg.rs`).
//! Both have the same schema, made by the same numbered migrations
//! (`schema.rs`, `schema_pg.rs`). SQLite runs in WAL mode with
//! `synchronous = FULL`: a journal row must be on disk before the server is
//! changed, or a crash could forget an in-flight message; PostgreSQL
//! commits durably by default.

/// The parameters of one statement, in `$1, $2...` order.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::index::value::Value::from($v)),*] as &[$crate::index::value::Value]
    };
}

#[doc(hidden)]
pub mod checks;
mod compressed;
mod copies;
mod copy;
mod db;
mod error;
mod journal;
mod last_success;
mod migrate;
mod pg;
mod pg_connect;
mod query;
mod rebuilt;
mod removal;
mod retention;
mod schema;
mod schema_pg;
mod store_binding;
mod value;

pub use copies::IndexedCopy;
pub use error::IndexError;
pub use pg_connect::PgTarget;
pub use query::{FolderStats, ObjectRefs, PartFilter, PartRow};
pub use rebuilt::{Rebuilt, Written};
pub use retention::{Deletion, ErasedRows, GcTotals, Hold, HoldEvent, IndexedPart, StoreTotals};

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use db::Db;

/// One detached part, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub sha256: String,
    pub size: u64,
    pub filename: String,
    pub content_type: String,
    pub part_path: String,
    pub raw_sha256: Option<String>,
}

/// One processed message, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub old_uid: u32,
    pub new_uid: Option<u32>,
    pub message_id: Option<String>,
    /// The message's Date header, Unix seconds.
    pub date: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub internal_date: String,
    pub flags: Vec<String>,
    pub size_before: u64,
    pub size_after: u64,
    pub parts: Vec<PartRecord>,
}

/// Where a message is in the safety order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    /// Objects stored and verified, original proven reconstructible; the
    /// server is not changed yet (the APPEND may or may not have happened).
    Prepared,
    /// The rewritten copy is on the server (UID in `new_uid` when known).
    Appended,
    /// Over quota: the original was removed before the APPEND; the stub in
    /// the journal still has to go in.
    OriginalRemoved,
}

impl JournalState {
    fn as_str(self) -> &'static str {
        match self {
            JournalState::Prepared => "prepared",
            JournalState::Appended => "appended",
            JournalState::OriginalRemoved => "original-removed",
        }
    }
    fn parse(s: &str) -> Option<JournalState> {
        match s {
            "prepared" => Some(JournalState::Prepared),
            "appended" => Some(JournalState::Appended),
            "original-removed" => Some(JournalState::OriginalRemoved),
            _ => None,
        }
    }
}

/// What a journal entry replaces with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKind {
    /// The original by its rewritten (smaller) copy.
    Detach,
    /// A rewritten message (the stub) by the rebuilt original; `message` is
    /// its row in `messages`.
    Reattach { message: i64 },
}

/// A message in flight.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub id: i64,
    pub kind: JournalKind,
    pub state: JournalState,
    pub new_uid: Option<u32>,
    /// The rewritten message, exactly as it is (or is to be) APPENDed.
    pub rewritten: Vec<u8>,
    pub record: MessageRecord,
}

/// How long a statement waits for another process's lock on the index
/// before it fails as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Switches the database to WAL. The switch needs the database to itself,
/// and SQLite does not always wait for that (when two connections would
/// wait for each other it fails one at once, busy_timeout or not): when
/// another process opens a new index at the same moment, try again for as
/// long as any statement would wait.
fn set_wal(conn: &Connection) -> Result<(), IndexError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// The database file created 0600 before SQLite opens it (SQLite would
/// create it 0644 under the usual umask, and gives its `-wal`, `-shm` and
/// `-journal` files the database's mode), or brought to 0600, with those
/// files, when it is readable by others.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // create_new: an index that exists (perhaps another user's, read
        // only) is opened by SQLite as it is.
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let p = Path::new(&name);
            match std::fs::metadata(p) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    // Not ours to change (another user's index): say so,
                    // and read it all the same.
                    if let Err(e) =
                        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
                    {
                        tracing::warn!("cannot make {} private (0600): {e}", p.display());
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The index: a SQLite file or a PostgreSQL database.
pub struct Index {
    db: Db,
    /// The file, or the PostgreSQL url without its password, for messages.
    path: String,
}

impl Index {
    /// Opens (creating if needed) the SQLite index at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // 0700: the index names every sender, subject and file of every
            // mailbox.
            crate::private::create_private_dir(dir).map_err(|source| IndexError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        private_file(path).map_err(|source| IndexError::File {
            path: shown.clone(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| IndexError::Open {
            path: shown.clone(),
            source,
        })?;
        Self::setup(conn, shown)
    }

    /// A private in-memory index, for tests.
    pub fn open_in_memory() -> Result<Index, IndexError> {
        Self::setup(Connection::open_in_memory()?, ":memory:".into())
    }

    /// Connects to the PostgreSQL index `target` and brings its schema up
    /// to date (once, however many processes start at the same time).
    pub fn open_postgres(target: &PgTarget) -> Result<Index, IndexError> {
        let connector = pg_connect::Connector::new(target)?;
        let path = connector.shown.clone();
        let mut idx = Index {
            db: Db::Postgres(pg::PgConn::connect(connector)?),
            path,
        };
        idx.migrate()?;
        Ok(idx)
    }

    fn setup(conn: Connection, path: String) -> Result<Index, IndexError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 256 MiB of page cache at most (negative: KiB): lookups over a
        // million parts stay in memory instead of one read per page.
        conn.pragma_update(None, "cache_size", -262_144)?;
        // Every statement is prepared once per connection: room for all of
        // them and the usual filters of `list`.
        conn.set_prepared_statement_cache_capacity(128);
        let mut idx = Index {
            db: Db::Sqlite(conn),
            path,
        };
        idx.migrate()?;
        Ok(idx)
    }

    /// Whether this index is a PostgreSQL database (else a SQLite file).
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// The SQLite connection, for tests and benchmarks that look under the
    /// interface. A PostgreSQL index has none: calling this on one is a bug
    /// in the test, and panics.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        match &self.db {
            Db::Sqlite(c) => c,
            Db::Postgres(_) => panic!("Index::connection is for SQLite indexes only"),
        }
    }
}

#[cfg(test)]
mod tests;
