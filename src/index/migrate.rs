//! Bringing the schema up to date, one numbered migration per transaction,
//! on either database; and the version in force.

use tokio_postgres::error::SqlState;

use super::db::{Conn, Dialect, TxKind};
use super::schema::MIGRATIONS;
use super::schema_pg::PG_MIGRATIONS;
use super::{Index, IndexError};

/// Where PostgreSQL keeps the schema version (SQLite: `user_version`).
const PG_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS slimbox_schema (version BIGINT NOT NULL)";

impl Index {
    /// Brings the schema up to date, one migration per transaction. Each
    /// step reads the version inside a transaction that holds the write
    /// lock (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory lock): when
    /// several processes open a new index at once, one migrates while the
    /// others wait, then find the work done instead of creating the tables
    /// a second time.
    pub(super) fn migrate(&mut self) -> Result<(), IndexError> {
        let known = MIGRATIONS.len() as i64;
        let path = self.path.clone();
        if self.up_to_date(known)? {
            return Ok(());
        }
        loop {
            let done = self.db.transaction(TxKind::Immediate, |c| {
                let version = version(c, true)?;
                if version > known {
                    return Err(IndexError::TooNew {
                        path: path.clone(),
                        found: version,
                        known,
                    });
                }
                let steps = match c {
                    Conn::Sqlite(_) => MIGRATIONS,
                    Conn::Pg(_) => PG_MIGRATIONS,
                };
                let Some(sql) = steps.get(version as usize) else {
                    return Ok(true);
                };
                c.batch(sql)?;
                set_version(c, version + 1)?;
                Ok(false)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Whether a PostgreSQL index is at `known` already: one query, no
    /// lock, for the usual open of a database many workers share (a
    /// SQLite file takes its write lock as cheaply).
    fn up_to_date(&self, known: i64) -> Result<bool, IndexError> {
        let c = self.db.conn();
        if c.dialect() == Dialect::Sqlite {
            return Ok(false);
        }
        match version(c, false) {
            Ok(v) => Ok(v == known),
            // A new database: no version table yet.
            Err(IndexError::Pg(e)) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64, IndexError> {
        version(self.db.conn(), false)
    }
}

/// The schema version; on PostgreSQL `create` makes its table first.
fn version(c: Conn<'_>, create: bool) -> Result<i64, IndexError> {
    match c {
        Conn::Sqlite(conn) => Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?),
        Conn::Pg(_) => {
            if create {
                c.batch(PG_VERSION_TABLE)?;
            }
            match c.query_opt("SELECT version FROM slimbox_schema", &[])? {
                Some(mut r) => r.int(0),
                None => Ok(0),
            }
        }
    }
}

fn set_version(c: Conn<'_>, v: i64) -> Result<(), IndexError> {
    match c {
        Conn::Sqlite(conn) => Ok(conn.pragma_update(None, "user_version", v)?),
        Conn::Pg(_) => {
            if c.execute("UPDATE slimbox_schema SET version = $1", params![v])? == 0 {
                c.execute(
                    "INSERT INTO slimbox_schema (version) VALUES ($1)",
                    params![v],
                )?;
            }
            Ok(())
        }
    }
}
