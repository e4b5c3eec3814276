//! The SQLite index and journal: what slimbox moved, from where, to which
//! objects; what is in flight (the journal the safety order writes before it
//! touches the server); and what it decided to leave alone.
//!
//! The schema evolves by numbered migrations (`PRAGMA user_version`). The
//! database runs in WAL mode with `synchronous = FULL`: a journal row must be
//! on disk before the server is changed, or a crash could forget an in-flight
//! message.

mod compressed;
mod copies;
mod last_success;
mod query;
mod rebuilt;
mod removal;
mod retention;
mod schema;
mod store_binding;

pub use copies::IndexedCopy;
pub use query::{FolderStats, ObjectRefs, PartFilter, PartRow};
pub use rebuilt::{Rebuilt, Written};
pub use retention::{Deletion, ErasedRows, GcTotals, Hold, HoldEvent, IndexedPart, StoreTotals};

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::dates::now_unix;

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
}

impl IndexError {
    /// A busy or locked database may work on a retry; nothing else will.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IndexError::Sql(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

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

/// The index: a SQLite database.
pub struct Index {
    conn: Connection,
    path: String,
}

impl Index {
    /// Opens (creating if needed) the index at `path` and brings its schema
    /// up to date.
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

    fn setup(conn: Connection, path: String) -> Result<Index, IndexError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 256 MiB of page cache at most (negative: KiB): lookups over a
        // million parts stay in memory instead of one read per page.
        conn.pragma_update(None, "cache_size", -262_144)?;
        let mut idx = Index { conn, path };
        idx.migrate()?;
        Ok(idx)
    }

    /// Brings the schema up to date, one migration per transaction. Each
    /// step reads `user_version` inside a `BEGIN IMMEDIATE` transaction
    /// (the write lock taken first): when two processes open a new index at
    /// once, one migrates while the other waits (busy_timeout), then finds
    /// the work done instead of creating the tables a second time.
    fn migrate(&mut self) -> Result<(), IndexError> {
        let known = schema::MIGRATIONS.len() as i64;
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > known {
                return Err(IndexError::TooNew {
                    path: self.path.clone(),
                    found: version,
                    known,
                });
            }
            let Some(sql) = schema::MIGRATIONS.get(version as usize) else {
                return Ok(());
            };
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64, IndexError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Records the intent to replace a message; on disk before it returns.
    pub fn journal_begin(
        &self,
        record: &MessageRecord,
        rewritten: &[u8],
    ) -> Result<i64, IndexError> {
        self.journal_begin_kind(record, rewritten, JournalKind::Detach)
    }

    /// Records the intent to replace a message, of either kind.
    pub fn journal_begin_kind(
        &self,
        record: &MessageRecord,
        rewritten: &[u8],
        kind: JournalKind,
    ) -> Result<i64, IndexError> {
        let (kind_s, message) = match kind {
            JournalKind::Detach => ("detach", None),
            JournalKind::Reattach { message } => ("reattach", Some(message)),
        };
        let t = now_unix();
        self.conn.execute(
            "INSERT INTO journal (account, folder, uidvalidity, old_uid, state, rewritten, record, created_at, updated_at, kind, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
             ON CONFLICT (account, folder, uidvalidity, old_uid) DO UPDATE SET
               state = excluded.state, rewritten = excluded.rewritten, record = excluded.record,
               new_uid = NULL, updated_at = excluded.updated_at, kind = excluded.kind, message = excluded.message",
            params![
                record.account,
                record.folder,
                record.uidvalidity,
                record.old_uid,
                JournalState::Prepared.as_str(),
                rewritten,
                serde_json::to_string(record)?,
                t,
                kind_s,
                message
            ],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM journal WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND old_uid = ?4",
            params![record.account, record.folder, record.uidvalidity, record.old_uid],
            |r| r.get(0),
        )?)
    }

