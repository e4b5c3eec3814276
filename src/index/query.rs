//! Read side of the index: finding detached parts and messages by hash,
//! Message-ID, file name, sender, date and size; per-folder statistics; and
//! the object references `verify` checks.

use super::value::Value;
use super::{Index, IndexError};
use crate::dates::now_unix;

/// Filters for `list`, `restore` and `reattach --all`; all optional, all
/// combined with AND.
#[derive(Debug, Clone, Default)]
pub struct PartFilter {
    pub account: Option<String>,
    /// Substring of the sender address.
    pub from: Option<String>,
    /// Glob (`*`, `?`, `[...]`) on the file name.
    pub name_glob: Option<String>,
    /// Message Date at or after (Unix seconds).
    pub since: Option<i64>,
    /// Message Date before (Unix seconds).
    pub until: Option<i64>,
    /// Part at least this many bytes.
    pub larger: Option<u64>,
    /// Hex prefix of the SHA-256.
    pub sha256_prefix: Option<String>,
    /// Exact Message-ID (without angle brackets).
    pub message_id: Option<String>,
    /// Only messages indexed after the one with this row id (see
    /// [`Index::last_message`]): what one run moved, exactly.
    pub after_message: Option<i64>,
    /// Include messages already put back whole.
    pub include_reattached: bool,
    pub limit: Option<usize>,
}

/// One detached part with its message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartRow {
    pub message: i64,
    pub account: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: Option<u32>,
    pub message_id: Option<String>,
    pub date: Option<i64>,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub part_path: String,
    pub reattached: bool,
}

/// Totals of one account's folder.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FolderStats {
    pub account: String,
    pub folder: String,
    pub messages: u64,
    pub parts: u64,
    /// Bytes the mailbox no longer holds: sizes before minus after.
    pub bytes_removed: u64,
    /// Bytes of the distinct objects this folder's parts use.
    pub bytes_stored: u64,
    /// Part bytes over stored bytes: 2.0 means every file is there twice.
    pub dedup_ratio: f64,
    /// Bytes those distinct objects take in the store, after compression
    /// (`[store] compress`); equal to `bytes_stored` without it.
    pub bytes_in_store: u64,
    /// `bytes_stored` over `bytes_in_store`: 3.0 means a third of the
    /// raw bytes is written.
    pub compression_ratio: f64,
}

/// An object and the messages that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRefs {
    pub sha256: String,
    pub size: u64,
    /// (account, folder, Message-ID or "UID n") of each message using it.
    pub users: Vec<(String, String, String)>,
}

impl Index {
    /// The row id of the newest indexed message (0 when none): a mark to
    /// find what a run adds after it.
    pub fn last_message(&self) -> Result<i64, IndexError> {
        self.db
            .conn()
            .query_one("SELECT COALESCE(MAX(id), 0) FROM messages", &[])?
            .int(0)
    }

    /// Parts matching `f`, newest message first.
    pub fn find_parts(&self, f: &PartFilter) -> Result<Vec<PartRow>, IndexError> {
        let conn = self.db.conn();
        let dialect = conn.dialect();
        let mut sql = String::from(
            "SELECT m.id, m.account, m.folder, m.uidvalidity, COALESCE(m.new_uid, m.old_uid), m.message_id,
                    m.date, m.from_addr, m.subject, p.filename, p.content_type, p.size, p.sha256,
                    p.part_path, m.reattached_at IS NOT NULL
             FROM parts p JOIN messages m ON m.id = p.message WHERE 1=1",
        );
        let mut args: Vec<Value> = Vec::new();
        // `cond` with `{}` where the parameter goes.
        let mut push = |cond: &str, v: Value, sql: &mut String| {
            args.push(v);
            sql.push_str(" AND ");
            sql.push_str(&cond.replace("{}", &format!("${}", args.len())));
        };
        if let Some(a) = &f.account {
            push("m.account = {}", Value::Text(a.clone()), &mut sql);
        }
        if let Some(a) = &f.from {
            // A substring match cannot use an index; as a subquery SQLite
            // scans messages once instead of probing them in date order.
            let cond = format!(
                "m.id IN (SELECT id FROM messages WHERE from_addr {} {{}})",
                dialect.ilike()
            );
            push(&cond, Value::Text(format!("%{a}%")), &mut sql);
        }
        if let Some(g) = &f.name_glob {
            push(
                &dialect.glob("p.filename", "{}"),
                Value::Text(dialect.glob_param(g)),
                &mut sql,
            );
        }
        if let Some(s) = f.since {
            push("m.date >= {}", Value::Int(s), &mut sql);
        }
        if let Some(u) = f.until {
            push("m.date < {}", Value::Int(u), &mut sql);
        }
        if let Some(l) = f.larger {
            push("p.size >= {}", Value::from(l), &mut sql);
        }
        if let Some(h) = &f.sha256_prefix {
            // A range on the indexed column: hex digits sort below 'g'.
            let h = h.to_ascii_lowercase();
            push("p.sha256 >= {}", Value::Text(h.clone()), &mut sql);
            push("p.sha256 < {}", Value::Text(format!("{h}g")), &mut sql);
        }
        if let Some(id) = &f.message_id {
            let id = id.trim().trim_start_matches('<').trim_end_matches('>');
            push("m.message_id = {}", Value::Text(id.to_string()), &mut sql);
        }
        if let Some(id) = f.after_message {
            push("m.id > {}", Value::Int(id), &mut sql);
        }
        if !f.include_reattached {
            sql.push_str(" AND m.reattached_at IS NULL");
        }
        sql.push_str(&format!(
            " ORDER BY m.date {}, m.id DESC, p.id",
            dialect.desc_nulls_last()
        ));
        if let Some(l) = f.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        conn.query_map(&sql, &args, |r| {
            Ok(PartRow {
                message: r.int(0)?,
                account: r.text(1)?,
                folder: r.text(2)?,
                uidvalidity: r.u32(3)?,
                uid: r.opt_u32(4)?,
                message_id: r.opt_text(5)?,
                date: r.opt_int(6)?,
                from: r.opt_text(7)?,
                subject: r.opt_text(8)?,
                filename: r.text(9)?,
                content_type: r.text(10)?,
                size: r.u64(11)?,
                sha256: r.text(12)?,
                part_path: r.text(13)?,
                reattached: r.bool(14)?,
            })
        })
    }

