//! Copying every row of one index into another, of either kind, keeping
//! row ids: what `slimbox index migrate` does to move a SQLite index to
//! PostgreSQL (or back).

use super::db::{Conn, Dialect, TxKind};
use super::value::Value;
use super::{Index, IndexError};

/// A table to copy: its columns, the first `key` of them its primary key
/// (the order rows are read in), and how many rows are held before they
/// are written.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    key: usize,
    batch: usize,
}

/// Every table with rows of its own, parents first. The per-folder totals
/// (`folder_totals`, `folder_objects`) are not among them: the target's
/// triggers make them again as the messages and parts go in.
const TABLES: &[Table] = &[
    Table {
        name: "messages",
        columns: &[
            "id",
            "account",
            "folder",
            "uidvalidity",
            "old_uid",
            "new_uid",
            "message_id",
            "date",
            "from_addr",
            "to_addr",
            "subject",
            "internal_date",
            "flags",
            "size_before",
            "size_after",
            "processed_at",
            "reattached_at",
        ],
        key: 1,
        batch: 500,
    },
    Table {
        name: "parts",
        columns: &[
            "id",
            "message",
            "sha256",
            "size",
            "filename",
            "content_type",
            "part_path",
            "raw_sha256",
        ],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "objects",
        columns: &["sha256", "size", "first_seen", "refs"],
        key: 1,
        batch: 1000,
    },
    Table {
        // Rewritten messages can be megabytes each: few at a time.
        name: "journal",
        columns: &[
            "id",
            "account",
            "folder",
            "uidvalidity",
            "old_uid",
            "new_uid",
            "state",
            "rewritten",
            "record",
            "created_at",
            "updated_at",
            "kind",
            "message",
        ],
        key: 1,
        batch: 8,
    },
    Table {
        name: "skipped",
        columns: &["account", "folder", "uidvalidity", "uid", "reason", "at"],
        key: 4,
        batch: 1000,
    },
    Table {
        name: "compressed_objects",
        columns: &["sha256", "stored_size"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "last_success",
        columns: &["account", "at"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "journal_removal",
        columns: &["entry", "batch"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "store_binding",
        columns: &["id", "store", "bound_at"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "holds",
        columns: &["account", "held_by", "held_at", "note"],
        key: 1,
        batch: 1000,
    },
    Table {
        // No key of its own: read oldest first.
        name: "hold_events",
        columns: &["at", "account", "action", "by_user", "note"],
        key: 2,
        batch: 1000,
    },
    Table {
        name: "gc_candidates",
        columns: &["sha256", "first_unreferenced_at", "stored_size"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "gc_deleting",
        columns: &["sha256", "size", "stored_size", "reason", "at"],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "gc_last",
        columns: &[
            "id",
            "at",
            "objects",
            "stored_bytes",
            "referenced_objects",
            "referenced_bytes",
            "unreferenced_objects",
            "unreferenced_bytes",
            "deleted_objects",
            "deleted_bytes",
        ],
        key: 1,
        batch: 1000,
    },
    Table {
        name: "erasures",
        columns: &["at", "account", "by_user", "messages", "objects", "bytes"],
        key: 2,
        batch: 1000,
    },
];

/// Tables the target's triggers fill as the rows above go in.
const DERIVED: [&str; 2] = ["folder_totals", "folder_objects"];

/// The per-row triggers of messages and parts (the folder totals) off for
/// the copy, in its transaction (the tables are slimbox's own).
const PG_TRIGGERS_OFF: &str =
    "ALTER TABLE messages DISABLE TRIGGER USER; ALTER TABLE parts DISABLE TRIGGER USER;";
const PG_TRIGGERS_ON: &str =
    "ALTER TABLE messages ENABLE TRIGGER USER; ALTER TABLE parts ENABLE TRIGGER USER;";

/// The folder totals the triggers would have kept, summed from the copied
/// rows: what migration 3 does for an index that had none.
const PG_TOTALS: &str = super::schema_pg::totals_backfill!();

/// Tables whose `id` comes from a sequence on PostgreSQL.
const IDENTITIES: &[&str] = &["messages", "parts", "journal"];

/// Rows in one INSERT statement at most (both databases limit the number
/// of parameters of a statement).
const ROWS_PER_INSERT: usize = 200;

impl Index {
    /// Copies every row of this index into `target`, which must be empty
    /// (a new index of either kind), keeping row ids; returns the rows
    /// copied per table. In one transaction on the target: a copy that
    /// fails leaves it empty. Nothing else should write to this index
    /// meanwhile (`index migrate` runs with the workers stopped).
    pub fn copy_into(&self, target: &mut Index) -> Result<Vec<(&'static str, u64)>, IndexError> {
        let source = self.db.conn();
        target.db.transaction(TxKind::Immediate, |dst| {
            for t in TABLES.iter().map(|t| t.name).chain(DERIVED) {
                if dst
                    .query_opt(&format!("SELECT 1 FROM {t} LIMIT 1"), &[])?
                    .is_some()
                {
                    return Err(IndexError::TargetNotEmpty { table: t });
                }
            }
            let postgres = dst.dialect() == Dialect::Postgres;
            if postgres {
                // Row by row, the totals' triggers cost most of a copy of a
                // million parts; they are summed once at the end instead.
                dst.batch(PG_TRIGGERS_OFF)?;
            }
            let mut copied = Vec::new();
            for t in TABLES {
                copied.push((t.name, copy_table(source, dst, t)?));
            }
            if postgres {
                dst.batch(PG_TOTALS)?;
                dst.batch(PG_TRIGGERS_ON)?;
                for t in IDENTITIES {
                    dst.query_one(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{t}', 'id'),
                                    COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"
                        ),
                        &[],
                    )?;
                }
            }
            Ok(copied)
        })
    }
}

fn copy_table(source: Conn<'_>, dst: Conn<'_>, t: &Table) -> Result<u64, IndexError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        t.columns.join(", "),
        t.name,
        t.columns[..t.key].join(", ")
    );
    let mut total = 0u64;
    let mut held: Vec<Vec<Value>> = Vec::with_capacity(t.batch);
    let mut flush = |held: &mut Vec<Vec<Value>>| -> Result<(), IndexError> {
        for chunk in held.chunks(ROWS_PER_INSERT) {
            insert_rows(dst, t, chunk)?;
        }
        total += held.len() as u64;
        held.clear();
        Ok(())
    };
    // Read as one stream (one snapshot of the table), written a batch at
    // a time.
    source.for_each(&sql, &[], |r| {
        held.push(r.take_all());
        if held.len() >= t.batch {
            flush(&mut held)?;
        }
        Ok(())
    })?;
    flush(&mut held)?;
    Ok(total)
}

fn insert_rows(dst: Conn<'_>, t: &Table, rows: &[Vec<Value>]) -> Result<(), IndexError> {
    let n = t.columns.len();
    let groups: Vec<String> = (0..rows.len())
        .map(|r| {
            let marks: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        t.name,
        t.columns.join(", "),
        groups.join(", ")
    );
    let params: Vec<Value> = rows.iter().flatten().cloned().collect();
    dst.execute(&sql, &params)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table added by a later migration must be copied too (or be made
    /// by triggers): `index migrate` would otherwise lose its rows.
    #[test]
    fn issue22_every_table_of_the_schema_is_copied() {
        let idx = Index::open_in_memory().unwrap();
        let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        listed.extend(DERIVED);
        listed.sort_unstable();
        let mut tables = idx
            .db
            .conn()
            .query_map(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                &[],
                |r| r.text(0),
            )
            .unwrap();
        tables.sort_unstable();
        assert_eq!(tables, listed);
    }
}
