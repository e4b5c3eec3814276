//! The numbered migrations of the index schema. Migration N brings the
//! database from `user_version` N-1 to N; never edit one that has shipped,
//! add the next.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: processed messages, their parts, objects, the journal, skips.
    "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        old_uid INTEGER NOT NULL,
        new_uid INTEGER,
        message_id TEXT,
        date INTEGER,
        from_addr TEXT,
        to_addr TEXT,
        subject TEXT,
        internal_date TEXT NOT NULL,
        flags TEXT NOT NULL,
        size_before INTEGER NOT NULL,
        size_after INTEGER NOT NULL,
        processed_at INTEGER NOT NULL
    );
    CREATE INDEX messages_message_id ON messages (message_id);
    CREATE INDEX messages_date ON messages (date);
    CREATE INDEX messages_from ON messages (from_addr);
    CREATE INDEX messages_account_folder ON messages (account, folder);
    CREATE TABLE parts (
        id INTEGER PRIMARY KEY,
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        part_path TEXT NOT NULL,
        raw_sha256 TEXT
    );
    CREATE INDEX parts_sha256 ON parts (sha256);
    CREATE INDEX parts_filename ON parts (filename);
    CREATE INDEX parts_message ON parts (message);
    CREATE TABLE objects (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        refs INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        old_uid INTEGER NOT NULL,
        new_uid INTEGER,
        state TEXT NOT NULL,
        rewritten BLOB NOT NULL,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX journal_message ON journal (account, folder, uidvalidity, old_uid);
    CREATE TABLE skipped (
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (account, folder, uidvalidity, uid)
    ) WITHOUT ROWID;",
    // 2: reattach: when a message was put back whole, and what kind of
    // replacement a journal entry is (detach or reattach).
    "ALTER TABLE messages ADD COLUMN reattached_at INTEGER;
    ALTER TABLE journal ADD COLUMN kind TEXT NOT NULL DEFAULT 'detach';
    ALTER TABLE journal ADD COLUMN message INTEGER;
    CREATE INDEX parts_size ON parts (size);",
];