    /// Per account and folder totals.
    pub fn stats(&self) -> Result<Vec<FolderStats>, IndexError> {
        // Running totals kept by triggers (schema migration 3): a few rows,
        // plus one range scan per folder for its distinct objects. (CAST:
        // PostgreSQL sums BIGINTs into NUMERIC.)
        self.db.conn().query_map(
            "SELECT t.account, t.folder, t.messages, t.parts, t.bytes_removed,
                    (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM folder_objects o
                      WHERE o.account = t.account AND o.folder = t.folder),
                    t.part_bytes,
                    (SELECT CAST(COALESCE(SUM(COALESCE(c.stored_size, o.size)), 0) AS BIGINT)
                       FROM folder_objects o
                       LEFT JOIN compressed_objects c ON c.sha256 = o.sha256
                      WHERE o.account = t.account AND o.folder = t.folder)
               FROM folder_totals t WHERE t.messages > 0
              ORDER BY t.account, t.folder",
            &[],
            |r| {
                let stored = r.u64(5)?;
                let part_bytes = r.u64(6)?;
                let in_store = r.u64(7)?;
                Ok(FolderStats {
                    account: r.text(0)?,
                    folder: r.text(1)?,
                    messages: r.u64(2)?,
                    parts: r.u64(3)?,
                    bytes_removed: r.u64(4)?,
                    bytes_stored: stored,
                    dedup_ratio: if stored == 0 {
                        1.0
                    } else {
                        part_bytes as f64 / stored as f64
                    },
                    bytes_in_store: in_store,
                    compression_ratio: if in_store == 0 {
                        1.0
                    } else {
                        stored as f64 / in_store as f64
                    },
                })
            },
        )
    }

    /// Every object the index knows (including raw-body objects), with the
    /// messages that use it.
    pub fn object_refs(&self) -> Result<Vec<ObjectRefs>, IndexError> {
        let rows = self.db.conn().query_map(
            "SELECT h, MAX(size), account, folder, COALESCE(message_id, 'UID ' || uid) FROM (
                SELECT p.sha256 AS h, p.size AS size, m.account, m.folder, m.message_id,
                       COALESCE(m.new_uid, m.old_uid) AS uid
                  FROM parts p JOIN messages m ON m.id = p.message WHERE m.reattached_at IS NULL
                UNION ALL
                SELECT p.raw_sha256, -1, m.account, m.folder, m.message_id, COALESCE(m.new_uid, m.old_uid)
                  FROM parts p JOIN messages m ON m.id = p.message
                 WHERE p.raw_sha256 IS NOT NULL AND m.reattached_at IS NULL) AS u
             GROUP BY h, account, folder, COALESCE(message_id, 'UID ' || uid) ORDER BY 1, 3, 4, 5",
            &[],
            |r| Ok((r.text(0)?, r.int(1)?, r.text(2)?, r.text(3)?, r.text(4)?)),
        )?;
        let mut out: Vec<ObjectRefs> = Vec::new();
        for (h, size, account, folder, who) in rows {
            match out.last_mut() {
                Some(last) if last.sha256 == h => last.users.push((account, folder, who)),
                _ => out.push(ObjectRefs {
                    sha256: h,
                    size: size.max(0) as u64,
                    users: vec![(account, folder, who)],
                }),
            }
        }
        Ok(out)
    }

    /// Whether the message row `message` is marked as put back whole;
    /// `None` when there is no such row.
    pub fn is_reattached(&self, message: i64) -> Result<Option<bool>, IndexError> {
        self.db
            .conn()
            .query_opt(
                "SELECT reattached_at IS NOT NULL FROM messages WHERE id = $1",
                params![message],
            )?
            .map(|mut r| r.bool(0))
            .transpose()
    }

    /// Records that a message was put back whole (at `uid`).
    pub fn mark_reattached(&self, message: i64, uid: Option<u32>) -> Result<(), IndexError> {
        self.db.conn().execute(
            "UPDATE messages SET reattached_at = $1, new_uid = COALESCE($2, new_uid) WHERE id = $3",
            params![now_unix(), uid, message],
        )?;
        Ok(())
    }
}
