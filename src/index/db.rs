//! The one interface the index's methods speak, over either database:
//! execute, query rows, query one, a batch of statements, a transaction.
//! Each query is written once with `$1, $2...` placeholders: PostgreSQL
//! takes them as they are, SQLite as named parameters numbered in the
//! order they first appear (so each statement's first appearances must be
//! ascending, which debug builds check). Where the dialects differ, the
//! difference is a method of [`Dialect`] here, not spread through the
//! queries.

use rusqlite::{Connection, TransactionBehavior};

use super::pg::PgConn;
use super::value::{Row, Value};
use super::IndexError;

/// The database behind an [`Index`](super::Index).
pub(super) enum Db {
    Sqlite(Connection),
    Postgres(PgConn),
}

/// A connection, or a transaction on one, to run statements on.
#[derive(Clone, Copy)]
pub(super) enum Conn<'a> {
    Sqlite(&'a Connection),
    Pg(&'a PgConn),
}

/// Which SQL a statement must be written in, where the two differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column` matches the glob `pattern` (`*`, `?`, `[...]`), case
    /// sensitive: SQLite's GLOB, a POSIX regular expression on PostgreSQL
    /// (`param` is the pattern's placeholder; see [`Dialect::glob_param`]).
    pub(super) fn glob(self, column: &str, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} GLOB {param}"),
            Dialect::Postgres => format!("{column} ~ {param}"),
        }
    }

    /// The parameter [`Dialect::glob`] compares with.
    pub(super) fn glob_param(self, glob: &str) -> String {
        match self {
            Dialect::Sqlite => glob.to_string(),
            Dialect::Postgres => glob_to_regex(glob),
        }
    }

    /// Case-insensitive LIKE (SQLite's LIKE is, for ASCII).
    pub(super) fn ilike(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// Where NULLs go in a descending order: last, as SQLite puts them
    /// (PostgreSQL would put them first).
    pub(super) fn desc_nulls_last(self) -> &'static str {
        match self {
            Dialect::Sqlite => "DESC",
            Dialect::Postgres => "DESC NULLS LAST",
        }
    }
}

/// A glob as SQLite reads it, as an anchored POSIX regular expression.
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                out.push('[');
                // SQLite negates a set with `^` only (`!` is a character).
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` first in the set is one of its characters.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push(']');
            }
            c if c.is_ascii_alphanumeric() || !c.is_ascii() => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out.push('$');
    out
}

/// How a transaction starts: `Immediate` takes the database's write lock
/// first (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL an advisory lock all
/// slimbox processes share), for a read that decides what is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TxKind {
    Deferred,
    Immediate,
}

impl Db {
    pub(super) fn conn(&self) -> Conn<'_> {
        match self {
            Db::Sqlite(c) => Conn::Sqlite(c),
            Db::Postgres(p) => Conn::Pg(p),
        }
    }

    /// Runs `f` in one transaction: committed when it returns Ok, rolled
    /// back otherwise (and, on PostgreSQL, when the connection breaks on
    /// the way: never half applied).
    pub(super) fn transaction<T>(
        &mut self,
        kind: TxKind,
        f: impl FnOnce(Conn<'_>) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        match self {
            Db::Sqlite(c) => {
                let behavior = match kind {
                    TxKind::Deferred => TransactionBehavior::Deferred,
                    TxKind::Immediate => TransactionBehavior::Immediate,
                };
                let tx = c.transaction_with_behavior(behavior)?;
                let out = f(Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres(p) => p.transaction(kind == TxKind::Immediate, |p| f(Conn::Pg(p))),
        }
    }
}

impl<'a> Conn<'a> {
    pub(super) fn dialect(self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub(super) fn execute(self, sql: &str, params: &[Value]) -> Result<u64, IndexError> {
        debug_assert!(placeholders_ascending(sql), "{sql}");
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(params))? as u64)
            }
            Conn::Pg(p) => p.execute(sql, params),
        }
    }

    /// Runs one query; `f` makes each row into what is returned.
    pub(super) fn query_map<T>(
        self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&mut Row) -> Result<T, IndexError>,
    ) -> Result<Vec<T>, IndexError> {
        debug_assert!(placeholders_ascending(sql), "{sql}");
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(params))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&mut Row::from_sqlite(r)?)?);
                }
                Ok(out)
            }
            Conn::Pg(p) => p
                .query(sql, params)?
                .into_iter()
                .map(|mut r| f(&mut r))
                .collect(),
        }
    }

    /// Runs one query and gives `f` its rows one at a time, never all of
    /// them in memory. `f` must not use the index (on PostgreSQL its
    /// connection is busy until the last row).
    pub(super) fn for_each(
        self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&mut Row) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        debug_assert!(placeholders_ascending(sql), "{sql}");
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(params))?;
                while let Some(r) = rows.next()? {
                    f(&mut Row::from_sqlite(r)?)?;
                }
                Ok(())
            }
            Conn::Pg(p) => p.for_each(sql, params, f),
        }
    }

    /// The first row of a query, if any.
    pub(super) fn query_opt(self, sql: &str, params: &[Value]) -> Result<Option<Row>, IndexError> {
        debug_assert!(placeholders_ascending(sql), "{sql}");
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(params))?;
                rows.next()?.map(Row::from_sqlite).transpose()
            }
            Conn::Pg(p) => Ok(p.query(sql, params)?.into_iter().next()),
        }
    }

    /// The first row of a query that always has one (an aggregate, or
    /// `RETURNING` of an insert).
    pub(super) fn query_one(self, sql: &str, params: &[Value]) -> Result<Row, IndexError> {
        match self.query_opt(sql, params)? {
            Some(r) => Ok(r),
            None => Err(IndexError::Sql(rusqlite::Error::QueryReturnedNoRows)),
        }
    }

    /// Runs several statements without parameters (migrations).
    pub(super) fn batch(self, sql: &str) -> Result<(), IndexError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(p) => p.batch(sql),
        }
    }
}

/// Whether the `$n` placeholders of `sql` first appear in ascending order
/// ($1 before $2 ...), as SQLite numbers them by first appearance.
fn placeholders_ascending(sql: &str) -> bool {
    let mut next = 1u32;
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if let Ok(n) = sql[i + 1..i + 1 + digits].parse::<u32>() {
                if n == next {
                    next += 1;
                } else if n > next {
                    return false;
                }
            }
            i += digits;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue22_placeholders_must_first_appear_in_order() {
        assert!(placeholders_ascending("VALUES ($1, $2, $2, $3, $1)"));
        assert!(!placeholders_ascending("SET a = $2 WHERE id = $1"));
        assert!(placeholders_ascending("$$ no placeholders $$"));
    }

    #[test]
    fn issue22_sqlite_numbers_dollar_parameters_by_first_appearance() {
        let c = Connection::open_in_memory().unwrap();
        let got: (i64, i64, i64) = c
            .query_row("SELECT $1, $2, $1 + $3", rusqlite::params![1, 2, 30], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(got, (1, 2, 31));
    }

    #[test]
    fn issue22_globs_become_anchored_regular_expressions() {
        assert_eq!(glob_to_regex("file[12].*"), "^file[12]\\..*$");
        assert_eq!(glob_to_regex("a?b[^x][!]"), "^a.b[^x][!]$");
        assert_eq!(glob_to_regex("Ärger (1).pdf"), "^Ärger\\ \\(1\\)\\.pdf$");
    }
}