    /// Moves a journal entry to `state`.
    pub fn journal_set(
        &self,
        id: i64,
        state: JournalState,
        new_uid: Option<u32>,
    ) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE journal SET state = ?2, new_uid = COALESCE(?3, new_uid), updated_at = ?4 WHERE id = ?1",
            params![id, state.as_str(), new_uid, now_unix()],
        )?;
        Ok(())
    }

    /// The entries in flight for one account (all folders), oldest first.
    pub fn journal_pending(&self, account: &str) -> Result<Vec<JournalEntry>, IndexError> {
        let mut st = self.conn.prepare(
            "SELECT id, state, new_uid, rewritten, record, kind, message FROM journal WHERE account = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([account], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<u32>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, state, new_uid, rewritten, record, kind, message) = row?;
            let kind = match (kind.as_str(), message) {
                ("reattach", Some(message)) => JournalKind::Reattach { message },
                _ => JournalKind::Detach,
            };
            let state = JournalState::parse(&state).unwrap_or(JournalState::Prepared);
            out.push(JournalEntry {
                id,
                kind,
                state,
                new_uid,
                rewritten,
                record: serde_json::from_str(&record)?,
            });
        }
        Ok(out)
    }

    /// Drops a journal entry whose message was left untouched after all.
    pub fn journal_abandon(&self, id: i64) -> Result<(), IndexError> {
        self.conn
            .execute("DELETE FROM journal WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Closes a reattach entry: the message is whole again at `uid`.
    pub fn journal_finish_reattach(
        &mut self,
        id: i64,
        message: i64,
        uid: Option<u32>,
    ) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE messages SET reattached_at = ?2, new_uid = COALESCE(?3, new_uid) WHERE id = ?1",
            params![message, now_unix(), uid],
        )?;
        tx.execute("DELETE FROM journal WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Commits a finished message to the index and closes its journal entry,
    /// in one transaction.
    pub fn journal_finish(&mut self, id: i64, record: &MessageRecord) -> Result<i64, IndexError> {
        let tx = self.conn.transaction()?;
        let mid = insert_message(&tx, record, now_unix())?;
        tx.execute("DELETE FROM journal WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(mid)
    }

    /// Remembers that a message was looked at and left as it was, so the
    /// next run does not download it again.
    pub fn record_skip(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        reason: &str,
    ) -> Result<(), IndexError> {
        self.conn.execute(
            "INSERT INTO skipped (account, folder, uidvalidity, uid, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO UPDATE SET reason = excluded.reason, at = excluded.at",
            params![account, folder, uidvalidity, uid, reason, now_unix()],
        )?;
        Ok(())
    }

    /// UIDs left alone earlier in this folder (same UIDVALIDITY).
    pub fn skipped_uids(
        &self,
        account: &str,
        folder: &str,
        uidvalidity: u32,
    ) -> Result<std::collections::HashSet<u32>, IndexError> {
        let mut st = self.conn.prepare(
            "SELECT uid FROM skipped WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3",
        )?;
        let rows = st.query_map(params![account, folder, uidvalidity], |r| {
            r.get::<_, u32>(0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of processed messages recorded (for summaries and tests).
    pub fn message_count(&self) -> Result<u64, IndexError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }

    /// The processed-message row for a Message-ID, newest first.
    pub fn find_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<(i64, String, String)>, IndexError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, account, folder FROM messages WHERE message_id = ?1 ORDER BY id DESC LIMIT 1",
                [message_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }
}

/// Writes one processed message, its parts and their object references;
/// returns its row. `processed_at`: when it was converted, Unix seconds.
fn insert_message(
    conn: &Connection,
    record: &MessageRecord,
    processed_at: i64,
) -> Result<i64, IndexError> {
    conn.execute(
        "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id, date,
           from_addr, to_addr, subject, internal_date, flags, size_before, size_after, processed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            record.account,
            record.folder,
            record.uidvalidity,
            record.old_uid,
            record.new_uid,
            record.message_id,
            record.date,
            record.from,
            record.to,
            record.subject,
            record.internal_date,
            record.flags.join(" "),
            record.size_before as i64,
            record.size_after as i64,
            processed_at
        ],
    )?;
    let mid = conn.last_insert_rowid();
    for p in &record.parts {
        conn.execute(
            "INSERT INTO parts (message, sha256, size, filename, content_type, part_path, raw_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![mid, p.sha256, p.size as i64, p.filename, p.content_type, p.part_path, p.raw_sha256],
        )?;
        conn.execute(
            "INSERT INTO objects (sha256, size, first_seen, refs) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1",
            params![p.sha256, p.size as i64, processed_at],
        )?;
    }
    Ok(mid)
}

#[cfg(test)]
mod tests;
